"""Who is calling: bearer tokens mapped to an actor (id and role).

Two kinds of bearer token, both in ``Authorization: Bearer ...``:

- a JWT signed with HS256 under ``http_jwt_secret`` (claims: ``sub`` = actor id, ``role``, ``aud``,
  ``exp``, ``iat``); ``casejourney token`` issues one;
- an API key for a backend service: the settings hold only its SHA-256 digest, mapped to
  ``role:actor_id``, so a leaked settings file does not leak a usable key;
- a JWT of an identity provider, signed RS256 or ES256 by a key of its JSON Web Key Set
  (``http_jwks``: a URL, fetched and cached, or a file), with its issuer (``http_jwt_issuer``),
  audience and expiry checked, and its role claim (``http_jwt_role_claim``) mapped to one of ours
  by ``http_jwt_roles``. The algorithm is taken from the key the token's ``kid`` names, never from
  the token alone: ``alg: none``, and an HS256 token made with a public key, are refused.

The actor recorded on every event comes from here and nowhere else: command bodies that carry an
actor field are refused as invalid input.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from domain.values import Actor, Role
from infrastructure.files import write_private
from infrastructure.http.problems import Problem
from infrastructure.settings import Settings

DEV_SECRET_FILE = "http-dev-jwt-secret"

#: How many verified tokens a process keeps (each until it expires); the oldest go first.
VERIFIED_TOKENS_KEPT = 4096


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


#: What an identity provider may sign with: asymmetric only, so holding the public keys is never enough.
PROVIDER_ALGORITHMS = ("RS256", "ES256")


class IdentityProviderKeys:
    """The identity provider's public keys by ``kid``: from a URL (``PyJWKClient``: fetched, kept for
    ``http_jwks_cache_seconds``, fetched again for a ``kid`` it does not know) or from a file (read
    again when it changes, for a key rotated in)."""

    def __init__(self, settings: Settings) -> None:
        source = settings.http_jwks or ""
        self._client: jwt.PyJWKClient | None = None
        self._file: Path | None = None
        if source.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(source, cache_keys=True, lifespan=settings.http_jwks_cache_seconds)
        else:
            self._file = Path(source).expanduser()
            self._keys: dict[str, jwt.PyJWK] = {}
            self._seen: float | None = None
            self._load()  # a missing or broken file stops the service at start, not at the first call

    def _load(self) -> None:
        assert self._file is not None
        stamp = self._file.stat().st_mtime
        if stamp == self._seen:
            return
        keys = jwt.PyJWKSet.from_json(self._file.read_text(encoding="utf-8")).keys
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._seen = stamp

    def key(self, kid: str) -> jwt.PyJWK:
        if self._client is not None:
            return self._client.get_signing_key(kid)
        if kid not in self._keys:
            self._load()
        try:
            return self._keys[kid]
        except KeyError:
            raise jwt.InvalidKeyError(f"the identity provider has no key {kid!r}") from None


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
        # Tokens verified already, until they expire: a verified signature holds until then, so a
        # client's next request costs a dictionary look-up, not an HMAC or RSA check (issue 16, item 2).
        self._verified: dict[str, tuple[Actor, float]] = {}
        self._verified_lock = threading.Lock()
        self._provider = IdentityProviderKeys(settings) if settings.http_jwks else None
        if self._secret is None and not self._api_keys and self._provider is None:
            raise NoSecretConfigured("no JWT secret and no API keys configured: nobody could call the API")

    def actor(self, authorization: str | None) -> Actor:
        if not authorization:
            raise _unauthenticated("Send a bearer token: Authorization: Bearer <token>.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated("Only bearer tokens are accepted: Authorization: Bearer <token>.")
        if token.count(".") == 2:
            now = time.time()
            with self._verified_lock:
                hit = self._verified.get(token)
            if hit is not None and now < hit[1]:
                return hit[0]
            actor, until = self._from_jwt(token)
            with self._verified_lock:
                self._verified[token] = (actor, until)
                while len(self._verified) > VERIFIED_TOKENS_KEPT:
                    self._verified.pop(next(iter(self._verified)))  # the oldest first
            return actor
        return self._from_api_key(token)

    def _from_jwt(self, token: str) -> tuple[Actor, float]:
        """The token's actor once its signature and claims are verified, and until when that holds:
        its expiry (and, for a provider's token, no longer than its keys are kept)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthenticated(f"The token is not valid: {exc}.", "invalid_token") from None
        if header.get("alg") in PROVIDER_ALGORITHMS and self._provider is not None:
            return self._from_provider(token, header)
        if header.get("alg") != "HS256":
            accepted = ", ".join(["HS256", *(PROVIDER_ALGORITHMS if self._provider else ())])
            raise _unauthenticated(
                f"The token's algorithm {header.get('alg')!r} is not accepted here ({accepted}).", "invalid_token"
            )
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
        return _actor(claims["sub"], claims["role"]), float(claims["exp"])

    def _from_provider(self, token: str, header: dict[str, object]) -> tuple[Actor, float]:
        assert self._provider is not None
        settings = self._settings
        try:
            key = self._provider.key(str(header.get("kid") or ""))
            if key.algorithm_name != header.get("alg"):  # the key's algorithm, never the token's word
                raise jwt.InvalidAlgorithmError(f"key {key.key_id!r} signs with {key.algorithm_name}")
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(header["alg"])],
                audience=settings.http_jwt_audience,
                issuer=settings.http_jwt_issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("The token has expired.", "token_expired") from None
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise _unauthenticated(f"The token is not valid: {exc}.", "invalid_token") from None
        until = min(float(claims["exp"]), time.time() + settings.http_jwks_cache_seconds)
        said = claims.get(settings.http_jwt_role_claim)
        if isinstance(said, list):  # a provider's "roles": the first that maps to one of ours
            said = next((r for r in said if str(r) in settings.http_jwt_roles), said[0] if said else None)
        if not settings.http_jwt_roles:
            return _actor(claims["sub"], said), until  # the provider's role names are ours
        if str(said) not in settings.http_jwt_roles:
            raise _unauthenticated(
                f"The token's {settings.http_jwt_role_claim!r} ({said!r}) maps to no role of this service.",
                "invalid_token",
            )
        return _actor(claims["sub"], settings.http_jwt_roles[str(said)]), until

    def _from_api_key(self, key: str) -> Actor:
        holder = self._api_keys.get(api_key_digest(key))
        if holder is None:
            raise _unauthenticated("Unknown API key.", "invalid_token")
        role, _, actor_id = holder.partition(":")
        return _actor(actor_id, role)
