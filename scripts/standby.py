"""A hot standby of this machine's PostgreSQL 15 server (the test server on 127.0.0.1:5432).

    sudo .venv/bin/python scripts/standby.py create                 # asynchronous, on port 5433
    sudo .venv/bin/python scripts/standby.py create --synchronous   # the primary waits for it at commit
    .venv/bin/python scripts/standby.py status                      # what the primary streams, and to whom
    sudo .venv/bin/python scripts/standby.py remove                 # the primary no longer waits; cluster dropped

``create`` makes a second cluster with ``pg_createcluster 15 standby --port 5433``, replaces its
data with ``pg_basebackup -R`` of the primary (so it starts as a streaming standby, named
``standby1``), starts it, and waits until the primary streams to it. It allows replication from
127.0.0.1 in the primary's ``pg_hba.conf`` if that is not allowed yet (and says so). With
``--synchronous`` it sets the primary's ``synchronous_standby_names``: every commit then waits until
the standby has it on disk, and **if the standby stops, every commit on the primary waits** until it
is back or ``remove`` is run. Then point the service at both:

    CASEJOURNEY_POSTGRES_URL='postgresql://postgres@127.0.0.1:5432,127.0.0.1:5433/test?target_session_attrs=read-write'
    CASEJOURNEY_POSTGRES_READ_URL='postgresql://postgres@127.0.0.1:5432,127.0.0.1:5433/test?target_session_attrs=prefer-standby'

The failover drill (``scripts/drill_failover.py``) makes a pair of its own instead, so that it can
stop its primary hard without stopping the server everyone else uses.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psycopg

VERSION = "15"
PRIMARY = "postgresql://postgres@127.0.0.1:5432/postgres"
HBA = Path(f"/etc/postgresql/{VERSION}/main/pg_hba.conf")
REPLICATION_LINE = "host replication all 127.0.0.1/32 trust"


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def allow_replication() -> None:
    lines = [line.split() for line in HBA.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if any(len(w) >= 4 and w[0] == "host" and w[1] == "replication" and w[3].startswith("127.0.0.1") for w in lines):
        return
    with HBA.open("a") as hba:
        hba.write(f"\n# added by casejourney scripts/standby.py\n{REPLICATION_LINE}\n")
    with psycopg.connect(PRIMARY, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    print(f"allowed replication from 127.0.0.1 in {HBA} (and reloaded the primary)")


def set_synchronous(name: str) -> None:
    with psycopg.connect(PRIMARY, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
        conn.execute("SELECT pg_reload_conf()")


def streams(name: str) -> tuple[str, str] | None:
    with psycopg.connect(PRIMARY) as conn:
        row = conn.execute(
            "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s", (name,)
        ).fetchone()
    return (row[0], row[1]) if row else None


def create(port: int, name: str, synchronous: bool) -> int:
    data = Path(f"/var/lib/postgresql/{VERSION}/standby")
    if Path(f"/etc/postgresql/{VERSION}/standby").exists():
        print("a cluster named standby exists already: `scripts/standby.py remove` first", file=sys.stderr)
        return 1
    allow_replication()
    sh("pg_createcluster", VERSION, "standby", "--port", str(port))
    sh("find", str(data), "-mindepth", "1", "-delete")  # an empty folder, the postgres user's, for the copy
    sh(
        "runuser", "-u", "postgres", "--",
        f"/usr/lib/postgresql/{VERSION}/bin/pg_basebackup",
        "--dbname", f"host=127.0.0.1 port=5432 user=postgres application_name={name}",
        "-D", str(data), "-X", "stream", "-R", "--checkpoint=fast",
    )  # fmt: skip
    # The standby answers as the primary does: the same client authentication.
    sh("cp", str(HBA), f"/etc/postgresql/{VERSION}/standby/pg_hba.conf")
    sh("pg_ctlcluster", "--skip-systemctl-redirect", VERSION, "standby", "start")
    if synchronous:
        set_synchronous(name)
    deadline = time.monotonic() + 30
    wanted = "sync" if synchronous else "async"
    while (state := streams(name)) != ("streaming", wanted):
        if time.monotonic() > deadline:
            print(f"the standby does not stream ({state}); see `pg_lsclusters`", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"standby {name} on port {port}: streaming from 127.0.0.1:5432, {wanted}")
    return 0


def remove(name: str) -> int:
    set_synchronous("")  # first: a primary waiting for a dropped standby would wait forever
    if Path(f"/etc/postgresql/{VERSION}/standby").exists():
        sh("pg_dropcluster", "--stop", VERSION, "standby")
    print("standby removed; the primary waits for no standby")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("create", "status", "remove"))
    parser.add_argument("--port", type=int, default=5433)
    parser.add_argument("--name", default="standby1")
    parser.add_argument("--synchronous", action="store_true")
    args = parser.parse_args()
    if args.action == "create":
        return create(args.port, args.name, args.synchronous)
    if args.action == "remove":
        return remove(args.name)
    state = streams(args.name)
    print(f"{args.name}: {state[0]}, {state[1]}" if state else f"{args.name}: not streaming")
    return 0 if state else 1


if __name__ == "__main__":
    raise SystemExit(main())
