"""What protection by default costs one process's command path, variants alternating.

    python -m scripts.protection_cost [--store sqlite|postgres] [--rounds 8] [--commands 600]

Three applications on the same store, each with 25 prepared cases and a warm cache: the default
(payload cipher and case-text keys), the payload cipher alone, and no encryption at all. They take
turns, round after round, running the benchmark's timed commands (`scripts.bench.commands`), so
the machine's drift falls on all three alike; the medians' ratios are printed. Steadier than the
multi-process `casejourney bench` on a shared machine, which measures the same thing at 1, 4, 8
clients (BENCHMARKS.md).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

import scripts.bench.commands as bc
from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class PayloadCipherOnly(CaseJourney):
    """The payload cipher on, free text not sealed under case keys (only this script does that)."""

    name = "casejourney_cipher_only"

    def construct_recorder(self) -> Any:
        recorder = super().construct_recorder()
        self.mapper.text = None  # type: ignore[attr-defined]
        return recorder


def main(
    store: Annotated[str, typer.Option(help="sqlite or postgres")] = "sqlite",
    rounds: Annotated[int, typer.Option(min=1)] = 8,
    commands: Annotated[int, typer.Option(min=10)] = 600,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="cj-protection-"))
    schema = f"protection_{uuid.uuid4().hex[:8]}"
    if store == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        settings = Settings(store="postgres", postgres_url=POSTGRES_URL, postgres_schema=schema)
    else:
        settings = Settings(store="sqlite", sqlite_path=folder / "protected.sqlite")

    def beside(name: str) -> Settings:
        return settings.model_copy(update={"sqlite_path": folder / name}) if store == "sqlite" else settings

    apps: dict[str, CaseJourney] = {
        "default": CaseJourney(settings),
        "cipher only": PayloadCipherOnly(beside("cipher-only.sqlite")),
        "none": bc.Clear(bc.clear_settings(settings)),
    }
    try:
        cases = {}
        for name, app in apps.items():
            cases[name] = bc.prepare_cases(app, 25, 10)
            for case_id in cases[name]:  # warm the cache, as a running service is
                app.execute(bc.timed_command(case_id, 0), bc.CASEWORKER)
        rates: dict[str, list[float]] = {name: [] for name in apps}
        start = 1
        for done in range(1, rounds + 1):
            for name, app in apps.items():
                batch = [bc.timed_command(cases[name][j % 25], j) for j in range(start, start + commands)]
                began = time.perf_counter()
                for command in batch:
                    app.execute(command, bc.CASEWORKER)
                rates[name].append(commands / (time.perf_counter() - began))
            start += commands
            typer.echo(f"round {done}/{rounds}: " + ", ".join(f"{n} {r[-1]:,.0f}/s" for n, r in rates.items()))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        typer.echo(
            f"{store}: default / none = {medians['default'] / medians['none']:.2f};"
            f" cipher only / none = {medians['cipher only'] / medians['none']:.2f}"
            f" (medians {', '.join(f'{n} {m:,.0f}/s' for n, m in medians.items())})"
        )
    finally:
        for app in apps.values():
            app.close()
        if store == "postgres":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    typer.run(main)
