"""The read routes: a case, its team assignment and safeguarding history, caseloads, the queue, health.

Need to know is applied by ``infrastructure/access/reads.py`` (the domain's rule): a safeguarding
history and contact details go only to a reader with a relationship, or by break-glass, and every
such read is recorded before it is returned.

(No ``from __future__ import annotations`` here: FastAPI must see the annotations as objects.)
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime

from domain.text import meaningful
from domain.values import Actor, Role
from infrastructure.audit.bundle import case_bundle, dump
from infrastructure.audit.evidence import CaseEvidence, case_evidence
from infrastructure.audit.html_pages import CSP, case_timeline_html
from infrastructure.eventstore.checkpoints import trusted_verifier
from infrastructure.eventstore.readiness import cannot_take_a_command
from infrastructure.http import authz, schemas
from infrastructure.http.deps import RESPONSES, CaseId, actor_of, bearer, etag, require, services
from infrastructure.http.metrics import CONTENT_TYPE, exposition
from infrastructure.http.problems import STORE_ERRORS, Problem, store_unavailable
from infrastructure.readmodels.errors import ProjectionStopped


async def purpose(
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


MinLogPosition = Annotated[
    int | None,
    Header(
        alias="Min-Log-Position",
        ge=0,
        le=2**62,
        description=(
            "Read your own writes: the `Log-Position` a command answered. The list waits (at most"
            " `http_read_your_writes_seconds`, 2 s by default) until it includes that position; if it does not"
            " by then, 503 `projection_behind` with `Retry-After`."
        ),
    ),
]


def _as_of_position(svc: Any, name: str, wanted: int | None) -> dict[str, str]:
    """Waits, bounded, for read model ``name`` to include ``wanted``; the headers of the answer:
    ``Log-Position``, the position it includes at least (read before the rows are)."""
    try:
        if wanted is not None and wanted > (head := svc.app.recorder.max_notification_id() or 0):
            # No write of the caller's is there: refused at once (a made-up position holds no worker).
            raise Problem(
                422,
                "log_position_unknown",
                "Invalid input",
                f"Min-Log-Position {wanted} is past the end of the log ({head}): send the Log-Position a command"
                " answered.",
                head=head,
            )
        if wanted is not None and not svc.queries.reached(wanted, name, svc.settings.http_read_your_writes_seconds):
            seconds = svc.settings.http_read_your_writes_seconds
            raise Problem(
                503,
                "projection_behind",
                "Not yet projected",
                f"The {name} read model has not reached log position {wanted} within {seconds:g}s; retry shortly.",
                headers={"Retry-After": "1"},
                position=svc.queries.position(name),
            )
        return {"Log-Position": str(svc.queries.position(name))}
    except ProjectionStopped as exc:
        raise Problem(
            503,
            "projection_stopped",
            "Read model stopped",
            f"The {name} read model stopped on an event it cannot process; an operator must look"
            " (`casejourney projections status`).",
            headers={"Retry-After": "30"},
        ) from exc
    except STORE_ERRORS as exc:
        raise store_unavailable(exc) from exc


def _verdict(evidence: CaseEvidence) -> str:
    return "verified" if evidence.ok else "failed"


def case_answer(
    svc: Any,
    actor: Actor,
    case_id: UUID,
    version: int | None = None,
    if_none_match: str | None = None,
    break_glass: str | None = None,
) -> Response:
    """The answer to ``GET /cases/{id}``: the route's, and the fast lane's (``lane.py``)."""
    seen = {t.strip().removeprefix("W/") for t in if_none_match.split(",")} if if_none_match else set()
    matched: list[str] = []

    def already_seen(shown: int) -> bool:
        matched.extend({etag(shown)} & seen)
        return bool(matched)

    try:
        view = svc.reads.case_view(actor, case_id, version=version, break_glass_reason=break_glass, unless=already_seen)
    except STORE_ERRORS as exc:
        raise store_unavailable(exc) from exc
    if view is None:
        return Response(status_code=304, headers={"ETag": matched[0]})
    headers = {"ETag": etag(view["version"]), "Cache-Control": "no-store"}
    if actor.role is Role.AUDITOR:  # an auditor's view is evidence: verified first, the result shown
        evidence = case_evidence(svc.reader, case_id, trusted_verifier(svc.settings))
        view["integrity"] = evidence.as_record()
        headers["Verification"] = _verdict(evidence)
    return JSONResponse(view, headers=headers)


def _reads(api: FastAPI) -> None:
    @api.get(
        "/cases/{case_id}",
        operation_id="get_case",
        summary="A case's state (ETag = its version)",
        tags=["cases"],
        responses={**RESPONSES, 200: {"model": schemas.CaseView}},
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
        return case_answer(services(request), actor, case_id, version, if_none_match, break_glass)

    @api.get(
        "/cases/{case_id}/team-assignment",
        operation_id="get_team_assignment",
        summary="Where the case sits: team, named caseworker, enforcement manager, open flags",
        tags=["cases"],
        responses={**RESPONSES, 200: {"model": schemas.TeamAssignment}},
    )
    def get_team_assignment(
        request: Request, case_id: CaseId, actor: Annotated[Actor, require("get_team_assignment")]
    ) -> Any:
        svc = services(request)
        row = svc.queries.team_assignment(case_id)
        if row is None:
            svc.reader.get_case(case_id)  # 404 for an unknown case; otherwise the projection is behind
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
        responses={**RESPONSES, 200: {"model": schemas.SafeguardingHistory}},
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
        responses={**RESPONSES, 200: {"model": schemas.HistoryReads}},
    )
    def get_safeguarding_history_reads(
        request: Request, case_id: CaseId, actor: Annotated[Actor, require("get_safeguarding_history_reads")]
    ) -> Any:
        svc = services(request)
        svc.reader.get_case(case_id)
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
        responses={
            **RESPONSES,
            200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The timeline page."},
        },
    )
    def get_case_timeline(
        request: Request,
        case_id: CaseId,
        purpose: Purpose,
        actor: Annotated[Actor, require("get_case_timeline")],
    ) -> HTMLResponse:
        svc = services(request)
        try:
            evidence = case_evidence(svc.reader, case_id, trusted_verifier(svc.settings))
            read = svc.reads.allow_history(actor, case_id, purpose=purpose)
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        page = case_timeline_html(
            case_id,
            evidence.decoded(),
            generated_at=read.at,
            generated_for=f"{actor.id} ({purpose})",
            evidence=evidence,
        )
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "Verification": _verdict(evidence)}
        return HTMLResponse(page, headers=headers)

    @api.get(
        "/cases/{case_id}/evidence-bundle",
        operation_id="get_case_evidence_bundle",
        summary="A case's evidence bundle: its events with Merkle proofs, a signed checkpoint and the views (auditors)",
        description=(
            "The file `casejourney export --bundle` writes (`casejourney-evidence-bundle/1`), checked offline with"
            " `casejourney verify-bundle` or `scripts/verify_bundle.py` and the service's verifier key. `purpose` is"
            " required and recorded; `as_of` replays the views as they stood then (events recorded by then)."
            " The `Verification` header says `verified`, or `failed` when the case's record does not verify"
            " (the bundle is still returned, marked, so the failure is evidence too)."
        ),
        tags=["cases"],
        responses={**RESPONSES, 200: {"model": schemas.EvidenceBundle}},
    )
    def get_case_evidence_bundle(
        request: Request,
        case_id: CaseId,
        purpose: Purpose,
        actor: Annotated[Actor, require("get_case_evidence_bundle")],
        as_of: Annotated[AwareDatetime | None, Query(description="Events recorded by then; views as of then.")] = None,
    ) -> Response:
        svc = services(request)
        try:
            evidence = case_evidence(svc.reader, case_id, trusted_verifier(svc.settings))
            read = svc.reads.allow_history(actor, case_id, purpose=purpose)
            reader = {"id": actor.id, "role": str(actor.role), "purpose": purpose, "read_at": read.at}
            made = case_bundle(
                svc.reader,
                svc.settings,
                svc.access_log,
                case_id,
                reader=reader,
                as_of=as_of,
                evidence=evidence,
                primary=svc.app,
            )
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        verdict = "verified" if made["body"]["integrity"]["verified"] else "failed"
        return Response(
            dump(made),
            media_type="application/json",
            headers={
                "Cache-Control": "no-store",
                "Verification": verdict,
                "Content-Disposition": f'attachment; filename="case-{case_id}-evidence.json"',
            },
        )

    @api.get(
        "/caseloads",
        operation_id="get_caseloads",
        summary="Open cases per team, named caseworker or enforcement manager",
        tags=["work"],
        responses={**RESPONSES, 200: {"model": schemas.Caseloads}},
    )
    def get_caseloads(
        request: Request,
        actor: Annotated[Actor, require("get_caseloads")],
        response: Response,
        by: Annotated[str, Query(pattern="^(team|caseworker|enforcement_manager)$")] = "team",
        min_position: MinLogPosition = None,
    ) -> Any:
        svc = services(request)
        response.headers.update(_as_of_position(svc, "caseloads", min_position))
        try:
            loads = svc.queries.caseloads(by)
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        return {"by": by, "caseloads": [{"key": k, "open_cases": n} for k, n in loads.items()]}

    @api.get(
        "/expedited-queue",
        operation_id="get_expedited_queue",
        summary="Open expedited pathways, the one due first first",
        tags=["work"],
        responses={**RESPONSES, 200: {"model": schemas.ExpeditedQueue}},
    )
    def get_expedited_queue(
        request: Request,
        response: Response,
        actor: Annotated[Actor, require("get_expedited_queue")],
        min_position: MinLogPosition = None,
    ) -> Any:
        svc = services(request)
        response.headers.update(_as_of_position(svc, "expedited_queue", min_position))
        try:
            entries = svc.queries.expedited_queue()
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        return {"entries": entries}

    @api.get(
        "/healthz",
        operation_id="healthz",
        summary="The process is alive",
        tags=["health"],
        responses={200: {"model": schemas.Alive}},
    )
    async def healthz() -> dict[str, str]:  # no work: no thread
        return {"status": "alive"}

    @api.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics: requests, commands, problems, store errors, projection lag",
        description="The Prometheus text format (`infrastructure/http/metrics.py` lists each metric). Counts and"
        " durations by route template and code only: no case, person or actor appears in a label.",
        tags=["health"],
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "The metrics, in Prometheus' text format.",
            }
        },
    )
    def metrics(request: Request) -> Response:
        svc = services(request)
        return Response(exposition(svc.lag), media_type=CONTENT_TYPE)

    @api.get(
        "/readyz",
        operation_id="readyz",
        summary="The stores answer, and how far each read model is behind the log",
        tags=["health"],
        responses={200: {"model": schemas.Readiness}, 503: RESPONSES[503]},
    )
    def readyz(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Any:
        """Public: only whether the service is ready. With an operator's token: the stores, the head and lags."""
        svc = services(request)
        detailed = credentials is not None and authz.is_allowed(
            "get_readiness_details", actor_of(request, credentials).role
        )
        try:
            refused = cannot_take_a_command(svc.settings, svc.app.recorder.events_table_name)  # type: ignore[attr-defined]
            head = svc.app.recorder.max_notification_id() or 0
            svc.access_log.recorder.max_notification_id()
            lag = svc.queries.lag()
        except STORE_ERRORS as exc:
            raise store_unavailable(exc) from exc
        if refused is not None:
            detail = f"The store cannot take a command: {refused}." if detailed else "The store cannot take a command."
            raise Problem(503, "store_cannot_write", "Store cannot take a command", detail, readiness="not ready")
        too_far = {n: v for n, v in lag.items() if svc.max_projection_lag is not None and v > svc.max_projection_lag}
        body: dict[str, Any] = {"status": "ready" if not too_far else "lagging"}
        if detailed:
            body |= {"store": svc.settings.describe_store(), "head": head, "projection_lag": lag}
        if too_far:
            detail = f"Read models too far behind: {too_far}." if detailed else "Read models too far behind."
            # A problem's "status" is its HTTP status (RFC 9457): the readiness has a key of its own.
            extra = {("readiness" if k == "status" else k): v for k, v in body.items()}
            raise Problem(503, "projection_lag", "Read models behind", detail, **extra)
        return body


def install(api: FastAPI) -> None:
    _reads(api)
