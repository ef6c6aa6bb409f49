"""Operators' entry point: rebuild projections from the whole event log, with a progress bar.

    .venv/bin/python scripts/rebuild_projections.py [NAME] [--fresh] [--batch-size N] [--workers N]

The same as ``casejourney projections rebuild``; settings come from CASEJOURNEY_* variables.
"""

from __future__ import annotations

import sys

from infrastructure.cli.main import main

if __name__ == "__main__":
    sys.argv = ["casejourney", "projections", "rebuild", *sys.argv[1:]]
    main()
