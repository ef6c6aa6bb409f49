"""Fixtures of the HTTP tests: the real ASGI app on each store, and a client that speaks as an actor."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from domain.values import Actor
from infrastructure.audit.chromium import find_chromium
from infrastructure.http import create_app
from infrastructure.http.auth import issue_token
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.runner import RunnerBesideTheService
from infrastructure.settings import Settings
from tests import builders
from tests.conftest import IN_CI, FakeClock, seed_test_roster

SECRET = "test-secret-of-at-least-thirty-two-bytes!"

# Short names of the shared actors (tests/builders.py), for request-heavy tests.
CW, SCW, EM, EM2 = (
    builders.CASEWORKER,
    builders.SPECIALIST,
    builders.ENFORCEMENT_MANAGER,
    builders.SECOND_ENFORCEMENT_MANAGER,
)
ACSSL, AUD, SVC, TL, OPS = builders.ACSSL, builders.AUDITOR, builders.SERVICE, builders.TEAM_LEADER, builders.OPERATOR
ONE_OF_EACH_ROLE = builders.ACTOR_FOR_ROLE


@dataclass
class Api:
    """The test client, with a bearer token per actor."""

    client: TestClient
    settings: Settings
    clock: FakeClock
    #: The last ``Log-Position`` a command answered. With ``reads_own_writes`` (a runner keeps the
    #: read models: the ``api_on_tables`` fixture) it is sent back as ``Min-Log-Position`` on each GET, as a
    #: client that reads its own writes does (the lists wait for the runner to pass it).
    position: int | None = None
    reads_own_writes: bool = False

    def headers(self, actor: Actor | None, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if actor is not None:
            headers["Authorization"] = f"Bearer {issue_token(self.settings, actor)}"
        return headers

    def post(self, path: str, body: dict[str, Any], actor: Actor | None, **headers: str) -> Any:
        response = self.client.post(path, json=body, headers=self.headers(actor, **headers))
        if "Log-Position" in response.headers:
            self.position = max(self.position or 0, int(response.headers["Log-Position"]))
        return response

    def get(self, path: str, actor: Actor | None, **params: Any) -> Any:
        since = {"Min-Log-Position": str(self.position)} if self.reads_own_writes and self.position else {}
        return self.client.get(path, params=params, headers=self.headers(actor, **since))

    def command(self, case_id: Any, action: str, body: dict[str, Any], actor: Actor, **headers: str) -> dict[str, Any]:
        """A command that must succeed: returns the response body."""
        response = self.post(f"/cases/{case_id}/{action.replace('_', '-')}", body, actor, **headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def open_case(self, actor: Actor = CW, **fields: Any) -> str:
        body = {
            "applicant_role": "receiving_parent",
            "service_type": "collect_and_pay",
            "receiving_parent_id": "pwc-1",
            "paying_parent_id": "nrp-1",
            **fields,
        }
        response = self.post("/cases", body, actor)
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])


#: A domestic-abuse concern about the receiving parent of ``Api.open_case``: she is then protected.
DA_CONCERN = {"kind": "coercive_control", "source": "customer_disclosure", "affected_party_id": "pwc-1"}


def open_protected_case(api: Api) -> str:
    """A case opened by the caseworker, with a domestic-abuse concern about its receiving parent."""
    case_id = api.open_case()
    api.command(case_id, "record_concern", DA_CONCERN, CW)
    return case_id


def http_settings(settings: Settings, **overrides: Any) -> Settings:
    """The API's settings for a test. The lists are folded from the log (``http_read_models="log"``)
    unless a test asks for the tables: those need a runner, and making the read models' tables for
    every test cost the suite minutes. The tables and reading your own writes have their own tests
    (``test_http_read_your_writes.py``, ``test_http_read_models.py``, ``test_http_workers.py``)."""
    return settings.model_copy(update={"http_jwt_secret": SecretStr(SECRET), "http_read_models": "log", **overrides})


@pytest.fixture
def api(store_settings: Settings, clock: FakeClock) -> Iterator[Api]:
    settings = http_settings(store_settings)
    asgi = create_app(settings, clock=clock)
    seed_test_roster(asgi.state.services.app)
    with TestClient(asgi) as client:
        yield Api(client, settings, clock)
    asgi.state.services.close()


@pytest.fixture
def api_on_tables(store_settings: Settings, clock: FakeClock) -> Iterator[Api]:
    """The API as ``serve`` runs it: lists from the read-model tables, a projection runner beside
    it, and a client that reads its own writes (``Min-Log-Position``)."""
    settings = http_settings(store_settings, http_read_models="tables")
    asgi = create_app(settings, clock=clock)
    seed_test_roster(asgi.state.services.app)
    follower = RunnerBesideTheService(ReadModels(asgi.state.services.app, settings), retry=0.2)
    follower.runner.poll_interval = 0.02
    follower.start()
    try:
        with TestClient(asgi) as client:
            yield Api(client, settings, clock, reads_own_writes=True)
    finally:
        follower.stop.set()
        follower.join(timeout=10)
        follower.runner.models.close()
        asgi.state.services.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(base: str, server: subprocess.Popen[Any], said: Callable[[], str] = lambda: "") -> None:
    """Until ``base`` answers ``/healthz`` (60 s at most); fails with what the server said if it stops."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None, said()
        assert time.monotonic() < deadline, said()
        time.sleep(0.2)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium: skipped without it, but never under CI=true."""
    binary = find_chromium()
    if binary is None:
        reason = "headless Chromium not installed (scripts/ensure_chromium.sh installs it with apt-get as root)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return binary
