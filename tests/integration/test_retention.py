"""Retention by policy and legal holds, on both stores, with a clock the test controls.

Given cases closed at known times, when the clock passes the retention period, then the persons
become due (and not a day before), a legal hold on the person or on a case of theirs keeps them
(shown as held, erasure refused and nothing appended), lifting it is recorded, and applying
retention erases exactly those due, each as a recorded event, with the chain, the read models and
the histories still valid; a second run erases nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.case.commands import CloseCase, RecordConcern
from domain.customer.aggregate import ERASED, Customer
from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.errors import NotPermitted, RuleViolation
from domain.retention.commands import LiftLegalHold, PlaceLegalHold
from domain.retention.rules import add_months
from domain.values import Actor, Role
from infrastructure.audit.retention import apply_retention, retention_items
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.integrity import verify_log
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from tests.builders import ACSSL, CASEWORKER, TEAM_LEADER, open_case
from tests.conftest import FakeClock

RETENTION = Actor("svc-retention", Role.BACKEND_SERVICE)
START = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def close(app: CaseJourney, case_id: UUID) -> None:
    app.execute(CloseCase(case_id=case_id, reason="The child has left full-time education."), CASEWORKER)


def status(app: CaseJourney, kind: str = "person") -> dict[str, str]:
    return {i.subject: i.status for i in retention_items(app) if i.kind == kind}


@pytest.fixture
def journeys(make_app: Callable[..., CaseJourney], clock: FakeClock) -> tuple[CaseJourney, dict[str, UUID]]:
    """Ann has two cases (one with Bo, one with Cy); Dee has one with Eli, never closed."""
    app = make_app()
    cases = {
        "ann-bo": open_case(app, receiving_parent_id="ann", paying_parent_id="bo"),
        "ann-cy": open_case(app, receiving_parent_id="ann", paying_parent_id="cy"),
        "dee-eli": open_case(app, receiving_parent_id="dee", paying_parent_id="eli"),
    }
    app.execute(
        RecordConcern(
            case_id=cases["ann-bo"],
            kind="coercive_control",
            source="customer_disclosure",
            affected_party_id="ann",
            note="She fears for her safety at handovers.",
        ),
        CASEWORKER,
    )
    app.record_customer_details(
        RecordCustomerDetails(party_id="ann", name="Ann Example", address="1 Elm Row"), CASEWORKER
    )
    clock.advance(days=1)
    close(app, cases["ann-bo"])
    clock.advance(days=9)
    close(app, cases["ann-cy"])
    return app, cases


def test_a_person_is_due_the_period_after_the_last_of_their_cases_closed_and_not_a_day_before(
    journeys: tuple[CaseJourney, dict[str, UUID]], clock: FakeClock
) -> None:
    app, _ = journeys
    last_closure = clock.now
    assert status(app) == {"ann": "kept", "bo": "kept", "cy": "kept", "dee": "kept", "eli": "kept"}
    clock.now = add_months(START + timedelta(days=1), 24) + timedelta(hours=1)  # Bo's one case closed first
    assert status(app)["bo"] == "due" and status(app)["ann"] == "kept"
    [ann] = [i for i in retention_items(app) if i.subject == "ann" and i.kind == "person"]
    assert ann.due_at == add_months(last_closure, 24)
    assert "the last of their 2 case(s) closed 2024-01-20" in ann.why
    clock.now = add_months(last_closure, 24) - timedelta(seconds=1)
    assert status(app)["ann"] == "kept"
    clock.now = add_months(last_closure, 24)
    assert status(app) == {"ann": "due", "bo": "due", "cy": "due", "dee": "kept", "eli": "kept"}


def test_a_hold_on_the_person_or_on_a_case_of_theirs_keeps_them_and_lifting_it_is_recorded(
    journeys: tuple[CaseJourney, dict[str, UUID]], clock: FakeClock
) -> None:
    app, cases = journeys
    hold = app.place_legal_hold(
        PlaceLegalHold(kind="person", subject="ann", reason="Complaint CMS-2024-118 under review."), ACSSL
    )
    case_hold = app.place_legal_hold(
        PlaceLegalHold(kind="case", subject=str(cases["ann-cy"]), reason="Tribunal appeal lodged."), TEAM_LEADER
    )
    clock.now = add_months(clock.now, 25)
    items = {i.subject: i for i in retention_items(app) if i.kind == "person"}
    assert (items["ann"].status, items["cy"].status, items["bo"].status) == ("held", "held", "due")
    assert "Complaint CMS-2024-118" in items["ann"].why and "Tribunal appeal lodged" in items["ann"].why
    head = app.recorder.max_notification_id()
    with pytest.raises(RuleViolation) as refused:
        app.erase_customer(EraseCustomer(party_id="cy", reason="retention"), RETENTION)
    assert refused.value.code == "legal_hold" and "Tribunal appeal" in refused.value.message
    assert app.recorder.max_notification_id() == head  # a refusal appends nothing

    app.lift_legal_hold(
        LiftLegalHold(kind="case", subject=str(cases["ann-cy"]), hold_id=case_hold, reason="Appeal withdrawn."),
        TEAM_LEADER,
    )
    assert status(app)["cy"] == "due" and status(app)["ann"] == "held"  # Ann's own hold still stands
    holds = app.legal_holds("case", str(cases["ann-cy"]))
    assert holds is not None
    lifted = [e for e in app.events.get(holds.id) if type(e).__name__ == "HoldLifted"]
    assert [(e.actor_id, e.reason) for e in lifted] == [(TEAM_LEADER.id, "Appeal withdrawn.")]  # type: ignore[attr-defined]
    assert hold in {UUID(h) for h in app.legal_holds("person", "ann").standing}  # type: ignore[union-attr]


def test_a_hold_with_an_end_stops_keeping_them_when_it_ends(
    journeys: tuple[CaseJourney, dict[str, UUID]], clock: FakeClock
) -> None:
    app, _ = journeys
    until = add_months(clock.now, 30)
    app.place_legal_hold(PlaceLegalHold(kind="person", subject="bo", reason="Court order.", until=until), ACSSL)
    clock.now = add_months(clock.now, 26)
    assert status(app)["bo"] == "held"
    clock.now = until
    assert status(app)["bo"] == "due"


def test_holds_are_placed_by_those_allowed_with_a_reason_on_someone_known(
    journeys: tuple[CaseJourney, dict[str, UUID]],
) -> None:
    app, _ = journeys
    head = app.recorder.max_notification_id()
    with pytest.raises(NotPermitted):
        app.place_legal_hold(PlaceLegalHold(kind="person", subject="ann", reason="Complaint."), CASEWORKER)
    with pytest.raises(NotPermitted):
        app.place_legal_hold(PlaceLegalHold(kind="person", subject="ann", reason="Complaint."), RETENTION)
    with pytest.raises(RuleViolation) as unknown:
        app.place_legal_hold(PlaceLegalHold(kind="person", subject="nobody-xyz", reason="Complaint."), ACSSL)
    assert unknown.value.code == "unknown_party"
    with pytest.raises(ValueError):
        PlaceLegalHold(kind="person", subject="ann", reason="   ")
    assert app.recorder.max_notification_id() == head


def test_applying_retention_erases_those_due_once_each_and_everything_stays_valid(
    journeys: tuple[CaseJourney, dict[str, UUID]], clock: FakeClock
) -> None:
    app, cases = journeys
    app.place_legal_hold(PlaceLegalHold(kind="person", subject="cy", reason="Complaint CMS-2024-201."), ACSSL)
    clock.now = add_months(clock.now, 25)
    seen: list[tuple[int, int]] = []

    result = apply_retention(app, RETENTION, progress=lambda done, total, item: seen.append((done, total)))

    erased = [(i.kind, i.subject) for i in result.erased]
    # Case text first (14 months), then people (24 months): Cy's hold keeps the text of Ann's case with him.
    assert erased == [("case", str(cases["ann-bo"])), ("person", "ann"), ("person", "bo")], erased
    assert [(i.kind, i.subject) for i in result.held] == [("case", str(cases["ann-cy"])), ("person", "cy")]
    assert result.failed == {} and set(result.texts_kept) == {str(cases["ann-cy"])}
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert status(app) == {"ann": "erased", "bo": "erased", "cy": "held", "dee": "kept", "eli": "kept"}
    customer = app.customer("ann")
    assert customer is not None and customer.details is not None and customer.details["address"] == ERASED
    erased = [e for e in app.events.get(customer.id) if isinstance(e, Customer.Erased)]
    assert len(erased) == 1 and erased[0].actor_id == RETENTION.id
    assert erased[0].reason.startswith("retention policy: the last of their 2 case(s) closed")
    assert verify_log(app.recorder.chain_rows()).ok  # type: ignore[attr-defined]
    assert len(app.case_events(cases["ann-bo"])) == 3  # the case's history replays, whole
    with ReadModels(app) as models:
        models.rebuild(list(PROJECTIONS))
        assert all(models.verify(name).differences == 0 for name in PROJECTIONS)

    head = app.recorder.max_notification_id()
    again = apply_retention(app, RETENTION)
    assert again.erased == [] and app.recorder.max_notification_id() == head  # nothing left to do
    assert len([e for e in app.events.get(customer.id) if isinstance(e, Customer.Erased)]) == 1
