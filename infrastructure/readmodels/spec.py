"""``ProjectionSpec``: how one projection (pure logic in ``projections/<name>``) is stored and fed.

Each read model module beside this one (``team_assignment``, ``safeguarding_history``,
``caseloads``, ``expedited_queue``) declares one ``SPEC``; ``registry.PROJECTIONS`` lists them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, MetaData, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateTable

from infrastructure.readmodels.engine import Item


@dataclass
class ProjectionSpec:
    """How one projection (pure logic in ``projections/<name>``) is stored and fed."""

    name: str
    logic_version: int
    #: Topics it reads; ``None`` means every case event (the case version moves on each).
    topics: frozenset[str] | None
    define: Callable[[MetaData, str], list[Table]]
    #: Applies decoded events, in log order, to the tables; ``cache`` is the writer's own memory of
    #: rows it wrote (valid only while it is the sole writer; the runner clears it otherwise).
    apply: Callable[[Connection, dict[str, Table], Sequence[Item], dict[str, Any]], None]
    #: The rows of one case's whole history (in order), from nothing, by base table name: how a
    #: build in case order (``infrastructure/readmodels/case_build.py``) uses the same pure code as ``apply``.
    build_case: Callable[[Sequence[Item]], dict[str, list[dict[str, Any]]]]
    #: Once every case is built: writes what sums over cases (caseload counts); ``None`` if nothing.
    finish: Callable[[Connection, dict[str, Table]], None] | None = None
    _tables: dict[str, dict[str, Table]] = field(default_factory=dict)
    _schema_version: str | None = None

    def tables(self, suffix: str = "") -> dict[str, Table]:
        """The projection's tables under ``suffix``, by base name."""
        if suffix not in self._tables:
            defined = self.define(MetaData(), suffix)
            self._tables[suffix] = {t.name.removesuffix(suffix) if suffix else t.name: t for t in defined}
        return self._tables[suffix]

    def schema_version(self) -> str:
        """A digest of the logic version and the tables' DDL: computed once (the runner asks per batch)."""
        if self._schema_version is None:
            ddl = "\n".join(
                str(CreateTable(t).compile(dialect=sqlite_dialect.dialect())) for t in self.tables().values()
            )
            self._schema_version = hashlib.sha256(f"{self.logic_version}\n{ddl}".encode()).hexdigest()[:16]
        return self._schema_version

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics
