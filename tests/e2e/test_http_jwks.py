"""A real identity provider's tokens (issue 16, item 5): RS256 and ES256 JWTs verified against a
JWKS the test makes (a file, and a URL served by a real HTTP server), issuer, audience and expiry
checked, the provider's role names mapped to ours. Every bad token is a 401 with its code."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from infrastructure.http import create_app
from infrastructure.settings import Settings
from tests.conftest import seed_test_roster, sqlite_settings

ISSUER = "https://idp.example.gov.uk/realms/cms"
ROLES = {"cms-caseworker": "caseworker", "cms-auditor": "auditor"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),  # not in the JWKS
    }


def jwks(keys: dict[str, Any]) -> str:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["rsa"].public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ec"].public_key()))
    return json.dumps(
        {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
            ]
        }
    )


def token(key: Any, kid: str, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "cw-1", "role": "cms-caseworker", "aud": "casejourney", "iss": ISSUER, "exp": now + 300} | claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})


def _client(settings: Settings) -> Iterator[TestClient]:
    asgi = create_app(settings)
    seed_test_roster(asgi.state.services.app)
    with TestClient(asgi) as client:
        yield client
    asgi.state.services.close()


@pytest.fixture
def from_file(tmp_path: Path, keys: dict[str, Any]) -> Iterator[TestClient]:
    (tmp_path / "jwks.json").write_text(jwks(keys))
    settings = sqlite_settings(
        tmp_path, http_jwks=str(tmp_path / "jwks.json"), http_jwt_issuer=ISSUER, http_jwt_roles=ROLES
    )
    yield from _client(settings)


def who(client: TestClient, bearer: str) -> Any:
    return client.get("/caseloads", headers={"Authorization": f"Bearer {bearer}"})


def test_good_tokens_of_either_algorithm_name_the_actor_in_our_role(from_file: TestClient, keys) -> None:
    for good in (token(keys["rsa"], "rsa-1"), token(keys["ec"], "ec-1", "ES256")):
        answer = who(from_file, good)
        assert answer.status_code == 200, answer.text
    # The provider's role name is mapped: an auditor's token reads an auditor's route.
    auditor = token(keys["rsa"], "rsa-1", sub="aud-1", role="cms-auditor")
    assert from_file.get("/alerts/break-glass", headers={"Authorization": f"Bearer {auditor}"}).status_code == 200
    listed = token(keys["rsa"], "rsa-1", sub="aud-1", role=["offline_access", "cms-auditor"])
    assert from_file.get("/alerts/break-glass", headers={"Authorization": f"Bearer {listed}"}).status_code == 200


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "token_expired"),
        ("wrong issuer", "invalid_token"),
        ("wrong audience", "invalid_token"),
        ("no expiry", "invalid_token"),
        ("unknown key id", "invalid_token"),
        ("signed by a key not in the set", "invalid_token"),
        ("alg none", "invalid_token"),
        ("HS256 made with the public key", "invalid_token"),
        ("ES256 header on the RSA key", "invalid_token"),
        ("a role not mapped", "invalid_token"),
    ],
)
def test_every_bad_token_is_refused_with_its_code(from_file: TestClient, keys, case: str, code: str) -> None:
    public_pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    bad = {
        "expired": lambda: token(keys["rsa"], "rsa-1", exp=int(time.time()) - 60),
        "wrong issuer": lambda: token(keys["rsa"], "rsa-1", iss="https://attacker.example"),
        "wrong audience": lambda: token(keys["rsa"], "rsa-1", aud="another-service"),
        "no expiry": lambda: token(keys["rsa"], "rsa-1", exp=None),
        "unknown key id": lambda: token(keys["rsa"], "rsa-9"),
        "signed by a key not in the set": lambda: token(keys["other"], "rsa-1"),
        "alg none": lambda: jwt.encode(
            {"sub": "cw-1", "role": "cms-caseworker", "aud": "casejourney", "iss": ISSUER, "exp": 2**31},
            None,
            algorithm="none",
            headers={"kid": "rsa-1"},
        ),
        "HS256 made with the public key": lambda: _hs256_with(public_pem),
        "ES256 header on the RSA key": lambda: _relabelled(token(keys["rsa"], "rsa-1"), "ES256"),
        "a role not mapped": lambda: token(keys["rsa"], "rsa-1", role="cms-superuser"),
    }[case]()
    answer = who(from_file, bad)
    assert answer.status_code == 401, (case, answer.text)
    assert answer.json()["code"] == code, (case, answer.json())


def _hs256_with(secret: str) -> str:
    """The classic confusion: an HS256 token whose secret is the provider's public key (PyJWT refuses
    to make one with a PEM as secret, so it is put together by hand)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    claims = {"sub": "cw-1", "role": "cms-caseworker", "aud": "casejourney", "iss": ISSUER, "exp": 2**31}
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def _relabelled(good: str, alg: str) -> str:
    import base64

    head, body, signature = good.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    made = base64.urlsafe_b64encode(json.dumps({**header, "alg": alg}).encode()).rstrip(b"=").decode()
    return f"{made}.{body}.{signature}"


def test_the_keys_from_a_url_fetched_once_and_kept(tmp_path: Path, keys) -> None:
    served = tmp_path / "idp"
    served.mkdir()
    (served / "jwks.json").write_text(jwks(keys))
    fetched: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            fetched.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        settings = sqlite_settings(tmp_path, http_jwks=url, http_jwt_issuer=ISSUER, http_jwt_roles=ROLES)
        for client in _client(settings):
            for _ in range(3):
                assert who(client, token(keys["ec"], "ec-1", "ES256")).status_code == 200
            assert who(client, token(keys["rsa"], "rsa-1")).status_code == 200
    finally:
        server.shutdown()
    assert fetched == ["/jwks.json"]  # fetched once, then kept


def test_a_provider_needs_its_issuer_named_and_roles_that_are_ours(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CASEJOURNEY_HTTP_JWT_ISSUER"):
        sqlite_settings(tmp_path, http_jwks=str(tmp_path / "jwks.json"))
    with pytest.raises(ValidationError, match="not roles of this service"):
        sqlite_settings(tmp_path, http_jwks="x", http_jwt_issuer=ISSUER, http_jwt_roles={"cms-admin": "superuser"})
