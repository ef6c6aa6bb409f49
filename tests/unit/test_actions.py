"""Each case action is declared once (``domain/case/actions.py``) and read from there by the command,
the aggregate's guard, the matrix, the HTTP routes and the docs."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from uuid import UUID

from domain.case import actions
from domain.case.actions import ACTIONS_BY_NAME, CASE_ACTIONS, Action
from domain.case.commands import ALL_COMMANDS, AssignCaseworker
from domain.rules import permissions
from infrastructure.http.app import create_app
from infrastructure.settings import Settings


def test_every_case_command_names_its_declared_action_and_every_action_has_one_command() -> None:
    declared = {c.action.name: c for c in ALL_COMMANDS if isinstance(c.action, Action)}
    assert set(declared) == set(ACTIONS_BY_NAME)
    for name, command in declared.items():
        assert command.action is ACTIONS_BY_NAME[name]


def test_the_matrix_is_read_from_the_declarations() -> None:
    assert dict(permissions.PERMISSIONS) == {a.name: a.roles for a in CASE_ACTIONS}
    assert {a.name for a in CASE_ACTIONS if a.specialist_team_only} == permissions.SPECIALIST_TEAM_ONLY
    assert {"accept_referral", "request_removal", "decide_removal"} == permissions.TEAM_DECISIONS
    assert {"hand_over_enforcement", "end_enforcement"} == permissions.MANAGER_ONLY
    assert {"record_entry_in_error", "record_concern", "give_signposting"} == permissions.ALLOWED_AFTER_CLOSURE


def test_an_action_is_its_name_so_stored_digests_and_codes_do_not_change() -> None:
    action = actions.ASSIGN_CASEWORKER
    assert action == "assign_caseworker" and f"{action}" == "assign_caseworker" and hash(action) == hash(action.name)
    assert pickle.loads(pickle.dumps(action)) == "assign_caseworker"
    command = AssignCaseworker(case_id=UUID(int=1), command_id=UUID(int=2), caseworker_id="cw-2", reason="allocation")
    body = command.model_dump_json(exclude={"command_id", "expected_version", "correlation_id", "causation_id"})
    assert command.digest() == hashlib.sha256(f"assign_caseworker:{body}".encode()).hexdigest()[:32]


def test_each_route_takes_its_path_summary_and_roles_from_the_declaration(tmp_path: Path) -> None:
    api = create_app(Settings(sqlite_path=tmp_path / "cj.sqlite"))
    try:
        paths = api.openapi()["paths"]
        for action in CASE_ACTIONS:
            path = "/cases" if action is actions.RECEIVE_APPLICATION else f"/cases/{{case_id}}/{action.path}"
            operation = paths[path]["post"]
            assert operation["operationId"] == action.name
            assert operation["summary"] == action.summary
            if action is not actions.RECEIVE_APPLICATION:
                assert ", ".join(sorted(str(r) for r in action.roles)) in operation["description"]
    finally:
        api.state.services.close()
