"""GET /cases/{id}/timeline.html: auditors only, a purpose required, the read recorded first."""

from __future__ import annotations

from domain.values import Role
from infrastructure.http import authz
from tests.e2e.conftest import AUD, CW, ONE_OF_EACH_ROLE, SCW, TL, Api


def test_auditors_get_the_timeline_page_and_their_read_is_recorded(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    api.command(
        case_id,
        "record_concern",
        {
            "kind": "threatened_violence",
            "source": "police",
            "affected_party_id": "pwc-1",
            "police_involved": True,
            "note": "<i>police called</i>",
        },
        CW,
    )
    api.command(case_id, "decide_referral", {}, CW)

    response = api.get(f"/cases/{case_id}/timeline.html", AUD, purpose="independent case examiner review")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert f"Safeguarding journey of case {case_id}" in page
    assert "police involvement" in page and "policy v1" in page
    assert "&lt;i&gt;police called&lt;/i&gt;" in page and "<i>police" not in page

    reads = api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]
    assert [(r["actor"]["id"], r["purpose"]) for r in reads] == [(AUD.id, "independent case examiner review")]


def test_only_auditors_may_read_the_timeline_and_a_purpose_is_required(api: Api) -> None:
    assert authz.READ_PERMISSIONS["get_case_timeline"] == {Role.AUDITOR}
    case_id = api.open_case()
    for role, actor in ONE_OF_EACH_ROLE.items():
        status = api.get(f"/cases/{case_id}/timeline.html", actor, purpose="looking").status_code
        assert status == (200 if role is Role.AUDITOR else 403), role
    assert api.get(f"/cases/{case_id}/timeline.html", AUD).status_code == 422  # no purpose, no read
    assert api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"][0]["purpose"] == "looking"
    assert len(api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]) == 1
    unknown = api.get("/cases/00000000-0000-0000-0000-000000000001/timeline.html", AUD, purpose="looking")
    assert unknown.status_code == 404
    assert api.get(f"/cases/{case_id}/timeline.html", None, purpose="looking").status_code == 401
    assert SCW  # the specialist is refused above, like every role but the auditor
