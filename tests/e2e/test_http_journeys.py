"""The seed scenarios over HTTP, on SQLite and PostgreSQL: what a backend service would send and see."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from infrastructure.http import create_app
from tests.e2e.conftest import ACSSL, AUD, CW, EM, EM2, OPS, SCW, SVC, TL, Api, http_settings

PROBLEM = "application/problem+json"


def concern(**fields: Any) -> dict[str, Any]:
    return {"kind": "threatened_violence", "source": "customer_disclosure", "affected_party_id": "pwc-1", **fields}


def specialist_case(api: Api) -> str:
    """Story 1 up to acceptance: a case in the Specialist Case Team with scw-bea as named caseworker."""
    case_id = api.open_case()
    api.command(case_id, "record_concern", concern(police_involved=True), CW)
    api.command(case_id, "decide_referral", {}, CW)
    api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)
    return case_id


def history(api: Api, case_id: str, actor: Any = SCW, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/cases/{case_id}/safeguarding-history", actor, purpose="case review", **params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]  # type: ignore[no-any-return]


def test_story_1_police_involved_referred_and_accepted_with_the_actor_from_the_token(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "record_concern", concern(police_involved=True), CW)
    referred = api.command(case_id, "decide_referral", {}, CW)
    assert referred["outcome"][0]["type"] == "ReferredToSpecialistTeam"
    assert "police involvement" in referred["outcome"][0]["why"]  # the criterion in words
    api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)

    state = api.get(f"/cases/{case_id}", SCW)
    assert state.status_code == 200
    assert state.json()["team"] == "specialist_case_team"
    assert state.json()["named_caseworker_id"] == SCW.id
    assert state.headers["ETag"] == '"4"'
    assignment = api.get(f"/cases/{case_id}/team-assignment", CW).json()
    assert (assignment["team"], assignment["named_caseworker_id"]) == ("specialist_case_team", SCW.id)
    rows = history(api, case_id)
    assert [r["event_type"] for r in rows] == [
        "ConcernRecorded",
        "ReferredToSpecialistTeam",
        "AcceptedBySpecialistTeam",
    ]
    assert [(r["actor_id"], r["actor_role"]) for r in rows] == [
        (CW.id, "caseworker"),
        (CW.id, "caseworker"),
        (SCW.id, "specialist_caseworker"),
    ]


def test_a_body_naming_an_actor_is_refused_and_nothing_is_appended(api: Api) -> None:
    case_id = api.open_case()
    for field in ("actor_id", "actor", "actor_role"):
        response = api.post(f"/cases/{case_id}/record-concern", {**concern(), field: "scw-bea"}, CW)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["field"] == f"body.{field}"
    assert api.get(f"/cases/{case_id}", CW).json()["version"] == 1


def test_story_4_three_part_test_not_met_says_which_part_and_keeps_the_concern(api: Api) -> None:
    case_id = api.open_case()
    concern_id = api.command(case_id, "record_concern", concern(kind="financial_control"), CW)["ids"]["concern_id"]
    api.command(
        case_id,
        "give_signposting",
        {"target": "affordability_hub", "resolved_concern": True, "concern_id": concern_id},
        CW,
    )
    decided = api.command(case_id, "decide_referral", {}, CW)
    assert decided["outcome"][0]["type"] == "ReferralNotMade"
    assert "not met" in decided["outcome"][0]["why"]
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    assert "ConcernRecorded" in [r["event_type"] for r in history(api, case_id, CW)]


def test_story_5_removal_refused_while_an_escalation_is_open_with_the_rules_explanation(api: Api) -> None:
    case_id = specialist_case(api)
    api.command(case_id, "raise_escalation", {"reason": "threat repeated", "to_actor_id": ACSSL.id}, SCW)
    api.command(
        case_id,
        "request_removal",
        {"advised_by_party_id": "pwc-1", "victim_survivor_advises_no_ongoing_abuse": True},
        SCW,
    )
    decided = api.command(case_id, "decide_removal", {"reviewer_doubt": False}, ACSSL)
    assert decided["outcome"][0]["type"] == "RemovalRefused"
    assert "escalation" in decided["outcome"][0]["why"]
    assert api.get(f"/cases/{case_id}", SCW).json()["team"] == "specialist_case_team"


def test_story_6_removal_approved_returns_the_case_and_keeps_its_history(api: Api) -> None:
    case_id = specialist_case(api)
    state = api.get(f"/cases/{case_id}", SCW).json()
    for concern_id in state["unresolved_concern_ids"]:
        api.command(case_id, "resolve_concern", {"concern_id": concern_id, "reason": "safe now"}, SCW)
    api.command(case_id, "end_police_involvement", {"reason": "no further police action"}, SCW)
    api.command(
        case_id,
        "assess_safety_risk",
        {"concerns_unresolved": False, "significant_threat": False, "reason": "no contact for months"},
        SCW,
    )
    api.command(
        case_id,
        "request_removal",
        {"advised_by_party_id": "pwc-1", "victim_survivor_advises_no_ongoing_abuse": True},
        SCW,
    )
    decided = api.command(
        case_id, "decide_removal", {"reviewer_doubt": False, "returned_to_caseworker_id": CW.id}, ACSSL
    )
    assert decided["outcome"][0]["type"] == "RemovalApproved"
    assert api.get(f"/cases/{case_id}", CW).json()["team"] == "mainstream"
    types = [r["event_type"] for r in history(api, case_id, AUD)]
    assert types[0] == "ConcernRecorded" and types[-1] == "RemovalApproved"


def test_story_7_one_enforcement_manager_a_second_is_refused_with_409_a_handover_is_not(api: Api) -> None:
    case_id = specialist_case(api)
    api.command(case_id, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, SCW)
    second = api.post(f"/cases/{case_id}/start-enforcement", {"enforcement_manager_id": EM2.id, "reason": "x"}, SCW)
    assert second.status_code == 409
    assert second.headers["content-type"] == PROBLEM
    assert second.json()["code"] not in ("", "rule_violation_unknown")
    assert second.json()["detail"]
    api.command(case_id, "hand_over_enforcement", {"to_manager_id": EM2.id, "reason": "leave"}, EM)
    state = api.get(f"/cases/{case_id}", EM2).json()
    assert (state["enforcement_manager_id"], state["named_caseworker_id"], state["team"]) == (
        EM2.id,
        SCW.id,
        "specialist_case_team",
    )
    loads = api.get("/caseloads", EM, by="enforcement_manager").json()["caseloads"]
    assert {"key": EM2.id, "open_cases": 1} in loads and all(x["key"] != EM.id for x in loads)


def test_story_8_homelessness_pathway_missed_target_escalates_and_acssl_resolves(api: Api) -> None:
    case_id = api.open_case(applicant_role="paying_parent")
    opened = api.command(
        case_id, "open_expedited_pathway", {"pathway_reason": "homelessness_risk", "reason": "losing home"}, CW
    )
    pathway_id = opened["ids"]["pathway_id"]
    queue = api.get("/expedited-queue", SVC).json()["entries"]
    assert [(q["case_id"], q["pathway_reason"]) for q in queue] == [(case_id, "homelessness_risk")]
    api.clock.advance(hours=49)
    missed = api.command(case_id, "record_deadline_missed", {"pathway_id": pathway_id}, SVC)
    assert [o["type"] for o in missed["outcome"]] == ["ExpeditedDeadlineMissed", "EscalationRaised"]
    escalation_id = missed["ids"]["escalation_id"]
    api.command(case_id, "resolve_escalation", {"escalation_id": escalation_id, "resolution": "DPT award"}, ACSSL)
    api.command(case_id, "raise_service_design_issue", {"summary": "DPT referrals slow"}, ACSSL)
    assert api.get("/expedited-queue", SVC).json()["entries"][0]["deadline_missed"] is True


def test_story_10_closed_case_refuses_commands_with_a_clear_reason(api: Api) -> None:
    case_id = specialist_case(api)
    api.command(case_id, "close_case", {"reason": "child left education"}, SCW)
    refused = api.post(f"/cases/{case_id}/start-enforcement", {"enforcement_manager_id": EM.id, "reason": "x"}, SCW)
    assert refused.status_code == 409
    assert refused.json()["code"] == "case_closed"
    assert "closed" in refused.json()["detail"]
    # A safety disclosure is never turned away: recorded on the closed case.
    assert api.post(f"/cases/{case_id}/record-concern", concern(), SCW).status_code == 200


def test_unknown_case_is_404_and_bad_input_is_422_field_by_field_never_500(api: Api) -> None:
    missing = api.get(f"/cases/{uuid.uuid4()}", CW)
    assert (missing.status_code, missing.json()["code"]) == (404, "case_not_found")
    assert api.post(f"/cases/{uuid.uuid4()}/record-concern", concern(), CW).status_code == 404
    bad = api.post("/cases", {"applicant_role": "neighbour", "service_type": "collect_and_pay"}, CW)
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"body.applicant_role", "body.receiving_parent_id", "body.paying_parent_id"} <= fields
    assert api.get("/cases/not-a-uuid", CW).status_code == 422
    broken = api.client.post(
        "/cases", content=b"{not json", headers={**api.headers(CW), "content-type": "application/json"}
    )
    assert broken.status_code == 422 and broken.headers["content-type"] == PROBLEM


def test_unauthenticated_and_forged_tokens_are_401(api: Api) -> None:
    case_id = api.open_case()
    assert api.get(f"/cases/{case_id}", None).status_code == 401
    forged = api.client.get(f"/cases/{case_id}", headers={"Authorization": "Bearer a.b.c"})
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")
    import jwt

    wrong_key = jwt.encode({"sub": "x", "role": "auditor", "aud": "casejourney", "exp": 9999999999}, "k" * 40)
    assert api.client.get(f"/cases/{case_id}", headers={"Authorization": f"Bearer {wrong_key}"}).status_code == 401
    none_alg = jwt.encode(
        {"sub": "x", "role": "auditor", "aud": "casejourney", "exp": 9999999999}, None, algorithm="none"
    )
    assert api.client.get(f"/cases/{case_id}", headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401


def test_an_api_key_is_held_as_a_digest_and_maps_to_its_actor(store_settings: Any, clock: Any) -> None:
    from infrastructure.http.auth import api_key_digest

    settings = http_settings(
        store_settings, http_api_keys={api_key_digest("k-intake-123"): "backend_service:svc-intake"}
    )
    asgi = create_app(settings, clock=clock)
    with TestClient(asgi) as client:
        body = {
            "applicant_role": "receiving_parent",
            "service_type": "direct_pay",
            "receiving_parent_id": "p",
            "paying_parent_id": "q",
        }
        opened = client.post("/cases", json=body, headers={"Authorization": "Bearer k-intake-123"})
        assert opened.status_code == 201, opened.text
        events = asgi.state.services.app.case_events(uuid.UUID(opened.json()["case_id"]))
        assert (events[0].actor_id, events[0].actor_role) == ("svc-intake", "backend_service")
        assert client.post("/cases", json=body, headers={"Authorization": "Bearer k-other"}).status_code == 401
    asgi.state.services.close()


def test_idempotency_key_retry_returns_the_first_result_and_appends_nothing(api: Api) -> None:
    case_id = api.open_case()
    first = api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"Idempotency-Key": "call-42"})
    again = api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"Idempotency-Key": "call-42"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {k: v for k, v in again.json().items() if k != "replayed"} == {
        k: v for k, v in first.json().items() if k != "replayed"
    }
    assert api.get(f"/cases/{case_id}", CW).json()["version"] == 2
    reused = api.post(
        f"/cases/{case_id}/record-concern", concern(kind="coercive_control"), CW, **{"Idempotency-Key": "call-42"}
    )
    assert (reused.status_code, reused.json()["code"]) == (409, "command_id_reused")
    assert api.get(f"/cases/{case_id}", CW).json()["version"] == 2


def test_opening_a_case_twice_with_one_key_opens_one_case(api: Api) -> None:
    body = {
        "applicant_role": "receiving_parent",
        "service_type": "collect_and_pay",
        "receiving_parent_id": "a",
        "paying_parent_id": "b",
    }
    key = str(uuid.uuid4())
    first = api.post("/cases", body, CW, **{"Idempotency-Key": key})
    again = api.post("/cases", body, CW, **{"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201)  # the same status as the first call
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["case_id"] == again.json()["case_id"]
    assert first.json()["command_id"] == key
    assert first.headers["Location"] == f"/cases/{first.json()['case_id']}"


def test_if_match_stale_version_is_409_with_the_current_version_and_appends_nothing(api: Api) -> None:
    case_id = api.open_case()
    tag = api.get(f"/cases/{case_id}", CW).headers["ETag"]
    assert api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"If-Match": tag}).status_code == 200
    stale = api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"If-Match": tag})
    assert stale.status_code == 409
    assert (stale.json()["code"], stale.json()["current_version"], stale.headers["ETag"]) == (
        "version_conflict",
        2,
        '"2"',
    )
    assert api.get(f"/cases/{case_id}", CW).json()["version"] == 2
    assert api.client.get(f"/cases/{case_id}", headers={**api.headers(CW), "If-None-Match": '"2"'}).status_code == 304
    assert api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"If-Match": "yesterday"}).status_code == 422


def test_every_safeguarding_read_is_recorded_with_its_purpose_and_visible_to_auditors(api: Api) -> None:
    case_id = specialist_case(api)
    assert api.get(f"/cases/{case_id}/safeguarding-history", SCW).status_code == 422  # no purpose: no read
    history(api, case_id, SCW)
    api.command(case_id, "raise_escalation", {"reason": "threat to life", "to_actor_id": ACSSL.id}, SCW)
    response = api.get(f"/cases/{case_id}/safeguarding-history", ACSSL, purpose="escalation review")
    assert response.json()["read_recorded"]["sequence"] == 2
    reads = api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]
    assert [(r["actor"]["id"], r["actor"]["role"], r["purpose"], r["basis"]) for r in reads] == [
        (SCW.id, "specialist_caseworker", "case review", "named_caseworker"),
        (ACSSL.id, "acs_senior_leader", "escalation review", "escalation_holder"),
    ]
    assert reads[0]["at"] == api.clock.now.isoformat()
    assert api.get(f"/cases/{case_id}/safeguarding-history/reads", SCW).status_code == 403


def test_a_caseworker_reads_a_history_only_as_the_named_caseworker(api: Api) -> None:
    case_id = api.open_case()
    refused = api.get(f"/cases/{case_id}/safeguarding-history", CW, purpose="curious")
    assert (refused.status_code, refused.json()["code"]) == (403, "no_legitimate_relationship")
    # Naming oneself to gain the relationship is refused, and appends nothing.
    self_named = api.post(f"/cases/{case_id}/assign-caseworker", {"caseworker_id": CW.id}, CW)
    assert (self_named.status_code, self_named.json()["code"]) == (409, "self_assignment")
    assert api.get(f"/cases/{case_id}", CW).json()["version"] == 1
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    assert api.get(f"/cases/{case_id}/safeguarding-history", CW, purpose="my case").status_code == 200
    reads = api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]
    assert [r["purpose"] for r in reads] == ["my case"]  # a refused read shows nothing and records nothing


def test_history_as_of_shows_what_was_recorded_by_then(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "record_concern", concern(), CW)
    then = api.clock.now.isoformat()
    api.clock.advance(hours=1)
    api.command(case_id, "record_concern", concern(kind="coercive_control"), CW)
    assert len(history(api, case_id, AUD)) == 2
    assert [r["reasons"]["kind"] for r in history(api, case_id, AUD, as_of=then)] == ["threatened_violence"]


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "alive"}
    api.open_case()
    ready = api.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})  # public: no store, user or host
    detailed = api.get("/readyz", OPS).json()
    assert detailed["status"] == "ready" and detailed["head"] >= 1 and "store" in detailed
    for actor in (CW, SVC, AUD):  # only an operator sees the details
        assert api.get("/readyz", actor).json() == {"status": "ready"}
    doc = api.client.get("/openapi.json").json()
    assert doc["paths"]["/cases/{case_id}/record-concern"]["post"]["summary"] == "Record a safeguarding concern"
