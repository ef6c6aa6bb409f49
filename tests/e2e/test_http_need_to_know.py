"""Issue 11's findings over HTTP, on both stores: need to know, break-glass, the roster, the edges.

Given a case (and the customers' own records of their contact details), when a caller in some role
with some relationship reads or acts, then what they receive, what is recorded, and that a refusal
appends nothing and says why with a stable code.
"""

from __future__ import annotations

from typing import Any

from domain.customer.commands import RecordCustomerDetails
from tests.e2e.conftest import ACSSL, AUD, CW, EM, EM2, SCW, SVC, TL, Api

SAFE_STREET = "1 Safe Street"
OTHER_ROAD = "9 Other Road"
REASON = "Customer rang in distress; the named caseworker is off sick today."


def concern(party: str = "pwc-1", **fields: Any) -> dict[str, Any]:
    return {"kind": "threatened_violence", "source": "customer_disclosure", "affected_party_id": party, **fields}


def with_details(api: Api) -> Any:
    app = api.client.app.state.services.app  # type: ignore[attr-defined]
    for party, address in (("pwc-1", SAFE_STREET), ("nrp-1", OTHER_ROAD)):
        app.record_customer_details(RecordCustomerDetails(party_id=party, address=address, phone="07000 000001"), SVC)
    return app


def specialist_case(api: Api) -> str:
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    api.command(case_id, "record_concern", concern(police_involved=True), CW)
    api.command(case_id, "decide_referral", {}, CW)
    api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)
    return case_id


def version_of(api: Api, case_id: str) -> int:
    return int(api.get(f"/cases/{case_id}", SVC).json()["version"])


def reads(api: Api, case_id: str) -> list[dict[str, Any]]:
    return api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]  # type: ignore[no-any-return]


def refused(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["detail"]


# ============================================================================ 1 and 2: contact details


def test_1_an_unrelated_caseworker_never_receives_a_protected_parents_details_and_reads_are_recorded(
    api: Api,
) -> None:
    with_details(api)
    case_id = specialist_case(api)  # cw-ada was the named caseworker; the team's scw-bea is now

    for outsider in (CW, EM, ACSSL, AUD, SVC, TL):
        response = api.get(f"/cases/{case_id}", outsider)
        assert SAFE_STREET not in response.text and "07000" not in response.text, outsider
        receiving = response.json()["parties"]["receiving_parent"]
        assert receiving["standing"] == "protected" and receiving["contact_details_withheld"] is True
    assert api.get(f"/cases/{case_id}", CW).json()["parties"]["receiving_parent"]["withheld_because"]

    named = api.get(f"/cases/{case_id}", SCW).json()["parties"]["receiving_parent"]
    assert (named["contact_details"]["address"], named["contact_details_basis"]) == (SAFE_STREET, "named_caseworker")
    recorded = [(r["actor"]["id"], r["what"], r["party_id"], r["basis"]) for r in reads(api, case_id)]
    assert recorded == [
        (SCW.id, "contact_details", "pwc-1", "named_caseworker"),
        (SCW.id, "contact_details", "nrp-1", "named_caseworker"),
    ]  # the withheld views recorded nothing: nothing was read


def test_1_an_acs_senior_leader_sees_them_while_she_holds_an_open_escalation_and_not_after(api: Api) -> None:
    with_details(api)
    case_id = specialist_case(api)
    escalation = api.command(case_id, "raise_escalation", {"reason": "threat to life", "to_actor_id": ACSSL.id}, SCW)

    assert SAFE_STREET in api.get(f"/cases/{case_id}", ACSSL).text
    api.command(
        case_id, "resolve_escalation", {"escalation_id": escalation["ids"]["escalation_id"], "resolution": "ok"}, ACSSL
    )
    assert SAFE_STREET not in api.get(f"/cases/{case_id}", ACSSL).text


def test_2_an_old_version_is_judged_on_todays_protection_never_on_the_old_one(api: Api) -> None:
    with_details(api)
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    api.command(case_id, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, CW)
    before = api.get(f"/cases/{case_id}", EM, version=1).json()["parties"]["paying_parent"]
    assert before["contact_details"]["address"] == OTHER_ROAD  # enforcement acts against the paying parent

    api.command(case_id, "record_concern", concern("nrp-1", kind="coercive_control"), CW)  # he is protected now

    old = api.get(f"/cases/{case_id}", EM, version=1)
    assert old.json()["version"] == 1 and old.headers["ETag"] == '"1"'
    assert old.json()["parties"]["paying_parent"]["standing"] == "protected"
    assert OTHER_ROAD not in old.text and "07000" not in old.text


def test_2_a_persons_marker_from_another_case_protects_her_address_beside_it(api: Api) -> None:
    with_details(api)
    first = api.open_case(paying_parent_id="nrp-0")
    api.command(first, "record_concern", concern("pwc-1"), CW)  # marks pwc-1 on her person
    second = api.open_case(paying_parent_id="nrp-1")  # her next case: nothing on it yet protects her
    api.command(second, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    api.command(second, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, CW)

    seen_by_manager = api.get(f"/cases/{second}", EM).json()["parties"]["receiving_parent"]

    assert seen_by_manager["safety_markers"]["domestic_abuse"]["case_id"] == first
    assert seen_by_manager["standing"] == "protected" and "contact_details" not in seen_by_manager
    assert (
        api.get(f"/cases/{second}", CW).json()["parties"]["receiving_parent"]["contact_details"]["address"]
        == SAFE_STREET
    )


# ============================================================================ break-glass


def test_break_glass_shows_the_details_records_the_read_and_raises_an_alert_someone_else_reviews(api: Api) -> None:
    with_details(api)
    case_id = specialist_case(api)

    response = api.client.get(f"/cases/{case_id}", headers=api.headers(CW, **{"Break-Glass-Reason": REASON}))

    receiving = response.json()["parties"]["receiving_parent"]
    assert (receiving["contact_details"]["address"], receiving["contact_details_basis"]) == (SAFE_STREET, "break_glass")
    assert [r["basis"] for r in reads(api, case_id)] == ["break_glass", "break_glass"]
    [alert] = api.get("/alerts/break-glass", ACSSL, open="true").json()["alerts"]
    assert (alert["case_id"], alert["actor"]["id"], alert["reason"], alert["read"], alert["review"]) == (
        case_id,
        CW.id,
        REASON,
        "contact_details",
        None,
    )
    assert api.get("/alerts/break-glass", CW).status_code == 403  # the reader does not see the alerts
    path = f"/alerts/break-glass/{alert['alert_id']}/review"
    refused(api.post(path, {"outcome": "justified", "note": " "}, ACSSL), 422, "invalid_input")
    reviewed = api.post(path, {"outcome": "justified", "note": "Confirmed with her team leader."}, ACSSL).json()
    assert reviewed["review"]["by"] == ACSSL.id and reviewed["review"]["outcome"] == "justified"
    refused(api.post(path, {"outcome": "not_justified", "note": "Again."}, AUD), 409, "alert_already_reviewed")
    assert api.get("/alerts/break-glass", AUD, open="true").json()["alerts"] == []


def test_break_glass_needs_a_reason_a_role_that_works_cases_and_a_place_on_the_roster(api: Api) -> None:
    with_details(api)
    case_id = specialist_case(api)
    zero_width = "\u200b\u200b\u200b".encode()  # as UTF-8 bytes in the header: invisible, so no reason
    for actor, reason in ((CW, " \t "), (CW, zero_width), (CW, "ok"), (EM, REASON), (AUD, REASON), (SVC, REASON)):
        headers: dict[str, Any] = {**api.headers(actor), "Break-Glass-Reason": reason}
        response = api.client.get(f"/cases/{case_id}", headers=headers)
        assert response.status_code == 200 and SAFE_STREET not in response.text, (actor, reason)
    assert api.get("/alerts/break-glass", AUD).json()["alerts"] == [] and reads(api, case_id) == []


def test_break_glass_reads_a_history_too_and_nobody_reviews_their_own(api: Api) -> None:
    case_id = specialist_case(api)
    no = api.get(f"/cases/{case_id}/safeguarding-history", ACSSL, purpose="curious")
    refused(no, 403, "no_legitimate_relationship")

    response = api.client.get(
        f"/cases/{case_id}/safeguarding-history",
        params={"purpose": "urgent call"},
        headers=api.headers(ACSSL, **{"Break-Glass-Reason": REASON}),
    )

    assert response.status_code == 200 and response.json()["read_recorded"]["basis"] == "break_glass"
    [alert] = api.get("/alerts/break-glass", AUD).json()["alerts"]
    assert alert["read"] == "safeguarding_history"
    own = api.post(f"/alerts/break-glass/{alert['alert_id']}/review", {"outcome": "justified", "note": "Mine."}, ACSSL)
    refused(own, 409, "own_alert")


# ============================================================================ 4: a blank purpose


def test_4_a_purpose_of_spaces_tabs_or_a_zero_width_space_is_refused_and_nothing_is_recorded(api: Api) -> None:
    case_id = specialist_case(api)
    for blank in (" " * 5, "\t\t\t", "\u200b\u200b\u200b", "ab", "ok\x1b[2J"):
        refused(api.get(f"/cases/{case_id}/safeguarding-history", SCW, purpose=blank), 422, "purpose_required")
    assert reads(api, case_id) == []


# ============================================================================ 5, 6, 7: protections lowered or moved


def test_5_an_unrelated_caseworker_cannot_lower_a_specialist_cases_protection(api: Api) -> None:
    case_id = specialist_case(api)
    concern_id = api.get(f"/cases/{case_id}", SCW).json()["unresolved_concern_ids"][0]
    before = version_of(api, case_id)
    for action, body in (
        ("resolve-concern", {"concern_id": concern_id, "reason": "sounds fine"}),
        ("end-police-involvement", {"reason": "police closed it"}),
        ("assess-safety-risk", {"concerns_unresolved": False, "significant_threat": False, "reason": "low risk"}),
        ("record-entry-in-error", {"corrected_version": 4, "correction": "referral in error"}),
    ):
        refused(api.post(f"/cases/{case_id}/{action}", body, CW), 403, "specialist_team_only")
    assert version_of(api, case_id) == before


def test_6_a_specialist_case_gets_only_a_member_of_the_team_as_its_named_caseworker(api: Api) -> None:
    case_id = specialist_case(api)
    refused(
        api.post(f"/cases/{case_id}/assign-caseworker", {"caseworker_id": "cw-bob", "reason": "handback"}, SCW),
        409,
        "not_a_current_member",
    )
    other = api.open_case(paying_parent_id="nrp-2")
    api.command(other, "record_concern", concern(police_involved=True), CW)
    api.command(other, "decide_referral", {}, CW)
    refused(
        api.post(f"/cases/{other}/accept-referral", {"specialist_caseworker_id": CW.id}, SCW),
        409,
        "not_a_current_member",
    )


def test_7_enforcement_is_its_managers_or_a_team_leaders_recorded_override(api: Api) -> None:
    case_id = specialist_case(api)
    api.command(case_id, "start_enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, SCW)
    refused(api.post(f"/cases/{case_id}/end-enforcement", {"reason": "tidy"}, EM2), 403, "not_the_enforcement_manager")
    refused(
        api.post(f"/cases/{case_id}/hand-over-enforcement", {"to_manager_id": EM2.id, "reason": "mine"}, EM2),
        403,
        "not_the_enforcement_manager",
    )
    handover = {"to_manager_id": EM2.id, "reason": "sick leave"}
    refused(api.post(f"/cases/{case_id}/hand-over-enforcement", handover, TL), 403, "override_reason_required")

    done = api.command(case_id, "hand_over_enforcement", {**handover, "override_reason": "em-cal off for months"}, TL)

    assert [o["type"] for o in done["outcome"]] == ["EnforcementManagerHandedOver"]
    assert api.get(f"/cases/{case_id}", SVC).json()["enforcement_manager_id"] == EM2.id


# ============================================================================ 8 and 10


def test_8_a_direct_pay_case_accepted_into_the_team_moves_to_collect_and_pay(api: Api) -> None:
    case_id = api.open_case(service_type="direct_pay")
    api.command(case_id, "record_concern", concern(police_involved=True), CW)
    api.command(case_id, "decide_referral", {"discretionary": True, "reason": "police called"}, CW)

    accepted = api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)

    assert [o["type"] for o in accepted["outcome"]] == ["ServiceTypeChanged", "AcceptedBySpecialistTeam"]
    assert api.get(f"/cases/{case_id}", SVC).json()["service_type"] == "collect_and_pay"


def test_10_no_decision_not_to_refer_on_a_judgement_the_concerns_have_moved_past(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "record_concern", concern(kind="financial_control"), CW)
    api.command(
        case_id, "assess_safety_risk", {"concerns_unresolved": False, "significant_threat": False, "reason": "ok"}, CW
    )
    api.command(case_id, "record_concern", concern(), CW)  # a threat disclosed after the judgement
    before = version_of(api, case_id)

    refused(api.post(f"/cases/{case_id}/decide-referral", {}, CW), 409, "fresh_assessment_required")
    assert version_of(api, case_id) == before


# ============================================================================ 11: the edges


def test_11_an_absurd_business_time_is_refused_before_anything_is_stored(api: Api) -> None:
    case_id = api.open_case()
    for when, code in (
        ("0001-01-01T00:00:00+14:00", "occurred_at_too_early"),
        ("9999-12-31T23:59:59-14:00", "occurred_at_in_future"),
        ("2024-01-01T00:00:00+00:00", "occurred_at_backdated_too_far"),
    ):
        refused(api.post(f"/cases/{case_id}/record-concern", concern(occurred_at=when), CW), 422, code)
    assert version_of(api, case_id) == 1


def test_11_a_body_over_the_limit_is_refused_unread(api: Api) -> None:
    huge = b'{"applicant_role": "' + b"x" * (1024 * 1024) + b'"}'
    for headers in ({}, {"Transfer-Encoding": "chunked"}):
        response = api.client.post(
            "/cases",
            content=huge if not headers else iter([huge[:1000], huge[1000:]]),
            headers=api.headers(CW, **headers),
        )
        refused(response, 413, "body_too_large")
    assert api.post("/cases", {"applicant_role": "receiving_parent"}, CW).status_code == 422  # small bodies still read


def test_11_an_idempotency_key_is_the_senders_alone(api: Api) -> None:
    case_id = api.open_case()
    key = "5b0e3c1e-7f5d-4c8e-9a3b-2d6f1e8c4a10"
    first = api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"Idempotency-Key": key})
    assert first.status_code == 200

    other = api.post(f"/cases/{case_id}/record-concern", concern(), SCW, **{"Idempotency-Key": key})

    refused(other, 409, "command_id_reused")
    assert "outcome" not in other.json() and "concern_id" not in other.text
    assert (
        api.post(f"/cases/{case_id}/record-concern", concern(), CW, **{"Idempotency-Key": key}).headers[
            "Idempotent-Replayed"
        ]
        == "true"
    )


# ============================================================================ the roster over HTTP


def test_a_team_leader_keeps_the_roster_and_the_rules_read_it_at_once(api: Api) -> None:
    case_id = api.open_case()
    refused(
        api.post(f"/cases/{case_id}/assign-caseworker", {"caseworker_id": "cw-new"}, TL), 409, "not_a_current_member"
    )
    assert (
        api.post("/staff/cw-new/join", {"team": "mainstream_caseworking", "reason": "Started."}, CW).status_code == 403
    )

    joined = api.post("/staff/cw-new/join", {"team": "mainstream_caseworking", "reason": "Started."}, TL)
    again = api.post(
        "/staff/cw-new/join", {"team": "mainstream_caseworking", "reason": "Started."}, TL, **{"Idempotency-Key": "j1"}
    )

    assert joined.status_code == 200 and [a["type"] for a in joined.json()["appended"]] == ["MemberJoined"]
    refused(again, 409, "already_a_member")
    assert api.command(case_id, "assign_caseworker", {"caseworker_id": "cw-new"}, TL)["version"] == 2
    roster = api.get("/staff", AUD, team="mainstream_caseworking").json()
    assert "cw-new" in [m["staff_id"] for m in roster["members"]]
    assert api.get("/staff", CW).status_code == 403
    refused(api.post("/staff/tl-hana/join", {"team": "audit", "reason": "me"}, TL), 409, "own_membership")
    api.post("/staff/cw-new/leave", {"team": "mainstream_caseworking", "reason": "Left."}, TL)
    assert "contact_details" not in api.get(f"/cases/{case_id}", CW).json()["parties"]["receiving_parent"]
