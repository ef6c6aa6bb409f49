"""The GET routes answer the same from the projection runner's tables as from the log."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from infrastructure.http import create_app
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.queries import LogQueries, TablesQueries
from tests.conftest import seed_test_roster
from tests.e2e.conftest import CW, EM, OPS, SCW, SVC, Api, http_settings


def test_tables_and_log_give_the_same_answers(store_settings: Any, clock: Any) -> None:
    made: list[ReadModels] = []

    def tables(app: Any) -> TablesQueries:
        made.append(ReadModels(app))
        return TablesQueries(app, made[0])

    asgi = create_app(http_settings(store_settings), clock=clock, queries=tables, max_projection_lag=0)
    seed_test_roster(asgi.state.services.app)
    with TestClient(asgi) as client:
        api = Api(client, asgi.state.services.settings, clock)
        case_id = api.open_case()
        api.command(
            case_id,
            "record_concern",
            {"kind": "physical_violence", "source": "police", "affected_party_id": "pwc-1", "police_involved": True},
            CW,
        )
        api.command(case_id, "decide_referral", {}, CW)
        api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)
        api.command(case_id, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, SCW)
        api.command(case_id, "open_expedited_pathway", {"pathway_reason": "safeguarding", "reason": "threat"}, SCW)
        behind = api.get("/readyz", OPS)
        assert behind.status_code == 503 and behind.json()["readiness"] == "lagging", behind.text
        assert behind.json()["projection_lag"]["caseloads"] > 0 and behind.json()["status"] == 503
        made[0].catch_up()
        caught_up = api.get("/readyz", OPS)
        assert caught_up.status_code == 200 and caught_up.json()["status"] == "ready"
        assert set(caught_up.json()["projection_lag"].values()) == {0}

        log = LogQueries(asgi.state.services.app)
        for by in ("team", "caseworker", "enforcement_manager"):
            answer = {x["key"]: x["open_cases"] for x in api.get("/caseloads", EM, by=by).json()["caseloads"]}
            assert answer == log.caseloads(by)
        queue = api.get("/expedited-queue", SVC).json()["entries"]
        assert [(q["case_id"], q["pathway_reason"]) for q in queue] == [(case_id, "safeguarding")]
        assignment = api.get(f"/cases/{case_id}/team-assignment", CW).json()
        assert (assignment["team"], assignment["named_caseworker_id"], assignment["enforcement_manager_id"]) == (
            "specialist_case_team",
            SCW.id,
            EM.id,
        )
    asgi.state.services.close()
    made[0].close()
