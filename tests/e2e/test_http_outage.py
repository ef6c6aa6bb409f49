"""The database goes away mid-service: 503 problems, nothing half-written, and a retry lands once.

The outage is real: the app talks to PostgreSQL through a TCP proxy that the test closes and
reopens, so every connection is cut the way a network failure cuts it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from infrastructure.http import create_app
from tests.conftest import POSTGRES_URL, postgres_settings
from tests.e2e.conftest import CW, SCW, Api, http_settings

pytestmark = pytest.mark.postgres


class Proxy:
    """Forwards 127.0.0.1:<port> to the PostgreSQL server until stopped."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self._sockets.clear()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    from urllib.parse import urlparse

    url = urlparse(POSTGRES_URL)
    p = Proxy((url.hostname or "127.0.0.1", url.port or 5432))
    p.start()
    yield p
    p.stop()


def test_an_unreachable_database_is_503_and_a_retry_after_it_returns_appends_once(
    pg_schema: str, proxy: Proxy, clock: object
) -> None:
    url = POSTGRES_URL.replace(f":{POSTGRES_URL.rsplit(':', 1)[1].split('/')[0]}/", f":{proxy.port}/")
    settings = http_settings(postgres_settings(pg_schema, postgres_connect_timeout=1), postgres_url=url)
    asgi = create_app(settings, clock=clock)  # type: ignore[arg-type]
    with TestClient(asgi) as client:
        api = Api(client, settings, clock)  # type: ignore[arg-type]
        case_id = api.open_case()
        body = {"kind": "physical_violence", "source": "police", "affected_party_id": "pwc-1"}
        key = str(uuid.uuid4())

        proxy.stop()
        down = api.post(f"/cases/{case_id}/record-concern", body, CW, **{"Idempotency-Key": key})
        assert down.status_code == 503, down.text
        assert (down.json()["code"], down.headers["Retry-After"]) == ("store_unavailable", "5")
        assert "Traceback" not in down.text
        assert client.get("/readyz").status_code == 503

        proxy.start()
        retried = api.post(f"/cases/{case_id}/record-concern", body, CW, **{"Idempotency-Key": key})
        assert retried.status_code == 200, retried.text
        assert retried.json()["version"] == 2
        assert api.get(f"/cases/{case_id}", SCW).json()["version"] == 2
        assert client.get("/readyz").status_code == 200
    asgi.state.services.close()
