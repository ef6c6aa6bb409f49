"""`GET /metrics` in one process (issue 16, item 3): the projection lag operators ask for first, in
events and in seconds, read from the runner's tracking table; refusals counted by their code."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import UUID

from fastapi.testclient import TestClient

from infrastructure.http import create_app
from infrastructure.readmodels.models import ReadModels
from tests.conftest import seed_test_roster, sqlite_settings
from tests.e2e.conftest import CW, Api, http_settings
from tests.e2e.test_http_workers import _metrics


def test_the_projection_lag_in_events_and_seconds_and_problems_by_code(tmp_path: Path) -> None:
    settings = http_settings(sqlite_settings(tmp_path))
    asgi = create_app(settings)
    services = asgi.state.services
    seed_test_roster(services.app)
    try:
        with TestClient(asgi) as client:
            api = Api(client, settings, clock=None)  # type: ignore[arg-type]
            api.open_case()
            with ReadModels(services.app, settings) as models:  # a runner's pass: every model at the head
                models.catch_up()
            at_head = _metrics(client.get("/metrics").text)
            assert at_head['casejourney_projection_lag_events{projection="team_assignment"}'] == 0
            assert at_head['casejourney_projection_lag_seconds{projection="team_assignment"}'] == 0

            case_id = api.open_case(receiving_parent_id="pwc-2", paying_parent_id="nrp-2")
            appended = services.app.get_case(UUID(case_id)).version
            time.sleep(0.3)
            behind = _metrics(client.get("/metrics").text)
            assert behind['casejourney_projection_lag_events{projection="team_assignment"}'] >= appended
            assert 0.3 <= behind['casejourney_projection_lag_seconds{projection="team_assignment"}'] < 60

            # The counters are the process's (other tests' requests count too): compare before and after.
            problem = 'casejourney_problems_total{code="invalid_input",status="422"}'
            route = 'http_requests_total{method="POST",route="/cases/{case_id}/record-concern",status="422"}'
            before = _metrics(client.get("/metrics").text)
            refused = api.post(f"/cases/{case_id}/record-concern", {"kind": "no_such_kind"}, CW)
            assert refused.status_code == 422
            counted = _metrics(client.get("/metrics").text)
            assert counted[problem] - before.get(problem, 0) == 1
            assert counted[route] - before.get(route, 0) == 1
    finally:
        services.close()
