"""The application: commands in, rule-checked events appended, results out.

One entry point, ``execute(command, actor)``: load the case, let the aggregate guard, decide and
record, save. Around it, what a service needs:

- optimistic concurrency: ``expected_version`` gives a typed ``ConcurrencyConflict``;
- idempotency by command id, also across processes: every event records its command id and
  digest, so a retried command finds itself in the case and returns the first result, appending
  nothing; two processes racing on the same command meet at the store's unique (case, version)
  key and the loser finds the winner's events;
- an in-memory cache of cases, which is only an optimisation: a stale entry can never be written
  past, because the store refuses a version that already exists, and then the case is reloaded;
- the staff roster as it stands: a command that names a person, or that only a team may take, is
  decided on the roster read from the store when the rule asks (``memberships``: the roster kept in
  memory plus the events appended since, one indexed read), never on a copy that could be stale.
  The roster's own commands go through ``manage_roster``, idempotent like a case's.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError
from eventsourcing.utils import Environment, EnvType
from pydantic import BaseModel

from domain.case.aggregate import Case
from domain.case.commands import (
    NO_ENV,
    CaseCommand,
    Command,
    CommandEnv,
    DecideReferral,
    OpenCase,
    OpenExpeditedPathway,
)
from domain.customer.aggregate import Customer, customer_id
from domain.customer.commands import EraseCustomer, LiftSafetyMarker, RecordCustomerDetails
from domain.errors import CaseNotFound, ConcurrencyConflict, DomainError, IdempotencyKeyReused, RuleViolation
from domain.events import CommandOutcome
from domain.retention.aggregate import LegalHolds, TextErasures, erasures_id, holds_id
from domain.retention.commands import EraseText, LiftLegalHold, PlaceLegalHold
from domain.rules.business_time import check_business_time
from domain.rules.eligibility import PolicyRegistry
from domain.rules.expedited import due_at
from domain.rules.permissions import check_permitted
from domain.staff.aggregate import ROSTER_ID, StaffRoster
from domain.staff.commands import JoinTeam, LeaveTeam
from domain.values import (
    DOMESTIC_ABUSE_KINDS,
    NO_MEMBERS,
    ActionContext,
    Actor,
    ConcernKind,
    Memberships,
    SafetyMarker,
    StaffTeam,
)
from infrastructure.eventstore.case_text import TextKeys, case_subject
from infrastructure.eventstore.checkpoints import Checkpoints
from infrastructure.eventstore.environment import eventsourcing_env, library_env
from infrastructure.eventstore.keys import StoreKeyError, check_store_keys, digest_keys, key_material
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.personal_data import PersonalDataMapper, PersonKeys
from infrastructure.eventstore.policies import SHIPPED_POLICY_DIR, load_policies
from infrastructure.eventstore.safety_markers import SAFETY_MARKER_POLICY, SafetyMarkerPolicy
from infrastructure.eventstore.schema import Mode
from infrastructure.eventstore.schema import check as check_schema
from infrastructure.eventstore.schema import stamp as stamp_schema
from infrastructure.settings import LIBRARY_PARAMS, Settings
from projections import describe

log = logging.getLogger("casejourney.store")

MAX_ATTEMPTS = 5

#: Who records a safety marker raised by a concern: the policy that follows the log.


def utc_now() -> datetime:
    return datetime.now(UTC)


class AppendedEvent(BaseModel):
    """One event a command appended: its version and type, and what and why in words."""

    version: int
    type: str
    what: str = ""
    why: str = ""


class RosterResult(BaseModel):
    """What a roster command appended: returned unchanged (with ``replayed``) when it is retried."""

    command_id: UUID
    version: int
    appended: list[AppendedEvent]
    replayed: bool = False


class CommandResult(BaseModel):
    """What a command did: returned unchanged (with ``replayed``) when the command is retried."""

    case_id: UUID
    command_id: UUID
    version: int
    appended: list[AppendedEvent]
    ids: dict[str, UUID]
    replayed: bool = False
    #: The log position (notification id) of the last event appended: a reader waits for it to see
    #: its own write in a read model (``Min-Log-Position`` over HTTP); a replay names it too.
    position: int | None = None


def _result(case_id: UUID, command_id: UUID, events: Sequence[Case.Event], *, replayed: bool) -> CommandResult:
    ids: dict[str, UUID] = {}
    for event in events:
        for name in ("concern_id", "pathway_id", "escalation_id", "request_id", "issue_id"):
            value = getattr(event, name, None)
            if isinstance(value, UUID):
                ids.setdefault(name, value)
    # model_construct: every value here is already typed; validating it again costs the hot path.
    return CommandResult.model_construct(
        case_id=case_id,
        command_id=command_id,
        version=events[-1].originator_version,
        appended=[
            AppendedEvent.model_construct(
                version=e.originator_version, type=type(e).__name__, what=describe.what(e), why=describe.why(e)
            )
            for e in events
        ],
        ids=ids,
        replayed=replayed,
    )


def _version_conflict(command: CaseCommand, case: Case) -> ConcurrencyConflict | None:
    if command.expected_version is not None and case.version != command.expected_version:
        return ConcurrencyConflict(case.id, command.expected_version, case.version)
    return None


def _same_command(seen: CommandOutcome, command: Command, actor: Actor, where: str) -> None:
    """A command id seen before is a retry only with the same content from the same actor."""
    if not command.matches_digest(seen.digest):
        raise IdempotencyKeyReused(
            f"Command id {command.command_id} was already used for a different command {where}.",
            command_id=str(command.command_id),
        )
    if (seen.actor_id, seen.actor_role) != (actor.id, str(actor.role)):
        # A retry is the same caller's; another actor never receives someone else's result.
        raise IdempotencyKeyReused(
            f"Command id {command.command_id} was already used by another actor {where}; choose a new one.",
            command_id=str(command.command_id),
        )


@dataclass(frozen=True)
class ErasurePlan:
    """What an erasure of one party would do (``casejourney erase --dry-run`` shows it)."""

    party_id: str
    cases: list[UUID]
    has_customer_record: bool
    details_recorded: int
    already_erased: bool
    safety_markers: list[str]
    holds: list[str]
    open_cases: list[UUID] = field(default_factory=list)
    texts_held: dict[UUID, list[str]] = field(default_factory=dict)  # case -> holds on its other party

    @property
    def known(self) -> bool:
        return self.has_customer_record or bool(self.cases)


class _LiveMembership:
    """The roster as it stands, read from the store the first time a rule of one command asks."""

    def __init__(self, app: CaseJourney) -> None:
        self._app = app
        self._now: Memberships | None = None

    def is_member(self, staff_id: str, team: StaffTeam) -> bool:
        if self._now is None:
            self._now = self._app.memberships()
        return self._now.is_member(staff_id, team)


def _replay_events(aggregate: Any, events: Iterable[Any]) -> Any:
    """Folds events into an aggregate: the library's projector without its per-event Protocol check."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


#: A person's safety markers (kind -> the case that raised it and when) and contact details (or None).
PartyRecord = tuple[dict[str, dict[str, str]], dict[str, Any] | None]


class CurrentAt:
    """Which kept copies (a case, the roster, a person's record) are known to hold every event of
    theirs up to a head of the log: a read that has just read the same head needs no query to bring
    them up to date. Safe because positions are given in commit order (on PostgreSQL the append
    holds the log's lock; SQLite has one writer): once a head is read, nothing can appear at or
    below it, so an event of the copy's recorded after the mark moves the head past it. A mark
    names the copy's version too: a command of this process that moves the copy on voids it."""

    def __init__(self) -> None:
        self._at: dict[UUID, tuple[int, int]] = {}

    def holds(self, key: UUID, head: int | None, version: int) -> bool:
        return head is not None and self._at.get(key) == (head, version)

    def mark(self, key: UUID, head: int | None, version: int) -> None:
        if head is not None:
            self._at[key] = (head, version)

    def forget(self, key: UUID) -> None:
        self._at.pop(key, None)


class CaseJourney(Application[UUID]):
    """The case-journey application over the ``eventsourcing`` event store."""

    name = "casejourney"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        policies: PolicyRegistry | None = None,
        schema: Mode = "auto",
    ) -> None:
        """``schema``: ``auto`` (the library's default) upgrades a store whose schema is missing or
        older, ``require`` refuses it (naming ``casejourney db upgrade``: the CLI and the service on
        PostgreSQL), ``create`` is ``db upgrade``'s own. Either way a current store is opened with no DDL."""
        self.settings = settings or Settings()
        self.clock = clock
        self.policies = policies or load_policies(self.settings.policy_dir or SHIPPED_POLICY_DIR)
        self._pathway_targets = self.settings.pathway_targets()
        self._cache: OrderedDict[UUID, Case] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._customers: OrderedDict[UUID, Customer] = OrderedDict()  # read copies (``reading_customer``)
        self._customers_lock = threading.Lock()
        self._case_locks = [threading.Lock() for _ in range(64)]
        self._roster: StaffRoster | None = None
        self._roster_lock = threading.Lock()
        self._current = CurrentAt()  # of the copies above: ``log_head``, ``reading_case``
        self._time_bounds = self.settings.business_time_bounds()
        self.schema_ddl = check_schema(self.settings, schema)
        self.keys = key_material(self.settings)
        super().__init__(
            env=eventsourcing_env(self.settings, self.keys) | {"CREATE_TABLE": "y" if self.schema_ddl else "n"}
        )
        try:
            check_store_keys(self.recorder, self.keys)
        except StoreKeyError:
            self.close()
            raise
        if self.schema_ddl:  # the side tables made on demand, made now; then the version recorded
            MerkleLog(self.recorder)
            Checkpoints(self.recorder)
            stamp_schema(self.settings, "cases")
        assert isinstance(self.mapper, PersonalDataMapper)
        self._safety_marker_policy = SafetyMarkerPolicy(self.recorder, self.mapper, self._mark_person)
        # People this process has seen marked: the write path's policy skips loading them again. A
        # lift by another process is not seen here; a later concern then goes unrecorded by this
        # process, and every read still shows the marker it implies (``safety_markers``).
        self._marked_parties: set[str] = set()

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return library_env(self, name, env)

    def construct_mapper(self) -> PersonalDataMapper:
        base = super().construct_mapper()
        return PersonalDataMapper(transcoder=base.transcoder, cipher=base.cipher, compressor=base.compressor)

    def construct_recorder(self) -> ApplicationRecorder:
        datastore = getattr(self.factory, "datastore", None)
        if datastore is not None and self.settings.store == "postgres":
            # libpq keywords the library has no setting for (target_session_attrs=read-write, so a
            # multi-host URL finds the primary after a failover): on every connection of its pool.
            extra = {k: v for k, v in self.settings.postgres_params().items() if k not in LIBRARY_PARAMS}
            datastore.pool.kwargs.update(extra)
        recorder = super().construct_recorder()
        recorder.schema_ddl = self.schema_ddl  # type: ignore[attr-defined]  # the side tables' DDL too
        self.person_keys = PersonKeys(recorder, self.keys.wrapping)
        self.digest_keys = digest_keys(self.keys.wrapping)
        self.text_keys = TextKeys(self.person_keys)
        assert isinstance(self.mapper, PersonalDataMapper)
        self.mapper.keys = self.person_keys
        self.mapper.text = self.text_keys
        return recorder

    # ------------------------------------------------------------------ commands

    def execute(self, command: Command, actor: Actor) -> CommandResult:
        """Runs one command for one actor (who comes from credentials, never from the command).

        Load, decide, save, as in the library's examples. What a service adds is in the named
        helpers beside it: ``_decide`` (load the case, find a retry, run the command) and ``_append``
        (write, or learn that another writer took the version first); each ``None``/``False`` they
        return means "decide again on the store", at most ``MAX_ATTEMPTS`` times.
        """
        case_id = command.effective_case_id() if isinstance(command, OpenCase) else self._case_id_of(command)
        context = self._context(command, actor, check_time=False)
        # A retry is recognised before its business time is judged: the first result is returned
        # however long ago the command was accepted; a new command outside the bounds is refused.
        time_refusal = self._time_refusal(context)
        with self._case_locks[hash(case_id) % len(self._case_locks)]:
            for attempt in range(MAX_ATTEMPTS):
                fresh = attempt > 0
                # A retry asks the roster afresh (if a rule asks): it decides on the store as it is now.
                ctx = replace(context, membership=_LiveMembership(self)) if fresh else context
                decided = self._decide(command, actor, case_id, ctx, time_refusal, fresh=fresh)
                if isinstance(decided, CommandResult):
                    return decided  # a retry of a command already recorded: its first result
                if decided is None:
                    continue
                events: list[Case.Event] = decided.collect_events()  # type: ignore[assignment]
                if decided.closed:  # a closed case's text key may have been destroyed since: read it afresh
                    self.text_keys.for_case(case_id, fresh=True)
                appended = self._append(command, case_id, events)
                if appended is not None:
                    self._remember(decided)
                    result = _result(case_id, command.command_id, events, replayed=False)
                    result.position = appended
                    break
            else:
                raise ConcurrencyConflict(
                    case_id, command.expected_version or 0, self._load(case_id, fresh=True).version
                )
        if any(isinstance(e, Case.ConcernRecorded) and ConcernKind(e.kind) in DOMESTIC_ABUSE_KINDS for e in events):
            self._mark_after_concern()
        return result

    def _mark_after_concern(self) -> None:
        """The safety-marker policy, run by the writer once a domestic-abuse concern is recorded, so
        the person's marker is set on the write path and no read needs to append it. The command is
        recorded already: if marking fails now (the store went away), it is not undone, and every
        read still shows the marker its concern implies (``safety_markers``) until a later follow
        records it."""
        try:
            self.follow_safety_markers()
        except Exception as exc:  # the concern is recorded; the marker follows later
            log.warning("the safety-marker policy will set this marker later: %s: %s", type(exc).__name__, exc)

    def _decide(
        self,
        command: Command,
        actor: Actor,
        case_id: UUID,
        ctx: ActionContext,
        time_refusal: RuleViolation | None,
        *,
        fresh: bool,
    ) -> Case | CommandResult | None:
        """The case with the command's events pending, or a retry's first result, or ``None``: decide
        again on the store, because the cached copy this was decided on may be stale."""
        if isinstance(command, OpenCase) and not fresh and time_refusal is None:
            return command.create(ctx)  # optimistic: a retry meets the stored case at the append
        cached = not fresh and case_id in self._cache  # only a cached copy can be stale
        try:
            case = self._load(case_id, fresh=fresh)
        except CaseNotFound:
            if isinstance(command, OpenCase) and time_refusal is not None:
                raise time_refusal from None
            raise
        seen = case.commands.get(command.command_id)
        if seen is not None:
            _same_command(seen, command, actor, f"on case {case_id}")
            return self._replayed_result(case_id, command.command_id, seen.first_version, seen.last_version)
        if isinstance(command, OpenCase):
            raise RuleViolation(f"A case with id {case_id} already exists.", code="case_exists")
        assert isinstance(command, CaseCommand)
        refusal = time_refusal or _version_conflict(command, case)
        if refusal is not None:
            if cached:
                self._evict(case_id)  # the store may hold this very command, or be ahead of the cache
                return None
            raise refusal
        try:
            command.run(case, ctx, self._env(command, ctx))
        except DomainError:
            self._evict(case_id)
            if cached:
                return None  # never refuse on a possibly stale cached state
            raise
        except BaseException:
            self._evict(case_id)
            raise
        return case

    def _append(self, command: Command, case_id: UUID, events: list[Case.Event]) -> int | None:
        """Writes the events and returns the last one's log position (0 if the recorder does not
        say); ``None`` when another writer took the version first (decide again)."""
        try:
            # Straight to the recorder: Application.save's generic machinery (processing event,
            # protocol checks, recordings) costs the hot path and adds nothing here.
            positions = self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])
        except IntegrityError:
            # Someone else appended this version first (maybe this very command, from another
            # process): the caller reloads and decides again on the stored state.
            self._evict(case_id)
            if command.expected_version is not None and not isinstance(command, OpenCase):
                current = self._load(case_id, fresh=True)
                seen = current.commands.get(command.command_id)
                if seen is None and current.version != command.expected_version:
                    raise ConcurrencyConflict(case_id, command.expected_version, current.version) from None
            return None
        except BaseException:
            self._evict(case_id)
            raise
        return int(positions[-1]) if positions else 0

    def _customer_for(self, party_id: str, ctx: ActionContext, digest: str, *, action: str) -> Customer:
        try:
            customer: Customer = self.repository.get(customer_id(party_id), projector_func=_replay_events)
        except AggregateNotFoundError:
            customer = Customer.register(ctx, party_id=party_id, digest=digest, action=action)
        return customer

    def _case_id_of(self, command: Command) -> UUID:
        assert isinstance(command, CaseCommand)
        return command.case_id

    def _context(self, command: Command, actor: Actor, *, check_time: bool = True) -> ActionContext:
        command.keyed(self.digest_keys)  # its stored fingerprint is an HMAC under the service's key
        now = self.clock()
        occurred_at = command.occurred_at or now
        if check_time:
            check_business_time(occurred_at, now, self._time_bounds)
        return ActionContext(
            actor=actor,
            occurred_at=occurred_at,
            recorded_at=now,
            command_id=command.command_id,
            correlation_id=command.correlation_id or command.command_id,
            causation_id=command.causation_id,
            membership=_LiveMembership(self),
        )

    def _time_refusal(self, ctx: ActionContext) -> RuleViolation | None:
        try:
            check_business_time(ctx.occurred_at, ctx.recorded_at, self._time_bounds)
        except RuleViolation as refusal:
            return refusal
        return None

    def _env(self, command: Command, ctx: ActionContext) -> CommandEnv:
        """What a command needs from the application: the policy in force, or a pathway's due time."""
        if isinstance(command, DecideReferral):
            return CommandEnv(policy=self.policies.in_force(ctx.occurred_at))
        if isinstance(command, OpenExpeditedPathway):
            return CommandEnv(due_at=due_at(ctx.occurred_at, command.pathway_reason, self._pathway_targets))
        return NO_ENV

    def _replayed_result(self, case_id: UUID, command_id: UUID, first: int, last: int) -> CommandResult:
        events = [e for e in self.events.get(case_id, gt=first - 1, lte=last)]
        result = _result(case_id, command_id, events, replayed=True)  # type: ignore[arg-type]
        result.position = self.recorder.position_of(case_id, last)  # type: ignore[attr-defined]
        return result

    # ------------------------------------------------------------------ cache

    def _load(self, case_id: UUID, *, fresh: bool) -> Case:
        if not fresh:
            with self._cache_lock:
                case = self._cache.get(case_id)
                if case is not None:
                    self._cache.move_to_end(case_id)
                    return case
        try:
            loaded: Case = self.repository.get(case_id, projector_func=_replay_events)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        self._remember(loaded)
        return loaded

    def _remember(self, case: Case) -> None:
        size = self.settings.aggregate_cache_size
        if size <= 0:
            return
        with self._cache_lock:
            self._cache[case.id] = case
            self._cache.move_to_end(case.id)
            while len(self._cache) > size:
                self._current.forget(self._cache.popitem(last=False)[0])

    def _evict(self, case_id: UUID) -> None:
        with self._cache_lock:
            self._cache.pop(case_id, None)
            self._current.forget(case_id)

    def close(self) -> None:
        closer = getattr(self.recorder, "close", None)
        if callable(closer):
            closer()  # the PostgreSQL writer connection
        super().close()

    # ------------------------------------------------------------------ the staff roster

    def memberships(self, *, head: int | None = None) -> Memberships:
        """The roster as it stands in the store: the kept copy plus the events appended since.

        ``head``: the log's head (``log_head``) read by the caller just before; a copy known to be
        current there is used as it is (``CurrentAt``)."""
        with self._roster_lock:
            roster = self._roster
            version = roster.version if roster is not None else 0
            if not self._current.holds(ROSTER_ID, head, version):
                events = list(self.events.get(ROSTER_ID, gt=roster.version if roster is not None else None))
                for event in events:
                    roster = event.mutate(roster)  # type: ignore[attr-defined]
                self._roster = roster
                self._current.mark(ROSTER_ID, head, roster.version if roster is not None else 0)
            return roster.memberships() if roster is not None else NO_MEMBERS

    def log_head(self) -> int:
        """The log's last position now: read first, it lets the copies current there skip a query."""
        return self.recorder.max_notification_id() or 0

    def manage_roster(self, command: JoinTeam | LeaveTeam, actor: Actor) -> RosterResult:
        """A team leader records who joins or leaves a team; a retry returns the first result."""
        ctx = self._context(command, actor, check_time=False)
        time_refusal = self._time_refusal(ctx)
        for _ in range(MAX_ATTEMPTS):
            try:
                roster: StaffRoster = self.repository.get(ROSTER_ID, projector_func=_replay_events)
            except AggregateNotFoundError:
                roster = StaffRoster.open(ctx, digest=command.digest())
            else:
                seen = roster.commands.get(command.command_id)
                if seen is not None:
                    _same_command(seen, command, actor, "on the staff roster")
                    return self._roster_result(command.command_id, seen.first_version, seen.last_version, True)
            if time_refusal is not None:
                raise time_refusal
            change = roster.join if isinstance(command, JoinTeam) else roster.leave
            change(ctx, staff_id=command.staff_id, team=command.team, reason=command.reason, digest=command.digest())
            pending = roster.collect_events()
            try:
                self.recorder.insert_events([self.mapper.to_stored_event(e) for e in pending])
            except IntegrityError:
                continue  # another team leader changed the roster first: decide again on it
            return self._roster_result(command.command_id, pending[0].originator_version, roster.version, False)
        raise RuleViolation("The staff roster is too busy; try again.", code="busy")

    def _roster_result(self, command_id: UUID, first: int, last: int, replayed: bool) -> RosterResult:
        events = list(self.events.get(ROSTER_ID, gt=first - 1, lte=last))
        return RosterResult(
            command_id=command_id,
            version=last,
            appended=[AppendedEvent(version=e.originator_version, type=type(e).__name__) for e in events],
            replayed=replayed,
        )

    def roster_events(self) -> list[StaffRoster.Event]:
        """The roster's whole history, in order (for its projection: ``projections/staff_roster``)."""
        return list(self.events.get(ROSTER_ID))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ customers' personal data

    def record_customer_details(self, command: RecordCustomerDetails, actor: Actor) -> int:
        """Records a customer's personal data (sealed under their own key); returns the new version."""
        ctx = self._context(command, actor)
        details = command.model_dump(include=set(Customer.DetailsRecorded.PERSONAL_DATA_FIELDS))
        check_permitted("record_customer_details", actor.role)
        # Keyed by her own key: once erasure destroys it, the stored digest confirms no guess.
        digest = command.digest(key=self.person_keys.ensure_key(command.party_id))
        for _ in range(MAX_ATTEMPTS):
            try:
                customer: Customer = self.repository.get(customer_id(command.party_id))
            except AggregateNotFoundError:
                customer = Customer.register(ctx, party_id=command.party_id, digest=digest)
            customer.record_details(ctx, details=details, withhold_name=command.withhold_name, digest=digest)
            try:
                self.save(customer)
            except IntegrityError:
                continue  # another writer got there first: decide again on the stored customer
            return customer.version
        raise RuleViolation("The customer's record is too busy; try again.", code="busy")

    def erasure_plan(self, party_id: str) -> ErasurePlan:
        """What erasing ``party_id`` would take away and what it leaves (nothing is written)."""
        customer = self.customer(party_id)  # as recorded: a plan writes nothing, not even a marker
        details = 0
        if customer is not None:
            details = sum(isinstance(e, Customer.DetailsRecorded) for e in self.events.get(customer.id))
        cases = self.cases_of_party(party_id)
        return ErasurePlan(
            party_id=party_id,
            cases=cases,
            holds=self.holds_on_person(party_id, self.clock(), cases),
            texts_held=self.texts_held(party_id, self.clock(), cases),
            has_customer_record=customer is not None,
            details_recorded=details,
            already_erased=bool(customer is not None and customer.erased) or self.person_keys.erased(party_id),
            safety_markers=sorted(customer.markers) if customer is not None else [],
            open_cases=self.open_cases(cases),
        )

    def open_cases(self, cases: Iterable[UUID]) -> list[UUID]:
        """Those of ``cases`` not closed (read from the store)."""
        return [c for c in cases if not self._load(c, fresh=True).closed]

    def cases_of_party(self, party_id: str) -> list[UUID]:
        """The cases whose application names ``party_id`` as a parent, in the order they were opened."""
        found: list[UUID] = []
        position = 0
        while True:
            batch = self.recorder.select_notifications(position + 1, 1000, topics=[Case.ApplicationReceived.TOPIC])
            for n in batch:
                e = self.mapper.to_domain_event(n)
                if isinstance(e, Case.ApplicationReceived) and party_id in (e.receiving_parent_id, e.paying_parent_id):
                    found.append(e.originator_id)
            if len(batch) < 1000:
                return found
            position = batch[-1].id

    # ------------------------------------------------------------------ legal holds

    def place_legal_hold(self, command: PlaceLegalHold, actor: Actor) -> UUID:
        """Records a hold on a person or a case (who, why, until when); returns its id (the command id).

        Placing the same command again records nothing new."""
        ctx = self._context(command, actor)
        if command.kind == "case":
            try:
                case_id = UUID(command.subject)
            except ValueError:
                raise RuleViolation(f"{command.subject!r} is not a case id.", code="invalid_hold_subject") from None
            self._load(case_id, fresh=False)  # refused for a case that does not exist
        elif not self.erasure_plan(command.subject).known:
            raise RuleViolation(f"No party {command.subject} is known to this store.", code="unknown_party")
        for _ in range(MAX_ATTEMPTS):
            holds = self.legal_holds(command.kind, command.subject)
            if holds is None:
                holds = LegalHolds.open(ctx, kind=command.kind, subject=command.subject)
            holds.place(
                ctx, hold_id=command.command_id, reason=command.reason, until=command.until, digest=command.digest()
            )
            try:
                self.save(holds)
            except IntegrityError:
                continue  # another writer placed or lifted a hold on the subject first
            return command.command_id
        raise RuleViolation("The subject's holds are too busy; try again.", code="busy")

    def lift_legal_hold(self, command: LiftLegalHold, actor: Actor) -> None:
        ctx = self._context(command, actor)
        holds = self.legal_holds(command.kind, command.subject)
        if holds is None:
            raise RuleViolation(f"No hold stands on {command.kind} {command.subject}.", code="no_such_hold")
        holds.lift(ctx, hold_id=command.hold_id, reason=command.reason, digest=command.digest())
        self.save(holds)

    def legal_holds(self, kind: str, subject: str) -> LegalHolds | None:
        try:
            holds: LegalHolds = self.repository.get(holds_id(kind, subject))
        except AggregateNotFoundError:
            return None
        return holds

    def holds_on_person(self, party_id: str, at: datetime, cases: Iterable[UUID] = ()) -> list[str]:
        """The holds standing at ``at`` that keep ``party_id``'s data: on them, or on a case of theirs."""
        return self._holds_on([("person", party_id), *(("case", str(c)) for c in cases)], at)

    def holds_on_case(self, case_id: UUID, at: datetime, parties: Iterable[str] = ()) -> list[str]:
        """The holds standing at ``at`` that keep a case's free text: on it, or on a party of it."""
        return self._holds_on([("case", str(case_id)), *(("person", p) for p in sorted(set(parties)))], at)

    def texts_held(self, party_id: str, at: datetime, cases: Iterable[UUID]) -> dict[UUID, list[str]]:
        """Cases of ``party_id`` whose free text a hold on another party of theirs keeps (her erasure
        leaves that text until the hold ends; case-text retention erases it then)."""
        held = {}
        for case_id in cases:
            others = self._load(case_id, fresh=True).party_ids() - {party_id}
            found = self._holds_on([("person", p) for p in sorted(others)], at)
            if found:
                held[case_id] = found
        return held

    def _holds_on(self, subjects: Iterable[tuple[str, str]], at: datetime) -> list[str]:
        found = []
        for kind, subject in subjects:
            holds = self.legal_holds(kind, subject)
            if holds is not None:
                for hold_id, hold in holds.standing_at(at).items():
                    until = f" until {hold['until']:%Y-%m-%d}" if hold["until"] else ""
                    found.append(f"{kind} {subject}: {hold['reason']} (by {hold['placed_by']}{until}; hold {hold_id})")
        return found

    def erase_customer(
        self, command: EraseCustomer, actor: Actor, *, cases: Sequence[UUID] | None = None
    ) -> dict[UUID, list[str]]:
        """Records the erasure (who, why), destroys the customer's key, then the text keys of her cases
        (closed: an open case refuses the erasure); safe to run again. Returns the cases whose text a
        hold on their other party keeps, with the holds (the text goes when the hold ends, by retention).

        Refused for a party the store does not know (no customer record, no case names them): a
        mistyped id must never be recorded as an erasure that seems to have done something.
        """
        ctx = self._context(command, actor)
        check_permitted("erase_customer", actor.role)
        if cases is None:  # the caller (retention) may know them already: the log is scanned once, not per person
            cases = self.cases_of_party(command.party_id)
        held = self.holds_on_person(command.party_id, ctx.recorded_at, cases)
        if held:
            raise RuleViolation(
                f"{command.party_id} is under legal hold, so nothing was erased: " + "; ".join(held),
                code="legal_hold",
            )
        still_open = self.open_cases(cases)
        if still_open:
            raise RuleViolation(
                f"{command.party_id} is a party to {len(still_open)} open case(s) ("
                + ", ".join(map(str, still_open))
                + "): their data is kept while the service has a live interest; nothing was erased.",
                code="case_open",
            )
        try:
            customer: Customer = self.repository.get(customer_id(command.party_id))
        except AggregateNotFoundError:
            if not cases:
                raise RuleViolation(
                    f"No party {command.party_id} is known to this store (no customer record, no case names"
                    " them): nothing was erased.",
                    code="unknown_party",
                ) from None
            customer = Customer.register(ctx, party_id=command.party_id, digest=command.digest())
        if not customer.erased:
            customer.erase(ctx, reason=command.reason, digest=command.digest())
            self.save(customer)
        # After the event: if this step fails, running the erasure again completes it.
        self.person_keys.destroy(command.party_id, at=ctx.recorded_at, by=actor.id, reason=command.reason)
        # Free text about her is in her cases, in any field: the free text of each goes too, but for a
        # case whose other party is under hold (that hold keeps the case's record).
        kept = self.texts_held(command.party_id, ctx.recorded_at, cases)
        for case_id in (c for c in cases if c not in kept):
            self.erase_text(
                EraseText(
                    kind="case",
                    subject=str(case_id),
                    reason=f"erasure of {command.party_id}: {command.reason}",
                    command_id=uuid5(command.command_id, f"case:{case_id}"),
                ),
                actor,
                checked=True,
            )
        return kept

    def erase_text(self, command: EraseText, actor: Actor, *, checked: bool = False) -> list[str]:
        """Destroys the text keys of a closed case (its free text, and the purposes of reads of it) or
        of a month of read records, recorded first (who, why, which keys); safe to run again. Refused
        for an open case, a case under legal hold, and (given ``expected_version``) a case that moved
        since the caller judged it: a concern recorded after closure renews its period. Returns the
        keys named."""
        ctx = self._context(command, actor)
        check_permitted("erase_text", actor.role)
        if command.kind == "reads":
            subject = f"reads:{command.subject}"
            return self._erase_keys(command, ctx, [subject, *self.person_keys.subjects(subject)])
        try:
            case_id = UUID(command.subject)
        except ValueError:
            raise RuleViolation(f"{command.subject!r} is not a case id.", code="invalid_subject") from None
        # Under the case's lock: a command of this process lands wholly before (and is judged by the
        # version check) or wholly after (sealed under the next key).
        with self._case_locks[hash(case_id) % len(self._case_locks)]:
            if not checked:
                case = self._load(case_id, fresh=True)  # refused for an unknown case (CaseNotFound)
                if not case.closed:
                    raise RuleViolation(f"Case {case_id} is open: its free text is kept.", code="case_open")
                held = self.holds_on_case(case_id, ctx.recorded_at, case.party_ids())
                if held:
                    raise RuleViolation(f"Case {case_id} is under legal hold: " + "; ".join(held), code="legal_hold")
                if command.expected_version is not None and case.version != command.expected_version:
                    raise RuleViolation(
                        f"Case {case_id} changed since it was judged due (version {command.expected_version},"
                        f" now {case.version}): nothing was erased; judge it again.",
                        code="case_changed",
                    )
            subjects = [case_subject(case_id), *self.text_keys.subjects_of_case(case_id)]
            erased = self._erase_keys(command, ctx, subjects)
            self._evict(case_id)  # a kept copy holds the text as it was opened
        return erased

    def _erase_keys(self, command: EraseText, ctx: ActionContext, keys: list[str]) -> list[str]:
        subjects = list(dict.fromkeys(keys))
        for _ in range(MAX_ATTEMPTS):
            try:
                erasures: TextErasures = self.repository.get(erasures_id(command.kind, command.subject))
            except AggregateNotFoundError:
                erasures = TextErasures.open(ctx, kind=command.kind, subject=command.subject)
            if not erasures.erase(ctx, reason=command.reason, keys=subjects, digest=command.digest()):
                break  # each key was recorded as erased before: nothing new to record
            try:
                self.save(erasures)
            except IntegrityError:
                continue  # another erasure of the same subject was recorded first: look again
            break
        # After the record: a run stopped here is completed by the next, which destroys the same keys.
        self.text_keys.destroy(subjects, at=ctx.recorded_at, by=ctx.actor.id, reason=command.reason)
        return subjects

    def text_erasures(self, kind: str, subject: str) -> TextErasures | None:
        try:
            erasures: TextErasures = self.repository.get(erasures_id(kind, subject))
        except AggregateNotFoundError:
            return None
        return erasures

    def lift_safety_marker(self, command: LiftSafetyMarker, actor: Actor) -> None:
        """Takes a marker off a person: an explicit override, recorded with who and why."""
        ctx = self._context(command, actor)
        self.follow_safety_markers()  # the override reviews every concern recorded so far
        customer = self.customer(command.party_id)
        if customer is None:
            raise RuleViolation(f"{command.party_id} has no safety marker.", code="no_such_marker")
        head = self.recorder.max_notification_id() or 0
        customer.lift_safety_marker(
            ctx, marker=command.marker, after_position=head, reason=command.reason, digest=command.digest()
        )
        self.save(customer)
        self._marked_parties.discard(command.party_id)

    def safety_markers(self, party_id: str) -> dict[str, dict[str, str]]:
        """The person's markers (kind -> the case that raised it and when), whatever case asks.

        Reads only: the marker the policy has recorded, or, when a domestic-abuse concern already in
        the log has not been followed yet (the writer stopped between the concern and its marker),
        the marker that concern implies, as the policy would record it. So no read appends, and no
        read misses a marker: in doubt the person is shown protected.
        """
        return self.party_records([party_id])[party_id][0]

    def party_records(self, party_ids: Iterable[str], *, head: int | None = None) -> dict[str, PartyRecord]:
        """Each person's safety markers (as ``safety_markers``) and contact details (``None`` when
        there are none or they were erased), each record read once: what a case view shows.
        ``head``: as ``memberships``."""
        self._safety_marker_policy.remember(head)  # the log's concerns up to its head, into memory
        marker = str(SafetyMarker.DOMESTIC_ABUSE)
        found = {}
        for party_id in dict.fromkeys(party_ids):
            with self.reading_customer(party_id, head=head) as customer:
                markers = dict(customer.markers) if customer is not None else {}
                lifted = customer.lifted_after.get(marker, 0) if customer is not None else 0
                shown = customer is not None and customer.details is not None and not customer.erased
                details = dict(customer.details) if shown else None  # type: ignore[union-attr, arg-type]
            if marker not in markers:
                implied = self._safety_marker_policy.first_concern_after(party_id, lifted)
                if implied is not None:
                    markers[marker] = {"case_id": str(implied.case_id), "set_at": implied.occurred_at.isoformat()}
            found[party_id] = (markers, details)
        return found

    def follow_safety_markers(self) -> int:
        """Marks the people affected by domestic-abuse concerns recorded since the last call (the
        policy in ``safety_markers.py``); returns the number of markers set now."""
        return self._safety_marker_policy.follow()

    def _mark_person(self, concern: Case.ConcernRecorded, position: int) -> int:
        ctx = ActionContext(
            actor=SAFETY_MARKER_POLICY,
            occurred_at=concern.occurred_at,
            recorded_at=self.clock(),
            command_id=uuid5(concern.command_id, "safety-marker"),
            correlation_id=concern.correlation_id,
            causation_id=concern.command_id,
        )
        if concern.affected_party_id in self._marked_parties:
            return 0
        for _ in range(MAX_ATTEMPTS):
            customer = self._customer_for(concern.affected_party_id, ctx, "", action="set_safety_marker")
            set_now = customer.set_safety_marker(
                ctx,
                marker=SafetyMarker.DOMESTIC_ABUSE,
                case_id=concern.originator_id,
                source_position=position,
                reason=f"{concern.kind} concern recorded on case {concern.originator_id}",
            )
            if not set_now:
                if str(SafetyMarker.DOMESTIC_ABUSE) in customer.markers:
                    self._marked_parties.add(concern.affected_party_id)
                return 0
            try:
                self.save(customer)
            except IntegrityError:
                continue  # another process marked the same person first: look again
            self._marked_parties.add(concern.affected_party_id)
            return 1
        raise RuleViolation("The customer's record is too busy; try again.", code="busy")

    def customer(self, party_id: str) -> Customer | None:
        try:
            customer: Customer = self.repository.get(customer_id(party_id))
        except AggregateNotFoundError:
            return None
        return customer

    @contextmanager
    def reading_customer(self, party_id: str, *, head: int | None = None) -> Iterator[Customer | None]:
        """A person's record as it stands in the store now, to read (never to change) in the block:
        as ``reading_case``, the copy this process keeps brought up to date with the events recorded
        since (one indexed read, none when it is known current at ``head``), so an erasure or a
        marker recorded by any process is seen by the next read. ``None`` for a person with no record."""
        key = customer_id(party_id)
        with self._customers_lock:
            kept = self._customers.get(key)
            try:
                if kept is None:
                    kept = self.repository.get(key, projector_func=_replay_events)
                elif not self._current.holds(key, head, kept.version):
                    kept = _replay_events(kept, self.events.get(key, gt=kept.version))
            except AggregateNotFoundError:
                kept = None
            except BaseException:
                self._customers.pop(key, None)  # half brought up to date is no copy to keep
                self._current.forget(key)
                raise
            if kept is not None and self.settings.aggregate_cache_size > 0:
                self._customers[key] = kept
                self._customers.move_to_end(key)
                self._current.mark(key, head, kept.version)
                while len(self._customers) > self.settings.aggregate_cache_size:
                    self._current.forget(self._customers.popitem(last=False)[0])
            yield kept

    # ------------------------------------------------------------------ queries

    def get_case(self, case_id: UUID, *, version: int | None = None) -> Case:
        """The case as it is now, or as it stood at ``version``, replayed from the log."""
        try:
            case: Case = self.repository.get(case_id, version=version, projector_func=_replay_events)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        return case

    @contextmanager
    def reading_case(self, case_id: UUID, *, head: int | None = None) -> Iterator[Case]:
        """The case as it stands in the store now, to read (never to change) while the block runs.

        It is the copy this process keeps (the commands' own cache), brought up to date with the
        events appended since it was kept, by any process: one indexed read, empty when nothing
        changed. So a read costs the same at 10 and at 10,000 events of the case, and is never
        behind the store. The case's lock is held for the block, so a command of this process
        never changes the copy under the reader: keep the block short (take what you need).

        ``head``: the log's head (``log_head``) read by the caller just before: a copy known to be
        current there (``CurrentAt``) is read with no query at all."""
        with self._case_locks[hash(case_id) % len(self._case_locks)]:
            with self._cache_lock:
                kept = self._cache.get(case_id)
                if kept is not None:
                    self._cache.move_to_end(case_id)
            if kept is None:
                case = self._load(case_id, fresh=True)
            elif self._current.holds(case_id, head, kept.version):
                case = kept
            else:
                try:
                    case = _replay_events(kept, self.events.get(case_id, gt=kept.version))
                except BaseException:
                    self._evict(case_id)  # half brought up to date is no copy to keep
                    raise
            with self._cache_lock:
                if self._cache.get(case_id) is case:  # only a kept copy is marked (none with no cache)
                    self._current.mark(case_id, head, case.version)
            yield case

    def case_events(self, case_id: UUID) -> list[Case.Event]:
        events: list[Case.Event] = list(self.events.get(case_id))  # type: ignore[arg-type]
        if not events:
            raise CaseNotFound(case_id)
        return events

    def all_case_ids(self) -> Iterator[UUID]:
        """Ids of every case, in the order they were opened (reads the log of creations)."""
        created_topic = Case.ApplicationReceived.TOPIC
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 500, topics=[created_topic])
            if not batch:
                return
            for notification in batch:
                yield UUID(str(notification.originator_id))
            start = batch[-1].id + 1
