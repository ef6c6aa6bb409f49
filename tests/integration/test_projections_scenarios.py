"""Every projection against hand-computed expectations for the stories of SCENARIOS.md.

The expectations below were worked out by reading each story, not by running the code: a story's
team, named caseworker, enforcement manager and flags at its end; which caseloads hold it; which of
its events are safety-relevant, in order. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.caseloads import caseloads_by
from infrastructure.readmodels.expedited_queue import expedited_queue_rows
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.safeguarding_history import safeguarding_history_of
from infrastructure.readmodels.team_assignment import team_assignment_of
from tests.integration.projection_helpers import dump_all, run_all_stories

SPEC, MAIN = "specialist_case_team", "mainstream"

# story: (team, named caseworker, enforcement manager, expedited reasons, escalation open,
#         ACS involved, removal requested, closed, case version)
ASSIGNMENT = {
    1: (SPEC, "scw-chloe", None, "", False, False, False, False, 5),
    2: (SPEC, "scw-chloe", None, "", False, True, False, False, 5),
    3: (SPEC, "scw-chloe", None, "", False, False, False, False, 7),
    4: (MAIN, "cw-amara", None, "", False, False, False, False, 7),
    5: (SPEC, "scw-chloe", None, "", True, False, False, False, 11),
    6: (MAIN, "cw-bilal", None, "", False, False, False, False, 10),
    7: (SPEC, "scw-chloe", "em-erin", "", False, False, False, False, 7),
    8: (MAIN, "cw-amara", "em-dev", "homelessness_risk", False, False, False, False, 10),
    9: (MAIN, "cw-amara", None, "", False, False, False, False, 6),
    10: (SPEC, "scw-chloe", None, "", False, False, False, True, 6),
}

REFERRED = ["ConcernRecorded", "ReferredToSpecialistTeam", "AcceptedBySpecialistTeam"]
HISTORY = {
    1: REFERRED,
    2: ["AcsInvolvementRecorded", "ReferredToSpecialistTeam", "AcceptedBySpecialistTeam"],
    3: [
        "ConcernRecorded",
        "SignpostingGiven",
        "SafetyRiskAssessed",
        "ReferredToSpecialistTeam",
        "AcceptedBySpecialistTeam",
    ],
    4: ["ConcernRecorded", "SignpostingGiven", "SignpostingGiven", "SafetyRiskAssessed", "ReferralNotMade"],
    5: [
        *REFERRED,
        "ConcernResolved",
        "PoliceInvolvementEnded",
        "EscalationRaised",
        "SafetyRiskAssessed",
        "RemovalRequested",
        "RemovalRefused",
    ],
    6: [
        *REFERRED,
        "ConcernResolved",
        "PoliceInvolvementEnded",
        "SafetyRiskAssessed",
        "RemovalRequested",
        "RemovalApproved",
    ],
    7: REFERRED,
    8: [
        "ConcernRecorded",
        "ExpeditedPathwayOpened",
        "SignpostingGiven",
        "ExpeditedDeadlineMissed",
        "EscalationRaised",
        "EscalationResolved",
        "ServiceDesignIssueRaised",
    ],
    9: ["ConcernRecorded", "ExpeditedPathwayOpened", "SignpostingGiven", "ExpeditedPathwayClosed"],
    10: [*REFERRED, "CaseClosed"],
}


@pytest.fixture
def stories(app: CaseJourney) -> tuple[ReadModels, dict[int, object]]:
    cases = run_all_stories(app)
    models = ReadModels(app)
    models.catch_up()
    yield models, cases
    models.close()


def test_team_assignment_of_every_story_matches_the_hand_computed_end_state(stories) -> None:
    models, cases = stories
    with models.engine.connect() as conn:
        for number, expected in ASSIGNMENT.items():
            row = team_assignment_of(conn, str(cases[number]))
            assert row is not None, f"story {number} has no assignment row"
            got = (
                row["team"],
                row["named_caseworker_id"],
                row["enforcement_manager_id"],
                row["expedited_reasons"],
                row["escalation_open"],
                row["acs_involved"],
                row["removal_requested"],
                row["closed"],
                row["case_version"],
            )
            assert got == expected, f"story {number}"


def test_assignment_says_since_when_in_business_time(stories, app: CaseJourney) -> None:
    models, cases = stories
    with models.engine.connect() as conn:
        six = team_assignment_of(conn, str(cases[6]))
        seven = team_assignment_of(conn, str(cases[7]))
    approval = app.case_events(cases[6])[-1]
    assert type(approval).__name__ == "RemovalApproved"
    assert six["team_since"] == approval.occurred_at == six["caseworker_since"]
    handover = app.case_events(cases[7])[-1]
    assert type(handover).__name__ == "EnforcementManagerHandedOver"
    assert seven["enforcement_since"] == handover.occurred_at


def test_safeguarding_history_is_complete_and_ordered_for_every_story(stories, app: CaseJourney) -> None:
    models, cases = stories
    with models.engine.connect() as conn:
        for number, expected in HISTORY.items():
            rows = safeguarding_history_of(conn, str(cases[number]), app.text_keys)
            assert [r["event_type"] for r in rows] == expected, f"story {number}"
            versions = [r["case_version"] for r in rows]
            assert versions == sorted(versions)
            ids = [r["notification_id"] for r in rows]
            assert ids == sorted(ids)


def test_history_rows_say_who_why_and_on_which_policy(stories, app: CaseJourney) -> None:
    models, cases = stories
    with models.engine.connect() as conn:
        police = safeguarding_history_of(conn, str(cases[1]), app.text_keys)
        not_met = safeguarding_history_of(conn, str(cases[4]), app.text_keys)
        refused = safeguarding_history_of(conn, str(cases[5]), app.text_keys)
        missed = safeguarding_history_of(conn, str(cases[8]), app.text_keys)
    referral = police[1]
    assert (referral["actor_id"], referral["actor_role"]) == ("cw-amara", "caseworker")
    assert referral["criteria_met"] == "police_involvement"
    assert referral["policy_version"] == "v1"
    assert referral["reasons"]["facts"]["police_involved_for_domestic_abuse"] is True
    assert police[0]["linked_ids"]["concern_id"]
    decision = not_met[-1]
    assert decision["event_type"] == "ReferralNotMade" and decision["criteria_met"] is None
    assert "three_part_test" in decision["reasons"]["unmet"]
    refusal = refused[-1]
    assert [d["code"] for d in refusal["reasons"]["doubts"]] == ["open_escalation"]
    assert refusal["linked_ids"]["request_id"] == refused[-2]["linked_ids"]["request_id"]
    escalation = missed[4]
    assert escalation["linked_ids"]["pathway_id"] == missed[1]["linked_ids"]["pathway_id"]
    assert escalation["actor_role"] == "backend_service"
    assert missed[0]["occurred_at"] < missed[0]["recorded_at"]


def test_caseloads_count_open_cases_by_team_caseworker_and_enforcement_manager(stories) -> None:
    models, _ = stories
    with models.engine.connect() as conn:
        assert caseloads_by(conn, "team") == {MAIN: 4, SPEC: 5}  # story 10 is closed
        assert caseloads_by(conn, "caseworker") == {"cw-amara": 3, "cw-bilal": 1, "scw-chloe": 5}
        assert caseloads_by(conn, "enforcement_manager") == {"em-dev": 1, "em-erin": 1}


def test_expedited_queue_holds_only_the_open_pathway_with_its_missed_target(stories) -> None:
    models, cases = stories
    with models.engine.connect() as conn:
        queue = expedited_queue_rows(conn)
    assert [(q["case_id"], q["pathway_reason"]) for q in queue] == [(str(cases[8]), "homelessness_risk")]
    entry = queue[0]
    assert entry["due_at"] - entry["opened_at"] == timedelta(hours=48)
    assert entry["deadline_missed"] is True
    assert entry["escalation_id"] and entry["escalation_open"] is False  # the ACS senior leader resolved it


def test_a_rebuild_gives_the_same_rows_and_verify_finds_no_difference(stories) -> None:
    models, _ = stories
    before = dump_all(models)
    for name in PROJECTIONS:
        position, resumed = models.rebuild(name)
        assert position == models.head() and not resumed
        assert models.verify(name).differences == 0
    assert dump_all(models) == before


def test_verify_lists_a_tampered_row(stories) -> None:
    models, cases = stories
    table = PROJECTIONS["team_assignment"].tables()["team_assignment"]
    with models.engine.begin() as conn:
        conn.execute(update(table).where(table.c.case_id == str(cases[5])).values(named_caseworker_id="someone-else"))
    result = models.verify("team_assignment")
    assert result.differences == 1
    assert "someone-else" in result.listed[0] and str(cases[5]) in result.listed[0]


def test_new_events_are_projected_once_however_often_the_runner_catches_up(
    stories, app: CaseJourney, make_app: Callable[..., CaseJourney]
) -> None:
    models, _ = stories
    before = dump_all(models)
    assert models.catch_up() == 0
    assert dump_all(models) == before
    run_all_stories(app)  # every command is replayed by id: nothing is appended
    assert models.catch_up() == 0
