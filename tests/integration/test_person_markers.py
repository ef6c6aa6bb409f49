"""Flags attach to people and survive (DOMAIN.md): a domestic-abuse concern marks the person, and
the marker follows them into every later case until a recorded override lifts it."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from domain.case.commands import CloseCase, RecordConcern
from domain.customer.commands import LiftSafetyMarker
from domain.errors import NotATeamMember, NotPermitted, RuleViolation
from domain.staff.commands import LeaveTeam
from domain.values import Actor, Role, StaffTeam
from infrastructure.eventstore.application import CaseJourney
from tests import builders
from tests.builders import ACSSL, CASEWORKER, SPECIALIST
from tests.conftest import seed_test_roster


def open_case(app: CaseJourney, receiving: str = "pwc-m", paying: str = "nrp-m") -> UUID:
    return builders.open_case(app, receiving_parent_id=receiving, paying_parent_id=paying)


def concern(case_id: UUID, kind: str, party: str = "pwc-m") -> RecordConcern:
    return RecordConcern(case_id=case_id, kind=kind, source="customer_disclosure", affected_party_id=party)  # type: ignore[arg-type]


def test_a_domestic_abuse_concern_marks_the_person_and_the_marker_outlives_the_case(app: CaseJourney) -> None:
    first = open_case(app)
    app.execute(concern(first, "threatened_violence"), CASEWORKER)
    app.execute(CloseCase(case_id=first, reason="Application withdrawn."), CASEWORKER)  # type: ignore[arg-type]

    second = open_case(app, paying="nrp-other")  # a new application, years later, another case
    markers = app.safety_markers("pwc-m")
    assert markers["domestic_abuse"]["case_id"] == str(first)
    assert app.safety_markers("nrp-m") == {}  # the concern affected her, not him
    assert second != first


def test_the_marker_is_set_once_and_names_the_concern_that_caused_it(app: CaseJourney) -> None:
    case_id = open_case(app)
    app.execute(concern(case_id, "coercive_control"), CASEWORKER)
    app.execute(concern(case_id, "financial_control"), CASEWORKER)
    assert app.safety_markers("pwc-m")["domestic_abuse"]["case_id"] == str(case_id)
    assert app.follow_safety_markers() == 0  # following again sets nothing more
    customer = app.customer("pwc-m")
    assert customer is not None
    names = [type(e).__name__ for e in app.events.get(customer.id)]
    assert names == ["Registered", "SafetyMarkerSet"]
    [marker] = [e for e in app.events.get(customer.id) if type(e).__name__ == "SafetyMarkerSet"]
    first = next(e for e in app.case_events(case_id) if type(e).__name__ == "ConcernRecorded")
    assert marker.causation_id == first.command_id  # type: ignore[attr-defined]
    assert marker.correlation_id == first.correlation_id  # type: ignore[attr-defined]


def test_another_process_following_from_the_start_sets_nothing_twice(
    make_app: Callable[..., CaseJourney],
) -> None:
    writer = make_app()
    case_id = open_case(writer)
    writer.execute(concern(case_id, "threatened_violence"), CASEWORKER)
    customer = writer.customer("pwc-m")  # marked on the write path, by the writer that recorded the concern
    assert customer is not None and "domestic_abuse" in customer.markers
    assert writer.follow_safety_markers() == 0
    assert make_app().follow_safety_markers() == 0  # idempotent from position 0


class PreviousReleaseWriter(CaseJourney):
    """A writer that records the concern but not the marker: the release before this one (markers
    were set on read), or a writer stopped between the concern's append and the marker's."""

    name = CaseJourney.name  # the same store's tables

    def _mark_after_concern(self) -> None:
        pass


def test_a_read_appends_nothing_and_still_shows_a_marker_its_concern_implies(
    make_app: Callable[..., CaseJourney], store_settings, clock
) -> None:
    old = PreviousReleaseWriter(store_settings, clock=clock)
    seed_test_roster(old)
    case_id = open_case(old)
    old.execute(concern(case_id, "coercive_control"), CASEWORKER)
    old.close()

    reader = make_app()
    head = reader.recorder.max_notification_id()
    shown = reader.safety_markers("pwc-m")
    assert shown["domestic_abuse"]["case_id"] == str(case_id)  # in doubt, protected
    assert reader.safety_markers("nrp-m") == {}
    assert reader.recorder.max_notification_id() == head  # the read appended nothing
    customer = reader.customer("pwc-m")
    assert customer is None or "domestic_abuse" not in customer.markers  # nothing recorded by the read

    # The next writer's policy records it; a lift then holds against that concern, on read too.
    assert reader.follow_safety_markers() == 1
    reader.lift_safety_marker(
        LiftSafetyMarker(party_id="pwc-m", marker="domestic_abuse", reason="Reviewed with her: no risk now."), ACSSL
    )
    assert reader.safety_markers("pwc-m") == {}
    assert make_app().safety_markers("pwc-m") == {}  # a fresh reader remembers the concern, and the lift


def test_other_vulnerabilities_do_not_mark_a_person_as_at_risk_of_abuse(app: CaseJourney) -> None:
    case_id = open_case(app)
    app.execute(concern(case_id, "homelessness_risk", party="nrp-m"), CASEWORKER)
    assert app.safety_markers("nrp-m") == {}


def test_only_the_team_or_an_acs_senior_leader_lifts_a_marker_and_it_is_recorded(app: CaseJourney) -> None:
    case_id = open_case(app)
    app.execute(concern(case_id, "physical_violence"), CASEWORKER)
    lift = LiftSafetyMarker(party_id="pwc-m", marker="domestic_abuse", reason="Reviewed with her: no risk since 2024.")
    with pytest.raises(NotPermitted):
        app.lift_safety_marker(lift, CASEWORKER)
    with pytest.raises(RuleViolation):
        app.lift_safety_marker(lift.model_copy(update={"party_id": "nrp-m"}), SPECIALIST)
    app.lift_safety_marker(lift, ACSSL)
    assert app.safety_markers("pwc-m") == {}
    customer = app.customer("pwc-m")
    assert customer is not None
    [lifted] = [e for e in app.events.get(customer.id) if type(e).__name__ == "SafetyMarkerLifted"]
    assert lifted.actor_id == ACSSL.id and lifted.reason.startswith("Reviewed")  # type: ignore[attr-defined]


def test_a_marker_is_never_lifted_by_someone_no_longer_on_the_team(app: CaseJourney) -> None:
    case_id = open_case(app)
    app.execute(concern(case_id, "physical_violence"), CASEWORKER)
    app.manage_roster(
        LeaveTeam(staff_id=ACSSL.id, team=StaffTeam.ACS_SENIOR_LEADERS, reason="Retired."),
        Actor("tl-hana", Role.TEAM_LEADER),
    )
    lift = LiftSafetyMarker(party_id="pwc-m", marker="domestic_abuse", reason="Reviewed with her: no risk since 2024.")
    with pytest.raises(NotATeamMember):
        app.lift_safety_marker(lift, ACSSL)
    assert "domestic_abuse" in app.safety_markers("pwc-m")


def test_a_lift_holds_against_old_concerns_but_a_new_concern_marks_her_again(
    make_app: Callable[..., CaseJourney],
) -> None:
    app = make_app()
    case_id = open_case(app)
    app.execute(concern(case_id, "physical_violence"), CASEWORKER)
    app.lift_safety_marker(LiftSafetyMarker(party_id="pwc-m", marker="domestic_abuse", reason="Reviewed."), ACSSL)
    assert make_app().safety_markers("pwc-m") == {}  # a new process re-reading old concerns keeps the lift
    app.execute(concern(case_id, "threatened_violence"), CASEWORKER)
    assert app.safety_markers("pwc-m")["domestic_abuse"]["case_id"] == str(case_id)
