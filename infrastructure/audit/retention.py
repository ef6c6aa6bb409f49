"""Retention by policy: what is due for erasure, and why; and erasing it, each as a recorded event.

Three kinds of record, each with its own period (settings ``retention_*_months``):

- **case**: a closed case's free text (notes, reasons, corrections, and the purposes of reads of
  it), due ``retention_case_text_months`` after closure (or after the last entry since); erased by
  ``CaseJourney.erase_text``, which records a ``TextErased`` event and destroys the case's text keys;
- **person**: a person's personal data, due ``retention_person_months`` after the last of their
  cases closed; erased by ``CaseJourney.erase_customer`` (an ``Erased`` event, then her key);
- **reads**: a month of read records (purposes, break-glass reasons, review notes), due
  ``retention_read_audit_months`` after the month ended; erased by ``erase_text`` on the month's key.

``retention_items`` reads the log (applications: who is on which case; closures and later entries:
when each case's live interest ended), the keys table (which text keys exist, which are destroyed)
and the legal holds standing now. ``apply_retention`` erases what is due in that order (case text,
then persons, then read months), each through the application with a command id derived from the
item, so it is idempotent and resumable: a destroyed key's tombstone is what says "done", and a run
killed at any point is completed by the next, which records each erasure at most once. The hash
chain is untouched (erasure changes no stored byte: text is sealed, personal data encrypted), the
read models hold only sealed text, and histories replay with what went shown as ``[erased]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid5

from domain.case.aggregate import Case
from domain.customer.aggregate import Customer
from domain.customer.commands import EraseCustomer
from domain.errors import DomainError
from domain.retention.commands import EraseText
from domain.retention.rules import case_text_retention, person_retention, read_audit_retention
from domain.values import Actor
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.case_text import case_subject
from infrastructure.eventstore.log_reader import TopicReader

RETENTION_NAMESPACE = UUID("0f6d2c8a-41b7-4e95-a3c2-8b7e5d1f9a04")
#: Entries still accepted on a closed case (``after_closure`` actions): they renew its text's period.
AFTER_CLOSURE = ("ConcernRecorded", "SignpostingGiven", "EntryRecordedInError")


KINDS = ("case", "person", "reads")


@dataclass
class RetentionItem:
    kind: str  # "case" (its free text), "person" (their personal data), "reads" (a month of read records)
    subject: str  # the case id, the party id, the month (YYYY-MM)
    status: str  # due, held, kept, erased
    due_at: datetime | None
    why: str
    cases: list[str] = field(default_factory=list)
    version: int | None = None  # a case's version as judged: its erasure is refused if it moved since

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["due_at"] = self.due_at.isoformat() if self.due_at else None
        return out


@dataclass
class _CaseFacts:
    parties: tuple[str, ...]
    closed_at: datetime | None = None
    last_after_closure: datetime | None = None
    version: int = 1


def _generations_erased(subjects: dict[str, bool], base: str) -> bool | None:
    """Whether every generation of the key ``base`` is destroyed (``None``: no such key was ever made)."""
    found = [erased for subject, erased in subjects.items() if subject == base or subject.startswith(base + "/")]
    return all(found) if found else None


def retention_items(app: CaseJourney, now: datetime | None = None) -> list[RetentionItem]:
    """Every case, person and month of reads the store knows, with its status at ``now`` (the app's clock)."""
    now = now or app.clock()
    cases: dict[UUID, _CaseFacts] = {}
    for logged in TopicReader(app, ("ApplicationReceived", *AFTER_CLOSURE, "CaseClosed")).read():
        if (seen := cases.get(logged.event.originator_id)) is not None:
            seen.version = logged.event.originator_version  # after closure, only these topics are accepted
        match e := logged.event:
            case Case.ApplicationReceived():
                cases[e.originator_id] = _CaseFacts((e.receiving_parent_id, e.paying_parent_id))
            case Case.CaseClosed():
                cases[e.originator_id].closed_at = e.occurred_at
            case _ if (facts := cases.get(e.originator_id)) is not None and facts.closed_at is not None:
                facts.last_after_closure = e.occurred_at
    keys = app.person_keys.subjects_starting("case:") | app.person_keys.subjects_starting("reads:")
    items = [*_case_items(app, cases, keys, now), *_person_items(app, cases, now), *_read_items(app, keys, now)]
    return items


def _case_items(
    app: CaseJourney, cases: dict[UUID, _CaseFacts], keys: dict[str, bool], now: datetime
) -> list[RetentionItem]:
    months = app.settings.retention_case_text_months
    items = []
    for case_id, facts in sorted(cases.items(), key=lambda kv: str(kv[0])):
        rule = partial(
            case_text_retention,
            closed_at=facts.closed_at,
            last_after_closure=facts.last_after_closure,
            months=months,
            now=now,
            erased=bool(_generations_erased(keys, case_subject(case_id))),
        )
        found = rule()
        if found.status == "due":  # holds are looked up only where they decide
            found = rule(holds=app.holds_on_case(case_id, now, facts.parties))
        items.append(
            RetentionItem("case", str(case_id), found.status, found.due_at, found.why, [str(case_id)], facts.version)
        )
    return items


def _person_items(app: CaseJourney, cases: dict[UUID, _CaseFacts], now: datetime) -> list[RetentionItem]:
    months = app.settings.retention_person_months
    cases_of: dict[str, list[UUID]] = defaultdict(list)
    for case_id, facts in cases.items():
        for party in dict.fromkeys(facts.parties):
            cases_of[party].append(case_id)
    position = 0
    while batch := app.recorder.select_notifications(position + 1, 1000, topics=[Customer.Registered.TOPIC]):
        for n in batch:
            registered: Any = app.mapper.to_domain_event(n)
            cases_of.setdefault(registered.party_id, [])
        position = batch[-1].id
    items = []
    for party, theirs in sorted(cases_of.items()):
        # A case's live interest ends at its closure, or at the last entry recorded on it since.
        closures = [
            max(f.closed_at, f.last_after_closure or f.closed_at) for f in (cases[c] for c in theirs) if f.closed_at
        ]
        rule = partial(
            person_retention,
            open_cases=len(theirs) - len(closures),
            closures=closures,
            months=months,
            now=now,
            erased=app.person_keys.erased(party),
        )
        found = rule()
        if found.status == "due":
            found = rule(holds=app.holds_on_person(party, now, theirs))
        items.append(RetentionItem("person", party, found.status, found.due_at, found.why, [str(c) for c in theirs]))
    return items


def _read_items(app: CaseJourney, keys: dict[str, bool], now: datetime) -> list[RetentionItem]:
    months = app.settings.retention_read_audit_months
    items = []
    for month in sorted({s.removeprefix("reads:").partition("/")[0] for s in keys if s.startswith("reads:")}):
        found = read_audit_retention(
            month=month, months=months, now=now, erased=bool(_generations_erased(keys, f"reads:{month}"))
        )
        items.append(RetentionItem("reads", month, found.status, found.due_at, found.why))
    return items


@dataclass
class ApplyResult:
    erased: list[RetentionItem] = field(default_factory=list)
    held: list[RetentionItem] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # "kind subject" -> why
    #: Cases of an erased person whose text a hold on their other party keeps -> the holds.
    texts_kept: dict[str, list[str]] = field(default_factory=dict)


def apply_retention(
    app: CaseJourney,
    actor: Actor,
    *,
    progress: Callable[[int, int, RetentionItem], None] | None = None,
) -> ApplyResult:
    """Erases everything due now (case text, then persons, then months of reads), each recorded; a
    refusal (a hold placed meanwhile, say) is reported, not fatal."""
    items = retention_items(app)
    due = [i for i in items if i.status == "due"]
    result = ApplyResult(held=[i for i in items if i.status == "held"])
    for done, item in enumerate(due, start=1):
        command_id = uuid5(RETENTION_NAMESPACE, f"{item.kind}:{item.subject}")
        reason = f"retention policy: {item.why}"
        try:
            if item.kind == "person":
                erase = EraseCustomer(party_id=item.subject, reason=reason, command_id=command_id)
                kept = app.erase_customer(erase, actor, cases=[UUID(c) for c in item.cases])
                result.texts_kept.update({str(c): holds for c, holds in kept.items()})
            else:
                app.erase_text(
                    EraseText(kind=item.kind, subject=item.subject, reason=reason, command_id=command_id), actor
                )
        except DomainError as exc:
            result.failed[f"{item.kind} {item.subject}"] = exc.message
        else:
            result.erased.append(item)
        if progress is not None:
            progress(done, len(due), item)
    return result
