"""The domain and the projections import only the standard library, pydantic and eventsourcing's domain layer.

``projections/`` (pure folds over domain events) may import ``domain``; ``domain`` imports neither.

Imports point inward (STYLE.md): no database, HTTP, CLI, settings or environment in ``domain/``,
and no wall clock: the time is always passed in. The checks read the source with ``ast``, so they
see every import, including those inside functions or ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
DOMAIN_FILES = sorted(DOMAIN.rglob("*.py"))
PROJECTIONS = DOMAIN.parent / "projections"
PROJECTION_FILES = sorted(PROJECTIONS.rglob("*.py"))

ALLOWED_THIRD_PARTY = ("pydantic", "eventsourcing.domain", "eventsourcing.utils")
FORBIDDEN = (
    "sqlalchemy",
    "psycopg",
    "psycopg_pool",
    "fastapi",
    "starlette",
    "typer",
    "httpx",
    "rich",
    "pydantic_settings",
    "infrastructure",
    "projections",
    "scripts",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.postgres",
    "eventsourcing.sqlite",
    "eventsourcing.popo",
    "eventsourcing.projection",
    "eventsourcing.system",
)
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
CLOCK_FUNCTIONS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter"}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imported_modules(tree: ast.AST) -> list[str]:
    """Absolute module names a file imports (``from x import y`` counts as ``x.y``: y may be a module)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "eventsourcing":
                found.extend(f"eventsourcing.{alias.name}" for alias in node.names)
            else:
                found.append(node.module)
    return found


def import_problems(source: str, package: str = "domain") -> list[str]:
    """What ``source``, a module of ``package`` (``domain`` or ``projections``), must not import."""
    inner = {"domain"} | {package}
    problems = []
    for module in imported_modules(ast.parse(source)):
        top = module.split(".")[0]
        if top not in inner and any(_within(module, bad) for bad in FORBIDDEN):
            problems.append(f"forbidden import {module}")
        elif top in sys.stdlib_module_names or top == "__future__" or top in inner:
            continue
        elif not any(_within(module, ok) for ok in ALLOWED_THIRD_PARTY):
            problems.append(f"import outside stdlib/pydantic/eventsourcing.domain: {module}")
    return problems


def environment_and_clock_problems(source: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
            # ``os.getenv`` or ``datetime.datetime.now``: the owner is the last name before the attribute.
            owner = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
            attr = node.attr
            if owner == "os" and attr in ENVIRONMENT:
                problems.append(f"reads the environment: os.{attr}")
            if (owner, attr) in CLOCK or (owner == "time" and attr in CLOCK_FUNCTIONS):
                problems.append(f"reads the wall clock: {owner}.{attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            problems.extend(
                f"reads the environment: from os import {a.name}" for a in node.names if a.name in ENVIRONMENT
            )
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            problems.extend(
                f"reads the wall clock: from time import {a.name}" for a in node.names if a.name in CLOCK_FUNCTIONS
            )
    return problems


def test_the_domain_has_python_files_to_check() -> None:
    names = {p.relative_to(DOMAIN).as_posix() for p in DOMAIN_FILES}
    assert {"values.py", "errors.py", "case/aggregate.py", "case/commands.py", "rules/eligibility.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.relative_to(DOMAIN).as_posix())
def test_the_domain_imports_only_stdlib_pydantic_and_eventsourcing_domain(path: Path) -> None:
    assert import_problems(path.read_text()) == []


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.relative_to(DOMAIN).as_posix())
def test_the_domain_never_reads_the_environment_or_the_clock(path: Path) -> None:
    assert environment_and_clock_problems(path.read_text()) == []


def test_the_projections_have_python_files_to_check() -> None:
    names = {p.relative_to(PROJECTIONS).as_posix() for p in PROJECTION_FILES}
    assert {"describe.py", "team_assignment/__init__.py", "safeguarding_history/__init__.py"} <= names


@pytest.mark.parametrize("path", PROJECTION_FILES, ids=lambda p: p.relative_to(PROJECTIONS).as_posix())
def test_the_projections_import_only_the_domain_stdlib_pydantic_and_eventsourcing_domain(path: Path) -> None:
    assert import_problems(path.read_text(), "projections") == []


@pytest.mark.parametrize("path", PROJECTION_FILES, ids=lambda p: p.relative_to(PROJECTIONS).as_posix())
def test_the_projections_never_read_the_environment_or_the_clock(path: Path) -> None:
    assert environment_and_clock_problems(path.read_text()) == []


@pytest.mark.parametrize(
    "source", ["import sqlalchemy", "from infrastructure.settings import Settings", "import scripts.bench"]
)
def test_the_import_check_catches_a_projection_reaching_out(source: str) -> None:
    assert import_problems(source, "projections") != []


def test_a_projection_may_import_the_domain_and_another_projection() -> None:
    assert (
        import_problems("from domain.case.aggregate import Case\nfrom projections import caseloads", "projections")
        == []
    )


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy",
        "from sqlalchemy.orm import Session",
        "import psycopg",
        "from fastapi import FastAPI",
        "from starlette.requests import Request",
        "import typer",
        "import httpx",
        "from infrastructure.settings import Settings",
        "from projections.caseloads import rows",
        "from eventsourcing.application import Application",
        "from eventsourcing.persistence import Recorder",
        "from eventsourcing import postgres",
        "from eventsourcing.sqlite import SQLiteFactory",
        "import eventsourcing.popo",
        "from eventsourcing.projection import Projection",
        "from eventsourcing.system import System",
        "import requests",
        "def later():\n    import sqlalchemy\n",
    ],
)
def test_the_import_check_catches_a_forbidden_import(source: str) -> None:
    assert import_problems(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import hashlib\nfrom datetime import UTC, datetime\nfrom uuid import UUID",
        "from pydantic import BaseModel",
        "from eventsourcing.domain import Aggregate",
        "from eventsourcing.utils import get_topic",
        "from eventsourcing import domain",
        "from domain.values import Role",
        "from .values import Role",
    ],
)
def test_the_import_check_allows_what_the_domain_may_use(source: str) -> None:
    assert import_problems(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nurl = os.environ['DATABASE_URL']",
        "import os\nurl = os.getenv('DATABASE_URL')",
        "from os import environ",
        "from os import getenv",
        "from datetime import datetime\nnow = datetime.now()",
        "import datetime\nnow = datetime.datetime.utcnow()",
        "import time\nstarted = time.time()",
        "from time import monotonic",
    ],
)
def test_the_environment_and_clock_check_catches_a_read(source: str) -> None:
    assert environment_and_clock_problems(source) != []
