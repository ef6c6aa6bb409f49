"""Settings fail loudly (issue 15, item 5): a mistyped ``CASEJOURNEY_*`` variable stops the
command with one sentence naming the nearest valid one, before any store is opened or made; a bad
value is one sentence naming its variable, never pydantic's dump, and never echoes a secret; the
variables the code reads outside the settings (the test suite's PostgreSQL, the browser, debug)
stay accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from domain.values import StaffTeam
from infrastructure.access.log import AccessLog
from infrastructure.access.roster import seed_roster
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.environment import library_variables
from infrastructure.settings import ENVIRONMENT_ONLY, Settings, known_variables, unknown_variables
from tests.conftest import POSTGRES_URL, postgres_settings, require_postgres, sqlite_settings
from tests.e2e.test_cli import run


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_mistyped_variable_names_the_setting_meant_and_opens_nothing(tmp_path: Path) -> None:
    typo = run("verify", env={"CASEJOURNEY_SOTRE": "postgres"}, cwd=tmp_path)
    assert typo.returncode == 2
    assert "CASEJOURNEY_SOTRE is not a setting of casejourney: did you mean CASEJOURNEY_STORE?" in flat(typo.stderr)
    assert not (tmp_path / "var").exists(), "a refused start made a store"
    stray = run("verify", env={"CASEJOURNEY_ZZZ": "1"}, cwd=tmp_path)
    assert stray.returncode == 2 and "(no setting has a name like it)" in flat(stray.stderr)


def test_a_bad_value_is_one_sentence_and_a_secret_is_never_echoed(tmp_path: Path) -> None:
    store = run("--store", "mysql", "verify", cwd=tmp_path)
    assert store.returncode == 2
    said = flat(store.stderr)
    assert "CASEJOURNEY_STORE (or its option) must be 'sqlite' or 'postgres', not 'mysql'." in said
    assert "pydantic" not in said and "For further information" not in said and "validation error" not in said
    secret = run("verify", env={"CASEJOURNEY_CIPHER_KEYS": "k1:not-base64-TOPSECRET"}, cwd=tmp_path)
    assert secret.returncode == 2 and "CASEJOURNEY_CIPHER_KEYS" in flat(secret.stderr)
    assert "TOPSECRET" not in secret.stderr + secret.stdout


def test_every_variable_the_code_reads_is_known() -> None:
    assert known_variables() >= ENVIRONMENT_ONLY and "CASEJOURNEY_SQLITE_PATH" in known_variables()
    assert unknown_variables({name: "1" for name in known_variables()} | {"PATH": "/bin"}) == []
    assert unknown_variables({"casejourney_sotre": "x"}) == [
        "casejourney_sotre is not a setting of casejourney: did you mean CASEJOURNEY_STORE?"
    ]


# ---------------------------------------------------------------- the rest of item 5


def test_postgres_needs_its_database_named(tmp_path: Path) -> None:
    for env in ({}, {"CASEJOURNEY_POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432"}):
        refused = run("--store", "postgres", "verify", env=env, cwd=tmp_path)
        said = flat(refused.stderr)
        assert refused.returncode == 2, said
        assert "CASEJOURNEY_STORE=postgres needs its database named: set CASEJOURNEY_POSTGRES_URL" in said
        assert "Traceback" not in said and "validation error" not in said
    named = Settings(store="postgres", postgres_dbname="cases", postgres_host="db.example")
    assert named.postgres_params()["dbname"] == "cases"
    with pytest.raises(ValidationError):
        Settings(store="postgres")


READ_COMMANDS = [
    ("verify",),
    ("history", "00000000-0000-0000-0000-000000000001"),
    ("replay", "00000000-0000-0000-0000-000000000001"),
    ("projections", "status"),
    ("alerts", "list"),
    ("report",),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_read_command_refuses_a_store_that_does_not_exist_and_makes_none(tmp_path: Path, command: tuple) -> None:
    elsewhere = tmp_path / "another" / "folder"
    elsewhere.mkdir(parents=True)
    refused = run(*command, cwd=elsewhere)
    said = flat(refused.stderr)
    expected = elsewhere / "var" / "casejourney.sqlite"
    assert refused.returncode == 3, said
    assert f"no store at {expected}: nothing has been written there" in said
    assert refused.stdout == "" and "OK" not in said
    assert not (elsewhere / "var").exists(), "a read made a store"


def test_a_write_makes_the_store_and_every_command_says_which_file_it_uses(tmp_path: Path) -> None:
    relative = Path("stores/cj.sqlite")
    made = run("--sqlite-path", str(relative), "staff", "join", "lead-1", "--team", "specialist_case_team",
               "--reason", "first leader", "--by", "lead-0", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"store: SQLite file {tmp_path / relative}" in flat(made.stderr)
    assert (tmp_path / relative).exists()
    read = run("--sqlite-path", str(relative), "verify", cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    assert f"store: SQLite file {tmp_path / relative}" in flat(read.stderr)


def test_the_librarys_own_variables_are_ignored_entirely_and_named(tmp_path: Path, monkeypatch) -> None:
    """A stray ``COMPRESSOR_TOPIC`` used to break every read; a ``CASEJOURNEY_PERSISTENCE_MODULE``
    could have moved the store. Neither reaches the library now, and the CLI says so."""
    stray = {
        "COMPRESSOR_TOPIC": "no_such_module:Compressor",
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "ACCESSLOG_SQLITE_DBNAME": str(tmp_path / "elsewhere.sqlite"),
    }
    ours = {
        "CASEJOURNEY_POSTGRES_SCHEMA": "s",
        "CASEJOURNEY_POSTGRES_USER": "u",
    }  # settings, though the library has them
    assert library_variables(
        stray | ours | {"CASEJOURNEY_CIPHER_TOPIC": "x", "PATH": "/bin"}, known_variables()
    ) == sorted([*stray, "CASEJOURNEY_CIPHER_TOPIC"])
    for name, value in stray.items():
        monkeypatch.setenv(name, value)
    settings = sqlite_settings(tmp_path)
    with CaseJourney(settings) as app:
        seed_roster(app, {StaffTeam.MAINSTREAM: ["cw-1"]})
        written = app.recorder.max_notification_id()
        assert written and written >= 1  # the roster landed here, readable (no stray compressor)
        assert len(app.roster_events()) == written  # the roster's events read back whole
    with AccessLog(settings) as log:
        assert log.alerts() == []
    assert not (tmp_path / "elsewhere.sqlite").exists()
    cli = run("--sqlite-path", str(settings.sqlite_path), "verify", env=stray | {"CASEJOURNEY_POSTGRES_SCHEMA": "s"})
    assert cli.returncode == 0, cli.stderr
    assert (
        "warning: ACCESSLOG_SQLITE_DBNAME, COMPRESSOR_TOPIC, PERSISTENCE_MODULE are ignored: casejourney sets the"
        " eventsourcing library up from its own settings" in flat(cli.stderr)
    )


@pytest.mark.postgres
def test_a_refused_connection_gives_the_drivers_reason_at_once(tmp_path: Path) -> None:
    """With a 60-second connect timeout, the pool would wait it out and say only that it got no
    connection; the probe reports the server's own sentence (this test would take a minute without it)."""
    require_postgres()
    url = POSTGRES_URL.replace("postgres@", "cj_no_such_role@", 1)
    assert "cj_no_such_role@" in url
    settings = Settings(store="postgres", postgres_url=url, postgres_connect_timeout=60, key_dir=tmp_path / "keys")
    with pytest.raises(PersistenceError, match='role "cj_no_such_role" does not exist'):
        CaseJourney(settings)
    cli = run("verify", env={"CASEJOURNEY_STORE": "postgres", "CASEJOURNEY_POSTGRES_URL": url,
                             "CASEJOURNEY_POSTGRES_CONNECT_TIMEOUT": "60"}, cwd=tmp_path)  # fmt: skip
    said = flat(cli.stderr)
    assert cli.returncode == 3 and 'FATAL: role "cj_no_such_role" does not exist' in said, said
    assert "Traceback" not in said and "couldn't get a connection" not in said


@pytest.mark.postgres
def test_a_password_comes_from_pgpass_or_a_secret_file_never_the_command_line(
    pg_schema: str, tmp_path: Path, monkeypatch
) -> None:
    """libpq finds the password itself when none is set (``PGPASSFILE``), and a mounted secret file
    is read. This server trusts local connections, so it does not check a password: what is proved
    is that the password reaches the driver's connection (``conn.info.password``), not a login."""
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("*:*:*:*:from-pgpass\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with CaseJourney(postgres_settings(pg_schema)) as app, app.recorder.datastore.get_connection() as conn:
        assert conn.info.password == "from-pgpass"
    secret = tmp_path / "secret"
    secret.write_text("from-a-secret-file\n")
    in_secret = postgres_settings(pg_schema, postgres_password_file=secret)
    with CaseJourney(in_secret) as app, app.recorder.datastore.get_connection() as conn:
        assert conn.info.password == "from-a-secret-file"
    absent = {
        "CASEJOURNEY_STORE": "postgres",
        "CASEJOURNEY_POSTGRES_URL": POSTGRES_URL,
        "CASEJOURNEY_POSTGRES_PASSWORD_FILE": str(tmp_path / "absent"),
    }
    missing = run("verify", env=absent, cwd=tmp_path)
    said = flat(missing.stderr)
    assert missing.returncode == 2, said
    assert (
        f"CASEJOURNEY_POSTGRES_PASSWORD_FILE {tmp_path / 'absent'} cannot be read (No such file or directory)" in said
    )
