"""The fast lane (``infrastructure/http/lane.py``) changes what the hot routes cost, never what
they answer: the same requests, sent to a service with the lane and to one without it (each on its
own store, the same clock), get the same statuses, problem codes and bodies, refusals included."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient

from infrastructure.http import create_app
from infrastructure.settings import Settings
from tests.conftest import FakeClock, seed_test_roster
from tests.e2e.conftest import AUD, CW, DA_CONCERN, EM, TL, Api, http_settings

UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HASHES = re.compile(r"[0-9a-f]{32,}")
TIMES = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.+Z-]+")
KEY = "7d1e7c52-3f0a-4c55-9a8e-1b2c3d4e5f60"


def journey(api: Api) -> list[tuple[int, Any, dict[str, str]]]:
    """Well-formed and ill-formed requests to the lane's routes, and what each answered."""
    seen: list[tuple[int, Any, dict[str, str]]] = []
    opened = api.post(
        "/cases",
        {
            "applicant_role": "receiving_parent",
            "service_type": "collect_and_pay",
            "receiving_parent_id": "pwc-1",
            "paying_parent_id": "nrp-1",
        },
        CW,
        **{"Idempotency-Key": KEY},
    )
    case = opened.json()["case_id"]
    bearer = api.headers(CW)
    requests: list[tuple[str, str, Any, dict[str, str]]] = [
        (
            "POST",
            "/cases",
            {
                "applicant_role": "receiving_parent",
                "service_type": "collect_and_pay",
                "receiving_parent_id": "pwc-1",
                "paying_parent_id": "nrp-1",
            },
            {**bearer, "Idempotency-Key": KEY},
        ),  # a replay: the same 201
        ("POST", f"/cases/{case}/record-concern", DA_CONCERN, bearer),
        ("POST", f"/cases/{case}/record-concern", DA_CONCERN, {**bearer, "If-Match": '"1"'}),  # stale
        ("POST", f"/cases/{case}/record-concern", {"kind": "nonsense"}, bearer),  # invalid: FastAPI's 422
        ("POST", f"/cases/{case}/record-concern", DA_CONCERN, {**bearer, "Idempotency-Key": "x" * 300}),
        ("POST", f"/cases/{case}/record-concern", DA_CONCERN, {"Authorization": "Bearer nope"}),  # 401
        ("POST", f"/cases/{case}/record-concern", DA_CONCERN, api.headers(TL)),  # the role: 403
        (
            "POST",
            f"/cases/{uuid.UUID(int=7)}/give-signposting",
            {"target": "affordability_hub", "resolved_concern": False},
            bearer,
        ),  # unknown case: 404
        ("GET", f"/cases/{case}", None, bearer),
        ("GET", f"/cases/{case}", None, {**bearer, "If-None-Match": '"2"'}),  # 304
        ("GET", f"/cases/{case}", None, api.headers(EM)),  # no relationship: details withheld
        ("GET", f"/cases/{case}", None, api.headers(AUD)),  # an auditor: verified first
        ("GET", f"/cases/{uuid.UUID(int=7)}", None, bearer),
        ("GET", f"/cases/{case}", None, {}),  # no token
    ]
    for method, path, body, headers in requests:
        response = api.client.request(method, path, json=body, headers=headers)
        kept = {
            k: response.headers[k]
            for k in ("etag", "idempotent-replayed", "content-type", "verification")
            if k in response.headers
        }
        payload = response.json() if response.content else None
        seen.append((response.status_code, _without(payload, case), kept))
    return seen


def _without(payload: Any, case: str) -> Any:
    """The answer with what differs between two stores by construction (the case id, the times)."""
    text = repr(payload).replace(case, "<case>")
    text = UUIDS.sub("<id>", text)
    text = HASHES.sub("<hash>", text)  # an auditor's integrity record: over the ids and times
    return TIMES.sub("<time>", text)


def test_the_same_requests_get_the_same_answers_with_and_without_the_lane(
    store_settings: Settings, tmp_path: Any
) -> None:
    answers = []
    for lane in (True, False):
        settings = http_settings(store_settings.model_copy(update={"sqlite_path": tmp_path / f"lane-{lane}.sqlite"}))
        clock = FakeClock()
        asgi = create_app(settings, clock=clock, fast_lane=lane)
        seed_test_roster(asgi.state.services.app)
        with TestClient(asgi) as client:
            answers.append(journey(Api(client, settings, clock)))
        asgi.state.services.close()
        if settings.store == "postgres":
            break  # one schema per test: the SQLite runs compare
    if len(answers) == 2:
        for with_lane, without in zip(*answers, strict=True):
            assert with_lane == without
    statuses = [status for status, _, _ in answers[0]]
    assert statuses == [201, 200, 409, 422, 422, 401, 403, 404, 200, 304, 200, 200, 404, 401]
