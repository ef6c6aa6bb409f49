"""Three PostgreSQL roles, with the grants `db upgrade` sets up (issue 15, item 2; docs/operations.md).

The owner upgrades; the writer (the service) reads and appends but edits no event and makes no
table; the reader (auditors, replicas) only reads. Every read command works as the reader; a
recorded read (an export) is written through the writer's URL before anything is shown, and as
the reader alone it is refused, with nothing written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
from fastapi.testclient import TestClient

from infrastructure.eventstore.application import CaseJourney
from infrastructure.http import create_app
from infrastructure.settings import Settings
from tests.conftest import POSTGRES_URL, cli_env, require_postgres, seed_test_roster
from tests.e2e.conftest import AUD, CW, Api, http_settings, open_protected_case
from tests.e2e.test_cli import run
from tests.e2e.test_cli_settings import flat

pytestmark = pytest.mark.postgres

PURPOSE = ("--auditor", "aud-ines", "--purpose", "independent case examiner review")


def as_role(role: str) -> str:
    url = urlparse(POSTGRES_URL)
    host = url.netloc.rsplit("@", 1)[-1]
    return urlunparse(url._replace(netloc=f"{role}@{host}"))


@pytest.fixture
def roles(tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    """Three login roles of this test's own and a schema the owner owns; the CLI's variables for each."""
    require_postgres()
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"cj_{kind}_{tag}" for kind in ("owner", "writer", "reader")}
    schema = f"cj_roles_{tag}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{names["owner"]}"')
    base = cli_env(
        Settings(store="postgres", postgres_url=POSTGRES_URL, postgres_schema=schema, key_dir=tmp_path / "k")
    )
    try:
        yield {kind: {**base, "CASEJOURNEY_POSTGRES_URL": as_role(name)} for kind, name in names.items()} | {
            "names": names,
            "schema": {"name": schema},
        }
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            for name in names.values():
                conn.execute(f'DROP OWNED BY "{name}" CASCADE')
                conn.execute(f'DROP ROLE "{name}"')


def test_the_owner_upgrades_the_writer_appends_and_the_reader_only_reads(roles, tmp_path: Path) -> None:
    owner, writer, reader, names = roles["owner"], roles["writer"], roles["reader"], roles["names"]
    schema = roles["schema"]["name"]

    # Before the upgrade, the service has nothing to run on: one sentence naming the step.
    early = run("demo", env=writer)
    assert early.returncode == 3 and "casejourney db upgrade" in flat(early.stderr), early.stderr
    missing = run("db", "upgrade", "--grant-reader", "nobody_at_all", env=owner)
    assert missing.returncode == 3 and "there is no PostgreSQL role 'nobody_at_all'" in flat(missing.stderr)

    made = run("db", "upgrade", "--grant-writer", names["writer"], "--grant-reader", names["reader"], env=owner)
    assert made.returncode == 0, made.stderr
    assert (
        f"granted {names['writer']}: reads and appends" in made.stdout and f"granted {names['reader']}" in made.stdout
    )
    again = run("db", "upgrade", "--grant-writer", names["writer"], "--grant-reader", names["reader"], env=owner)
    assert again.returncode == 0 and "up to date" in again.stdout  # idempotent, grants and all

    # The writer: the whole demo, every scenario's case, through the append functions.
    demo = run("demo", env=writer)
    assert demo.returncode == 0, demo.stderr
    signed = run("checkpoint", env=writer)  # the service signs its tree head: what a bundle proves against
    assert signed.returncode == 0, signed.stderr
    for statement in (
        f'UPDATE "{schema}".casejourney_events SET topic = topic',
        # a row slipped in by hand would skip the chain: the logs take rows through their functions only
        f'INSERT INTO "{schema}".casejourney_events (originator_id, originator_version, topic, state)'
        " VALUES (gen_random_uuid(), 1, 'x', '')",
        f'INSERT INTO "{schema}".accesslog_events (originator_id, originator_version, topic, state)'
        " VALUES (gen_random_uuid(), 1, 'x', '')",
        f'DELETE FROM "{schema}".accesslog_events',
        f'CREATE TABLE "{schema}".planted (x int)',
        f'UPDATE "{schema}".casejourney_schema SET version = 0',
    ):
        with psycopg.connect(as_role(names["writer"])) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)

    # The reader: every read command works, and nothing is appended.
    head = _head(schema)
    history = run("history", "--scenario", "1", "--format", "json", env=reader)
    assert history.returncode == 0, history.stderr
    case = json.loads(history.stdout)[0]["case_id"]
    for command in (
        ["replay", case],
        ["verify"],
        ["verify", "--format", "json"],
        ["projections", "status"],
        ["db", "status"],
    ):
        answer = run(*command, env=reader)
        assert answer.returncode == 0, (command, answer.stderr)
    assert _head(schema) == head
    with psycopg.connect(as_role(names["reader"])) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f'INSERT INTO "{schema}".casejourney_schema VALUES (%s, 9, %s)', ("x", "now"))
    refused = run("staff", "join", "lead-9", "--team", "specialist_case_team", "--reason", "cover", "--by", "lead-0",
                  env=reader)  # fmt: skip
    assert refused.returncode == 3 and "permission denied" in flat(refused.stderr), refused.stderr
    assert "Traceback" not in refused.stderr and _head(schema) == head
    with psycopg.connect(as_role(names["reader"])) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f'SELECT "{schema}".casejourney_events_append(NULL)')  # the owner's function: not the reader's

    # A recorded read: as the reader alone it cannot be recorded, so nothing is shown or written;
    # reading as the reader and recording through the writer's URL, it is both.
    reads = _access_events(schema)
    bundle = tmp_path / "case.json"
    unrecorded = run("export", case, *PURPOSE, "--bundle", str(bundle), env=reader)
    assert unrecorded.returncode != 0 and not bundle.exists(), unrecorded.stdout
    assert "Traceback" not in unrecorded.stderr and _access_events(schema) == reads
    split = {**writer, "CASEJOURNEY_POSTGRES_READ_URL": reader["CASEJOURNEY_POSTGRES_URL"]}
    recorded = run("export", case, *PURPOSE, "--bundle", str(bundle), env=split)
    assert recorded.returncode == 0, recorded.stderr
    assert bundle.exists() and _access_events(schema) > reads  # its stream started, and the read

    # The service as the reader is not ready: it could not take a command.
    settings = http_settings(
        Settings(
            store="postgres",
            postgres_url=reader["CASEJOURNEY_POSTGRES_URL"],
            postgres_schema=schema,
            key_dir=Path(reader["CASEJOURNEY_KEY_DIR"]),
        )
    )
    with CaseJourney(settings, schema="require") as app:
        service = create_app(settings, app=app)
        with TestClient(service) as client:
            ready = client.get("/readyz")
        service.state.services.close()
    assert ready.status_code == 503 and ready.json()["readiness"] == "not ready", ready.text


def _head(schema: str) -> int:
    with psycopg.connect(POSTGRES_URL) as conn:
        return int(conn.execute(f'SELECT count(*) FROM "{schema}".casejourney_events').fetchone()[0])  # type: ignore[index]


def _access_events(schema: str) -> int:
    with psycopg.connect(POSTGRES_URL) as conn:
        return int(conn.execute(f'SELECT count(*) FROM "{schema}".accesslog_events').fetchone()[0])  # type: ignore[index]


def test_the_service_reads_on_the_read_url_and_decides_and_records_on_the_primary(roles, clock) -> None:
    """``CASEJOURNEY_POSTGRES_READ_URL`` for the service: what a GET shows comes from the read URL (here
    the reader role; a standby in production), while commands, need-to-know decisions and the
    recorded reads go to the primary. Taking the reader's SELECT away proves the GETs read there."""
    owner, writer, reader, names = roles["owner"], roles["writer"], roles["reader"], roles["names"]
    schema = roles["schema"]["name"]
    made = run("db", "upgrade", "--grant-writer", names["writer"], "--grant-reader", names["reader"], env=owner)
    assert made.returncode == 0, made.stderr
    settings = http_settings(
        Settings(
            store="postgres",
            postgres_url=writer["CASEJOURNEY_POSTGRES_URL"],
            postgres_read_url=reader["CASEJOURNEY_POSTGRES_URL"],
            postgres_schema=schema,
            key_dir=Path(writer["CASEJOURNEY_KEY_DIR"]),
        )
    )
    service = create_app(settings, clock=clock)
    services = service.state.services
    assert services.reader is not services.app and services.reader.settings.postgres_url == as_role(names["reader"])
    seed_test_roster(services.app)
    try:
        with TestClient(service) as client:
            ready = client.get("/readyz")  # the writer appends through the functions: it can take a command
            assert ready.status_code == 200, ready.text
            api = Api(client, settings, clock)
            case_id = open_protected_case(api)
            reads = _access_events(schema)
            purpose = {"purpose": "independent case examiner review"}
            for path in (f"/cases/{case_id}", f"/cases/{case_id}/timeline.html", f"/cases/{case_id}/evidence-bundle"):
                shown = api.get(path, AUD, **purpose)
                assert shown.status_code == 200, (path, shown.text)
                assert shown.headers.get("Verification") == "verified", (path, shown.headers)
            assert "coercive control" in api.get(f"/cases/{case_id}/timeline.html", AUD, **purpose).text
            assert _access_events(schema) > reads  # recorded on the primary, through the writer
            roster = api.get("/staff", AUD)
            assert roster.status_code == 200 and roster.json()["members"], roster.text

            # A read that cannot be recorded is refused: nothing shown, nothing written.
            functions = f'ALL FUNCTIONS IN SCHEMA "{schema}"'
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'REVOKE EXECUTE ON {functions} FROM "{names["writer"]}"')
            reads = _access_events(schema)
            for path in (f"/cases/{case_id}/safeguarding-history", f"/cases/{case_id}/timeline.html"):
                unrecorded = api.get(path, AUD, **purpose)
                assert unrecorded.status_code == 503, (path, unrecorded.text)
                assert "coercive control" not in unrecorded.text and "Traceback" not in unrecorded.text
            assert _access_events(schema) == reads
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'GRANT EXECUTE ON {functions} TO "{names["writer"]}"')

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'REVOKE SELECT ON ALL TABLES IN SCHEMA "{schema}" FROM "{names["reader"]}"')
            blind = api.get(f"/cases/{case_id}/timeline.html", AUD, **purpose)
            assert blind.status_code == 503, blind.text  # it read on the read URL: nothing shown from elsewhere
            assert "Traceback" not in blind.text
            again = {"kind": "threatened_violence", "source": "customer_disclosure", "affected_party_id": "pwc-1"}
            api.command(case_id, "record_concern", again, CW)  # commands go on: they write on the primary
    finally:
        services.close()
