"""Shared fixtures: the same tests run on SQLite and on a real PostgreSQL by changing only settings.

PostgreSQL tests use the server on 127.0.0.1:5432 (override with CASEJOURNEY_TEST_POSTGRES_URL),
each in a schema of its own that is dropped afterwards. Without a server they skip with the
reason; under CI=true a missing server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from domain.values import StaffTeam
from infrastructure.access.roster import seed_roster
from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.models import ReadModels
from infrastructure.samples.scenarios import seed_demo_roster
from infrastructure.settings import Settings
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

POSTGRES_URL = os.environ.get("CASEJOURNEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}".strip()
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_problem()
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(f"CI=true and {_PG_PROBLEM}", pytrace=False)
        pytest.skip(str(_PG_PROBLEM))


def require_clusters() -> None:
    """PostgreSQL clusters of a test's own (``scripts/pg_clusters.py``: initdb, pg_basebackup): on
    these machines always; elsewhere skipped with the reason, and a failure under CI=true."""
    from scripts.pg_clusters import available

    why = available()
    if why:
        if IN_CI:
            pytest.fail(f"CI=true and a PostgreSQL cluster of the test's own cannot be made: {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the real server, at this release's schema version, dropped after the test."""
    with scratch_schema("cj_test") as schema:
        upgrade(postgres_settings(schema))  # as the operator does first (`casejourney db upgrade`); no keys involved
        yield schema


@contextmanager
def scratch_schema(prefix: str) -> Iterator[str]:
    """An empty schema of the test's own (what a new database looks like before `db upgrade`),
    dropped afterwards with its key folder."""
    require_postgres()
    schema = create_scratch_schema(POSTGRES_URL, prefix)
    try:
        yield schema
    finally:
        drop_scratch_schema(POSTGRES_URL, schema)
        shutil.rmtree(PG_KEY_ROOT / schema, ignore_errors=True)


#: Each PostgreSQL test schema's key folder (its keyring is made on first use, as on a fresh machine).
PG_KEY_ROOT = Path(tempfile.gettempdir()) / "casejourney-test-keys"


def postgres_settings(schema: str, **overrides: object) -> Settings:
    overrides.setdefault("key_dir", PG_KEY_ROOT / schema)
    overrides.setdefault("postgres_url", POSTGRES_URL)
    return Settings(store="postgres", postgres_schema=schema, **overrides)  # type: ignore[arg-type]


def cli_env(settings: Settings) -> dict[str, str]:
    """The same store as ``CASEJOURNEY_*`` variables, for a CLI run in another process (keys included)."""
    return {
        "CASEJOURNEY_STORE": settings.store,
        "CASEJOURNEY_SQLITE_PATH": str(settings.sqlite_path),
        "CASEJOURNEY_POSTGRES_URL": settings.postgres_url or "",
        "CASEJOURNEY_POSTGRES_SCHEMA": settings.postgres_schema,
        "CASEJOURNEY_KEY_DIR": str(settings.key_folder()),
    }


def sqlite_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(store="sqlite", sqlite_path=tmp_path / "casejourney.sqlite", **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each store in turn: the same test body runs on both."""
    if request.param == "sqlite":
        return sqlite_settings(tmp_path)
    schema = request.getfixturevalue("pg_schema")
    return postgres_settings(schema)


class FakeClock:
    """An injected clock: tests decide what time it is."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: Everyone the tests name, on the team of their role: a test about the roster itself says so.
TEST_ROSTER: dict[StaffTeam, list[str]] = {
    StaffTeam.MAINSTREAM: ["cw-ada", "cw-bob", "cw-hal", "cw-pop"],
    StaffTeam.SPECIALIST_CASE_TEAM: ["scw-bea", "scw-cy", "scw-ivy", "scw-pop"],
    StaffTeam.ENFORCEMENT: ["em-cal", "em-dan"],
    StaffTeam.ACS_SENIOR_LEADERS: ["acssl-dee", "acssl-fay"],
    StaffTeam.AUDIT: ["aud-eve"],
}


def seed_test_roster(app: CaseJourney) -> None:
    """The tests' people and the sample journeys' people (``infrastructure/samples/scenarios.py``)."""
    seed_roster(app, TEST_ROSTER)
    seed_demo_roster(app)


@pytest.fixture
def make_app(store_settings: Settings, clock: FakeClock) -> Iterator[Callable[..., CaseJourney]]:
    """Builds applications on the current store (its roster seeded); each is closed after the test."""
    apps: list[CaseJourney] = []

    def factory(**overrides: object) -> CaseJourney:
        settings = store_settings.model_copy(update=overrides) if overrides else store_settings
        app = CaseJourney(settings, clock=clock)
        apps.append(app)
        seed_test_roster(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., CaseJourney]) -> CaseJourney:
    return make_app()


@pytest.fixture
def models(app: CaseJourney) -> Iterator[ReadModels]:
    """The read models of ``app``'s store."""
    m = ReadModels(app)
    yield m
    m.close()
