"""Headless Chromium, for PNG pictures of the HTML pages and for the test that renders them.

Only used where a picture is asked for (``--chart PATH.png``) and by tests; the HTML pages never
need it. ``CASEJOURNEY_CHROMIUM`` names the binary if it is not on the PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in (os.environ.get("CASEJOURNEY_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _run(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="cj-chromium-") as profile:
        return subprocess.run(
            [binary, *_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def dump_dom(html_file: Path, *, binary: str | None = None, timeout: float = 60) -> str:
    """The DOM Chromium builds from the file, serialised (what a reader's browser would show)."""
    chromium = binary or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (scripts/ensure_chromium.sh installs it)")
    done = _run(chromium, ["--dump-dom", html_file.resolve().as_uri()], timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def screenshot(html_file: Path, png: Path, *, width: int = 1100, height: int = 1400, timeout: float = 60) -> None:
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (scripts/ensure_chromium.sh installs it)")
    done = _run(
        chromium,
        [f"--screenshot={png.resolve()}", f"--window-size={width},{height}", html_file.resolve().as_uri()],
        timeout,
    )
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
