"""The composition root of the HTTP API: ``create_app(settings, ...)`` builds everything once.

Nothing is connected at import time. ``create_app`` opens the case application and the access
log on the configured store, and the routes reach them through ``request.app.state.services``.
With ``postgres_read_url`` set, a second case application reads there for the GETs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from infrastructure.access.log import AccessLog
from infrastructure.access.reads import CaseReads, CustomerDirectory
from infrastructure.audit.schema_upgrade import open_mode
from infrastructure.eventstore.application import CaseJourney, utc_now
from infrastructure.eventstore.schema import service_mode
from infrastructure.files import on_read_only_media
from infrastructure.http import commands, problems, reads, staff
from infrastructure.http.auth import Authenticator
from infrastructure.http.deps import Services
from infrastructure.http.lane import FastLane
from infrastructure.http.limits import BodySizeLimit
from infrastructure.http.metrics import ProjectionLag
from infrastructure.http.observe import RequestLog, log_requests_to_stderr
from infrastructure.http.problems import PROBLEM_JSON
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.queries import CaseQueries, LogQueries, TablesQueries
from infrastructure.settings import Settings, settings_error, unknown_variables

log = logging.getLogger("casejourney.http")

#: The API's version: in ``info.version`` and in the ``API-Version`` header of every answer. The
#: paths carry none: a change that breaks a client would be published beside this one, under /v2.
API_VERSION = "1"  # observe.API_VERSION says it on every answer

DESCRIPTION = """\
Commands and queries of the child maintenance case journey, safety first.

* **Authentication**: `Authorization: Bearer <token>` (a JWT from `casejourney token`, or an API key).
  The actor recorded on every event is the token's, never the body's.
* **Retries**: send an `Idempotency-Key` (a UUID is used as the command id as it is): a retry returns
  the first result (`Idempotent-Replayed: true`) and appends nothing.
* **Concurrency**: case reads carry an `ETag` (the case version); send it back in `If-Match` on a
  command and a stale version is answered `409 version_conflict` with the current version.
* **Errors**: RFC 9457 `application/problem+json` (schema `ProblemDetails`) with a stable `code`; each
  response lists the codes it may carry.
* **Read your writes**: a command answers `Log-Position`; send it back as `Min-Log-Position` on
  `/caseloads` or `/expedited-queue` and the list includes your write (or answers 503 `projection_behind`).
* **Version**: every answer carries `API-Version: 1` (also `info.version`). The paths carry none: a
  change that would break a client is published beside this version, never in place.
* **Need to know**: a safeguarding history, and a person's contact details, go only to a reader with a
  legitimate relationship to the case (its named caseworker, the team reviewing it, its enforcement
  manager, the ACS senior leader holding an escalation, an auditor), judged on the case and the staff
  roster as they stand now. Every such read is recorded first. A caseworker without a relationship may
  send `Break-Glass-Reason`: the read is allowed, recorded and raised as an alert that an ACS senior
  leader or an auditor reviews (`/alerts/break-glass`). A history read needs a stated `purpose`.
* **Limits**: request bodies over `http_max_body_bytes` (64 KiB by default) are refused with 413, unread.
"""


def create_app(
    settings: Settings,
    *,
    app: CaseJourney | None = None,
    clock: Callable[[], datetime] | None = None,
    queries: Callable[[CaseJourney], CaseQueries] | None = None,
    max_projection_lag: int | None = None,
    fast_lane: bool = True,
) -> FastAPI:
    """The ASGI application. Pass ``app`` to share a case application (it is then not closed here).
    ``fast_lane=False`` answers every route through FastAPI (``lane.py`` says what the lane is)."""
    owned: list[Any] = []
    if app is None:
        app = CaseJourney(settings, clock=clock or utc_now, schema=open_mode(settings, writes=True))
        owned.append(app)
    access_log = AccessLog(settings, text_keys=app.text_keys, schema=service_mode(settings, writes=True))
    owned.append(access_log)
    reader = app
    if settings.for_reading() is not settings:
        # GETs read on ``postgres_read_url`` (a standby, a reader role); need-to-know decisions and
        # the recorded reads stay on the primary (see ``Services.reader``).
        reader = CaseJourney(settings.for_reading(), clock=app.clock, schema="require")
        owned.append(reader)
    clock = clock or app.clock
    read_models = None
    if settings.store == "sqlite" and on_read_only_media(settings.sqlite_path):
        # An evidence copy on read-only media: no runner can ever bring its read models up to the
        # log, so the lists are folded from the log (right, only slower).
        log.warning("the SQLite file is on read-only media: the lists are folded from the log")
    elif queries is None and settings.http_read_models == "tables":
        # The tables the projection runner keeps (``serve`` runs one beside the workers).
        try:
            read_models = ReadModels(reader, settings.for_reading(), create=reader is app)
        except sqlalchemy.exc.DBAPIError as exc:
            # A store that cannot be opened for them (a read-only file, a full disk with the tables
            # never made): the lists are folded from the log instead, still right, only slower.
            log.warning("the read models cannot be opened (%s): the lists are folded from the log", exc.orig)
    if read_models is not None:
        owned.append(read_models)
        answers: CaseQueries = TablesQueries(reader, read_models)
    else:
        answers = (queries or LogQueries)(reader)
    services = Services(
        settings=settings,
        app=app,
        reader=reader,
        access_log=access_log,
        queries=answers,
        read_models=read_models,
        authenticator=Authenticator(settings),
        reads=CaseReads(app, access_log, CustomerDirectory(app), clock),
        clock=clock,
        max_projection_lag=max_projection_lag,
        owned=owned,
    )
    api = FastAPIOffline(  # FastAPI, with /docs and /redoc served from the package: no CDN
        title="case-journey",
        version=API_VERSION,
        description=DESCRIPTION,
        servers=[{"url": "/", "description": "This service (behind a proxy, its --root-path is listed first)"}],
        openapi_tags=[
            {"name": "commands", "description": "One POST per command of the case journey."},
            {"name": "cases", "description": "A case's state, team assignment and safeguarding history."},
            {"name": "work", "description": "Caseloads and the expedited queue."},
            {"name": "staff", "description": "The staff roster: who is a member of which team."},
            {"name": "alerts", "description": "Break-glass reads, for review."},
            {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
        ],
    )
    services.lag = ProjectionLag(services)
    owned.append(services.lag)
    api.state.services = services
    problems.install(api)
    commands.install(api)
    reads.install(api)
    staff.install(api)
    api.openapi = lambda: _published(api)  # type: ignore[method-assign]
    if fast_lane:
        api.add_middleware(FastLane, api=api)  # inside the limit and the log: both apply to it
    api.add_middleware(BodySizeLimit, max_bytes=settings.http_max_body_bytes)
    api.add_middleware(RequestLog)  # outermost: a refused body is logged too, with its id
    return api


def _published(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, made exact where it is not: every error answers ``application/problem+json``
    with the ``ProblemDetails`` schema (FastAPI's own 422 schema included), and a response schema
    that names a model is that model alone."""
    if api.openapi_schema:
        return api.openapi_schema
    document = get_openapi(
        title=api.title,
        version=api.version,
        description=api.description,
        routes=api.routes,
        tags=api.openapi_tags,
        servers=api.servers,
    )
    problem = {"$ref": "#/components/schemas/ProblemDetails"}
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                if status[0] in "45":
                    answer["content"] = {PROBLEM_JSON: {"schema": problem}}
                    continue
                for media in answer.get("content", {}).values():
                    schema = media.get("schema") or {}
                    if "$ref" in schema:
                        media["schema"] = {"$ref": schema["$ref"]}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    document["info"]["x-api-version-header"] = "API-Version"
    api.openapi_schema = document
    return document


def from_env() -> FastAPI:
    """The ASGI factory: settings from ``CASEJOURNEY_*`` variables alone, as ``serve --workers N``
    starts each worker (``uvicorn --factory infrastructure.http.app:from_env`` does the same). A
    mistyped variable or a bad value stops the worker with the CLI's own sentence; the services
    are closed when the worker shuts down."""
    from contextlib import asynccontextmanager

    unknown = unknown_variables(os.environ)
    if unknown:
        raise SystemExit("; ".join(unknown))
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SystemExit(f"invalid settings: {settings_error(exc)}") from None
    api = create_app(settings)
    log_requests_to_stderr()

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            api.state.services.close()

    api.router.lifespan_context = lifespan
    return api
