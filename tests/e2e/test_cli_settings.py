"""Settings fail loudly (issue 15, item 5, in part): a mistyped ``CASEJOURNEY_*`` variable stops the
command with one sentence naming the nearest valid one, before any store is opened or made; a bad
value is one sentence naming its variable, never pydantic's dump, and never echoes a secret; the
variables the code reads outside the settings (the test suite's PostgreSQL, the browser, debug)
stay accepted."""

from __future__ import annotations

from pathlib import Path

from infrastructure.settings import ENVIRONMENT_ONLY, known_variables, unknown_variables
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
