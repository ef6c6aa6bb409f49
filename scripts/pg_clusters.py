"""PostgreSQL 15 clusters of a test's or a drill's own, each on its own port and data folder: to
restart one (fast or immediate) under load, or to stop a primary hard and promote its streaming
standby, without touching the shared server every other test uses.

``initdb``, ``pg_basebackup`` and the servers run as the ``postgres`` user (``runuser`` when run as
root, as on these machines). Trust authentication on 127.0.0.1 only; each is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> str | None:
    """Why no cluster of its own can be made here, or ``None`` when it can."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL 15 binaries in {BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user to run a server as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "making a cluster needs root (runuser) or the postgres user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempCluster:
    def __init__(self, *, initdb: bool = True) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cj-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.log = self.root / "server.log"
        user = pwd.getpwnam("postgres")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        if initdb:
            self._as_postgres(
                str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
            self._configure("fsync = off\nmax_connections = 60\nshared_buffers = 32MB\n")

    def _configure(self, extra: str = "") -> None:
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n{extra}"
            )

    def standby(self, *, name: str = "standby1", synchronous: bool = False) -> TempCluster:
        """A streaming-replication standby of this (running) cluster, made by ``pg_basebackup -R``
        and started. ``synchronous``: this primary then waits, at each commit, until the standby has
        the commit on disk (``synchronous_standby_names``), so a promoted standby has every
        acknowledged commit."""
        made = TempCluster(initdb=False)
        made._as_postgres(
            str(BIN / "pg_basebackup"),
            "--dbname",
            f"host=127.0.0.1 port={self.port} user=postgres application_name={name}",
            "-D",
            str(made.data),
            "-X",
            "stream",
            "-R",
            "--no-sync",
        )
        made._configure()  # its own port and socket folder, after the primary's copied ones
        made.start()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name if synchronous else ''}'")
            conn.execute("SELECT pg_reload_conf()")
            wanted = "sync" if synchronous else "async"
            deadline = time.monotonic() + 30
            while conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s AND sync_state = %s",
                (name, wanted),
            ).fetchone() != (1,):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the standby {name} did not stream ({wanted}) within 30 s")
                time.sleep(0.1)
        return made

    def promote(self) -> None:
        """Makes this standby a primary (``pg_ctl promote``), waiting until it takes writes."""
        self._ctl("promote")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done

    def _ctl(self, *args: str) -> None:
        self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args)

    def start(self) -> TempCluster:
        self._ctl("start")
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()  # a standby answers reads too
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        """Stops the server (``fast``: sessions ended cleanly; ``immediate``: as if the power went),
        keeps it down for ``down_for`` seconds, then starts it again."""
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # already down
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
