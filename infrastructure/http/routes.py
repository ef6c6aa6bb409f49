"""Routes: one POST per command, generated from the command classes; the GETs readers need.

Thin edges: a route authenticates, checks the matrix (403 before any work), turns headers and body
into one command, calls the application once and maps typed errors to problems.

(No ``from __future__ import annotations`` here: the generated handlers' annotations name body
models made at run time, and FastAPI must see them as objects.)
"""

import re
from typing import Annotated, Any
from uuid import UUID, uuid5

import psycopg
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from domain.access.aggregate import ReviewOutcome
from domain.case.commands import COMMANDS_BY_ACTION, CaseCommand, Command, OpenCase, Reason
from domain.staff.commands import JoinTeam, LeaveTeam
from domain.text import meaningful
from domain.values import Actor, StaffTeam
from infrastructure.application import CommandResult, RosterResult
from infrastructure.html_pages import CSP, case_timeline_html
from infrastructure.http import authz
from infrastructure.http.app import Services
from infrastructure.http.problems import STORE_ERRORS, Problem, store_unavailable
from infrastructure.settings import Settings
from infrastructure.staff import roster_changes, roster_rows
from projections.describe import what, why

#: Namespace of command ids made from an Idempotency-Key that is not itself a UUID.
IDEMPOTENCY_NAMESPACE = UUID("a3c1e7b0-5d2f-4f7a-8a55-0c6b2e9d4f11")

#: One sentence per command: the operation's summary in the OpenAPI document.
SUMMARIES: dict[str, str] = {
    "receive_application": "Open a case: an application received",
    "assign_caseworker": "Assign the named caseworker",
    "change_service_type": "Change the service type (e.g. Direct Pay to Collect and Pay)",
    "record_concern": "Record a safeguarding concern",
    "resolve_concern": "Resolve a concern, with the reason",
    "give_signposting": "Record signposting given, and whether it resolved the concern",
    "assess_safety_risk": "Record a safety risk assessment (the caseworker's judgement)",
    "end_police_involvement": "Record that police involvement has ended",
    "record_acs_involvement": "Record Advanced Customer Support involvement",
    "decide_referral": "Decide a referral to the Specialist Case Team under the policy in force",
    "accept_referral": "Accept a referral into the Specialist Case Team",
    "start_enforcement": "Start enforcement with one enforcement manager",
    "hand_over_enforcement": "Hand enforcement over to another manager, with a reason",
    "end_enforcement": "End enforcement",
    "open_expedited_pathway": "Open an expedited pathway (safeguarding, homelessness risk, hardship)",
    "close_expedited_pathway": "Close an expedited pathway",
    "record_deadline_missed": "Record a missed pathway target (escalates to an ACS senior leader)",
    "raise_escalation": "Escalate the case to an ACS senior leader",
    "resolve_escalation": "Resolve an escalation",
    "raise_service_design_issue": "Raise a service-design issue",
    "request_removal": "Request removal from the Specialist Case Team",
    "decide_removal": "Decide a removal request (refused while any doubt remains)",
    "close_case": "Close the case",
    "record_entry_in_error": "Record that an entry was made in error (a correction)",
}

_bearer = HTTPBearer(auto_error=False, description="A JWT (casejourney token) or an API key.")


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def current_actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else request.headers.get("authorization")
    return services(request).authenticator.actor(header)


def require(route: str) -> Any:
    """A dependency: the caller's actor, once the matrix allows their role on ``route``."""

    def check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
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

    return Depends(check)


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


# ---------------------------------------------------------------------- commands


class EventOutcome(BaseModel):
    version: int
    type: str
    what: str
    why: str


class CommandResponse(CommandResult):
    """What the command appended (or, when ``replayed``, had appended the first time), in words."""

    outcome: list[EventOutcome] = Field(default_factory=list)


def body_model(command_class: type[Command]) -> type[BaseModel]:
    """The request body of a command: its fields without the case id (that is in the path)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in command_class.model_fields.items() if name != "case_id"
    }
    return create_model(
        command_class.__name__,
        __config__=ConfigDict(extra="forbid", title=command_class.__name__),
        __doc__=command_class.__doc__,
        **fields,
    )


def _merge_headers(data: dict[str, Any], actor: Actor, idempotency_key: str | None, if_match: str | None) -> None:
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


def _run(svc: Services, command: Command, actor: Actor, response: Response) -> CommandResponse:
    result = svc.app.execute(command, actor)
    first = result.appended[0].version
    events: list[Any] = list(svc.app.events.get(result.case_id, gt=first - 1, lte=result.version))
    outcome = [
        EventOutcome(version=e.originator_version, type=type(e).__name__, what=what(e), why=why(e)) for e in events
    ]
    response.headers["ETag"] = etag(result.version)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CommandResponse(**result.model_dump(), outcome=outcome)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token (problem+json)."},
    403: {"description": "The caller's role may not do this (problem+json)."},
    404: {"description": "Unknown case (problem+json)."},
    409: {"description": "Refused by a rule, a stale If-Match, or a reused Idempotency-Key (problem+json)."},
    422: {"description": "Invalid input, field by field (problem+json)."},
    503: {"description": "The store cannot be reached; nothing was recorded (problem+json)."},
}

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe key: the same key twice appends once.", max_length=255),
]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The case version you decided on, e.g. "3".')]
CaseId = Annotated[UUID, Path(description="The case id.")]


def _open_case_route(api: FastAPI) -> None:
    Body = body_model(OpenCase)

    def open_case(
        request: Request,
        response: Response,
        body: Body,  # type: ignore[valid-type]
        actor: Annotated[Actor, require(OpenCase.action)],
        idempotency_key: IdempotencyKey = None,
    ) -> CommandResponse:
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        _merge_headers(data, actor, idempotency_key, None)
        command = OpenCase.model_validate(data)
        result = _run(services(request), command, actor, response)
        response.status_code = 200 if result.replayed else 201
        response.headers["Location"] = f"/cases/{result.case_id}"
        return result

    api.add_api_route(
        "/cases",
        open_case,
        methods=["POST"],
        name=OpenCase.action,
        operation_id=OpenCase.action,
        summary=SUMMARIES[OpenCase.action],
        description=(OpenCase.__doc__ or "") + " Returns 201 with Location; a retry with the same key returns 200.",
        tags=["commands"],
        status_code=201,
        response_model=CommandResponse,
        responses=_RESPONSES,
    )


def _case_command_route(api: FastAPI, command_class: type[CaseCommand]) -> None:
    Body = body_model(command_class)
    action = command_class.action

    def handle(
        request: Request,
        response: Response,
        case_id: CaseId,
        body: Body,  # type: ignore[valid-type]
        actor: Annotated[Actor, require(action)],
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> CommandResponse:
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        data["case_id"] = case_id
        _merge_headers(data, actor, idempotency_key, if_match)
        command = command_class.model_validate(data)
        return _run(services(request), command, actor, response)

    handle.__name__ = action
    api.add_api_route(
        f"/cases/{{case_id}}/{action.replace('_', '-')}",
        handle,
        methods=["POST"],
        name=action,
        operation_id=action,
        summary=SUMMARIES[action],
        description=(command_class.__doc__ or SUMMARIES[action] + ".")
        + f"\n\nAllowed roles: {', '.join(sorted(str(r) for r in authz.allowed_roles(action)))}.",
        tags=["commands"],
        response_model=CommandResponse,
        responses=_RESPONSES,
    )


# ---------------------------------------------------------------------- reads


def purpose(
    purpose: Annotated[
        str, Query(max_length=500, description="Why you are reading it (recorded with your id, for the auditors).")
    ],
) -> str:
    """The stated purpose, stripped: it must say something (3 visible characters, nothing invisible)."""
    if not meaningful(purpose):
        raise Problem(
            422,
            "purpose_required",
            "Invalid input",
            "purpose must say why you are reading it: 3 visible characters or more, no control or invisible"
            " characters (spaces, tabs or a zero-width space are not a purpose).",
        )
    return purpose.strip()


Purpose = Annotated[str, Depends(purpose)]

BreakGlassReason = Annotated[
    str | None,
    Header(
        alias="Break-Glass-Reason",
        max_length=500,
        description=(
            "Only for a caseworker, specialist caseworker or ACS senior leader with no relationship to the case:"
            " why you must read it now. The read is allowed, recorded and raised as an alert for review."
        ),
    ),
]


def _reads(api: FastAPI) -> None:
    @api.get(
        "/cases/{case_id}",
        operation_id="get_case",
        summary="A case's state (ETag = its version)",
        tags=["cases"],
        responses=_RESPONSES,
    )
    def get_case(
        request: Request,
        case_id: CaseId,
        actor: Annotated[Actor, require("get_case")],
        version: Annotated[
            int | None, Query(ge=1, le=10**9, description="The case as it stood at this version.")
        ] = None,
        if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
        break_glass: BreakGlassReason = None,
    ) -> Response:
        svc = services(request)
        seen = {t.strip().removeprefix("W/") for t in if_none_match.split(",")} if if_none_match else set()
        matched: list[str] = []

        def already_seen(shown: int) -> bool:
            matched.extend({etag(shown)} & seen)
            return bool(matched)

        try:
            view = svc.reads.case_view(
                actor, case_id, version=version, break_glass_reason=break_glass, unless=already_seen
            )
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        if view is None:
            return Response(status_code=304, headers={"ETag": matched[0]})
        return JSONResponse(view, headers={"ETag": etag(view["version"]), "Cache-Control": "no-store"})

    @api.get(
        "/cases/{case_id}/team-assignment",
        operation_id="get_team_assignment",
        summary="Where the case sits: team, named caseworker, enforcement manager, open flags",
        tags=["cases"],
        responses=_RESPONSES,
    )
    def get_team_assignment(
        request: Request, case_id: CaseId, actor: Annotated[Actor, require("get_team_assignment")]
    ) -> Any:
        svc = services(request)
        row = svc.queries.team_assignment(case_id)
        if row is None:
            svc.app.get_case(case_id)  # 404 for an unknown case; otherwise the projection is behind
            raise Problem(
                503,
                "projection_behind",
                "Not yet projected",
                "The case is not in the read model yet; retry shortly.",
                headers={"Retry-After": "1"},
            )
        return row

    @api.get(
        "/cases/{case_id}/safeguarding-history",
        operation_id="get_safeguarding_history",
        summary="A case's safeguarding history (need to know; every read is recorded)",
        description=(
            "Only with a legitimate relationship to the case, judged now: its named caseworker, the Specialist"
            " Case Team reviewing a pending referral or removal, the ACS senior leader holding an open"
            " escalation (or reviewing a removal), an auditor; or by break-glass (`Break-Glass-Reason`),"
            " recorded and raised as an alert. `purpose` is required and recorded with who read, on which"
            " basis and when, before the history is returned. `as_of` gives the history as the service had"
            " recorded it at that time."
        ),
        tags=["cases"],
        responses=_RESPONSES,
    )
    def get_safeguarding_history(
        request: Request,
        response: Response,
        case_id: CaseId,
        purpose: Purpose,
        actor: Annotated[Actor, require("get_safeguarding_history")],
        as_of: Annotated[AwareDatetime | None, Query(description="Recorded time (ISO 8601 with offset).")] = None,
        break_glass: BreakGlassReason = None,
    ) -> Any:
        svc = services(request)
        try:
            read = svc.reads.allow_history(actor, case_id, purpose=purpose, as_of=as_of, break_glass_reason=break_glass)
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        entries = svc.queries.safeguarding_history(case_id, as_of)
        response.headers["Cache-Control"] = "no-store"
        return {
            "case_id": str(case_id),
            "as_of": as_of.isoformat() if as_of else None,
            "read_recorded": read.as_dict(actor, purpose),
            "entries": entries,
        }

    @api.get(
        "/cases/{case_id}/safeguarding-history/reads",
        operation_id="get_safeguarding_history_reads",
        summary="Who read this case's safeguarding history or contact details, when, on which basis, why (auditors)",
        tags=["cases"],
        responses=_RESPONSES,
    )
    def get_safeguarding_history_reads(
        request: Request, case_id: CaseId, actor: Annotated[Actor, require("get_safeguarding_history_reads")]
    ) -> Any:
        svc = services(request)
        svc.app.get_case(case_id)
        return {"case_id": str(case_id), "reads": [r.as_dict() for r in svc.access_log.reads(case_id)]}

    @api.get(
        "/cases/{case_id}/timeline.html",
        operation_id="get_case_timeline",
        summary="A case's safeguarding journey as a self-contained HTML page (auditors; the read is recorded)",
        description=(
            "Every event of the case: who, when (occurred and recorded), what, why, policy versions and doubts."
            " `purpose` is required and recorded with who read and when, as for the safeguarding history."
        ),
        tags=["cases"],
        response_class=HTMLResponse,
        responses={**_RESPONSES, 200: {"content": {"text/html": {}}, "description": "The timeline page."}},
    )
    def get_case_timeline(
        request: Request,
        case_id: CaseId,
        purpose: Purpose,
        actor: Annotated[Actor, require("get_case_timeline")],
    ) -> HTMLResponse:
        svc = services(request)
        events = svc.app.case_events(case_id)
        try:
            read = svc.reads.allow_history(actor, case_id, purpose=purpose)
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        page = case_timeline_html(case_id, events, generated_at=read.at, generated_for=f"{actor.id} ({purpose})")
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    @api.get(
        "/caseloads",
        operation_id="get_caseloads",
        summary="Open cases per team, named caseworker or enforcement manager",
        tags=["work"],
        responses=_RESPONSES,
    )
    def get_caseloads(
        request: Request,
        actor: Annotated[Actor, require("get_caseloads")],
        by: Annotated[str, Query(pattern="^(team|caseworker|enforcement_manager)$")] = "team",
    ) -> Any:
        loads = services(request).queries.caseloads(by)
        return {"by": by, "caseloads": [{"key": k, "open_cases": n} for k, n in loads.items()]}

    @api.get(
        "/expedited-queue",
        operation_id="get_expedited_queue",
        summary="Open expedited pathways, the one due first first",
        tags=["work"],
        responses=_RESPONSES,
    )
    def get_expedited_queue(request: Request, actor: Annotated[Actor, require("get_expedited_queue")]) -> Any:
        return {"entries": services(request).queries.expedited_queue()}

    @api.get("/healthz", operation_id="healthz", summary="The process is alive", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @api.get(
        "/readyz",
        operation_id="readyz",
        summary="The stores answer, and how far each read model is behind the log",
        tags=["health"],
        responses={503: {"description": "Not ready (problem+json)."}},
    )
    def readyz(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Any:
        """Public: only whether the service is ready. With an operator's token: the stores, the head and lags."""
        svc = services(request)
        detailed = credentials is not None and authz.is_allowed(
            "get_readiness_details", current_actor(request, credentials).role
        )
        try:
            probe_store(svc.settings)
            head = svc.app.recorder.max_notification_id() or 0
            svc.access_log.recorder.max_notification_id()
            lag = svc.queries.lag()
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        too_far = {n: v for n, v in lag.items() if svc.max_projection_lag is not None and v > svc.max_projection_lag}
        body: dict[str, Any] = {"status": "ready" if not too_far else "lagging"}
        if detailed:
            body |= {"store": svc.settings.describe_store(), "head": head, "projection_lag": lag}
        if too_far:
            detail = f"Read models too far behind: {too_far}." if detailed else "Read models too far behind."
            raise Problem(503, "projection_lag", "Read models behind", detail, **body)
        return body


def probe_store(settings: Settings) -> None:
    """A quick look at PostgreSQL before asking the library, which retries for seconds on failure."""
    if settings.store == "postgres":
        with psycopg.connect(**settings.postgres_params(), connect_timeout=2) as conn:  # type: ignore[arg-type]
            conn.execute("SELECT 1")


# ---------------------------------------------------------------------- staff roster and alerts


class RosterChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: StaffTeam
    reason: Reason
    command_id: UUID | None = None
    occurred_at: AwareDatetime | None = None


class AlertReview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: ReviewOutcome = Field(description="Whether the break-glass read was justified.")
    note: Reason


StaffId = Annotated[str, Path(description="The staff member's id.", max_length=100)]


def _staff(api: FastAPI) -> None:
    def change(command_class: type[JoinTeam] | type[LeaveTeam]) -> Any:
        def handle(
            request: Request,
            staff_id: StaffId,
            body: RosterChange,
            actor: Annotated[Actor, require("manage_roster")],
            idempotency_key: IdempotencyKey = None,
        ) -> RosterResult:
            data: dict[str, Any] = body.model_dump(exclude_unset=True) | {"staff_id": staff_id}
            _merge_headers(data, actor, idempotency_key, None)
            return services(request).app.manage_roster(command_class.model_validate(data), actor)

        return handle

    for command_class, verb, summary in (
        (JoinTeam, "join", "A person joins a team (team leaders; the reason is recorded)"),
        (LeaveTeam, "leave", "A person leaves a team: from now on no rule treats them as a member"),
    ):
        api.add_api_route(
            f"/staff/{{staff_id}}/{verb}",
            change(command_class),
            methods=["POST"],
            name=command_class.action,
            operation_id=command_class.action,
            summary=summary,
            tags=["staff"],
            response_model=RosterResult,
            responses=_RESPONSES,
        )

    @api.get(
        "/staff",
        operation_id="get_staff_roster",
        summary="Who is a current member of which team, since when and on whose word",
        tags=["staff"],
        responses=_RESPONSES,
    )
    def get_staff_roster(
        request: Request,
        actor: Annotated[Actor, require("get_staff_roster")],
        team: Annotated[StaffTeam | None, Query(description="Only this team.")] = None,
    ) -> Any:
        app = services(request).app
        return {"members": roster_rows(app, team), "changes": roster_changes(app)}

    @api.get(
        "/alerts/break-glass",
        operation_id="get_break_glass_alerts",
        summary="Break-glass reads: who read what without a relationship, why, and their review",
        tags=["alerts"],
        responses=_RESPONSES,
    )
    def get_break_glass_alerts(
        request: Request,
        actor: Annotated[Actor, require("get_break_glass_alerts")],
        open_only: Annotated[bool, Query(alias="open", description="Only those not yet reviewed.")] = False,
    ) -> Any:
        return {"alerts": [a.as_dict() for a in services(request).access_log.alerts(open_only=open_only)]}

    @api.post(
        "/alerts/break-glass/{alert_id}/review",
        operation_id="review_break_glass",
        summary="Review a break-glass read (an ACS senior leader or an auditor, never the reader)",
        tags=["alerts"],
        responses=_RESPONSES,
    )
    def review_break_glass(
        request: Request,
        alert_id: Annotated[UUID, Path(description="The alert.")],
        body: AlertReview,
        actor: Annotated[Actor, require("review_break_glass")],
    ) -> Any:
        svc = services(request)
        alert = svc.access_log.review_alert(alert_id, actor, outcome=body.outcome, note=body.note, at=svc.clock())
        return alert.as_dict()


def install(api: FastAPI) -> None:
    _open_case_route(api)
    for action, command_class in COMMANDS_BY_ACTION.items():
        if action != OpenCase.action:
            assert issubclass(command_class, CaseCommand)
            _case_command_route(api, command_class)
    _reads(api)
    _staff(api)
