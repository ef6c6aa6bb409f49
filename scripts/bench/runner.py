"""`casejourney bench`: one run, both stores, every figure beside a baseline measured in the same run.

Parts, on each store (a fresh PostgreSQL schema or a temporary SQLite directory, removed after):

1. **Commands at 1, 4 and 8 concurrent clients.** Each client is its own *process* (spawned once
   per store and reused; the GIL would make threads measure Python, not the store), with its own
   connection and its own pool of cases, so clients never conflict on a case and only contend where
   a real service would: the store's write serialization. Three variants do the same work:
   ``raw`` (one events-shaped row per INSERT+COMMIT into one shared table, psycopg autocommit or
   sqlite3 with the library's WAL settings), ``plain`` (the plain ``eventsourcing.Application``
   with its aggregate cache: get, one ``@event`` method, save) and ``ours`` (``CaseJourney.execute``:
   permissions, rules, idempotency, hash chain; warm cache). The variants are interleaved in
   rotated order for ``rounds`` rounds and the median is reported. Throughput = all commands of
   all clients / (last end - first start); latency p50/p99 over every command of every client.
2. **Scale curve** (a second fresh store): the log is grown to 10k and 100k events (1M with
   ``--full``) with the synthetic journeys of ``scripts/bench/projections.py``; at each size a
   fresh child process measures per-command latency on an existing pool of cases (cold first
   load, then warm), and another rebuilds every projection, beside a raw ordered scan of the same
   log in the same process. Each child reports its own peak RSS.
3. **Auditor replay**: cases of 50 and 500 events (written through ``execute``); p50/p99 of
   ``replay_case`` now, as of a recorded time half-way through, and ``get_case(version=N)``, at
   each size of the scale curve, in a child process of its own (peak RSS). No snapshots: see
   BENCHMARKS.md for why they were not needed.

The machine is shared, so only ratios against baselines measured in the same run are comparable
across runs. Run: ``casejourney bench [--full] [--json PATH] [--stores sqlite,postgres]``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
import resource
import sqlite3
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLIENTS = (1, 4, 8)
DEFAULT_SIZES = (10_000, 100_000)
FULL_SIZES = (10_000, 100_000, 1_000_000)
VARIANTS = ("raw", "plain", "ours", "clear")
LABELS = {
    "raw": "raw INSERT+COMMIT",
    "plain": "plain eventsourcing (+cache)",
    "ours": "CaseJourney.execute (warm)",
    "clear": "the same, no encryption (payload, case text)",
}
SCAN_BATCH = 5000  # as scripts/bench/projections.py
PREPARED_EVENTS = 10  # events per case before the timed commands
REPLAY_SIZES = (50, 500)


def _bench_commands() -> Any:
    import scripts.bench.commands as module  # the existing benchmark's workload and baselines

    return module


def _bench_projections() -> Any:
    import scripts.bench.projections as module

    return module


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------- command clients


@dataclass
class StoreInfo:
    """What a client process needs to reach the store (picklable)."""

    settings: Settings
    plain_env: dict[str, str]
    raw_target: str  # PostgreSQL URL or SQLite file
    raw_schema: str | None


def _raw_client(info: StoreInfo) -> Any:
    """A client doing raw INSERT+COMMIT of one events-shaped row into the shared ``raw_events``."""
    if info.raw_schema is not None:
        conn: Any = psycopg.connect(info.raw_target, autocommit=True)
        insert = sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)"
            " RETURNING notification_id"
        ).format(sql.Identifier(info.raw_schema, "raw_events"))

        def one(params: tuple[Any, ...]) -> None:
            with conn.cursor() as cur:
                cur.execute(insert, params, prepare=True)
                cur.fetchone()

        return conn, one, False
    conn = sqlite3.connect(info.raw_target, isolation_level=None, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    cur = conn.cursor()

    def one_sqlite(params: tuple[Any, ...]) -> None:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO raw_events VALUES (?,?,?,?)", params)
        conn.commit()

    return conn, one_sqlite, True


def _client_process(index: int, info: StoreInfo, pools: dict[str, list[UUID]], tasks: Any, go: Any, out: Any) -> None:
    """A command client: waits for a task, prepares (untimed), says ready, runs on 'go', reports."""
    bc = _bench_commands()
    apps: dict[str, Any] = {}
    raw_ids = [uuid.uuid4() for _ in range(len(pools["ours"]))]
    raw_versions = dict.fromkeys(raw_ids, 0)
    i = 0
    try:
        while True:
            task = tasks.get()
            if task is None:
                return
            variant, n, topic, state = task
            if variant not in apps:
                if variant in ("ours", "clear"):
                    apps[variant] = (
                        CaseJourney(info.settings) if variant == "ours" else bc.Clear(bc.clear_settings(info.settings))
                    )
                    for case_id in pools[variant]:  # warm the cache (untimed), as a running service is
                        apps[variant].execute(bc.timed_command(case_id, 0), bc.CASEWORKER)
                elif variant == "plain":
                    apps[variant] = bc.PlainBench(env=info.plain_env)
                    for dossier_id in pools["plain"]:
                        apps[variant].repository.get(dossier_id)
                else:
                    apps[variant] = _raw_client(info)
            batch: list[Any] = []
            for _ in range(n):
                i += 1
                if variant in ("ours", "clear"):
                    batch.append(bc.timed_command(pools[variant][i % len(pools[variant])], i))
                elif variant == "plain":
                    batch.append((pools["plain"][i % len(pools["plain"])], bc.note_kwargs()))
                else:
                    rid = raw_ids[i % len(raw_ids)]
                    raw_versions[rid] += 1
                    is_sqlite = apps[variant][2]
                    batch.append((rid.hex if is_sqlite else rid, raw_versions[rid], topic, state))
            out.put(("ready", index))
            go.get()
            latencies: list[float] = []
            clock = time.perf_counter
            start = clock()
            if variant in ("ours", "clear"):
                execute, actor = apps[variant].execute, bc.CASEWORKER
                for command in batch:
                    t = clock()
                    execute(command, actor)
                    latencies.append(clock() - t)
            elif variant == "plain":
                get, save = apps[variant].repository.get, apps[variant].save
                for dossier_id, kwargs in batch:
                    t = clock()
                    dossier = get(dossier_id)
                    dossier.record_note(**kwargs)
                    save(dossier)
                    latencies.append(clock() - t)
            else:
                one = apps[variant][1]
                for params in batch:
                    t = clock()
                    one(params)
                    latencies.append(clock() - t)
            end = clock()
            out.put(("done", index, start, end, latencies, _rss_mb()))
    except BaseException as exc:
        out.put(("error", index, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        for app in apps.values():
            with contextlib.suppress(Exception):
                (app[0] if isinstance(app, tuple) else app).close()


class Clients:
    """Up to ``n`` spawned client processes, kept for the whole store run."""

    def __init__(self, info: StoreInfo, pools: list[dict[str, list[UUID]]]) -> None:
        ctx = mp.get_context("spawn")
        self.out = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in pools]
        self.go = [ctx.Queue() for _ in pools]
        self.procs = [
            ctx.Process(
                target=_client_process, args=(i, info, pools[i], self.tasks[i], self.go[i], self.out), daemon=True
            )
            for i in range(len(pools))
        ]
        for p in self.procs:
            p.start()

    def _get(self, timeout: float = 300) -> Any:
        msg = self.out.get(timeout=timeout)
        if msg[0] == "error":
            raise RuntimeError(f"client {msg[1]} failed: {msg[2]}")
        return msg

    def warm_up(self, variant: str, topic: str, state: bytes) -> None:
        """Opens each client's application one client at a time: two processes creating the same
        tables and functions at once on PostgreSQL can fail (``tuple concurrently updated``)."""
        for i in range(len(self.procs)):
            self.tasks[i].put((variant, 20, topic, state))
            self._get()
            self.go[i].put(1)
            self._get()

    def measure(self, variant: str, n_clients: int, per_client: int, topic: str, state: bytes) -> dict[str, Any]:
        for i in range(n_clients):
            self.tasks[i].put((variant, per_client, topic, state))
        for _ in range(n_clients):
            self._get()
        for i in range(n_clients):
            self.go[i].put(1)
        done = [self._get() for _ in range(n_clients)]
        start, end = min(d[2] for d in done), max(d[3] for d in done)
        latencies = [x for d in done for x in d[4]]
        return {
            "ops_per_s": n_clients * per_client / (end - start),
            "p50_ms": _pct(latencies, 0.5) * 1e3,
            "p99_ms": _pct(latencies, 0.99) * 1e3,
            "client_rss_mb": max(d[5] for d in done),
        }

    def close(self) -> None:
        for q in self.tasks:
            q.put(None)
        for p in self.procs:
            p.join(timeout=5)  # a client left waiting for "go" after another failed: stop it
            if p.is_alive():
                p.kill()


@contextlib.contextmanager
def fresh_store(store: str, postgres_url: str) -> Iterator[dict[str, Any]]:
    """The existing benchmark's fresh place (temporary directory or schema), plus the raw table."""
    bc = _bench_commands()
    with bc.store_context(store, postgres_url) as ctx:
        settings: Settings = ctx["settings"]
        # The plain application with its aggregate cache, as ours runs with its own.
        plain_env = {**ctx["plain_env"], "AGGREGATE_CACHE_MAXSIZE": "10000"}
        if store == "sqlite":
            plain_env["SQLITE_LOCK_TIMEOUT"] = "10"  # as our settings: several client processes
            raw_path = settings.sqlite_path.with_name("raw.sqlite")
            bc.RawSQLite(raw_path, "t", b"", 1).close()  # creates raw_events as the existing benchmark does
            ctx["info"] = StoreInfo(settings, plain_env, str(raw_path), None)
        else:
            bc.RawPostgres(postgres_url, ctx["schema"], "t", b"", 1).close()
            # Each client process holds three applications' connections at once: keep pools at one
            # connection (plus our kept writer) so 8 clients stay well inside max_connections.
            plain_env |= {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}
            small = settings.model_copy(update={"postgres_pool_size": 1})
            ctx["info"] = StoreInfo(small, plain_env, postgres_url, ctx["schema"])
        yield ctx


def bench_commands_part(store: str, cfg: BenchConfig, log: Any) -> dict[str, Any]:
    bc = _bench_commands()
    n_max = max(cfg.clients)
    with fresh_store(store, cfg.postgres_url) as ctx:
        info: StoreInfo = ctx["info"]
        t0 = time.perf_counter()
        prep = CaseJourney(info.settings)
        ours = bc.prepare_cases(prep, cfg.cases_per_client * n_max, PREPARED_EVENTS)
        sample = prep.recorder.select_events(ours[0], desc=True, limit=1)[0]
        prep.close()
        clear_app = bc.Clear(bc.clear_settings(info.settings))
        clear = bc.prepare_cases(clear_app, cfg.cases_per_client * n_max, PREPARED_EVENTS)
        clear_app.close()
        plain_app = bc.PlainBench(env=info.plain_env)
        plain = bc.prepare_dossiers(plain_app, cfg.cases_per_client * n_max, PREPARED_EVENTS)
        plain_app.close()
        # The raw row: the topic and size of the events the timed commands append.
        state = (b'{"note":"' + b"x" * len(sample.state))[: len(sample.state) - 2] + b'"}'
        k = cfg.cases_per_client
        pools = [
            {
                "ours": ours[i * k : (i + 1) * k],
                "plain": plain[i * k : (i + 1) * k],
                "clear": clear[i * k : (i + 1) * k],
            }
            for i in range(n_max)
        ]
        log(f"{store}: prepared {len(ours)} cases and {len(plain)} plain aggregates in {time.perf_counter() - t0:.1f}s")
        clients = Clients(info, pools)
        rates: dict[str, dict[int, list[dict[str, Any]]]] = {v: {n: [] for n in cfg.clients} for v in VARIANTS}
        try:
            for variant in VARIANTS:  # warm-up: connections, caches, prepared statements
                clients.warm_up(variant, sample.topic, state)
            for r in range(cfg.rounds):
                for n in cfg.clients:
                    order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
                    for variant in order:
                        rates[variant][n].append(clients.measure(variant, n, cfg.per_client, sample.topic, state))
                    log(
                        f"{store}: round {r + 1}/{cfg.rounds}, {n} client(s): "
                        + ", ".join(f"{v} {rates[v][n][-1]['ops_per_s']:,.0f}/s" for v in VARIANTS)
                    )
        finally:
            clients.close()
    result: dict[str, Any] = {"event_state_bytes": len(sample.state), "per_client": cfg.per_client, "clients": {}}
    for n in cfg.clients:
        row: dict[str, Any] = {}
        for variant in VARIANTS:
            runs = rates[variant][n]
            row[variant] = {
                "ops_per_s_median": round(statistics.median(r["ops_per_s"] for r in runs), 1),
                "ops_per_s_rounds": [round(r["ops_per_s"], 1) for r in runs],
                "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
                "client_rss_mb": max(r["client_rss_mb"] for r in runs),
            }
        row["ours_over_raw"] = round(row["ours"]["ops_per_s_median"] / row["raw"]["ops_per_s_median"], 3)
        row["ours_over_plain"] = round(row["ours"]["ops_per_s_median"] / row["plain"]["ops_per_s_median"], 3)
        # Issue 13: the command path sealed by default keeps >= 0.9 x the rate with encryption off.
        row["sealed_over_clear"] = round(row["ours"]["ops_per_s_median"] / row["clear"]["ops_per_s_median"], 3)
        result["clients"][str(n)] = row
    return result


# ---------------------------------------------------------------------------- scale curve and replay


def _child_commands(settings: Settings, case_ids: list[UUID], n: int) -> dict[str, Any]:
    """In a fresh process: the first command on each case loads it (cold), the rest hit the cache."""
    bc = _bench_commands()
    app = CaseJourney(settings)
    cold: list[float] = []
    warm: list[float] = []
    clock = time.perf_counter
    try:
        for i in range(n):
            case_id = case_ids[i % len(case_ids)]
            command = bc.timed_command(case_id, i)
            t = clock()
            app.execute(command, bc.CASEWORKER)
            (cold if i < len(case_ids) else warm).append(clock() - t)
    finally:
        app.close()
    return {
        "cold_p50_ms": round(_pct(cold, 0.5) * 1e3, 3),
        "cold_p99_ms": round(_pct(cold, 0.99) * 1e3, 3),
        "warm_p50_ms": round(_pct(warm, 0.5) * 1e3, 3),
        "warm_p99_ms": round(_pct(warm, 0.99) * 1e3, 3),
        "commands": n,
        "rss_mb": _rss_mb(),
    }


def _child_rebuild(settings: Settings) -> dict[str, Any]:
    """In a fresh process: ordered scans of the log (the recorder's, a bare driver's), then a rebuild
    of every projection; the rebuild's memory is that of this process and its workers together."""
    from infrastructure.readmodels.models import ReadModels
    from infrastructure.readmodels.registry import PROJECTIONS
    from scripts.bench.process_memory import TreeMemory

    bp = _bench_projections()
    app = CaseJourney(settings)
    try:
        t = time.perf_counter()
        scanned = bp.raw_scan(app, SCAN_BATCH)
        scan_s = time.perf_counter() - t
        scan_rss = _rss_mb()
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        t = time.perf_counter()
        bp.bare_scan(settings, table, SCAN_BATCH)
        bare_s = time.perf_counter() - t
        models = ReadModels(app, settings)
        try:
            with TreeMemory() as memory:
                t = time.perf_counter()
                position, _resumed = models.rebuild(list(PROJECTIONS), batch_size=SCAN_BATCH, fresh=True)
                rebuild_s = time.perf_counter() - t
        finally:
            models.close()
    finally:
        app.close()
    return {
        "events": scanned,
        "position": position,
        "scan_events_per_s": round(scanned / scan_s),
        "bare_scan_events_per_s": round(scanned / bare_s),
        "rebuild_events_per_s": round(scanned / rebuild_s),
        "rebuild_seconds": round(rebuild_s, 2),
        "rebuild_over_scan": round(scan_s / rebuild_s, 3),
        "rebuild_over_bare_scan": round(bare_s / rebuild_s, 3),
        "scan_rss_mb": scan_rss,
        "rss_mb": max(_rss_mb(), memory.rss_mb),
        "tree_pss_mb": memory.pss_mb,
        "processes": memory.processes,
    }


def _child_replay(settings: Settings, cases: dict[int, list[UUID]], repeats: int) -> dict[str, Any]:
    """In a fresh process: auditor replays (now, as of a recorded time, by version), p50/p99."""
    from infrastructure.audit.replay import replay_case

    app = CaseJourney(settings)
    out: dict[str, Any] = {}
    clock = time.perf_counter
    try:
        for size, ids in cases.items():
            timings: dict[str, list[float]] = {"now": [], "as_of": [], "version": []}
            for case_id in ids:
                events = app.case_events(case_id)
                middle = events[len(events) // 2]
                for _ in range(repeats):
                    t = clock()
                    now = replay_case(app, case_id)
                    timings["now"].append(clock() - t)
                    t = clock()
                    then = replay_case(app, case_id, as_of=middle.timestamp)
                    timings["as_of"].append(clock() - t)
                    t = clock()
                    app.get_case(case_id, version=middle.originator_version)
                    timings["version"].append(clock() - t)
                assert now.version == len(events) and then.version == middle.originator_version, "replay is wrong"
            out[str(size)] = {
                kind: {"p50_ms": round(_pct(v, 0.5) * 1e3, 2), "p99_ms": round(_pct(v, 0.99) * 1e3, 2)}
                for kind, v in timings.items()
            } | {"replays_each": len(ids) * repeats}
    finally:
        app.close()
    out["rss_mb"] = _rss_mb()
    return out


def _in_child(func: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def _write_long_cases(app: CaseJourney, sizes: Sequence[int], per_size: int) -> dict[int, list[UUID]]:
    """Cases of exactly ``size`` events, through ``execute`` (a realistic start, then repeated work)."""
    bc = _bench_commands()
    out: dict[int, list[UUID]] = {}
    for size in sizes:
        ids = bc.prepare_cases(app, per_size, min(size, PREPARED_EVENTS))
        for case_id in ids:
            version = app.get_case(case_id).version
            for i in range(size - version):
                app.execute(bc.timed_command(case_id, i), bc.CASEWORKER)
        out[size] = ids
    return out


class _SteppingClock:
    """Real time, but never repeating: as-of moments between events are well defined."""

    def __init__(self) -> None:
        self.last = datetime.now(UTC)

    def __call__(self) -> datetime:
        now = datetime.now(UTC)
        self.last = max(now, self.last + timedelta(microseconds=1))
        return self.last


def bench_scale_part(store: str, cfg: BenchConfig, log: Any) -> dict[str, Any]:
    bc, bp = _bench_commands(), _bench_projections()
    points: list[dict[str, Any]] = []
    with fresh_store(store, cfg.postgres_url) as ctx:
        settings: Settings = ctx["settings"]
        app = CaseJourney(settings, clock=_SteppingClock())
        pool = bc.prepare_cases(app, cfg.scale_cases, PREPARED_EVENTS)
        t = time.perf_counter()
        long_cases = _write_long_cases(app, REPLAY_SIZES, cfg.replay_cases)
        took = time.perf_counter() - t
        log(f"{store}: wrote the replay cases ({', '.join(map(str, REPLAY_SIZES))} events) in {took:.1f}s")
        try:
            for size in cfg.sizes:
                have = app.recorder.max_notification_id() or 0
                if have < size:
                    t = time.perf_counter()
                    written = bp.write_synthetic_log(app, size - have, prefix=f"scale-{size}")
                    log(f"{store}: grew the log by {written:,} events in {time.perf_counter() - t:.1f}s")
                stored = app.recorder.max_notification_id() or 0
                point: dict[str, Any] = {"target_events": size, "events_stored": stored}
                point["commands"] = _in_child(_child_commands, settings, pool, cfg.scale_commands)
                point["rebuild"] = _in_child(_child_rebuild, settings)
                point["replay"] = _in_child(_child_replay, settings, long_cases, cfg.replay_repeats)
                points.append(point)
                c, r = point["commands"], point["rebuild"]
                log(
                    f"{store}: {stored:,} events: command warm p50 {c['warm_p50_ms']} ms, cold p50"
                    f" {c['cold_p50_ms']} ms; rebuild {r['rebuild_events_per_s']:,}/s vs scan"
                    f" {r['scan_events_per_s']:,}/s, RSS {r['rss_mb']} MB"
                )
        finally:
            app.close()
    return {"points": points}


# ---------------------------------------------------------------------------- the run


@dataclass
class BenchConfig:
    stores: list[str] = field(default_factory=lambda: ["postgres", "sqlite"])
    full: bool = False
    postgres_url: str = DEFAULT_POSTGRES_URL
    clients: tuple[int, ...] = CLIENTS
    rounds: int = 5
    per_client: int = 400
    cases_per_client: int = 25
    sizes: tuple[int, ...] = DEFAULT_SIZES
    scale_cases: int = 50
    scale_commands: int = 500
    replay_cases: int = 3
    replay_repeats: int = 10
    parts: tuple[str, ...] = ("commands", "scale", "evidence")
    evidence_events: int = 1_000_000


def machine() -> dict[str, Any]:
    meminfo = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            meminfo[key] = value.strip()
    return {
        "nproc": os.cpu_count(),
        "memory_total": meminfo.get("MemTotal"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }


def postgres_version(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def run(cfg: BenchConfig, log: Any) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {
        "benchmark": "casejourney bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine() | {"postgres": postgres_version(cfg.postgres_url) if "postgres" in cfg.stores else None},
        "code": _bench_commands().code_version(),
        "config": {k: v for k, v in vars(cfg).items() if k != "postgres_url"},
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "stores": {},
        "failures": {},
    }
    for store in cfg.stores:
        result: dict[str, Any] = {}
        try:
            if "commands" in cfg.parts:
                t = time.perf_counter()
                result["commands"] = bench_commands_part(store, cfg, log)
                result["commands"]["seconds"] = round(time.perf_counter() - t, 1)
            if "scale" in cfg.parts:
                t = time.perf_counter()
                result["scale"] = bench_scale_part(store, cfg, log)
                result["scale"]["seconds"] = round(time.perf_counter() - t, 1)
            if "evidence" in cfg.parts:
                from scripts.bench.evidence import bench_evidence_part

                t = time.perf_counter()
                result["evidence"] = bench_evidence_part(
                    store, cfg.postgres_url, cfg.evidence_events, log, rounds=cfg.rounds, commands=cfg.per_client * 2
                )
                result["evidence"]["seconds"] = round(time.perf_counter() - t, 1)
        except Exception as exc:  # one store failing must not hide the other's figures
            out["failures"][store] = f"{type(exc).__name__}: {exc}"
            log(f"{store}: FAILED: {exc}")
        out["stores"][store] = result
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def tables(out: dict[str, Any]) -> list[Any]:
    """Rich tables of a run's figures."""
    from rich.table import Table

    shown: list[Any] = []
    t = Table(title="Commands/s at N concurrent client processes (median of interleaved rounds)")
    for col in ("store", "clients", "variant", "ops/s", "rounds", "p50 ms", "p99 ms", "x raw", "client RSS MB"):
        t.add_column(col, justify="left" if col in {"store", "variant"} else "right")
    for store, res in out["stores"].items():
        for n, row in res.get("commands", {}).get("clients", {}).items():
            raw = row["raw"]["ops_per_s_median"]
            for variant in VARIANTS:
                v = row[variant]
                t.add_row(
                    store,
                    n,
                    LABELS[variant],
                    f"{v['ops_per_s_median']:,.0f}",
                    " ".join(f"{x:,.0f}" for x in v["ops_per_s_rounds"]),
                    f"{v['p50_ms']:.2f}",
                    f"{v['p99_ms']:.2f}",
                    f"{v['ops_per_s_median'] / raw:.2f}",
                    f"{v['client_rss_mb']:.0f}",
                )
            t.add_section()
    shown.append(t)
    sealing = [
        f"{store} {n} client(s) {row['sealed_over_clear']:.2f}x"
        for store, res in out["stores"].items()
        for n, row in res.get("commands", {}).get("clients", {}).items()
    ]
    if sealing:
        shown.append("Sealed by default over payload encryption off (target >= 0.9x): " + "; ".join(sealing))
    s = Table(title="Scale curve: per-command latency and rebuild rate with N events stored (fresh processes)")
    for col in (
        "store",
        "events",
        "cmd warm p50/p99 ms",
        "cmd cold p50 ms",
        "cmd RSS MB",
        "recorder scan ev/s",
        "bare scan ev/s",
        "rebuild ev/s",
        "rebuild/scan (recorder, bare)",
        "rebuild s",
        "rebuild RSS MB (all processes)",
    ):
        s.add_column(col, justify="left" if col == "store" else "right")
    for store, res in out["stores"].items():
        for p in res.get("scale", {}).get("points", []):
            c, r = p["commands"], p["rebuild"]
            s.add_row(
                store,
                f"{p['events_stored']:,}",
                f"{c['warm_p50_ms']:.2f} / {c['warm_p99_ms']:.2f}",
                f"{c['cold_p50_ms']:.2f}",
                f"{c['rss_mb']:.0f}",
                f"{r['scan_events_per_s']:,}",
                f"{r.get('bare_scan_events_per_s', 0):,}",
                f"{r['rebuild_events_per_s']:,}",
                f"{r['rebuild_over_scan']:.2f}, {r.get('rebuild_over_bare_scan', 0):.2f}",
                f"{r['rebuild_seconds']:.1f}",
                f"{r['rss_mb']:.0f}",
            )
    shown.append(s)
    a = Table(title="Auditor replay latency, ms p50 / p99 (from the log, no snapshots)")
    for col in ("store", "events stored", "case events", "now", "as of (recorded time)", "version N", "RSS MB"):
        a.add_column(col, justify="left" if col == "store" else "right")
    for store, res in out["stores"].items():
        for p in res.get("scale", {}).get("points", []):
            rp = p["replay"]
            for size in REPLAY_SIZES:
                k = rp.get(str(size))
                if not k:
                    continue
                a.add_row(
                    store,
                    f"{p['events_stored']:,}",
                    str(size),
                    *(f"{k[m]['p50_ms']:.2f} / {k[m]['p99_ms']:.2f}" for m in ("now", "as_of", "version")),
                    f"{rp['rss_mb']:.0f}",
                )
    shown.append(a)
    evidence = {store: res["evidence"] for store, res in out["stores"].items() if "evidence" in res}
    if evidence:
        from scripts.bench.evidence import table

        shown.append(table(evidence))
    return shown
