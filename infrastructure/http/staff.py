"""The staff roster and break-glass alert routes: who is on which team, and reviews of break-glass reads.

(No ``from __future__ import annotations`` here: FastAPI must see the annotations as objects.)
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.access.aggregate import ReviewOutcome
from domain.case.commands import Reason
from domain.staff.commands import JoinTeam, LeaveTeam
from domain.values import Actor, StaffTeam
from infrastructure.access.roster import roster_changes, roster_rows
from infrastructure.eventstore.application import RosterResult
from infrastructure.http import schemas
from infrastructure.http.deps import RESPONSES, IdempotencyKey, merge_headers, require, services


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
            merge_headers(data, actor, idempotency_key, None)
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
            responses=RESPONSES,
        )

    @api.get(
        "/staff",
        operation_id="get_staff_roster",
        summary="Who is a current member of which team, since when and on whose word",
        tags=["staff"],
        responses={**RESPONSES, 200: {"model": schemas.StaffRoster}},
    )
    def get_staff_roster(
        request: Request,
        actor: Annotated[Actor, require("get_staff_roster")],
        team: Annotated[StaffTeam | None, Query(description="Only this team.")] = None,
    ) -> Any:
        app = services(request).reader
        return {"members": roster_rows(app, team), "changes": roster_changes(app)}

    @api.get(
        "/alerts/break-glass",
        operation_id="get_break_glass_alerts",
        summary="Break-glass reads: who read what without a relationship, why, and their review",
        tags=["alerts"],
        responses={**RESPONSES, 200: {"model": schemas.BreakGlassAlerts}},
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
        responses={**RESPONSES, 200: {"model": schemas.BreakGlassAlert}},
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
    _staff(api)
