"""The schema as an explicit, versioned step (issue 15, item 1): `casejourney db upgrade` makes it,
ordinary commands do no DDL and refuse a store that needs an upgrade, a store made by the previous
release upgrades without losing a byte, several upgrades at once are safe."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.schema import SCHEMA_VERSION, TABLE, SchemaNotCurrent, stored_version
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from tests.conftest import POSTGRES_URL, cli_env, postgres_settings, require_postgres, scratch_schema
from tests.e2e.test_cli import CLI, run
from tests.e2e.test_cli_settings import flat

RELEASE_0 = Path(__file__).parent.parent / "fixtures" / "release-0"
UPGRADE_SAID = "run `casejourney db upgrade` (as the database's owner) first"


def release_0_copy(tmp_path: Path) -> Settings:
    store = tmp_path / "store"
    shutil.copytree(RELEASE_0, store, ignore=shutil.ignore_patterns("README.md"))
    (store / "keys").chmod(0o700)
    for key in (store / "keys").iterdir():
        key.chmod(0o600)
    return Settings(sqlite_path=store / "casejourney.sqlite")


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a SQLite file, in order: what "not a byte lost" is checked against."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_of_the_previous_release_is_refused_untouched_then_upgraded_without_losing_a_byte(
    tmp_path: Path,
) -> None:
    settings = release_0_copy(tmp_path)
    files = [settings.sqlite_path, settings.sqlite_path.with_name("casejourney-access-log.sqlite")]
    before = {f: rows(f) for f in files}
    sums = {f: digest(f) for f in files}
    assert stored_version(settings) == 0 and stored_version(settings, "access") == 0

    for command in (["verify"], ["history", "--scenario", "1"], ["projections", "status"]):
        refused = run("--sqlite-path", str(settings.sqlite_path), *command)
        said = flat(refused.stderr)
        assert refused.returncode == 3, said
        assert "has the schema of a release before versions were recorded" in said and UPGRADE_SAID in said, said
        assert {f: digest(f) for f in files} == sums, command  # refused: not one byte written

    upgraded = run("--sqlite-path", str(settings.sqlite_path), "db", "upgrade", "--format", "json")
    assert upgraded.returncode == 0, upgraded.stderr
    said = json.loads(upgraded.stdout)
    assert said["before"] == {"cases": 0, "access": 0} and said["after"] == SCHEMA_VERSION and said["changed"]
    for f in files:
        after = rows(f)
        assert set(after) - set(before[f]) == {TABLE}  # one table more, and nothing else changed
        assert {t: r for t, r in after.items() if t != TABLE} == before[f], f
    verified = run("--sqlite-path", str(settings.sqlite_path), "verify")
    assert verified.returncode == 0, verified.stderr  # the chain, the tree and the checkpoint as they were
    again = run("--sqlite-path", str(settings.sqlite_path), "db", "upgrade", "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False


#: The same release's store on PostgreSQL (`pg_dump` of schema ``RELEASE_0_SCHEMA``; see the README).
RELEASE_0_DUMP = RELEASE_0 / "postgres.sql"
RELEASE_0_SCHEMA = "cj_release0_fixture"


def pg_rows(schema: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a PostgreSQL schema, in order (as ``rows`` for a SQLite file)."""
    with psycopg.connect(POSTGRES_URL) as conn:
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{schema}"."{t}"').fetchall(), key=repr)
            for t in sorted(tables_in(schema))
        }


@pytest.mark.postgres
def test_a_postgres_store_of_the_previous_release_is_refused_untouched_then_upgraded_without_losing_a_byte(
    bare_schema: str, tmp_path: Path
) -> None:
    dump = RELEASE_0_DUMP.read_text().replace(f"CREATE SCHEMA {RELEASE_0_SCHEMA};", "")
    restored = subprocess.run(
        ["psql", POSTGRES_URL, "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=dump.replace(RELEASE_0_SCHEMA, bare_schema),
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    keys = tmp_path / "keys"
    shutil.copytree(RELEASE_0 / "keys", keys)
    keys.chmod(0o700)
    for key in keys.iterdir():
        key.chmod(0o600)
    settings = postgres_settings(bare_schema, key_dir=keys)
    env = cli_env(settings)
    before = pg_rows(bare_schema)
    assert len(before["casejourney_events"]) == 21 and len(before["accesslog_events"]) == 2
    assert stored_version(settings) == 0 and stored_version(settings, "access") == 0

    for command in (["verify"], ["history", "--scenario", "1"], ["projections", "status"], ["demo"]):
        refused = run(*command, env=env)
        said = flat(refused.stderr)
        assert refused.returncode == 3, said
        assert "has the schema of a release before versions were recorded" in said and UPGRADE_SAID in said, said
        assert pg_rows(bare_schema) == before, command  # refused: not one row written

    upgraded = run("db", "upgrade", "--format", "json", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    said = json.loads(upgraded.stdout)
    assert said["before"] == {"cases": 0, "access": 0} and said["after"] == SCHEMA_VERSION and said["changed"]
    after = pg_rows(bare_schema)
    assert set(after) - set(before) == {TABLE}  # one table more, and nothing else changed
    assert {t: r for t, r in after.items() if t != TABLE} == before
    verified = run("verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr  # chain, tree, checkpoints, access log
    assert "2 signed" in verified.stdout and "2 events chained" in verified.stdout, verified.stdout
    again = run("db", "upgrade", "--format", "json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False


def test_db_status_reads_only_and_says_what_is_needed(tmp_path: Path) -> None:
    settings = release_0_copy(tmp_path)
    sums = digest(settings.sqlite_path)
    status = run("--sqlite-path", str(settings.sqlite_path), "db", "status", "--format", "json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["versions"] == {"cases": 0, "access": 0}
    assert digest(settings.sqlite_path) == sums
    bad = run("--sqlite-path", str(settings.sqlite_path), "db", "status", "--format", "yaml")
    assert bad.returncode == 2 and "--format must be text or json" in bad.stderr


def test_the_embedded_default_upgrades_itself_when_a_command_writes(tmp_path: Path) -> None:
    """`make run` stays one command: the first write on a fresh SQLite path makes the schema."""
    path = tmp_path / "var" / "casejourney.sqlite"
    made = run("--sqlite-path", str(path), "staff", "join", "lead-1", "--team", "specialist_case_team",
               "--reason", "first leader", "--by", "lead-0")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert stored_version(Settings(sqlite_path=path)) == SCHEMA_VERSION
    assert stored_version(Settings(sqlite_path=path), "access") == SCHEMA_VERSION


def test_a_schema_newer_than_this_release_is_refused_by_every_command_and_by_upgrade(tmp_path: Path) -> None:
    settings = release_0_copy(tmp_path)
    assert run("--sqlite-path", str(settings.sqlite_path), "db", "upgrade").returncode == 0
    with sqlite3.connect(settings.sqlite_path) as conn:
        conn.execute(f"UPDATE {TABLE} SET version = ?", (SCHEMA_VERSION + 1,))
    for command in (["verify"], ["db", "upgrade"], ["demo"]):
        refused = run("--sqlite-path", str(settings.sqlite_path), *command)
        said = flat(refused.stderr)
        assert refused.returncode == 3, said
        assert f"is at schema version {SCHEMA_VERSION + 1}, newer than this release's ({SCHEMA_VERSION})" in said


# ---------------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def bare_schema() -> Iterator[str]:
    """A schema with nothing in it: what a new database looks like before `db upgrade`."""
    with scratch_schema("cj_up") as schema:
        yield schema


def tables_in(schema: str) -> set[str]:
    with psycopg.connect(POSTGRES_URL) as conn:
        found = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        return {r[0] for r in found}


@pytest.fixture
def ddl_seen() -> Iterator[str]:
    """Every DDL statement the server starts, with the session's application name: an event trigger
    (``ddl_command_start`` fires for ``CREATE TABLE IF NOT EXISTS`` on a table that exists, too)."""
    require_postgres()
    name = f"cj_ddl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{name} (app TEXT, tag TEXT)")
        conn.execute(
            f"CREATE FUNCTION public.{name}() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" INSERT INTO public.{name} VALUES (current_setting('application_name'), tg_tag); END $$"
        )
        conn.execute(f"CREATE EVENT TRIGGER {name} ON ddl_command_start EXECUTE FUNCTION public.{name}()")
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP EVENT TRIGGER IF EXISTS {name}")
            conn.execute(f"DROP FUNCTION IF EXISTS public.{name}()")
            conn.execute(f"DROP TABLE IF EXISTS public.{name}")


def ddl_by(trigger: str, app: str) -> list[str]:
    with psycopg.connect(POSTGRES_URL) as conn:
        return [r[0] for r in conn.execute(f"SELECT tag FROM public.{trigger} WHERE app = %s", (app,))]


@pytest.mark.postgres
def test_postgres_commands_refuse_a_store_with_no_schema_and_create_nothing(bare_schema: str, tmp_path: Path) -> None:
    settings = postgres_settings(bare_schema, key_dir=tmp_path / "keys")
    with pytest.raises(SchemaNotCurrent, match="has no schema"):
        CaseJourney(settings, schema="require")
    for command in (["verify"], ["demo"], ["projections", "status"]):
        refused = run(*command, env=cli_env(settings))
        said = flat(refused.stderr)
        assert refused.returncode == 3, said
        assert "has no schema; this release needs version" in said and UPGRADE_SAID in said, said
    assert tables_in(bare_schema) == set()  # nothing made: not a table


@pytest.mark.postgres
def test_several_upgrades_at_once_make_the_schema_once(bare_schema: str, tmp_path: Path) -> None:
    settings = postgres_settings(bare_schema, key_dir=tmp_path / "keys")
    env = {**os.environ, **cli_env(settings)}
    procs = [
        subprocess.Popen(
            [CLI, "db", "upgrade", "--format", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [rc for rc, _, _ in results] == [0, 0, 0, 0], results
    changed = [json.loads(out)["changed"] for _, out, _ in results]
    assert changed.count(True) == 1, results  # one made it; the others found it done
    assert stored_version(settings) == SCHEMA_VERSION and stored_version(settings, "access") == SCHEMA_VERSION
    assert {"casejourney_person_keys", "casejourney_merkle", "casejourney_checkpoints", TABLE} <= tables_in(bare_schema)


@pytest.mark.postgres
def test_no_command_runs_ddl_on_a_current_store(bare_schema: str, ddl_seen: str, tmp_path: Path) -> None:
    """What lets history, replay and verify run on a hot standby or as a role without CREATE."""
    settings = postgres_settings(bare_schema, key_dir=tmp_path / "keys")
    upgrader = f"cj-upgrade-{uuid.uuid4().hex[:8]}"
    done = run("db", "upgrade", env={**cli_env(settings), "PGAPPNAME": upgrader})
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE" in ddl_by(ddl_seen, upgrader)  # the trigger sees DDL: the check below can fail
    with CaseJourney(settings, schema="require") as app:
        run_scenario(app, SCENARIOS[0], (app.clock() - timedelta(days=30)).replace(hour=9, minute=0, second=0))
    reader = f"cj-reader-{uuid.uuid4().hex[:8]}"
    env = {**cli_env(settings), "PGAPPNAME": reader}
    for command in (["verify"], ["projections", "status"], ["db", "status"], ["checkpoint"], ["db", "upgrade"]):
        done = run(*command, env=env)
        assert done.returncode == 0, (command, done.stderr)
    assert ddl_by(ddl_seen, reader) == []
