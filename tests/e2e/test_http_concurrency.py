"""Concurrent clients on one case, through the real app: one winner per If-Match, nothing lost."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import CW, SCW, Api

CLIENTS = 8


def concern(n: int) -> dict[str, Any]:
    return {"kind": "coercive_control", "source": "customer_disclosure", "affected_party_id": "pwc-1", "note": f"#{n}"}


def all_at_once(work: Callable[[int], Any], n: int = CLIENTS) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def logged_command_ids(api: Api, case_id: str) -> Counter[str]:
    events = api.client.app.state.services.app.case_events(uuid.UUID(case_id))  # type: ignore[attr-defined]
    return Counter(str(e.command_id) for e in events)


def test_exactly_one_of_each_conflicting_if_match_group_wins(api: Api) -> None:
    case_id = api.open_case()
    acknowledged: list[str] = []
    for _ in range(4):
        tag = api.get(f"/cases/{case_id}", SCW).headers["ETag"]
        version = int(tag.strip('"'))
        responses = all_at_once(
            lambda i, tag=tag: api.post(
                f"/cases/{case_id}/record-concern",
                concern(i),
                CW,
                **{"If-Match": tag, "Idempotency-Key": str(uuid.uuid4())},
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * (CLIENTS - 1), [r.text for r in responses]
        for r in responses:
            if r.status_code == 409:
                assert (r.json()["code"], r.json()["current_version"]) == ("version_conflict", version + 1)
            else:
                acknowledged.append(r.json()["command_id"])
    logged = logged_command_ids(api, case_id)
    assert all(logged[c] == 1 for c in acknowledged)
    assert api.get(f"/cases/{case_id}", SCW).json()["version"] == 1 + len(acknowledged) == 5


def test_every_acknowledged_command_without_if_match_is_in_the_log_once(api: Api) -> None:
    case_id = api.open_case()

    def client(i: int) -> list[str]:
        acked = []
        for n in range(4):
            r = api.post(f"/cases/{case_id}/record-concern", concern(i * 10 + n), CW)
            assert r.status_code == 200, r.text
            acked.append(r.json()["command_id"])
        return acked

    acknowledged = [c for acked in all_at_once(client) for c in acked]
    logged = logged_command_ids(api, case_id)
    assert len(acknowledged) == CLIENTS * 4
    assert all(logged[c] == 1 for c in acknowledged)
    assert api.get(f"/cases/{case_id}", SCW).json()["version"] == 1 + CLIENTS * 4


def test_one_idempotency_key_sent_by_many_clients_at_once_appends_once(api: Api) -> None:
    case_id = api.open_case()
    key = str(uuid.uuid4())
    responses = all_at_once(
        lambda i: api.post(f"/cases/{case_id}/record-concern", concern(0), CW, **{"Idempotency-Key": key})
    )
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["version"] for r in responses} == {2}
    assert sum(not r.json()["replayed"] for r in responses) == 1
    assert logged_command_ids(api, case_id)[key] == 1
