"""The Case aggregate's rules on who and when: every event records the actor and both times; an application's parties.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.case.aggregate import Case
from domain.errors import RuleViolation
from domain.values import (
    Actor,
    ApplicantRole,
    Role,
    ServiceType,
    Team,
)
from tests.builders import (
    CASEWORKER,
    PAYING_PARENT,
    RECEIVING_PARENT,
    T0,
    context,
)


def test_every_event_records_the_actor_and_both_times() -> None:
    recorded_at = T0 + timedelta(minutes=5)
    ctx = context(CASEWORKER, T0, recorded_at=recorded_at)

    case = Case.receive_application(
        ctx,
        case_id=uuid4(),
        applicant_role=ApplicantRole.RECEIVING_PARENT,
        service_type=ServiceType.COLLECT_AND_PAY,
        fee_waived_for_domestic_abuse=True,
        receiving_parent_id=RECEIVING_PARENT,
        paying_parent_id=PAYING_PARENT,
        qualifying_children=2,
    )

    [event] = case.collect_events()
    assert isinstance(event, Case.ApplicationReceived)
    assert (event.actor_id, event.actor_role) == ("cw-ada", "caseworker")
    assert event.occurred_at == T0
    assert event.timestamp == recorded_at
    assert (event.command_id, event.correlation_id, event.causation_id) == (ctx.command_id, ctx.command_id, None)
    assert case.receiving_parent_id == RECEIVING_PARENT and case.paying_parent_id == PAYING_PARENT
    assert case.fee_waived_for_domestic_abuse is True
    assert case.team is Team.MAINSTREAM and case.named_caseworker_id is None


def test_a_context_refuses_a_time_without_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        context(CASEWORKER, T0.replace(tzinfo=None))


def test_an_actor_needs_an_id() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Actor("  ", Role.CASEWORKER)


@pytest.mark.parametrize(
    ("receiving", "paying", "children", "code"),
    [
        pytest.param(RECEIVING_PARENT, RECEIVING_PARENT, 1, "same_party_twice", id="the_same_person_as_both_parents"),
        pytest.param(RECEIVING_PARENT, PAYING_PARENT, 0, "no_qualifying_child", id="no_qualifying_child"),
    ],
)
def test_refuses_an_application_with(receiving: str, paying: str, children: int, code: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        Case.receive_application(
            context(CASEWORKER, T0),
            case_id=uuid4(),
            applicant_role=ApplicantRole.RECEIVING_PARENT,
            service_type=ServiceType.COLLECT_AND_PAY,
            fee_waived_for_domestic_abuse=False,
            receiving_parent_id=receiving,
            paying_parent_id=paying,
            qualifying_children=children,
        )
    assert refused.value.code == code
