"""Retention by policy: who is due for erasure, and why; and erasing them, each as a recorded event.

``retention_items`` reads the log (applications: who is on which case; closures: when each case
closed) and, for every person a case names or a customer record holds, applies the rule of
``domain/retention/rules.py`` with the setting ``retention_person_months`` and the legal holds
standing now. ``apply_retention`` erases the persons due, one by one, through
``CaseJourney.erase_customer`` (an ``Erased`` event with who and why, then the key destroyed). It
is idempotent and resumable: the tombstone of a destroyed key is what says "done", so a run killed
at any point is completed by the next, which erases each person at most once. The hash chain is
untouched (erasure changes no stored byte), projections never held personal data, and histories
replay with the fields shown as ``[erased]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from domain.case.aggregate import Case
from domain.customer.aggregate import Customer
from domain.customer.commands import EraseCustomer
from domain.errors import DomainError
from domain.retention.rules import person_retention
from domain.values import Actor
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.log_reader import TopicReader

RETENTION_NAMESPACE = UUID("0f6d2c8a-41b7-4e95-a3c2-8b7e5d1f9a04")


@dataclass
class RetentionItem:
    kind: str  # "person"
    subject: str
    status: str  # due, held, kept, erased
    due_at: datetime | None
    why: str
    cases: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["due_at"] = self.due_at.isoformat() if self.due_at else None
        return out


def retention_items(app: CaseJourney, now: datetime | None = None) -> list[RetentionItem]:
    """Every person the store knows, with their retention status at ``now`` (the app's clock)."""
    now = now or app.clock()
    months = app.settings.retention_person_months
    cases_of: dict[str, list[UUID]] = defaultdict(list)
    closed_at: dict[UUID, datetime] = {}
    for logged in TopicReader(app, ("ApplicationReceived", "CaseClosed")).read():
        match e := logged.event:
            case Case.ApplicationReceived():
                for party in dict.fromkeys((e.receiving_parent_id, e.paying_parent_id)):
                    cases_of[party].append(e.originator_id)
            case Case.CaseClosed():
                closed_at[e.originator_id] = e.occurred_at
    position = 0
    while batch := app.recorder.select_notifications(position + 1, 1000, topics=[Customer.Registered.TOPIC]):
        for n in batch:
            registered: Any = app.mapper.to_domain_event(n)
            cases_of.setdefault(registered.party_id, [])
        position = batch[-1].id
    items = []
    for party, cases in sorted(cases_of.items()):
        rule = person_retention(
            open_cases=sum(c not in closed_at for c in cases),
            closures=[closed_at[c] for c in cases if c in closed_at],
            months=months,
            now=now,
            holds=app.holds_on_person(party, now, cases),
            erased=app.person_keys.erased(party),
        )
        items.append(RetentionItem("person", party, rule.status, rule.due_at, rule.why, [str(c) for c in cases]))
    return items


@dataclass
class ApplyResult:
    erased: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def apply_retention(
    app: CaseJourney,
    actor: Actor,
    *,
    progress: Callable[[int, int, RetentionItem], None] | None = None,
) -> ApplyResult:
    """Erases every person due now; a refusal (a hold placed meanwhile, say) is reported, not fatal."""
    items = retention_items(app)
    due = [i for i in items if i.status == "due"]
    result = ApplyResult(held=[i.subject for i in items if i.status == "held"])
    for done, item in enumerate(due, start=1):
        command = EraseCustomer(
            party_id=item.subject,
            reason=f"retention policy: {item.why}",
            command_id=uuid5(RETENTION_NAMESPACE, f"person:{item.subject}"),
        )
        try:
            app.erase_customer(command, actor, cases=[UUID(c) for c in item.cases])
        except DomainError as exc:
            result.failed[item.subject] = exc.message
        else:
            result.erased.append(item.subject)
        if progress is not None:
            progress(done, len(due), item)
    return result
