"""The command routes: one POST per command, generated from the command classes.

Thin edges: a route authenticates, checks the matrix (403 before any work), turns headers and body
into one command, calls the application once and maps typed errors to problems. What it appended
comes back in words from the application's own result (``CommandResult.appended``): nothing is
read again.

(No ``from __future__ import annotations`` here: the generated handlers' annotations name body
models made at run time, and FastAPI must see them as objects.)
"""

from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.case.commands import COMMANDS_BY_ACTION, CaseCommand, Command, OpenCase
from domain.errors import DomainError
from domain.values import Actor
from infrastructure.eventstore.application import CommandResult
from infrastructure.http import authz
from infrastructure.http.deps import (
    RESPONSES,
    CaseId,
    IdempotencyKey,
    IfMatch,
    Services,
    etag,
    merge_headers,
    require,
    services,
)
from infrastructure.http.metrics import COMMANDS


class EventOutcome(BaseModel):
    version: int
    type: str
    what: str
    why: str


class CommandResponse(CommandResult):
    """What the command appended (or, when ``replayed``, had appended the first time), in words."""

    outcome: list[EventOutcome] = Field(default_factory=list)


#: The example values of the bodies' fields, by name (people of the sample journeys).
EXAMPLE_IDS = {
    "receiving_parent_id": "pwc-1",
    "paying_parent_id": "nrp-1",
    "affected_party_id": "pwc-1",
    "party_id": "pwc-1",
    "advised_by_party_id": "pwc-1",
    "caseworker_id": "cw-ada",
    "specialist_caseworker_id": "scw-bea",
    "enforcement_manager_id": "em-cal",
    "to_manager_id": "em-dan",
}
EXAMPLE_TEXT = {
    "reason": "Six months of arrears; the paying parent has stopped paying.",
    "summary": "The receiving parent told us she is afraid to give her new address.",
    "resolution": "Safety plan agreed with the receiving parent and the local support service.",
    "correction": "The concern was recorded on the wrong case.",
}
EXAMPLE_UUID = UUID("5f0c2e4a-8b1d-4c7e-9a3f-2d6b8e1f0a47")


def body_example(command_class: type[Command]) -> dict[str, Any]:
    """A body the command accepts (its required fields), for the OpenAPI document; tested to
    validate (``tests/e2e/test_http_openapi.py``)."""
    example: dict[str, Any] = {}
    for name, info in command_class.model_fields.items():
        if name == "case_id" or not info.is_required():
            continue
        kind = info.annotation
        if name in EXAMPLE_IDS:
            example[name] = EXAMPLE_IDS[name]
        elif isinstance(kind, type) and issubclass(kind, Enum):
            example[name] = next(iter(kind)).value
        elif kind is UUID:
            example[name] = str(EXAMPLE_UUID)
        elif kind is int:
            example[name] = 2
        elif kind is bool or kind == bool | None:
            example[name] = False
        else:
            example[name] = EXAMPLE_TEXT.get(name, "As agreed on the phone with the customer.")
    return example


def body_model(command_class: type[Command]) -> type[BaseModel]:
    """The request body of a command: its fields without the case id (that is in the path)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in command_class.model_fields.items() if name != "case_id"
    }
    return create_model(
        command_class.__name__,
        __config__=ConfigDict(
            extra="forbid",
            title=command_class.__name__,
            json_schema_extra={"examples": [body_example(command_class)]},
        ),
        __doc__=command_class.__doc__,
        **fields,
    )


def command_for(
    command_class: type[Command],
    body: BaseModel,
    case_id: UUID | None,
    actor: Actor,
    idempotency_key: str | None,
    if_match: str | None,
) -> Command:
    """The command a request names: its body, the case in its path and its headers."""
    data = body.model_dump(exclude_unset=True)
    if case_id is not None:
        data["case_id"] = case_id
    merge_headers(data, actor, idempotency_key, if_match)
    return command_class.model_validate(data)


def run(svc: Services, command: Command, actor: Actor, *, status: int = 200) -> Response:
    """Runs the command and answers it. The answer is serialised once, from values already typed
    (``model_construct``, then pydantic's own JSON), not validated again against the response
    model as FastAPI would for a returned model: that was two more passes over it per request."""
    kind = type(command).__name__
    try:
        result = svc.app.execute(command, actor)
    except DomainError:
        COMMANDS.labels(kind, "refused").inc()
        raise
    COMMANDS.labels(kind, "replayed" if result.replayed else "appended").inc()
    outcome = [
        EventOutcome.model_construct(version=a.version, type=a.type, what=a.what, why=a.why) for a in result.appended
    ]
    answer = CommandResponse.model_construct(**dict(result), outcome=outcome)
    headers = {"ETag": etag(result.version)}
    if result.position is not None:  # read your writes: send it back as Min-Log-Position
        headers["Log-Position"] = str(result.position)
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    if isinstance(command, OpenCase):
        headers["Location"] = f"/cases/{result.case_id}"
    return Response(answer.model_dump_json(), status_code=status, media_type="application/json", headers=headers)


def _open_case_route(api: FastAPI) -> None:
    Body = api.state.command_bodies[OpenCase.action] = body_model(OpenCase)

    def open_case(
        request: Request,
        body: Body,  # type: ignore[valid-type]
        actor: Annotated[Actor, require(OpenCase.action)],
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        command = command_for(OpenCase, body, None, actor, idempotency_key, None)
        # 201 for a replay too: the first call's answer, told apart by Idempotent-Replayed.
        return run(services(request), command, actor, status=201)

    api.add_api_route(
        "/cases",
        open_case,
        methods=["POST"],
        name=OpenCase.action,
        operation_id=OpenCase.action,
        summary=OpenCase.action.summary,
        description=(OpenCase.__doc__ or "")
        + " Returns 201 with Location; a retry with the same key returns the same 201,"
        " with `Idempotent-Replayed: true`.",
        tags=["commands"],
        status_code=201,
        response_model=CommandResponse,
        responses=RESPONSES,
    )


def _case_command_route(api: FastAPI, command_class: type[CaseCommand]) -> None:
    action = command_class.action
    Body = api.state.command_bodies[action] = body_model(command_class)

    def handle(
        request: Request,
        case_id: CaseId,
        body: Body,  # type: ignore[valid-type]
        actor: Annotated[Actor, require(action)],
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> Response:
        command = command_for(command_class, body, case_id, actor, idempotency_key, if_match)
        return run(services(request), command, actor)

    handle.__name__ = action
    api.add_api_route(
        f"/cases/{{case_id}}/{action.path}",
        handle,
        methods=["POST"],
        name=action,
        operation_id=action,
        summary=action.summary,
        description=(command_class.__doc__ or action.summary + ".")
        + f"\n\nAllowed roles: {', '.join(sorted(str(r) for r in authz.allowed_roles(action)))}.",
        tags=["commands"],
        response_model=CommandResponse,
        responses=RESPONSES,
    )


def install(api: FastAPI) -> None:
    api.state.command_bodies = {}  # action -> its body model (the fast lane's, too)
    _open_case_route(api)
    for action, command_class in COMMANDS_BY_ACTION.items():
        if action != OpenCase.action:
            assert issubclass(command_class, CaseCommand)
            _case_command_route(api, command_class)
