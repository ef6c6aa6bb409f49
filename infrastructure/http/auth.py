"""Who is calling: bearer tokens mapped to an actor (id and role).

Two kinds of bearer token, both in ``Authorization: Bearer ...``:

- a JWT signed with HS256 under ``http_jwt_secret`` (claims: ``sub`` = actor id, ``role``, ``aud``,
  ``exp``, ``iat``); ``casejourney token`` issues one;
- an API key for a backend service: the settings hold only its SHA-256 digest, mapped to
  ``role:actor_id``, so a leaked settings file does not leak a usable key.

The actor recorded on every event comes from here and nowhere else: command bodies that carry an
actor field are refused as invalid input.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from domain.values import Actor, Role
from infrastructure.files import write_private
from infrastructure.http.problems import Problem
from infrastructure.settings import Settings

DEV_SECRET_FILE = "http-dev-jwt-secret"


class NoSecretConfigured(RuntimeError):
    """Raised when no JWT secret is configured and no development secret may be used."""


def jwt_secret(settings: Settings, *, create: bool = True) -> str:
    """The configured secret; on SQLite without one, a development secret kept beside the store.

    A development secret is generated once (random, file mode 0600) so that ``casejourney token``
    and ``casejourney serve`` agree without configuration. PostgreSQL (a shared deployment) must be
    given a secret.
    """
    if settings.http_jwt_secret is not None:
        return settings.http_jwt_secret.get_secret_value()
    if settings.store != "sqlite":
        raise NoSecretConfigured("set CASEJOURNEY_HTTP_JWT_SECRET: a shared store needs a configured JWT secret")
    path = dev_secret_path(settings)
    if not path.exists():
        if not create:
            raise NoSecretConfigured(f"no JWT secret configured and no development secret at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def dev_secret_path(settings: Settings) -> Path:
    return settings.sqlite_path.parent / DEV_SECRET_FILE


def issue_token(
    settings: Settings, actor: Actor, *, ttl_seconds: int | None = None, now: datetime | None = None
) -> str:
    now = now or datetime.now(UTC)
    ttl = timedelta(seconds=ttl_seconds or settings.http_token_ttl_seconds)
    claims = {
        "sub": actor.id,
        "role": str(actor.role),
        "aud": settings.http_jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, jwt_secret(settings), algorithm="HS256")


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthenticated(detail: str, code: str = "unauthenticated") -> Problem:
    return Problem(401, code, "Not authenticated", detail, headers={"WWW-Authenticate": 'Bearer realm="casejourney"'})


def _actor(actor_id: object, role: object) -> Actor:
    try:
        return Actor(str(actor_id).strip(), Role(str(role)))
    except ValueError:
        raise _unauthenticated("The credential names no valid actor and role.", "invalid_token") from None


class Authenticator:
    """Turns an ``Authorization`` header into an actor, or a 401 problem."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret: str | None
        try:
            self._secret = jwt_secret(settings)
        except NoSecretConfigured:
            self._secret = None  # API keys only
        self._api_keys = dict(settings.http_api_keys)
        if self._secret is None and not self._api_keys:
            raise NoSecretConfigured("no JWT secret and no API keys configured: nobody could call the API")

    def actor(self, authorization: str | None) -> Actor:
        if not authorization:
            raise _unauthenticated("Send a bearer token: Authorization: Bearer <token>.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated("Only bearer tokens are accepted: Authorization: Bearer <token>.")
        if token.count(".") == 2:
            return self._from_jwt(token)
        return self._from_api_key(token)

    def _from_jwt(self, token: str) -> Actor:
        if self._secret is None:
            raise _unauthenticated("JWTs are not accepted by this service; use an API key.", "invalid_token")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],  # never "none", never the token's own choice
                audience=self._settings.http_jwt_audience,
                options={"require": ["exp", "sub", "role", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("The token has expired.", "token_expired") from None
        except jwt.PyJWTError as exc:
            raise _unauthenticated(f"The token is not valid: {exc}.", "invalid_token") from None
        return _actor(claims["sub"], claims["role"])

    def _from_api_key(self, key: str) -> Actor:
        holder = self._api_keys.get(api_key_digest(key))
        if holder is None:
            raise _unauthenticated("Unknown API key.", "invalid_token")
        role, _, actor_id = holder.partition(":")
        return _actor(actor_id, role)
