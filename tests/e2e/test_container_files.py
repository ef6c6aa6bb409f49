"""The Dockerfile and compose.yaml (issue 16, item 6). No image can be built here (no registry for
base images), so the files are read as a reviewer would: slim and non-root, the service as entry
point, every service with its health check, and every `casejourney` command and option inside
them one the CLI has (each is run here with `--help`, which fails on an unknown command or option;
the commands themselves run in the suite's other tests). Every setting they pass is a real one."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from infrastructure.settings import known_variables
from tests.e2e.test_cli import run

ROOT = Path(__file__).parents[2]


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (word.upper(), rest.strip())
        for word, rest in (
            line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")
        )
    ]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _args(value: str | list[str]) -> list[str]:
    return (
        json.loads(value)
        if isinstance(value, str) and value.startswith("[")
        else (shlex.split(value) if isinstance(value, str) else list(value))
    )


def test_the_image_is_slim_runs_as_no_one_in_particular_and_checks_its_own_health() -> None:
    steps = dockerfile()
    kinds = [k for k, _ in steps]
    assert steps[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim", steps[0][1]), steps[0]
    user = [v for k, v in steps if k == "USER"]
    assert user and user[-1] not in {"root", "0"} and kinds.index("USER") > kinds.index("RUN")
    assert _args(dict(steps)["ENTRYPOINT"]) == ["casejourney"]
    assert "HEALTHCHECK" in kinds and "/readyz" in dict(steps)["HEALTHCHECK"]
    for source in (v.split()[0] for k, v in steps if k == "COPY"):
        assert (ROOT / source).exists(), source  # everything copied is in the repository
    assert "pip install ." in dict(steps)["RUN"]  # what pyproject.toml pins, nothing else
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "tests"} <= set(ignored)


def test_compose_runs_the_whole_service_each_part_with_its_health_check() -> None:
    made = compose()
    services = made["services"]
    assert set(services) == {"postgres", "upgrade", "api", "projections", "deadlines"}
    for name, service in services.items():
        if name != "upgrade":
            assert "healthcheck" in service, name
    for name in ("api", "projections", "deadlines"):
        assert services[name]["depends_on"] == {"upgrade": {"condition": "service_completed_successfully"}}, name
    assert services["upgrade"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--workers" in services["api"]["command"]
    # No secret is written in the file: each comes from the environment, and is required.
    environment = made["x-casejourney"]["environment"]
    for key in ("CASEJOURNEY_POSTGRES_PASSWORD", "CASEJOURNEY_CIPHER_KEYS", "CASEJOURNEY_HTTP_JWT_SECRET"):
        assert re.fullmatch(r"\$\{\w+:\?.+\}", environment[key]), key
    assert set(environment) <= known_variables(), set(environment) - known_variables()


def test_every_command_inside_them_is_one_the_cli_has() -> None:
    commands = [_args(dict(dockerfile())["CMD"])]
    for service in compose()["services"].values():
        if service.get("image", "").startswith("postgres") or ("command" not in service and "build" not in service):
            continue
        if "command" in service:
            commands.append(_args(service["command"]))
        test = service.get("healthcheck", {}).get("test", [])
        if "casejourney" in test:
            commands.append(test[test.index("casejourney") + 1 :])
    assert len(commands) >= 6
    for args in commands:
        answer = run(*args, "--help")
        assert answer.returncode == 0, (args, answer.stdout + answer.stderr)
