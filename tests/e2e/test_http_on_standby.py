"""Auditors on the replica (issue 15, items 2 and 3): the HTTP service with its read URL on a real
hot standby. The primary takes the commands and records the reads; the timeline, the evidence
bundle and the auditor's verified case view are read on the standby, which refuses every write."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.eventstore.application import CaseJourney
from infrastructure.http import create_app
from infrastructure.settings import Settings
from scripts.pg_clusters import TempCluster
from tests.builders import open_case
from tests.conftest import cli_env, require_clusters, seed_test_roster
from tests.e2e.conftest import AUD, Api, http_settings, open_protected_case
from tests.e2e.test_cli import run
from tests.e2e.test_cli_settings import flat

pytestmark = pytest.mark.postgres

PURPOSE = {"purpose": "complaint review"}


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[TempCluster, TempCluster]]:
    require_clusters()
    primary = TempCluster().start()
    try:
        standby = primary.standby(synchronous=False)
        try:
            yield primary, standby
        finally:
            standby.remove()
    finally:
        primary.remove()


def _events_on(url: str, schema: str = "cases") -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute(f"SELECT count(*) FROM {schema}.casejourney_events").fetchone()
        return int(found[0])  # type: ignore[index]


def test_auditors_read_on_the_standby_while_the_primary_takes_commands(clusters, clock, tmp_path) -> None:
    primary, standby = clusters
    with psycopg.connect(standby.url) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)  # a real hot standby
    settings = http_settings(
        Settings(
            store="postgres",
            postgres_url=primary.url,
            postgres_read_url=f"{standby.url}?target_session_attrs=standby",
            postgres_schema="cases",
            key_dir=tmp_path / "keys",
        )
    )
    upgrade(settings)
    service = create_app(settings, clock=clock)
    services = service.state.services
    assert f":{standby.port}/" in services.reader.settings.postgres_url  # the GETs' store: the standby
    seed_test_roster(services.app)
    try:
        with TestClient(service) as client:
            api = Api(client, settings, clock)
            case_id = open_protected_case(api)
            head = services.app.recorder.max_notification_id()
            deadline = time.monotonic() + 10
            while _events_on(standby.url) < head:  # streamed, then replayed: a few milliseconds here
                assert time.monotonic() < deadline, "the standby did not catch up within 10 s"
                time.sleep(0.05)

            for path in (f"/cases/{case_id}", f"/cases/{case_id}/timeline.html", f"/cases/{case_id}/evidence-bundle"):
                shown = api.get(path, AUD, **PURPOSE)
                assert shown.status_code == 200, (path, shown.text)
                assert shown.headers.get("Verification") == "verified", (path, shown.headers)
            assert "coercive control" in api.get(f"/cases/{case_id}/timeline.html", AUD, **PURPOSE).text
            history = api.get(f"/cases/{case_id}/safeguarding-history", AUD, **PURPOSE)
            assert history.status_code == 200 and history.json()["entries"], history.text

            # The reads were recorded on the primary, and the standby holds the same log, no more.
            reads = api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD)
            assert reads.status_code == 200 and len(reads.json()["reads"]) >= 3, reads.text
            assert _events_on(primary.url) == services.app.recorder.max_notification_id()
    finally:
        services.close()


def test_every_read_command_runs_on_the_standby_and_it_is_never_ready_for_commands(clusters, clock, tmp_path) -> None:
    """An auditor's commands pointed straight at the standby: they read (no DDL, nothing appended),
    a write is refused in words, and a service that mistakes the standby for its primary says at
    ``/readyz`` that it cannot take a command."""
    primary, standby = clusters
    keys = tmp_path / "keys"
    on_primary = Settings(store="postgres", postgres_url=primary.url, postgres_schema="reads", key_dir=keys)
    upgrade(on_primary)
    with CaseJourney(on_primary, clock=clock) as app:
        case_id = open_case(app)
        head = app.recorder.max_notification_id()
    deadline = time.monotonic() + 10
    while _events_on(standby.url, "reads") < head:
        assert time.monotonic() < deadline, "the standby did not catch up within 10 s"
        time.sleep(0.05)

    env = cli_env(on_primary.model_copy(update={"postgres_url": standby.url}))
    for command in (
        ["history", str(case_id)],
        ["replay", str(case_id)],
        ["verify"],
        ["projections", "status"],
        ["db", "status"],
    ):
        read = run(*command, env=env)
        assert read.returncode == 0 and "Traceback" not in read.stderr, (command, read.stdout, read.stderr)
    written = run("demo", env=env)
    assert written.returncode == 3 and "read-only" in flat(written.stderr), written.stderr
    assert "Traceback" not in written.stderr and _events_on(standby.url, "reads") == head

    service = create_app(http_settings(on_primary.model_copy(update={"postgres_url": standby.url})), clock=clock)
    try:
        with TestClient(service) as client:
            ready = client.get("/readyz")
        assert ready.status_code == 503 and "cannot take a command" in ready.json()["detail"], ready.text
    finally:
        service.state.services.close()
