"""The Case aggregate's rules on enforcement: one enforcement manager beside the named caseworker.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

import pytest

from domain.case.aggregate import Case
from domain.values import (
    Team,
)
from tests import builders as given
from tests.builders import (
    ENFORCEMENT_MANAGER,
    SPECIALIST_CASEWORKER_ID,
    refusal,
)


def test_enforcement_has_one_manager_beside_the_named_caseworker() -> None:
    # Scenario 7.
    story = given.specialist_case()

    story.start_enforcement()

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementStarted)
    assert (event.enforcement_manager_id, event.step) == ("em-cal", "deduction_from_earnings")
    assert story.case.enforcement_manager_id == "em-cal"
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


@pytest.mark.parametrize("second_manager", ["em-jo", "em-cal"], ids=["another_manager", "the_same_manager"])
def test_a_second_enforcement_manager_cannot_be_added(second_manager: str) -> None:
    story = given.specialist_case()
    story.start_enforcement()

    refusal(
        story,
        lambda: story.start_enforcement(manager_id=second_manager),
        "enforcement_manager_already_assigned",
    )
    assert story.case.enforcement_manager_id == "em-cal"


def test_a_handover_with_a_reason_changes_the_manager_and_nothing_else() -> None:
    story = given.specialist_case()
    story.start_enforcement()
    story.new_events()

    story.case.hand_over_enforcement(story.ctx(ENFORCEMENT_MANAGER), to_manager_id="em-jo", reason="em-cal moves team")

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementManagerHandedOver)
    assert (event.from_manager_id, event.to_manager_id, event.reason) == ("em-cal", "em-jo", "em-cal moves team")
    assert story.case.enforcement_manager_id == "em-jo"
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


@pytest.mark.parametrize(
    ("to_manager", "reason", "code"),
    [
        pytest.param("em-jo", "", "reason_required", id="without_a_reason"),
        pytest.param("em-jo", "   ", "reason_required", id="with_a_blank_reason"),
        pytest.param("em-cal", "swap", "handover_to_same_manager", id="to_the_same_manager"),
        pytest.param("", "swap", "enforcement_manager_required", id="to_nobody"),
    ],
)
def test_refuses_a_handover_of_enforcement(to_manager: str, reason: str, code: str) -> None:
    story = given.specialist_case()
    story.start_enforcement()

    refusal(
        story,
        lambda: story.case.hand_over_enforcement(
            story.ctx(ENFORCEMENT_MANAGER), to_manager_id=to_manager, reason=reason
        ),
        code,
    )


def test_ending_enforcement_leaves_the_named_caseworker_and_team() -> None:
    story = given.specialist_case()
    story.start_enforcement()
    story.new_events()

    story.case.end_enforcement(story.ctx(ENFORCEMENT_MANAGER), reason="arrears cleared")

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementEnded)
    assert event.enforcement_manager_id == "em-cal"
    assert story.case.enforcement_manager_id is None
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM
