"""The Case aggregate's rules on closure: a closed case refuses everything but a correction of the record.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

import pytest

from domain.case.aggregate import Case
from domain.errors import CaseClosedError
from domain.rules.permissions import ALLOWED_AFTER_CLOSURE, PERMISSIONS
from tests import builders as given
from tests.builders import (
    ACTOR_FOR_ROLE,
    SPECIALIST,
    closed_specialist_case,
    refusal,
)
from tests.unit.case_rules.calls import CALLS


@pytest.mark.parametrize(
    "action",
    [a for a in CALLS if a != "receive_application" and a not in ALLOWED_AFTER_CLOSURE],
)
def test_a_closed_case_refuses_every_command_but_a_correction(action: str) -> None:
    story = closed_specialist_case()
    actor = ACTOR_FOR_ROLE[sorted(PERMISSIONS[action])[0]]

    refused = refusal(story, lambda: CALLS[action](story, story.ctx(actor)), "case_closed")

    assert isinstance(refused, CaseClosedError)
    assert refused.details == {"action": action}


def test_a_closed_case_still_accepts_a_correction_of_the_record() -> None:
    story = closed_specialist_case()

    story.case.record_entry_in_error(story.ctx(SPECIALIST), corrected_version=2, correction="wrong caseworker id")

    [event] = story.new_events()
    assert isinstance(event, Case.EntryRecordedInError)
    assert story.case.corrected_versions == {2: "wrong caseworker id"}
    assert set(ALLOWED_AFTER_CLOSURE) == {"record_entry_in_error", "record_concern", "give_signposting"}


def test_closing_a_case_records_why() -> None:
    story = given.specialist_case()

    story.close(by=SPECIALIST)

    [event] = story.new_events()
    assert isinstance(event, Case.CaseClosed)
    assert event.reason == "the child left education"
    assert story.case.closed is True
