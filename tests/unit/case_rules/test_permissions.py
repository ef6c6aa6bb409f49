"""The Case aggregate's rules on permissions: the agreed matrix, and the aggregate checking it before anything else.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

import itertools

import pytest

from domain.case.commands import COMMANDS_BY_ACTION
from domain.errors import NotPermitted
from domain.rules.permissions import PERMISSIONS, check_permitted
from domain.values import (
    Role,
)
from tests import builders as given
from tests.builders import (
    ACTOR_FOR_ROLE,
)
from tests.unit.case_rules.calls import CALLS

CW, SCW, EM, ACS_SL, SVC, TL = (
    Role.CASEWORKER,
    Role.SPECIALIST_CASEWORKER,
    Role.ENFORCEMENT_MANAGER,
    Role.ACS_SENIOR_LEADER,
    Role.BACKEND_SERVICE,
    Role.TEAM_LEADER,
)


#: A frozen copy of the authorization matrix: a change to PERMISSIONS must be made here too, on purpose.
EXPECTED_PERMISSIONS: dict[str, set[Role]] = {
    "receive_application": {CW, SCW, SVC},
    "assign_caseworker": {CW, SCW, SVC, TL},
    "change_service_type": {CW, SCW, SVC},
    "record_concern": {CW, SCW, EM, ACS_SL, SVC},
    "resolve_concern": {CW, SCW},
    "give_signposting": {CW, SCW, EM, ACS_SL},
    "assess_safety_risk": {CW, SCW},
    "end_police_involvement": {CW, SCW},
    "record_acs_involvement": {CW, SCW, ACS_SL, SVC},
    "decide_referral": {CW, SCW},
    "accept_referral": {SCW},
    "start_enforcement": {CW, SCW, EM},
    "hand_over_enforcement": {EM, TL},
    "end_enforcement": {EM, TL},
    "open_expedited_pathway": {CW, SCW, EM, ACS_SL},
    "close_expedited_pathway": {CW, SCW, ACS_SL},
    "record_deadline_missed": {SVC},
    "raise_escalation": {CW, SCW, EM, SVC},
    "resolve_escalation": {ACS_SL},
    "raise_service_design_issue": {ACS_SL},
    "request_removal": {SCW},
    "decide_removal": {SCW, ACS_SL},
    "close_case": {CW, SCW, SVC},
    "record_entry_in_error": {CW, SCW, ACS_SL},
}


def test_the_permission_table_is_the_one_agreed() -> None:
    assert {action: set(roles) for action, roles in PERMISSIONS.items()} == EXPECTED_PERMISSIONS


def test_every_command_has_a_row_in_the_permission_table() -> None:
    assert set(PERMISSIONS) == set(COMMANDS_BY_ACTION) == set(CALLS)


@pytest.mark.parametrize(
    ("action", "role"),
    [pytest.param(a, r, id=f"{a}-by-{r}") for a, r in itertools.product(EXPECTED_PERMISSIONS, Role)],
)
def test_check_permitted_lets_only_the_allowed_roles_act(action: str, role: Role) -> None:
    if role in EXPECTED_PERMISSIONS[action]:
        check_permitted(action, role)
        return
    with pytest.raises(NotPermitted) as refused:
        check_permitted(action, role)
    assert refused.value.code == "role_not_permitted"
    assert refused.value.details == {"action": action, "role": str(role)}


def test_an_auditor_may_do_nothing() -> None:
    assert not any(Role.AUDITOR in roles for roles in PERMISSIONS.values())
    for action in PERMISSIONS:
        with pytest.raises(NotPermitted):
            check_permitted(action, Role.AUDITOR)


@pytest.mark.parametrize(
    ("action", "role"),
    [
        pytest.param(a, r, id=f"{a}-by-{r}")
        for a, allowed in EXPECTED_PERMISSIONS.items()
        for r in Role
        if r not in allowed
    ],
)
def test_the_aggregate_refuses_a_command_from_a_role_not_allowed_it(action: str, role: Role) -> None:
    story = given.specialist_case()

    with pytest.raises(NotPermitted) as refused:
        CALLS[action](story, story.ctx(ACTOR_FOR_ROLE[role]))

    assert refused.value.details["action"] == action
    assert story.new_events() == []
