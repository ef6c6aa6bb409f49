"""A verified token is kept until it expires (issue 16, item 2), and not a moment longer.

The second request of a client costs a look-up instead of a signature check; a kept token still
expires on time, and a token that differs by one character is checked afresh.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from infrastructure.http.auth import issue_token
from tests.e2e.conftest import CW, Api


def test_a_kept_token_expires_on_time_and_an_altered_one_is_checked_afresh(api: Api) -> None:
    # exp lands on the next whole second but one: accepted now, expired two seconds from now.
    soon = issue_token(api.settings, CW, ttl_seconds=1, now=datetime.now(UTC).replace(microsecond=0))
    bearer = {"Authorization": f"Bearer {soon}"}
    assert api.client.get("/caseloads", headers=bearer).status_code == 200
    assert api.client.get("/caseloads", headers=bearer).status_code == 200  # kept: a look-up
    kept = api.client.app.state.services.authenticator._verified  # type: ignore[attr-defined]
    assert soon in kept

    head, payload, signature = soon.split(".")
    altered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    refused = api.client.get("/caseloads", headers={"Authorization": f"Bearer {altered}"})
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token", refused.text

    time.sleep(max(0.0, kept[soon][1] - time.time()) + 0.05)  # past its exp
    expired = api.client.get("/caseloads", headers=bearer)
    assert expired.status_code == 401 and expired.json()["code"] == "token_expired", expired.text


def test_a_token_not_yet_valid_is_never_kept(api: Api) -> None:
    later = issue_token(api.settings, CW, now=datetime.now(UTC) + timedelta(hours=1))  # iat in the future
    answer = api.client.get("/caseloads", headers={"Authorization": f"Bearer {later}"})
    assert answer.status_code == 401, answer.text
    assert later not in api.client.app.state.services.authenticator._verified  # type: ignore[attr-defined]
