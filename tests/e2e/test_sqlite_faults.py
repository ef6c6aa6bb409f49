"""Fault drills on the embedded store: the disk fills up, the file becomes read-only.

What must hold, each time:

- the caller gets a clear error (in-process: the library's ``PersistenceError`` naming the cause;
  from the CLI: exit code 3 and one sentence on stderr, never a traceback);
- nothing is corrupted: ``PRAGMA integrity_check`` says ok, ``casejourney verify`` walks the whole
  hash chain without a break, every acknowledged command is in the log, and the command that
  failed left nothing behind (its case's version is the last acknowledged one);
- once the fault is gone (space freed), the same running application appends again by itself.

A real full disk is a 1 MiB tmpfs and a real read-only file is a read-only bind mount: both need
root to mount (the test is skipped otherwise). Without root, ``PRAGMA max_page_count`` gives the
same SQLITE_FULL to one connection; the first test uses it and needs nothing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteConnectionPool
from fastapi.testclient import TestClient

from domain.case.commands import RecordConcern
from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.integrity import verify_log
from infrastructure.http import create_app
from infrastructure.http.auth import issue_token
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, open_case, opening
from tests.conftest import FakeClock, seed_test_roster
from tests.e2e.conftest import http_settings
from tests.e2e.test_cli import run

NOTE = "A long note from a phone call, kept in full. " * 80  # about 3.6 KB: the disk fills in a few hundred


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def mounted(*args: str, target: Path) -> Iterator[None]:
    if os.geteuid() != 0 or not _mount(*args, str(target)):
        pytest.skip("needs root to mount (a tmpfs or a read-only bind mount)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _open(app: CaseJourney) -> UUID:
    return open_case(app, receiving_parent_id="rp-1", paying_parent_id="pp-1")


def _fill_until_failure(app: CaseJourney, case_id: UUID, limit: int = 5000) -> tuple[list[tuple[UUID, int]], Exception]:
    """Appends until the store refuses; returns the acknowledged (command id, version) and the error."""
    acknowledged = []
    for _ in range(limit):
        command = RecordConcern(
            case_id=case_id,
            kind="financial_hardship",
            source="customer_disclosure",
            affected_party_id="rp-1",
            note=NOTE,
        )
        try:
            result = app.execute(command, CASEWORKER)
        except PersistenceError as exc:
            return acknowledged, exc
        acknowledged.append((command.command_id, result.version))
    raise AssertionError(f"the store never filled up after {limit} commands")


def _assert_intact(path: Path, settings: Settings, case_id: UUID, acknowledged: list[tuple[UUID, int]]) -> None:
    """Integrity check, chain, and the log holds exactly the acknowledged commands' events."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with CaseJourney(settings) as app:
        case = app.get_case(case_id)
        assert case.version == acknowledged[-1][1], "the failed command left events behind"
        assert all(command_id in case.commands for command_id, _v in acknowledged), "an acknowledged command is lost"
        assert verify_log(app.recorder.chain_rows()).ok  # type: ignore[attr-defined]
    done = run("verify", env={"CASEJOURNEY_STORE": "sqlite", "CASEJOURNEY_SQLITE_PATH": str(path)})
    assert done.returncode == 0, done.stdout + done.stderr


def test_max_page_count_full_gives_a_clear_error_and_no_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without root: each connection the library opens may not grow the file past 64 pages
    (SQLite's own limit, PRAGMA max_page_count); SQLite then fails the write with SQLITE_FULL."""
    create = SQLiteConnectionPool._create_connection

    def limited(pool: SQLiteConnectionPool) -> Any:
        connection = create(pool)
        connection._sqlite_conn.execute("PRAGMA max_page_count = 64")
        return connection

    monkeypatch.setattr(SQLiteConnectionPool, "_create_connection", limited)
    settings = Settings(store="sqlite", sqlite_path=tmp_path / "cj.sqlite")
    app = CaseJourney(settings, clock=FakeClock())
    case_id = _open(app)
    acknowledged, error = _fill_until_failure(app, case_id)
    assert "full" in str(error).lower(), str(error)
    assert len(acknowledged) > 10, "some commands should fit before the limit"
    app.close()
    monkeypatch.undo()
    _assert_intact(settings.sqlite_path, settings, case_id, acknowledged)


def test_a_full_disk_gives_a_clear_error_no_corruption_and_the_service_recovers(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    # 1 MiB: the read models' empty tables (made when the service starts) take a share of it.
    with mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", target=disk):
        settings = Settings(store="sqlite", sqlite_path=disk / "cj.sqlite")
        app = CaseJourney(settings, clock=FakeClock())
        service = TestClient(create_app(http_settings(settings, http_read_models="tables"), app=app))
        case_id = _open(app)
        assert service.get("/readyz").status_code == 200
        acknowledged, error = _fill_until_failure(app, case_id)
        assert "full" in str(error).lower(), str(error)
        assert len(acknowledged) > 10
        # Readiness means the store can take a command: a full disk is not ready, and says so.
        full = service.get("/readyz")
        assert full.status_code == 503 and "cannot take a command" in full.json()["detail"], full.text

        # The CLI on the full disk: one sentence and exit code 3, not a traceback.
        cli = run("demo", env={"CASEJOURNEY_STORE": "sqlite", "CASEJOURNEY_SQLITE_PATH": str(settings.sqlite_path)})
        assert cli.returncode == 3, cli.stdout + cli.stderr
        assert "full" in cli.stderr.lower() and "Traceback" not in cli.stderr

        # Space comes back: the same running application appends again, nothing lost or doubled.
        assert _mount("-o", "remount,size=16m", str(disk))
        assert service.get("/readyz").status_code == 200
        result = app.execute(
            RecordConcern(
                case_id=case_id,
                kind="financial_hardship",
                source="customer_disclosure",
                affected_party_id="rp-1",
                note="after the disk was grown",
            ),
            CASEWORKER,
        )
        assert result.version == acknowledged[-1][1] + 1
        service.app.state.services.close()  # type: ignore[attr-defined]
        app.close()
        _assert_intact(settings.sqlite_path, settings, case_id, [*acknowledged, (result.command_id, result.version)])


def test_a_read_only_file_gives_a_clear_error_and_no_corruption(tmp_path: Path) -> None:
    data, view = tmp_path / "data", tmp_path / "view"
    data.mkdir()
    view.mkdir()
    settings = Settings(store="sqlite", sqlite_path=data / "cj.sqlite")
    with CaseJourney(settings, clock=FakeClock()) as app:
        opened = app.execute(
            opening(receiving_parent_id="rp-1", paying_parent_id="pp-1", command_id=UUID(int=7)), CASEWORKER
        )
        seed_test_roster(app)  # an auditor on the roster, for the recorded read below
    upgrade(settings)  # every component made (the access log too), as on a store in service
    with mounted("--bind", str(data), target=view):
        assert _mount("-o", "remount,ro,bind", str(view))
        env = {"CASEJOURNEY_STORE": "sqlite", "CASEJOURNEY_SQLITE_PATH": str(view / "cj.sqlite")}
        write = run("demo", env=env)
        assert write.returncode == 3, write.stdout + write.stderr
        assert "read" in write.stderr.lower() and "only" in write.stderr.lower(), write.stderr
        assert "Traceback" not in write.stderr
        # Every read command reads a read-only evidence copy; a recorded read cannot be recorded
        # there, so it is refused and shows nothing (a read is never unrecorded).
        for command in (
            ["history", str(opened.case_id)],
            ["replay", str(opened.case_id)],
            ["verify"],
            ["verify", "--format", "json"],
            ["projections", "status"],
            ["db", "status"],
        ):
            read = run(*command, env=env)
            assert read.returncode == 0 and "Traceback" not in read.stderr, (command, read.stdout, read.stderr)
        bundle = tmp_path / "bundle.json"
        unrecorded = run("export", str(opened.case_id), "--auditor", "aud-eve", "--purpose", "complaint review",
                         "--bundle", str(bundle), env=env)  # fmt: skip
        assert unrecorded.returncode == 3 and not bundle.exists(), unrecorded.stdout + unrecorded.stderr
        assert "Traceback" not in unrecorded.stderr and "only" in unrecorded.stderr.lower(), unrecorded.stderr
        with CaseJourney(Settings(store="sqlite", sqlite_path=view / "cj.sqlite"), clock=FakeClock()) as copy:
            # No runner can keep read models on read-only media: the lists are folded from the log.
            service = create_app(http_settings(copy.settings, http_read_models="tables"), app=copy)
            with TestClient(service) as client:
                refused = client.get("/readyz")
                bearer = {"Authorization": f"Bearer {issue_token(service.state.services.settings, CASEWORKER)}"}
                loads = client.get("/caseloads", headers=bearer)
            service.state.services.close()
            assert refused.status_code == 503 and "cannot take a command" in refused.json()["detail"], refused.text
            assert loads.status_code == 200 and loads.json()["caseloads"][0]["open_cases"] == 1, loads.text
        # A current store is opened with no DDL (docs/operations.md), so a read-only copy opens;
        # the first write is what the read-only file refuses, in words.
        with CaseJourney(Settings(store="sqlite", sqlite_path=view / "cj.sqlite"), clock=FakeClock()) as copy:
            assert copy.case_events(opened.case_id)[-1].originator_version == opened.version
            with pytest.raises(PersistenceError, match=r"(?i)read.?only"):
                copy.execute(opening(receiving_parent_id="rp-2", paying_parent_id="pp-2"), CASEWORKER)
    _assert_intact(settings.sqlite_path, settings, opened.case_id, [(UUID(int=7), opened.version)])
