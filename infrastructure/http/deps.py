"""What every route depends on, named: the services, the caller's actor, the matrix's gate, the headers.

``create_app`` (``app.py``, the one composition root) builds ``Services`` once and puts it on
``app.state``; routes reach it through ``services(request)``. ``require(route)`` answers 403 before
any work when the role may not call the route. ``IdempotencyKey``, ``IfMatch`` and ``CaseId`` are
the shared parameters; ``RESPONSES`` the problems every route may answer.

(No ``from __future__ import annotations`` here: FastAPI must see the annotations as objects.)
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid5

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.values import Actor
from infrastructure.access.log import AccessLog
from infrastructure.access.reads import CaseReads
from infrastructure.eventstore.application import CaseJourney
from infrastructure.http import authz
from infrastructure.http.auth import Authenticator
from infrastructure.http.problems import Problem, codes_of
from infrastructure.http.schemas import ProblemDetails
from infrastructure.readmodels.queries import CaseQueries
from infrastructure.settings import Settings


@dataclass
class Services:
    """``app`` takes the commands and every need-to-know decision (the case's relationships, the
    roster, safety markers, contact details: never judged on a lagging copy); ``reader`` serves what
    GETs show besides (views, timelines, evidence, the roster list) from ``postgres_read_url`` when it
    is set, and is ``app`` otherwise."""

    settings: Settings
    app: CaseJourney
    reader: CaseJourney
    access_log: AccessLog
    queries: CaseQueries
    read_models: Any  # readmodels.ReadModels when the API answers from the tables, else None
    authenticator: Authenticator
    reads: CaseReads
    clock: Callable[[], datetime]
    max_projection_lag: int | None = None
    owned: list[Any] = field(default_factory=list)
    lag: Any = None  # metrics.ProjectionLag: read at each scrape of /metrics

    def close(self) -> None:
        for thing in self.owned:
            thing.close()


#: Namespace of command ids made from an Idempotency-Key that is not itself a UUID.
IDEMPOTENCY_NAMESPACE = UUID("a3c1e7b0-5d2f-4f7a-8a55-0c6b2e9d4f11")

bearer = HTTPBearer(auto_error=False, description="A JWT (casejourney token) or an API key.")


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def actor_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    """The caller's actor, from the bearer token; raises 401 (``Authenticator``)."""
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else request.headers.get("authorization")
    actor = services(request).authenticator.actor(header)
    request.state.actor = actor  # for the request's log line (``observe.RequestLog``)
    return actor


async def current_actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Actor:
    """On the event loop, not a thread: a verified token is a look-up (``Authenticator``), and a
    thread hop per dependency cost more than the work (the profile in docs/http.md)."""
    return actor_of(request, credentials)


def require(route: str) -> Any:
    """A dependency: the caller's actor, once the matrix allows their role on ``route``."""

    async def check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        return permitted(route, actor)

    return Depends(check)


def permitted(route: str, actor: Actor) -> Actor:
    """The actor, once the matrix allows their role on ``route``; else 403 ``role_not_permitted``."""
    if not authz.is_allowed(route, actor.role):
        allowed = ", ".join(sorted(str(r) for r in authz.allowed_roles(route)))
        raise Problem(
            403,
            "role_not_permitted",
            "Not permitted",
            f"A {actor.role} may not {route.replace('_', ' ')}; allowed roles: {allowed}.",
            action=route,
            role=str(actor.role),
        )
    return actor


# ---------------------------------------------------------------------- headers


def command_id_from(key: str | None, actor: Actor) -> UUID | None:
    """A UUID key is the command id itself; any other key is scoped to the caller."""
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 255:
        raise Problem(422, "invalid_idempotency_key", "Invalid input", "Idempotency-Key must be 1 to 255 characters.")
    try:
        return UUID(key)
    except ValueError:
        return uuid5(IDEMPOTENCY_NAMESPACE, f"{actor.id}\n{key}")


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def version_from(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match)
    if not match or int(match.group(1)) < 1:
        raise Problem(
            422, "invalid_if_match", "Invalid input", 'If-Match must be one case version as an ETag, e.g. "3".'
        )
    return int(match.group(1))


def etag(version: int) -> str:
    return f'"{version}"'


def _problem(status: int, description: str) -> dict[str, Any]:
    return {"model": ProblemDetails, "description": f"{description} Codes: {codes_of(status)}."}


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem(401, "No valid bearer token."),
    403: _problem(403, "The caller's role, or relationship to the case, does not allow this."),
    404: _problem(404, "Unknown case."),
    409: _problem(409, "Refused by a rule (its own code), a stale If-Match, or a reused Idempotency-Key."),
    413: _problem(413, "The body is larger than `http_max_body_bytes`; nothing was read."),
    422: _problem(422, "Invalid input, field by field in `errors`."),
    500: _problem(500, "The stored record fails verification, or an unexpected failure (nothing was recorded)."),
    503: _problem(503, "The store cannot be reached, or a read model is behind; nothing was recorded."),
}


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe key: the same key twice appends once.", max_length=255),
]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The case version you decided on, e.g. "3".')]
CaseId = Annotated[UUID, Path(description="The case id.")]


def merge_headers(data: dict[str, Any], actor: Actor, idempotency_key: str | None, if_match: str | None) -> None:
    key_id = command_id_from(idempotency_key, actor)
    if key_id is not None:
        if data.get("command_id") not in (None, key_id):
            raise Problem(
                422,
                "idempotency_key_mismatch",
                "Invalid input",
                "Idempotency-Key and command_id name different commands.",
            )
        data["command_id"] = key_id
    expected = version_from(if_match)
    if expected is not None:
        if data.get("expected_version") not in (None, expected):
            raise Problem(422, "if_match_mismatch", "Invalid input", "If-Match and expected_version differ.")
        data["expected_version"] = expected
