"""The authorization matrix, route by route and role by role, through the real app.

For every protected route and every role: a role outside the matrix gets 403 ``role_not_permitted``
(even with an invalid body: the check comes before any work) and nothing is appended; a role inside
it is never refused for its role (it may still be refused for want of a relationship to the case,
``no_legitimate_relationship``: need to know comes after the role). No token at all is 401 everywhere.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from domain.rules.permissions import PERMISSIONS, STAFF_PERMISSIONS
from domain.values import Role
from infrastructure.http import authz
from tests.e2e.conftest import CW, ONE_OF_EACH_ROLE, SCW, TL, Api

PUBLIC = {"healthz", "readyz", "metrics"}


def operations(api: Api) -> dict[str, tuple[str, str]]:
    """operation id -> (method, path) for every route in the published OpenAPI document."""
    doc = api.client.get("/openapi.json").json()
    return {
        op["operationId"]: (method.upper(), path) for path, item in doc["paths"].items() for method, op in item.items()
    }


def call(api: Api, method: str, path: str, case_id: str, actor: Any, body: dict[str, Any]) -> Any:
    url = path.replace("{case_id}", case_id).replace("{staff_id}", "cw-someone").replace("{alert_id}", str(uuid4()))
    if method == "POST":
        return api.post(url, body, actor)
    return api.get(url, actor, purpose="matrix test")


def test_every_route_is_in_the_one_matrix_and_commands_use_the_domains_own(api: Api) -> None:
    ops = operations(api)
    protected = set(ops) - PUBLIC
    roster_routes = set(authz.ROUTE_ACTIONS)
    reads = set(authz.READ_PERMISSIONS) - {"get_readiness_details"}  # readyz's details: not a route of its own
    assert protected == set(PERMISSIONS) | reads | roster_routes | {"review_break_glass"}
    for action, roles in PERMISSIONS.items():
        assert authz.allowed_roles(action) is roles
    for route, action in authz.ROUTE_ACTIONS.items():
        assert authz.allowed_roles(route) is STAFF_PERMISSIONS[action]


def test_every_route_times_every_role(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)  # CW may read this history
    for op, (method, path) in sorted(operations(api).items()):
        if op in PUBLIC:
            assert call(api, method, path, case_id, None, {}).status_code == 200
            continue
        assert call(api, method, path, case_id, None, {}).status_code == 401, op
        allowed = authz.allowed_roles(op)
        for role in Role:
            version_before = api.get(f"/cases/{case_id}", SCW).json()["version"]
            # An empty body: invalid for most commands, so an allowed role gets 422 (or a rule's
            # 409), never 401/403; a refused role gets 403 before the body is even looked at.
            response = call(api, method, path, case_id, ONE_OF_EACH_ROLE[role], {})
            if role in allowed:
                assert response.status_code != 401, (op, role, response.text)
                if response.status_code == 403:  # the role may; this person has no relationship to the case
                    assert response.json()["code"] == "no_legitimate_relationship", (op, role, response.text)
            else:
                assert response.status_code == 403, (op, role, response.text)
                assert response.json()["code"] == "role_not_permitted"
                assert response.headers["content-type"] == "application/problem+json"
                assert api.get(f"/cases/{case_id}", SCW).json()["version"] == version_before


def test_reads_of_the_safeguarding_history_follow_need_to_know(api: Api) -> None:
    readers = authz.READ_PERMISSIONS["get_safeguarding_history"]
    assert Role.ENFORCEMENT_MANAGER not in readers and Role.BACKEND_SERVICE not in readers
    assert authz.READ_PERMISSIONS["get_safeguarding_history_reads"] == {Role.AUDITOR}
