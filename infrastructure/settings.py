"""One typed settings class, built once at start-up and passed in; nothing reads the environment later.

Values come from arguments, then ``CASEJOURNEY_*`` environment variables, then defaults. The
embedded SQLite store needs no configuration at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.rules.business_time import SERVICE_BEGAN, BusinessTimeBounds
from domain.values import PathwayReason, Role
from infrastructure.eventstore.crypto import Keyring
from infrastructure.files import create_private_file, sqlite_database_name

#: The seeds set no target times (DOMAIN.md): these defaults are a choice, written down here.
DEFAULT_PATHWAY_TARGET_HOURS: dict[PathwayReason, float] = {
    PathwayReason.SAFEGUARDING: 24.0,
    PathwayReason.HOMELESSNESS_RISK: 48.0,
    PathwayReason.SIGNIFICANT_FINANCIAL_HARDSHIP: 120.0,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEJOURNEY_", extra="forbid", frozen=True)

    store: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path = Field(
        default=Path("var/casejourney.sqlite"),
        description="Made by the first write (demo, serve, a staff change); resolved against the working folder.",
    )

    postgres_url: str | None = Field(default=None, description="postgresql://user:password@host:port/dbname")
    postgres_read_url: str | None = Field(
        default=None,
        description="Where read commands (history, replay, verify, export, projections status) read: a standby or a"
        " reader role; recorded reads are still written through postgres_url. Unset: postgres_url.",
    )
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_dbname: str | None = Field(
        default=None, description="Required on PostgreSQL unless the URL names the database (no default)."
    )
    postgres_user: str = "postgres"
    postgres_password: str = Field(
        default="", description="Empty: libpq's own PGPASSFILE / ~/.pgpass, or postgres_password_file."
    )
    postgres_password_file: Path | None = Field(
        default=None, description="A file holding the password (a mounted secret); its first line is used."
    )
    postgres_schema: str = Field(default="", description="Schema of the event tables; empty means public.")
    postgres_pool_size: int = Field(default=4, ge=1)
    postgres_connect_timeout: int = Field(default=5, ge=1)

    policy_dir: Path | None = Field(
        default=None, description="Folder of eligibility policy files (*.toml); default: the shipped policies."
    )
    cipher_keys: SecretStr | None = Field(
        default=None,
        description="Payload keyring 'id:base64key,...' (AES-256, current first); unset: the key file of key_dir.",
    )
    wrapping_keys: SecretStr | None = Field(
        default=None, description="Keyring wrapping the per-person keys; unset: the payload keyring wraps them."
    )
    key_dir: Path | None = Field(
        default=None,
        description="Folder of keyring.json, made on first use when no keyring is set; default: keys/ beside the"
        " SQLite file (var/keys).",
    )
    payload_encryption: bool = Field(
        default=True,
        description="Off only to open a store written in clear before encryption was the default.",
    )
    digest_public_key: str | None = Field(
        default=None, description="Trusted Ed25519 public key of older JSON digests (`verify --since`)."
    )
    checkpoint_origin: str = Field(
        default="casejourney.local/log",
        pattern=r"^[^\s+]+$",
        description="The log's name in its checkpoints (and its signing key's name): unique per deployment.",
    )
    checkpoint_signing_key: SecretStr | None = Field(
        default=None,
        description="The checkpoint signer key (PRIVATE+KEY+name+hash+key); unset: made in the key folder.",
    )
    checkpoint_verifier_key: str | None = Field(
        default=None,
        description="The verifier key (name+hash+key) checkpoints and bundles are checked against; unset: the"
        " signer's own (the key folder's or CASEJOURNEY_CHECKPOINT_SIGNING_KEY's).",
    )
    checkpoint_every: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between the checkpoints `serve` signs by itself (0: only `casejourney checkpoint`).",
    )
    aggregate_cache_size: int = Field(default=10_000, ge=0, description="Cases kept in memory; 0 turns it off.")
    pathway_target_hours: dict[PathwayReason, float] = Field(default_factory=lambda: dict(DEFAULT_PATHWAY_TARGET_HOURS))
    deadline_escalation_actor: str | None = Field(
        default=None,
        description="The ACS senior leader a missed target goes to (a current member); unset: their route.",
    )
    clock_skew_tolerance_seconds: float = Field(default=300.0, ge=0)
    retention_person_months: int = Field(
        default=24,
        ge=1,
        description="A person's personal data is due for erasure this many months after the last of their cases"
        " closed (DWP: supporting records 24 months after the department's live interest ends).",
    )
    retention_case_text_months: int = Field(
        default=14,
        ge=1,
        description="A case's free text (notes, reasons, corrections, and the purposes of reads of it) is due for"
        " erasure this many months after the case closed (CMS: case records kept 14 months after closure).",
    )
    retention_read_audit_months: int = Field(
        default=24,
        ge=1,
        description="The read records of a month (purposes, break-glass reasons, review notes) are due for erasure"
        " this many months after the month ended (DWP: supporting records 24 months).",
    )
    # Business time bounds (domain/rules/business_time.py, docs/domain-decisions.md).
    business_time_earliest: datetime = Field(
        default=SERVICE_BEGAN, description="No business time before this (the Child Support Act 1991 in force)."
    )
    business_time_max_backdate_days: float = Field(
        default=366.0, gt=0, description="How far before its recording a business time may lie."
    )

    # HTTP API (infrastructure/http, docs/http.md). Without a JWT secret, `serve` on SQLite uses a
    # development secret kept beside the SQLite file; on PostgreSQL it refuses to start.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_jwt_secret: SecretStr | None = Field(default=None, description="HS256 key of bearer JWTs.")
    http_jwt_audience: str = "casejourney"
    http_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    http_api_keys: dict[str, str] = Field(
        default_factory=dict, description="sha256 hex digest of an API key -> 'role:actor_id'."
    )
    # An identity provider's tokens (RS256/ES256), verified against its JSON Web Key Set.
    http_jwks: str | None = Field(
        default=None, description="The identity provider's JWKS: an https:// URL (fetched, cached) or a file."
    )
    http_jwt_issuer: str | None = Field(default=None, description="The `iss` an identity provider's token must carry.")
    http_jwt_role_claim: str = Field(default="role", description="The claim that holds the caller's role.")
    http_jwt_roles: dict[str, str] = Field(
        default_factory=dict,
        description="The identity provider's role names -> this service's roles (empty: its names are ours).",
    )
    http_jwks_cache_seconds: int = Field(default=300, ge=1, description="How long fetched keys are kept.")
    http_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body accepted; larger is refused (413) unread."
    )
    http_read_models: Literal["tables", "log"] = Field(
        default="tables",
        description="Where the API answers caseloads, the queue and team assignments: the read-model tables the"
        " projection runner keeps (`serve` runs one), or the log, folded on every request.",
    )
    http_read_your_writes_seconds: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="Longest a read with `Min-Log-Position` waits for the read models to pass it (then 503).",
    )

    @field_validator("cipher_keys", "wrapping_keys")
    @classmethod
    def _keyring_parses(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            Keyring.parse(value.get_secret_value())  # raises a ValueError that names the problem
        return value

    @field_validator("sqlite_path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Resolved once, so every message names the file actually used (not a path relative to somewhere)."""
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _postgres_is_named(self) -> Settings:
        """No default database: a store on the wrong database is worse than a refusal."""
        if self.store != "postgres":
            return self
        if self.postgres_password_file is not None:
            try:
                self.postgres_password_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
                raise ValueError(
                    f"CASEJOURNEY_POSTGRES_PASSWORD_FILE {self.postgres_password_file} cannot be read ({reason})"
                ) from None
        if not self.postgres_params()["dbname"]:
            raise ValueError(
                "CASEJOURNEY_STORE=postgres needs its database named: set CASEJOURNEY_POSTGRES_URL"
                " (postgresql://user@host:5432/dbname) or CASEJOURNEY_POSTGRES_DBNAME"
            )
        return self

    @model_validator(mode="after")
    def _identity_provider_is_whole(self) -> Settings:
        """An identity provider's tokens are trusted only with their issuer named, and each role it
        may send mapped to one of ours."""
        if self.http_jwks is None:
            return self
        if not self.http_jwt_issuer:
            raise ValueError("CASEJOURNEY_HTTP_JWKS needs CASEJOURNEY_HTTP_JWT_ISSUER: the issuer its tokens must name")
        roles = {str(r) for r in Role}
        wrong = sorted(v for v in self.http_jwt_roles.values() if v not in roles)
        if wrong:
            raise ValueError(
                f"CASEJOURNEY_HTTP_JWT_ROLES maps to {', '.join(wrong)}, not roles of this service"
                f" ({', '.join(sorted(roles))})"
            )
        return self

    @model_validator(mode="after")
    def _every_pathway_has_a_target(self) -> Settings:
        missing = [str(r) for r in PathwayReason if r not in self.pathway_target_hours]
        if missing:
            raise ValueError(f"pathway_target_hours needs a target for: {', '.join(missing)}")
        return self

    @field_validator("business_time_earliest")
    @classmethod
    def _earliest_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("business_time_earliest needs a time zone offset, e.g. 1993-04-05T00:00:00+00:00")
        return value.astimezone(UTC)

    def business_time_bounds(self) -> BusinessTimeBounds:
        return BusinessTimeBounds(
            earliest=self.business_time_earliest,
            max_backdate=timedelta(days=self.business_time_max_backdate_days),
            future_tolerance=timedelta(seconds=self.clock_skew_tolerance_seconds),
        )

    def pathway_targets(self) -> dict[PathwayReason, timedelta]:
        return {reason: timedelta(hours=hours) for reason, hours in self.pathway_target_hours.items()}

    def postgres_params(self) -> dict[str, str]:
        """libpq's keywords. An empty password leaves libpq to find one (PGPASSFILE, ~/.pgpass), so no
        password need ever be on a command line or in a URL."""
        if self.postgres_url:
            url = urlparse(self.postgres_url)
            userinfo, _, hostlist = url.netloc.rpartition("@")
            user, _, password = userinfo.partition(":")
            hosts, ports = _hosts(hostlist, self.postgres_host, self.postgres_port)
            params = {
                "host": hosts,
                "port": ports,
                "dbname": unquote((url.path or "/").lstrip("/")) or self.postgres_dbname or "",
                "user": unquote(user or self.postgres_user),
                "password": unquote(password or self.postgres_password),
            }
            # libpq's own keywords in the query (target_session_attrs=read-write, sslmode, ...)
            params.update({k: v for k, v in parse_qsl(url.query) if k not in params})
        else:
            params = {
                "host": self.postgres_host,
                "port": str(self.postgres_port),
                "dbname": self.postgres_dbname or "",
                "user": self.postgres_user,
                "password": self.postgres_password,
            }
        if not params["password"] and self.postgres_password_file is not None:
            lines = self.postgres_password_file.read_text(encoding="utf-8").splitlines()
            params["password"] = lines[0] if lines else ""
        return params

    def key_folder(self) -> Path:
        """Where the file key provider keeps ``keyring.json``: outside the database file, never in it."""
        return self.key_dir if self.key_dir is not None else self.sqlite_path.parent / "keys"

    def store_env(self) -> dict[str, str]:
        """Where the store is, as the ``eventsourcing`` library's keys; which recorder and cipher run on it is
        said in code, by ``infrastructure.eventstore.environment``."""
        if self.store == "sqlite":
            create_private_file(self.sqlite_path)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": sqlite_database_name(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "10",
                "CREATE_TABLE": "y",
            }
        pg = self.postgres_params()
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": pg["dbname"],
            "POSTGRES_HOST": pg["host"],
            "POSTGRES_PORT": pg["port"],
            "POSTGRES_USER": pg["user"],
            "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_SCHEMA": self.postgres_schema,
            "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
            "POSTGRES_CONNECT_TIMEOUT": str(self.postgres_connect_timeout),
            "CREATE_TABLE": "y",
        }

    def for_reading(self) -> Settings:
        """These settings as a read command opens the case store: on ``postgres_read_url`` when set."""
        if self.store != "postgres" or not self.postgres_read_url:
            return self
        return self.model_copy(update={"postgres_url": self.postgres_read_url, "postgres_read_url": None})

    def describe_store(self) -> str:
        if self.store == "sqlite":
            return f"SQLite file {self.sqlite_path}"
        pg = self.postgres_params()
        hosts = ",".join(f"{h}:{p}" for h, p in zip(pg["host"].split(","), pg["port"].split(","), strict=False))
        return f"PostgreSQL {pg['user']}@{hosts}/{pg['dbname']}, schema {self.postgres_schema}"


#: ``CASEJOURNEY_*`` variables that are not settings but are read where they are used: the test
#: suite's and the benchmark's PostgreSQL, the browser for screenshots, tracebacks on a bug.
ENVIRONMENT_ONLY = frozenset(
    {"CASEJOURNEY_TEST_POSTGRES_URL", "CASEJOURNEY_BENCH_POSTGRES_URL", "CASEJOURNEY_CHROMIUM", "CASEJOURNEY_DEBUG"}
)
PREFIX = "CASEJOURNEY_"


def _hosts(hostlist: str, host: str, port: int) -> tuple[str, str]:
    """A libpq multi-host list (``h1:5432,h2:5433``, ``[::1]:5432``) as its ``host`` and ``port``
    keywords, each comma-separated; a host without a port gets the default one."""
    hosts, ports = [], []
    for each in (hostlist or host).split(","):
        name, port_of = each, ""
        if each.startswith("["):
            name, _, rest = each[1:].partition("]")
            port_of = rest.lstrip(":")
        elif each.count(":") == 1:
            name, _, port_of = each.partition(":")
        hosts.append(unquote(name) or host)
        ports.append(port_of or str(port))
    return ",".join(hosts), ",".join(ports)


#: ``postgres_params`` keys the ``eventsourcing`` library takes as its own settings; the others
#: (``target_session_attrs`` and the rest of libpq's keywords) are added to its connections.
LIBRARY_PARAMS = ("host", "port", "dbname", "user", "password")


def known_variables() -> frozenset[str]:
    return frozenset(PREFIX + name.upper() for name in Settings.model_fields) | ENVIRONMENT_ONLY


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One sentence per ``CASEJOURNEY_*`` variable that nothing reads (a typo such as
    ``CASEJOURNEY_SOTRE`` would otherwise leave the default silently in force), naming the nearest
    valid one where there is one."""
    known = known_variables()
    tails = {k.removeprefix(PREFIX): k for k in known}  # the shared prefix must not make names look alike
    said = []
    for name in sorted(n for n in environ if n.upper().startswith(PREFIX) and n.upper() not in known):
        near = difflib.get_close_matches(name.upper().removeprefix(PREFIX), sorted(tails), n=1, cutoff=0.6)
        hint = f": did you mean {tails[near[0]]}?" if near else " (no setting has a name like it)."
        said.append(f"{name} is not a setting of casejourney{hint}")
    return said


def settings_error(exc: ValidationError) -> str:
    """A settings error as one sentence per problem, naming the variable (never pydantic's dump)."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not field:  # a check across settings (ours, worded for people): its own sentence
            parts.append(message.rstrip("."))
            continue
        name = PREFIX + field.split(".")[0].upper()
        expected = error.get("ctx", {}).get("expected")
        if error.get("type") == "literal_error" and expected:
            message = f"must be {expected}"
        secret = any(word in field for word in ("key", "secret", "password", "url"))  # never echo a secret
        given = "" if secret or isinstance(error.get("input"), dict) else f", not {error.get('input')!r}"
        parts.append(f"{name} (or its option) {message[:1].lower() + message[1:]}{given}")
    return "; ".join(parts) + "."
