"""Errors as RFC 9457 problem details, each with a stable machine ``code``.

Every refusal leaves the service as ``application/problem+json``: typed domain errors keep their
own code and sentence (a rule's explanation reaches the caller unchanged), invalid input is listed
field by field, and a store that cannot be reached is a 503 with ``Retry-After``. A stack trace never
leaves the process.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import sqlalchemy.exc
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    NotPermitted,
    RuleViolation,
)
from infrastructure.http.metrics import PROBLEMS
from infrastructure.http.metrics import STORE_ERRORS as STORE_ERRORS_SEEN

log = logging.getLogger("casejourney.http")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:casejourney:problem:"

#: Rule codes that are about the input rather than the case's state: answered 422, not 409.
INPUT_RULE_CODES = frozenset(
    {
        "occurred_at_in_future",
        "occurred_at_too_early",
        "occurred_at_backdated_too_far",
        "occurred_at_naive",
        "occurred_before_case_opened",
        "reason_required",
    }
)


#: The stable codes, by the status they are answered with. A rule of the case journey refuses
#: with its own code (409, or 422 for the input codes above); ``tests/e2e/test_http_openapi.py``
#: checks that every code the HTTP layer and the domain raise is listed here.
PROBLEM_CODES: dict[int, tuple[str, ...]] = {
    400: ("invalid_content_length",),
    401: ("unauthenticated", "invalid_token", "token_expired"),
    403: ("role_not_permitted", "not_a_current_member", "no_legitimate_relationship", "own_alert"),
    404: ("case_not_found", "not_found"),
    409: (
        "version_conflict",
        "command_id_reused",
        "case_closed",
        "case_exists",
        "rule_violation",
        "three_part_test",
        "police_involvement",
        "specialist_team_only",
        "acs_domestic_abuse",
        "not_the_enforcement_manager",
        "override_reason_required",
        "pathway_target_missing",
        "customer_erased",
        "already_erased",
        "no_such_marker",
        "unknown_alert",
        "alert_already_reviewed",
        "busy",
    ),
    413: ("body_too_large",),
    422: (
        "invalid_input",
        "purpose_required",
        "invalid_idempotency_key",
        "idempotency_key_mismatch",
        "invalid_if_match",
        "if_match_mismatch",
        "log_position_unknown",
        *sorted(INPUT_RULE_CODES),
    ),
    500: ("internal_error", "record_fails_verification"),
    503: (
        "store_unavailable",
        "store_cannot_write",
        "projection_behind",
        "projection_stopped",
        "projection_lag",
    ),
}


def codes_of(status: int) -> str:
    return ", ".join(f"`{code}`" for code in PROBLEM_CODES.get(status, ()))


class Problem(Exception):
    """Raised by the HTTP layer to answer with a problem document."""

    def __init__(
        self, status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    return problem_at(request.url.path, problem)


def problem_at(path: str, problem: Problem) -> JSONResponse:
    """The problem as the answer to a request for ``path`` (its ``instance``), counted by code."""
    PROBLEMS.labels(problem.code, str(problem.status)).inc()
    body = {
        "type": TYPE_PREFIX + problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "instance": path,
        **problem.extra,
    }
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def _field_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        out.append({"field": ".".join(loc), "message": error.get("msg", ""), "type": error.get("type", "")})
    return out


def invalid_input(errors: Any, detail: str = "The request is not valid; see errors, field by field.") -> Problem:
    return Problem(422, "invalid_input", "Invalid input", detail, errors=_field_errors(errors))


def from_domain_error(exc: DomainError) -> Problem:
    """The one mapping from typed domain errors to HTTP statuses."""
    details = {k: v for k, v in exc.details.items() if k not in {"code", "detail", "status", "title", "type"}}
    if isinstance(exc, CaseNotFound):
        return Problem(404, exc.code, "Unknown case", exc.message, **details)
    if isinstance(exc, NotPermitted):
        return Problem(403, exc.code, "Not permitted", exc.message, **details)
    if isinstance(exc, ConcurrencyConflict):
        etag = f'"{exc.current_version}"'
        return Problem(409, exc.code, "Version conflict", exc.message, headers={"ETag": etag}, **details)
    if isinstance(exc, IdempotencyKeyReused):
        return Problem(409, exc.code, "Idempotency key reused", exc.message, **details)
    if isinstance(exc, RuleViolation):
        if exc.code in INPUT_RULE_CODES:
            return Problem(422, exc.code, "Invalid input", exc.message, **details)
        return Problem(409, exc.code, "Refused by a rule of the case journey", exc.message, **details)
    return Problem(409, exc.code, "Refused", exc.message, **details)


def store_unavailable(exc: BaseException) -> Problem:
    log.warning("event store unavailable: %s: %s", type(exc).__name__, exc)
    STORE_ERRORS_SEEN.inc()
    return Problem(
        503,
        "store_unavailable",
        "Store unavailable",
        "The event store cannot be reached; nothing was recorded. Retry later with the same Idempotency-Key.",
        headers={"Retry-After": "5"},
    )


#: Failures of the database itself (not of the request): answered 503.
STORE_ERRORS: tuple[type[Exception], ...] = (
    PersistenceError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
    sqlalchemy.exc.OperationalError,  # the read-model tables' driver errors, wrapped
)


def problem_for(exc: Exception, method: str, path: str) -> Problem:
    """The problem an exception raised while answering ``method path`` is answered with: the one
    mapping of ``install``'s handlers, and of the fast lane (``lane.py``), which answers outside them."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError | ValidationError):
        return invalid_input(exc.errors())
    if isinstance(exc, DomainError):
        return from_domain_error(exc)
    if isinstance(exc, MapperDeserialisationError):
        log.error("a stored event cannot be decoded on %s %s: %s", method, path, exc)
        return Problem(
            500,
            "record_fails_verification",
            "The stored record fails verification",
            "An event of this case cannot be decoded: its stored bytes were altered, or the keyring is not the one"
            " they were written with. Nothing is shown from an untrusted record; auditors can read what is stored,"
            " marked as failed (GET /cases/{id}/timeline.html), and an operator should run `casejourney verify`.",
        )
    if isinstance(exc, STORE_ERRORS):
        return store_unavailable(exc)
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return Problem(exc.status_code, code, str(exc.detail), str(exc.detail), headers=dict(exc.headers or {}))
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return Problem(500, "internal_error", "Internal error", "An unexpected error; it has been logged.")


def install(app: FastAPI) -> None:
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, problem_for(exc, request.method, request.url.path))

    handled: tuple[type[Exception], ...] = (
        Problem,
        RequestValidationError,
        ValidationError,
        DomainError,
        MapperDeserialisationError,
        *STORE_ERRORS,
        StarletteHTTPException,
        Exception,
    )
    for error_class in handled:
        app.add_exception_handler(error_class, answer)
