"""`/openapi.json` a client generator can use (issue 16, item 4), and `/docs` with no CDN.

Every response of every route has a schema; every error is ``application/problem+json`` with the
``ProblemDetails`` schema and lists its stable codes; every command body has an example that the
command accepts; the document has a ``servers`` entry and every answer says ``API-Version``. The
read models of ``infrastructure/http/schemas.py`` are held to the real answers: each read's body
validates against its published model, unknown fields refused.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

from pydantic import BaseModel

from domain.case.commands import COMMANDS_BY_ACTION, OpenCase
from domain.customer.commands import RecordCustomerDetails
from infrastructure.http import schemas
from infrastructure.http.problems import INPUT_RULE_CODES, PROBLEM_CODES
from tests.conftest import cli_env, sqlite_settings
from tests.e2e.conftest import ACSSL, AUD, CW, EM, OPS, SCW, SECRET, TL, Api, free_port, wait_until_serving
from tests.e2e.test_cli import CLI

ROOT = Path(__file__).resolve().parents[2]


def _document(api: Api) -> dict[str, Any]:
    answer = api.client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def test_every_response_of_every_route_has_a_schema_and_every_error_is_a_problem(api: Api) -> None:
    doc = _document(api)
    problem = {"$ref": "#/components/schemas/ProblemDetails"}
    seen = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                content = answer.get("content")
                if status == "304":
                    continue
                assert content, (method, path, status)
                for media, body in content.items():
                    assert body.get("schema"), (method, path, status, media)
                if status[0] in "45":
                    assert content == {"application/problem+json": {"schema": problem}}, (method, path, status)
                    assert "Codes: `" in answer["description"], (method, path, status)
                seen += 1
    assert seen > 200
    names = doc["components"]["schemas"]
    assert "HTTPValidationError" not in names and set(names["ProblemDetails"]["required"]) >= {"type", "code"}
    case = doc["paths"]["/cases/{case_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert case["schema"] == {"$ref": "#/components/schemas/CaseView"}
    assert doc["servers"][0]["url"] == "/" and doc["info"]["version"] == "1"


def test_every_command_body_has_an_example_the_command_accepts(api: Api) -> None:
    doc = _document(api)
    for action, command_class in COMMANDS_BY_ACTION.items():
        schema = doc["components"]["schemas"][command_class.__name__]
        (example,) = schema["examples"]
        extra = {} if command_class is OpenCase else {"case_id": str(uuid4())}
        command_class.model_validate({**example, **extra})  # raises if the example is not a valid body
        assert set(example) >= set(schema.get("required", [])), action


def test_every_code_raised_is_listed_with_its_status() -> None:
    listed = {code for codes in PROBLEM_CODES.values() for code in codes}
    raised: set[str] = set()
    for source in (ROOT / "infrastructure" / "http").glob("*.py"):
        text = source.read_text()
        raised |= set(re.findall(r'Problem\(\s*\d{3},\s*"(\w+)"', text))
        raised |= set(re.findall(r'_unauthenticated\([^)]*?"(\w+)"\)', text))
        raised |= set(re.findall(r'_refuse\(\s*send,\s*\d{3},\s*"(\w+)"', text))
    for source in (ROOT / "domain").rglob("*.py"):
        text = source.read_text()
        raised |= set(re.findall(r'code="(\w+)"', text))
        raised |= set(re.findall(r'^\s+code = "(\w+)"', text, flags=re.M))
    raised -= {"domain_error"}  # the base class's, never raised as such
    # The domain's codes of legal holds and erasure are the CLI's, not the API's.
    raised -= {"invalid_hold_end", "invalid_hold_subject", "invalid_subject", "no_such_hold"}
    assert raised - listed == set(), f"not listed in problems.PROBLEM_CODES: {sorted(raised - listed)}"
    assert set(PROBLEM_CODES[422]) >= INPUT_RULE_CODES


def _valid(model: type[BaseModel], answer: Any) -> None:
    assert answer.status_code == 200, answer.text
    model.model_validate(answer.json())  # unknown fields are refused (schemas.Strict)


def test_every_reads_answer_is_what_its_schema_says(api: Api) -> None:
    app = api.client.app.state.services.app  # type: ignore[attr-defined]
    for party_id, name in (("pwc-1", "Ann Example"), ("nrp-1", "Bob Example")):
        app.record_customer_details(RecordCustomerDetails(party_id=party_id, name=name, phone="0100 000 0000"), CW)
    case_id = api.open_case()
    api.command(case_id, "record_concern", {"kind": "physical_violence", "source": "police",
                "affected_party_id": "pwc-1", "police_involved": True}, CW)  # fmt: skip
    api.command(case_id, "decide_referral", {}, CW)
    api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)
    api.command(case_id, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, SCW)
    api.command(case_id, "open_expedited_pathway", {"pathway_reason": "safeguarding", "reason": "threat"}, SCW)
    glass = api.client.get(
        f"/cases/{case_id}", headers=api.headers(CW, **{"Break-Glass-Reason": "The police rang about a threat."})
    )
    _valid(schemas.CaseView, glass)
    assert all("contact_details" in p for p in glass.json()["parties"].values()), glass.text  # by break-glass
    _valid(schemas.CaseView, api.get(f"/cases/{case_id}", SCW))
    audited = api.get(f"/cases/{case_id}", AUD)
    _valid(schemas.CaseView, audited)
    assert audited.json()["integrity"]["verified"] is True
    _valid(schemas.TeamAssignment, api.get(f"/cases/{case_id}/team-assignment", EM))
    _valid(schemas.SafeguardingHistory, api.get(f"/cases/{case_id}/safeguarding-history", SCW, purpose="review"))
    _valid(schemas.HistoryReads, api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD))
    for by in ("team", "caseworker", "enforcement_manager"):
        _valid(schemas.Caseloads, api.get("/caseloads", EM, by=by))
    queue = api.get("/expedited-queue", SCW)
    _valid(schemas.ExpeditedQueue, queue)
    assert queue.json()["entries"]
    _valid(schemas.StaffRoster, api.get("/staff", TL))
    alerts = api.get("/alerts/break-glass", ACSSL)
    _valid(schemas.BreakGlassAlerts, alerts)
    alert_id = alerts.json()["alerts"][0]["alert_id"]
    reviewed = api.post(
        f"/alerts/break-glass/{alert_id}/review", {"outcome": "justified", "note": "The police did ring."}, AUD
    )
    _valid(schemas.BreakGlassAlert, reviewed)
    _valid(schemas.Alive, api.get("/healthz", None))
    _valid(schemas.Readiness, api.get("/readyz", None))
    _valid(schemas.Readiness, api.get("/readyz", OPS))
    refused = api.get(f"/cases/{uuid4()}", CW)
    assert refused.status_code == 404
    schemas.ProblemDetails.model_validate(refused.json())
    assert refused.headers["API-Version"] == "1" and glass.headers["API-Version"] == "1"


def test_the_docs_pages_need_no_network_but_the_service(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = api.client.get(page)
        assert html.status_code == 200, page
        sources = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert sources and all(s.startswith("/") for s in sources), (page, sources)  # nothing from a CDN
        for source in sources:
            if source.endswith((".js", ".css", ".png")):
                asset = api.client.get(source)
                assert asset.status_code == 200 and len(asset.content) > 1000, source


def test_the_docs_render_in_a_browser_that_can_reach_nothing_but_the_service(chromium: str, tmp_path: Path) -> None:
    """Swagger UI and ReDoc, in headless Chromium with every other host unresolvable (an air-gapped
    network): both pages build the whole document from the service alone."""
    port = free_port()
    env = {**os.environ, **cli_env(sqlite_settings(tmp_path)), "CASEJOURNEY_HTTP_JWT_SECRET": SECRET}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    server = subprocess.Popen([CLI, "serve", "--workers", "1", "--port", str(port)], env=env, **quiet)  # type: ignore[call-overload]
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server)
        for page, rendered in (("docs", 'class="swagger-ui"'), ("redoc", "redoc-wrap")):
            done = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / page}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=15000",
                 "--dump-dom", f"http://127.0.0.1:{port}/{page}"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            assert rendered in done.stdout, (page, done.stdout[:2000])
            assert "Record a safeguarding concern" in done.stdout, page  # an operation, read from /openapi.json
    finally:
        server.terminate()
        server.wait(timeout=60)
