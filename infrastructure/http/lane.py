"""The fast lane: the hot routes answered below FastAPI, with the routes' own code (issue 16, item 2).

Over the wire most of a request's time was the framework's, not the case journey's: on this
2-core machine FastAPI's routing, its dependency graph and the thread a sync route runs in cost
more than reading the case (docs/http.md, "The fast lane"). So the three routes every backend
service calls all day, ``GET /cases/{id}``, ``POST /cases/{id}/{command}`` and ``POST /cases``, are
answered here, a plain ASGI app in front of FastAPI, with the very functions the FastAPI routes
call: the same ``Authenticator``, the same role check (``deps.permitted``), the same body models
(``commands.body_model``), the same command and answer (``commands.command_for`` and ``run``), the
same case view (``reads.case_answer``) and the same problems (``problems.problem_for``).

What is not plainly well formed is never judged here: a request with a query string, a body that
is not JSON or does not validate, a header over its limit, a path that is not a case id. It goes on,
untouched and with its body replayed, to FastAPI, which answers it field by field as it always
did; nothing has been read or recorded by then. So the lane changes the cost of the hot routes,
never their answers: ``tests/e2e/test_http_lane.py`` sends the same requests to a service with and
without it and compares the answers.

The work itself runs on the event loop when nothing else is in flight in this worker (a thread hop
costs about 0.4 ms here, more than a case read), and in the thread pool otherwise, so a worker
under load still overlaps its database round trips.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from domain.case.commands import COMMANDS_BY_ACTION, OpenCase
from infrastructure.http.commands import command_for, run
from infrastructure.http.deps import permitted
from infrastructure.http.limits import replaying
from infrastructure.http.problems import problem_at, problem_for
from infrastructure.http.reads import case_answer

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_CASE_PATH = re.compile(rf"/cases/({_UUID})(?:/([a-z-]+))?")

#: The headers the lane reads, with FastAPI's limits on them (``deps.IdempotencyKey``,
#: ``reads.BreakGlassReason``): over a limit, FastAPI answers it.
_LIMITS = {b"idempotency-key": 255, b"break-glass-reason": 500}
_READ = {b"authorization", b"if-none-match", b"break-glass-reason", b"idempotency-key", b"if-match", b"content-type"}


class FastLane:
    def __init__(self, app: Any, *, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self.in_flight = 0
        self._routes: dict[str, Any] | None = None

    def routes(self) -> dict[str, Any]:
        """Each hot route's FastAPI route object, by name, for the request's log line and metrics."""
        if self._routes is None:
            self._routes = {getattr(r, "name", ""): r for r in self.api.routes}
        return self._routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._answer(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _answer(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method, path = scope["method"], scope["path"]
        if scope.get("query_string") or method not in ("GET", "POST") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if headers is None or not headers.get("authorization", "").startswith("Bearer "):
            await self.app(scope, receive, send)
            return
        if method == "POST" and path == "/cases":
            case_id, action = None, str(OpenCase.action)
        else:
            match = _CASE_PATH.fullmatch(path)
            if match is None:
                await self.app(scope, receive, send)
                return
            case_id, segment = UUID(match.group(1)), match.group(2)
            if method == "GET" and segment is None:
                action = "get_case"
            elif method == "POST" and segment is not None and segment in _ACTIONS_BY_PATH:
                action = _ACTIONS_BY_PATH[segment]
            else:
                await self.app(scope, receive, send)
                return
        route = self.routes().get(action)
        if route is None:
            await self.app(scope, receive, send)
            return
        body: Any = None
        if method == "POST":
            whole, messages = await _body(receive)
            body = self._body(action, whole, headers)
            if body is None:  # not plainly well formed: FastAPI says why, field by field
                await self.app(scope, replaying(messages, receive), send)
                return
        scope["route"] = route  # the template, for the request's line and metrics (observe.py)
        svc = self.api.state.services
        try:
            actor = svc.authenticator.actor(headers["authorization"])
            scope.setdefault("state", {})["actor"] = actor
            permitted(action, actor)
            answer = await self._work(lambda: self._respond(svc, action, actor, case_id, body, headers))
        except Exception as exc:  # answered as FastAPI's handlers answer it
            answer = problem_at(path, problem_for(exc, method, path))
        await answer(scope, receive, send)

    def _body(self, action: str, whole: bytes, headers: dict[str, str]) -> Any:
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return None
        try:
            return self.api.state.command_bodies[action].model_validate(json.loads(whole))
        except (ValueError, ValidationError):
            return None

    @staticmethod
    def _respond(
        svc: Any, action: str, actor: Any, case_id: UUID | None, body: Any, headers: dict[str, str]
    ) -> Response:
        if action == "get_case":
            assert case_id is not None
            return case_answer(
                svc, actor, case_id, None, headers.get("if-none-match"), headers.get("break-glass-reason")
            )
        command = command_for(
            COMMANDS_BY_ACTION[action], body, case_id, actor, headers.get("idempotency-key"), headers.get("if-match")
        )
        return run(svc, command, actor, status=201 if action == OpenCase.action else 200)

    async def _work(self, work: Callable[[], Response]) -> Response:
        if self.in_flight == 1:
            # Requests that arrived while this worker was busy are read by the loop's next turn and
            # enter the lane on the turn after: two turns (microseconds) show them.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        if self.in_flight == 1:  # nothing else waits on this worker's loop: no thread hop
            return work()
        return await run_in_threadpool(work)


_ACTIONS_BY_PATH = {
    command.action.path: str(command.action)
    for command in COMMANDS_BY_ACTION.values()
    if command is not OpenCase and hasattr(command.action, "path")
}


def _headers(scope: dict[str, Any]) -> dict[str, str] | None:
    """The headers the lane reads, by lower-case name; ``None`` when one of them is sent twice
    (FastAPI decides which counts) or is over its limit."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _READ:
            key = name.decode("latin-1")
            if key in found:
                return None
            found[key] = value.decode("latin-1")
    if any(len(found.get(n.decode(), "")) > limit for n, limit in _LIMITS.items()):
        return None
    return found


async def _body(receive: Any) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole body (``BodySizeLimit``, outside, has already bounded it) and the messages it came in."""
    messages = []
    chunks = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages
