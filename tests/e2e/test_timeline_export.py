"""The auditor's HTML timeline, rendered by a real browser (headless Chromium) and read back.

Given the seed scenarios on each store, when a case's timeline is exported, then the page Chromium
builds shows who, when, what and why, the policy versions and the doubts; free text is shown as
text, never run or fetched; and the page needs nothing from the network. Chromium comes from
``scripts/ensure_chromium.sh`` (``make test`` runs it); without it these tests skip with the
reason, and fail under CI=true.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from typer.testing import CliRunner

from domain.case.aggregate import Case
from domain.case.commands import DecideReferral, RecordConcern, RecordEntryInError
from domain.values import Actor, Role
from infrastructure.audit.chromium import dump_dom
from infrastructure.audit.html_pages import case_timeline_html
from infrastructure.eventstore.application import CaseJourney
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, open_case
from tests.conftest import cli_env

START = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # before the test clock: stories run months

#: What each story's timeline must show (checked in the DOM Chromium builds).
EXPECTED: dict[int, list[str]] = {
    1: [
        "ReferredToSpecialistTeam",
        "police involvement",
        "policy v1",
        "cw-amara",
        "scw-chloe",
        "AcceptedBySpecialistTeam",
    ],
    2: ["acs domestic abuse", "AcsInvolvementRecorded"],  # the domain's codes in words
    3: ["three part test", "SafetyRiskAssessed", "she fears for her safety at handovers"],
    4: [
        "ReferralNotMade",
        "three part test: not met: safety concern unresolved, significant threat",
        "the Affordability Hub",
    ],
    5: ["RemovalRefused", "open escalation", "scw-gwen", "EscalationRaised"],
    6: ["RemovalApproved", "cw-bilal"],
    7: ["EnforcementManagerHandedOver", "em-erin", "Manager moves to the liability order team."],
    8: ["ExpeditedDeadlineMissed", "svc-deadline-clock", "ServiceDesignIssueRaised", "no owner between shifts"],
    9: ["ExpeditedPathwayClosed", "Hardship addressed: payments resumed."],
    10: ["CaseClosed", "The child has left full-time education."],
}


def rendered_text(chromium: str, page: str, tmp_path: Path, name: str) -> tuple[str, str]:
    """(DOM as Chromium serialises it, its visible text with tags stripped and entities kept)."""
    path = tmp_path / f"{name}.html"
    path.write_text(page)
    dom = dump_dom(path, binary=chromium)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    return dom, text


def test_the_timeline_of_every_seed_scenario_shows_who_when_what_and_why(
    app: CaseJourney, chromium: str, tmp_path: Path
) -> None:
    for scenario in SCENARIOS:
        journey = run_scenario(app, scenario, START)
        assert journey.case_id is not None
        events = app.case_events(journey.case_id)
        page = case_timeline_html(journey.case_id, events, generated_at=app.clock(), generated_for="aud-eve (test)")
        dom, text = rendered_text(chromium, page, tmp_path, f"scenario-{scenario.number}")
        assert f"Safeguarding journey of case {journey.case_id}" in text
        assert text.count("recorded 2026-") == len(events)  # one row per event, each with both times
        assert len(re.findall(r'<tr class="(?:safety|other)', dom)) == len(events)
        for expected in EXPECTED[scenario.number]:
            assert expected in text, (scenario.number, expected)
        assert "<script" not in dom and "<img" not in dom and "<link" not in dom


def test_free_text_is_shown_as_text_and_the_page_fetches_nothing(
    app: CaseJourney, chromium: str, tmp_path: Path
) -> None:
    case_id = open_case(app)
    hostile = '</td></tr><script>document.title="owned"</script><img src="http://example.invalid/x.png"> & "quotes"'
    app.execute(
        RecordConcern(
            case_id=case_id,
            kind="coercive_control",
            source="customer_disclosure",
            affected_party_id="pwc-1",
            note=hostile,
        ),
        CASEWORKER,
    )
    app.execute(DecideReferral(case_id=case_id, discretionary=True, reason="<b>bold</b> claim"), CASEWORKER)
    page = case_timeline_html(case_id, app.case_events(case_id), generated_at=app.clock(), generated_for="aud")
    assert 'http-equiv="Content-Security-Policy"' in page and "default-src 'none'" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?https?:""", page)  # nothing to fetch
    dom, text = rendered_text(chromium, page, tmp_path, "hostile")
    assert "<script" not in dom and "<img" not in dom and "<b>" not in dom
    assert '&lt;script&gt;document.title="owned"&lt;/script&gt;' in dom  # shown, as text
    assert "owned" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)  # type: ignore[union-attr]
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in dom
    assert "discretionary" in text


def test_export_writes_the_page_and_records_the_read(
    store_settings: Settings, app: CaseJourney, tmp_path: Path
) -> None:
    from infrastructure.cli.main import cli

    journey = run_scenario(app, SCENARIOS[4], START)
    case_id: UUID | None = journey.case_id
    assert case_id is not None
    env = cli_env(store_settings)
    out = tmp_path / "timeline.html"
    args = [
        "export",
        str(case_id),
        "--html",
        "--out",
        str(out),
        "--auditor",
        "aud-eve",
        "--purpose",
        "complaint review",
    ]
    done = CliRunner().invoke(cli, args, env=env)
    assert done.exit_code == 0, done.output
    page = out.read_text()
    assert "RemovalRefused" in page and "open escalation" in page and "aud-eve (complaint review)" in page
    assert out.stat().st_mode & 0o777 == 0o600  # readable by its owner only, whatever the umask
    reads = log_reads(store_settings, case_id)
    assert [(r.actor_id, r.actor_role, r.purpose) for r in reads] == [("aud-eve", "auditor", "complaint review")]

    unknown = CliRunner().invoke(cli, [*args[:1], "00000000-0000-0000-0000-000000000001", *args[2:]], env=env)
    assert unknown.exit_code == 1, unknown.output
    assert "00000000-0000-0000-0000-000000000001" in unknown.output
    assert len(log_reads(store_settings, case_id)) == 1  # a refused export records no read


def test_the_exported_page_reads_as_evidence(
    store_settings: Settings, app: CaseJourney, chromium: str, tmp_path: Path
) -> None:
    """Facts in words, the corrected row legible with its note, each doubt once, one time format,
    and the checkpoint the page was checked against named."""
    from infrastructure.cli.main import cli

    journey = run_scenario(app, SCENARIOS[4], START)  # removal refused while doubt remains
    case_id = journey.case_id
    assert case_id is not None
    resolved = next(e for e in app.case_events(case_id) if isinstance(e, Case.ConcernResolved))
    correction = "The concern was recorded against the wrong parent; it concerns the new partner."
    app.execute(
        RecordEntryInError(case_id=case_id, corrected_version=resolved.originator_version, correction=correction),
        Actor(id=app.get_case(case_id).named_caseworker_id or "scw", role=Role.SPECIALIST_CASEWORKER),
    )
    env = cli_env(store_settings)
    assert CliRunner().invoke(cli, ["checkpoint"], env=env).exit_code == 0
    out = tmp_path / "evidence.html"
    args = ["export", str(case_id), "--out", str(out), "--auditor", "aud-eve", "--purpose", "complaint review"]
    done = CliRunner().invoke(cli, args, env=env)
    assert done.exit_code == 0, done.output
    page = out.read_text()
    _, text = rendered_text(chromium, page, tmp_path, "evidence")

    for repr_only in ("True", "False", "None", "['", "[]", "+00:00"):
        assert repr_only not in text, repr_only
    assert "police involved for domestic abuse: yes" in text and "under acs for domestic abuse: no" in text
    assert "line-through" not in page and "opacity" not in page  # the corrected row stays readable
    version = app.get_case(case_id).version
    assert re.search(rf"recorded in error corrected by event {version} ?: {re.escape(correction)}", text)
    assert text.count(correction) == 2  # in full on the corrected row, and as the correction's why
    refused = next(e for e in app.case_events(case_id) if isinstance(e, Case.RemovalRefused))
    for doubt in refused.doubts:
        assert text.count(doubt["explanation"]) == 1, doubt
    dates = re.findall(r"\d{4}-\d\d-\d\d", text)
    assert len(dates) > 2 * version  # each event's two times, and the page's own
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)) == len(dates)  # one format
    assert re.search(rf"{version} of them proved in the checkpoint of \d+ events signed \S+ \S+ UTC by \S+", text)
    assert re.search(r"Checkpoint root hash [0-9a-f]{64}", text)


def log_reads(settings: Settings, case_id: UUID) -> list[Any]:
    from infrastructure.access.log import AccessLog

    log = AccessLog(settings)
    try:
        return log.reads(case_id)
    finally:
        log.close()
