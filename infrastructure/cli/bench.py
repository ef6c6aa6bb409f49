"""`casejourney bench`: a thin door to the benchmark, which is not part of the product.

The benchmark lives in ``scripts/bench`` (run it as ``python -m scripts.bench``); this command runs
that module in a subprocess from the source checkout, with the same arguments, so nothing in
``infrastructure`` imports ``scripts``. Installed without the checkout, it says where to find it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from infrastructure.cli.common import fail

#: The source checkout this package was installed from (editable install), if it is one.
CHECKOUT = Path(__file__).resolve().parents[2]


def register(cli: typer.Typer) -> None:
    @cli.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )
    def bench(ctx: typer.Context) -> None:
        """The benchmark (scripts/bench): commands/s, rebuild, replay, scale. Options: casejourney bench --help."""
        if not (CHECKOUT / "scripts" / "bench" / "__main__.py").is_file():
            fail("the benchmark ships with the source checkout: run python -m scripts.bench there", 2)
        done = subprocess.run([sys.executable, "-m", "scripts.bench", *ctx.args], cwd=CHECKOUT, check=False)
        raise typer.Exit(done.returncode)
