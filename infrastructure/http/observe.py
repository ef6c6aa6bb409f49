"""One JSON line per request, and the request's id (issue 16, item 3).

``RequestLog`` is a plain ASGI middleware (no thread hop, nothing read from the body): it takes the
caller's ``X-Request-ID`` when it is a sane token (else makes one), returns it on the response, and
when the response is sent logs, on the ``casejourney.http`` logger, one line of JSON:

    {"at": "2026-12-07T10:20:01.123Z", "method": "POST", "route": "/cases/{case_id}/record-concern",
     "status": 200, "duration_ms": 2.41, "request_id": "...", "actor": "cw-1", "role": "caseworker",
     "pid": 4121}

The route is the template, never the path (a case id is not logged), and nothing of the headers,
the query or the body is: no token, no personal data, no free text. The actor is the one the
token named, once it was verified (``deps.current_actor`` leaves it in the request's state).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from infrastructure.http.metrics import DURATION, REQUESTS

LOGGER = logging.getLogger("casejourney.http")

#: A request id we accept from the caller: what proxies and tracers send (a UUID, a hex trace id,
#: ``abc-123.x``); anything else (a header used to smuggle text into the logs) is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HEADER = "x-request-id"

#: On every answer (``app.API_VERSION``, kept here as bytes: the middleware is below the app).
API_VERSION = b"1"


def request_id_of(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1").strip()
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: Any, logger: logging.Logger = LOGGER) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = [500]

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    (b"api-version", API_VERSION),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            REQUESTS.labels(scope["method"], route, str(status[0])).inc()
            DURATION.labels(scope["method"], route).observe(took)
            if self.logger.isEnabledFor(logging.INFO):
                actor = state.get("actor")
                line = {
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "method": scope["method"],
                    "route": route,
                    "status": status[0],
                    "duration_ms": round(took * 1e3, 2),
                    "request_id": request_id,
                    "actor": actor.id if actor is not None else None,
                    "role": str(actor.role) if actor is not None else None,
                    "pid": os.getpid(),
                }
                self.logger.info(json.dumps(line, separators=(",", ":")))


def log_requests_to_stderr() -> None:
    """The request lines on stderr, one JSON object each and nothing around it (``serve``, and each
    worker the ASGI factory starts)."""
    if any(getattr(h, "_casejourney", False) for h in LOGGER.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._casejourney = True  # type: ignore[attr-defined]
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
