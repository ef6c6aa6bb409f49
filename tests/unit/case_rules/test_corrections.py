"""The Case aggregate's rules on corrections: an entry recorded in error stays and keeps its effect on safety.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from domain.case.aggregate import Case
from domain.values import (
    ConcernKind,
)
from tests import builders as given
from tests.builders import (
    CASEWORKER,
    SPECIALIST,
)


def test_a_concern_marked_in_error_still_blocks_removal() -> None:
    story = given.settled_specialist_case()
    concern_id = story.record_concern(ConcernKind.PHYSICAL_VIOLENCE)
    concern_version = story.case.version
    story.case.record_entry_in_error(
        story.ctx(SPECIALIST), corrected_version=concern_version, correction="recorded on the wrong case"
    )
    story.request_removal()
    story.new_events()

    approved = story.decide_removal(reviewer_doubt=False)

    [event] = story.new_events()
    assert approved is False
    assert isinstance(event, Case.RemovalRefused)
    assert [d["code"] for d in event.doubts] == ["unresolved_concern"]
    assert story.case.concerns[str(concern_id)].resolved is False
    assert story.case.corrected_versions == {concern_version: "recorded on the wrong case"}


def test_a_police_concern_marked_in_error_leaves_police_involvement_live() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)

    story.case.record_entry_in_error(
        story.ctx(CASEWORKER), corrected_version=story.case.version, correction="wrong customer"
    )

    assert story.case.police_involvement_live is True
    assert story.event_types() == ["ConcernRecorded", "EntryRecordedInError"]
