"""The README's library example runs as written (in a scratch directory, on the embedded default)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_library_example_runs_and_refers_the_case(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    script = example + "\nassert result.appended[0].type == 'ReferredToSpecialistTeam', result\nprint('referred')\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PYTHONPATH": str(README.parent), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "referred"
    assert (tmp_path / "var" / "casejourney.sqlite").exists()
