"""The roster, the alerts and the CLI's text, run as an operator would: a real process, a real SQLite store."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from uuid import UUID

from domain.case.commands import RecordConcern
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.access.reads import CaseReads, CustomerDirectory
from infrastructure.eventstore.application import CaseJourney
from infrastructure.samples.scenarios import seed_demo_roster
from infrastructure.settings import Settings
from tests.builders import SERVICE, open_case
from tests.e2e.test_cli import run

ESC = "\x1b"


def events_stored(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "var" / "casejourney.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def test_the_demo_seeds_the_roster_and_a_second_run_appends_nothing_at_all(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    stored = events_stored(tmp_path)

    again = run("demo", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert events_stored(tmp_path) == stored
    members = json.loads(run("staff", "list", "--format", "json", cwd=tmp_path).stdout)
    assert {(m["team"], m["staff_id"]) for m in members} >= {
        ("specialist_case_team", "scw-chloe"),
        ("mainstream_caseworking", "cw-amara"),
        ("enforcement", "em-dev"),
    }
    assert "not_the_enforcement_manager" in again.stdout and "specialist_team_only" in again.stdout


def test_a_team_leader_changes_the_roster_and_refusals_are_sentences(tmp_path: Path) -> None:
    joined = run(
        "staff",
        "join",
        "scw-new",
        "--team",
        "specialist_case_team",
        "--reason",
        "Joined.",
        "--by",
        "tl-ian",
        cwd=tmp_path,
    )
    assert joined.returncode == 0 and "scw-new joined specialist_case_team" in joined.stdout

    own = run("staff", "join", "tl-ian", "--team", "audit", "--reason", "Me too.", "--by", "tl-ian", cwd=tmp_path)
    twice = run(
        "staff", "join", "scw-new", "--team", "specialist_case_team", "--reason", "x", "--by", "tl-ian", cwd=tmp_path
    )
    bad_team = run("staff", "join", "x", "--team", "cleaners", "--reason", "x", "--by", "tl-ian", cwd=tmp_path)
    blank = run(
        "staff",
        "leave",
        "scw-new",
        "--team",
        "specialist_case_team",
        "--reason",
        "\u200b",
        "--by",
        "tl-ian",
        cwd=tmp_path,
    )

    assert (own.returncode, twice.returncode, bad_team.returncode, blank.returncode) == (1, 1, 2, 2)
    assert "Nobody changes their own team membership" in own.stderr
    assert "already a member of the Specialist Case Team" in twice.stderr
    assert "--team must be one of" in bad_team.stderr
    assert "Traceback" not in own.stderr + twice.stderr + bad_team.stderr + blank.stderr
    changes = run("staff", "changes", "scw-new", cwd=tmp_path)
    assert "joined" in changes.stdout and "tl-ian" in changes.stdout


def test_break_glass_alerts_are_listed_and_reviewed_from_the_command_line(tmp_path: Path) -> None:
    settings = Settings(sqlite_path=tmp_path / "var" / "casejourney.sqlite")
    app = CaseJourney(settings)
    log = AccessLog(settings)
    try:
        seed_demo_roster(app)
        case_id = open_case(app, SERVICE, receiving_parent_id="pwc-z", paying_parent_id="nrp-z")
        reader = Actor("cw-amara", Role.CASEWORKER)
        CaseReads(app, log, CustomerDirectory(app), app.clock).allow_history(
            reader, case_id, purpose="urgent call", break_glass_reason="Customer in danger; caseworker away."
        )
    finally:
        log.close()
        app.close()

    listed = json.loads(run("alerts", "list", "--open", "--format", "json", cwd=tmp_path).stdout)
    [alert] = listed
    assert (alert["case_id"], alert["actor"]["id"], alert["read"]) == (str(case_id), "cw-amara", "safeguarding_history")
    own = run(
        "alerts",
        "review",
        alert["alert_id"],
        "--outcome",
        "justified",
        "--note",
        "Fine.",
        "--by",
        "cw-amara",
        "--role",
        "caseworker",
        cwd=tmp_path,
    )
    assert own.returncode == 1 and "may not review break glass" in own.stderr
    done = run(
        "alerts",
        "review",
        alert["alert_id"],
        "--outcome",
        "justified",
        "--note",
        "Checked with her manager.",
        "--by",
        "aud-ines",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(run("alerts", "list", "--open", "--format", "json", cwd=tmp_path).stdout) == []


def test_history_shows_control_characters_stored_before_the_checks_as_visible_escapes(tmp_path: Path) -> None:
    settings = Settings(sqlite_path=tmp_path / "var" / "casejourney.sqlite")
    app = CaseJourney(settings)
    try:
        case_id = open_case(app, SERVICE, receiving_parent_id="pwc-y", paying_parent_id="nrp-y")
        # Stored as an older build (or a row written straight to the database) would have it.
        hostile = RecordConcern.model_construct(
            case_id=case_id,
            kind="coercive_control",
            source="customer_disclosure",
            affected_party_id="pwc-y",
            police_involved=False,
            note=f"{ESC}[2J{ESC}[31mPolice NOT called\u202e [link=http://x]y[/link]\x00",
            concern_id=None,
            command_id=UUID(int=99),
            correlation_id=None,
            causation_id=None,
            occurred_at=None,
            expected_version=None,
        )
        app.execute(hostile, SERVICE)
    finally:
        app.close()

    shown = run("history", str(case_id), cwd=tmp_path)

    assert shown.returncode == 0, shown.stderr
    assert ESC not in shown.stdout and "\x00" not in shown.stdout and "\u202e" not in shown.stdout
    assert "\\x1b[2J" in shown.stdout and "\\u202e" in shown.stdout and "[link=http://x]" in shown.stdout


def test_export_writes_a_file_only_its_owner_reads_and_never_through_a_link(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    case_id = json.loads(run("history", "--scenario", "5", "--format", "json", cwd=tmp_path).stdout)[0]["case_id"]
    victim = tmp_path / "someone-elses-file"
    victim.write_text("keep me")
    link = tmp_path / "timeline.html"
    link.symlink_to(victim)
    os.umask(0o022)

    done = run(
        "export", case_id, "--auditor", "aud-ines", "--purpose", "complaint review", "--out", str(link), cwd=tmp_path
    )
    stranger = run("export", case_id, "--auditor", "aud-nobody", "--purpose", "complaint review", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "keep me"  # the link was replaced, not written through
    assert not link.is_symlink() and link.stat().st_mode & 0o777 == 0o600
    assert "Safeguarding journey" in link.read_text()
    assert stranger.returncode == 1 and "no legitimate relationship" in stranger.stderr  # not on the audit team
