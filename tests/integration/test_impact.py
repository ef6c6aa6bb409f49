"""Impact assessment on a generated population whose expected changes are known by construction.

Given several hundred journeys written through the application (eight profiles of recorded facts
and judgements), when a candidate policy is assessed, then exactly the cases of the profiles the
candidate treats differently change, with the counts by criterion, source, service type and team
that follow from how they were built. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.rules.eligibility import POLICY_V1
from infrastructure.audit.impact import IMPACT_COLUMNS, NEWLY_ELIGIBLE, NO_LONGER_ELIGIBLE, assess, facts_from_record
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.policies import load_policy
from infrastructure.settings import Settings
from tests.conftest import FakeClock, cli_env
from tests.integration.population import START, Built, build_population

PER_PROFILE = 40  # 8 profiles: 320 cases, ~1400 commands
NO_THREAT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "candidate-v2-no-significant-threat.toml"
V1_FILE = Path(__file__).resolve().parents[2] / "infrastructure" / "eventstore" / "policy_files" / "v1.toml"
DIRECT_PAY = Path(__file__).resolve().parents[2] / "docs" / "examples" / "candidate-v2-direct-pay-too.toml"
WITHOUT_POLICE = replace(
    POLICY_V1,
    version="v2-candidate-without-police",
    criteria=tuple(c for c in POLICY_V1.criteria if c.code != "police_involvement"),
)


@pytest.fixture
def population(store_settings: Settings, clock: FakeClock) -> tuple[CaseJourney, list[Built]]:
    app = CaseJourney(store_settings, clock=clock)
    built = build_population(app, PER_PROFILE)
    yield app, built  # type: ignore[misc]
    app.close()


def ids(built: list[Built], *profiles: str) -> set[str]:
    return {str(b.case_id) for b in built if b.profile in profiles}


def test_dropping_the_significant_threat_part_makes_exactly_the_no_threat_cases_newly_eligible(
    population: tuple[CaseJourney, list[Built]],
) -> None:
    app, built = population
    report = assess(app, load_policy(NO_THREAT))

    assert len(report.decisions) == len(built) == 8 * PER_PROFILE
    newly = {d.case_id for d in report.changes if d.change == NEWLY_ELIGIBLE}
    assert newly == ids(built, "no_threat")
    assert not [d for d in report.changes if d.change == NO_LONGER_ELIGIBLE]
    for d in report.changes:
        assert d.candidate_criteria_met == ("two_part_test",)
        assert d.criteria_behind() == "meets two_part_test"
    # Discretionary referrals are apart, never a "change": they stand; all would now qualify.
    assert {d.case_id for d in report.discretionary} == ids(built, "discretionary")
    assert report.counts()["discretionary_now_eligible"] == PER_PROFILE
    assert report.by_dimension("source") == {
        "customer_disclosure": {NEWLY_ELIGIBLE: PER_PROFILE, NO_LONGER_ELIGIBLE: 0}
    }
    assert report.by_dimension("service_type") == {
        "collect_and_pay": {NEWLY_ELIGIBLE: PER_PROFILE, NO_LONGER_ELIGIBLE: 0}
    }
    assert report.by_dimension("team") == {"mainstream": {NEWLY_ELIGIBLE: PER_PROFILE, NO_LONGER_ELIGIBLE: 0}}
    criteria = report.by_criterion()
    # Recorded: as v1 decided. Candidate: the two-part test holds for three_part, no_threat, discretionary.
    assert criteria["three_part_test"]["recorded"] == PER_PROFILE
    assert criteria["two_part_test"] == {
        "recorded": 0,
        "candidate": 3 * PER_PROFILE,
        NEWLY_ELIGIBLE: PER_PROFILE,
        NO_LONGER_ELIGIBLE: 0,
    }
    assert criteria["police_involvement"]["recorded"] == criteria["police_involvement"]["candidate"] == PER_PROFILE


def test_dropping_police_involvement_leaves_exactly_the_police_cases_no_longer_eligible_by_source_and_team(
    population: tuple[CaseJourney, list[Built]],
) -> None:
    app, built = population
    report = assess(app, WITHOUT_POLICE)

    gone = [d for d in report.changes if d.change == NO_LONGER_ELIGIBLE]
    assert {d.case_id for d in gone} == ids(built, "police")
    assert not [d for d in report.changes if d.change == NEWLY_ELIGIBLE]
    police = [b for b in built if b.profile == "police"]
    by_source = Counter(b.source for b in police)
    assert report.by_dimension("source") == {
        source: {NEWLY_ELIGIBLE: 0, NO_LONGER_ELIGIBLE: n} for source, n in sorted(by_source.items())
    }
    accepted = sum(b.accepted for b in police)
    assert 0 < accepted < PER_PROFILE
    assert report.by_dimension("team") == {
        "mainstream": {NEWLY_ELIGIBLE: 0, NO_LONGER_ELIGIBLE: PER_PROFILE - accepted},
        "specialist_case_team": {NEWLY_ELIGIBLE: 0, NO_LONGER_ELIGIBLE: accepted},
    }
    for d in gone:
        assert d.recorded_criteria_met == ("police_involvement",)
        assert (
            "three_part_test: disclosure, safety_concern_unresolved, significant_threat not met" in d.criteria_behind()
        )


def test_extending_to_direct_pay_shows_by_service_type_and_a_period_selects_by_decision_time(
    population: tuple[CaseJourney, list[Built]],
) -> None:
    app, built = population
    report = assess(app, load_policy(DIRECT_PAY))
    assert {d.case_id for d in report.changes} == ids(built, "direct_pay_police")
    assert report.by_dimension("service_type") == {"direct_pay": {NEWLY_ELIGIBLE: PER_PROFILE, NO_LONGER_ELIGIBLE: 0}}

    # A period: decisions in [from, to) by business time; known by construction (one per hour).
    boundary = 6 * PER_PROFILE  # the first direct_pay_police case
    lo, hi = START + timedelta(hours=boundary - 5), START + timedelta(hours=boundary + 5)
    windowed = assess(app, load_policy(DIRECT_PAY), period_from=lo, period_to=hi)
    expected = [b for b in built if lo <= b.decided_at < hi]
    assert len(expected) == 10 and len({b.profile for b in expected}) == 2
    assert sorted(d.case_id for d in windowed.decisions) == sorted(str(b.case_id) for b in expected)
    assert {d.case_id for d in windowed.changes} == {
        str(b.case_id) for b in expected if b.profile == "direct_pay_police"
    }


def test_recorded_facts_rebuild_exactly_and_v1_itself_changes_nothing(
    population: tuple[CaseJourney, list[Built]],
) -> None:
    app, _ = population
    report = assess(app, POLICY_V1)
    assert report.changes == []  # the policy in force, applied to its own recorded facts, agrees with itself
    # Reads decisions, concerns and team moves by topic: never the whole log.
    head = app.recorder.max_notification_id() or 0
    assert report.events_read < head
    record = {
        "service_type": "collect_and_pay",
        "under_acs_for_domestic_abuse": False,
        "police_involved_for_domestic_abuse": True,
        "disclosed_kinds": ["coercive_control"],
        "safety_concern_unresolved": True,
        "significant_threat": True,
        "judgement_recorded_in_version": 4,
        "concern_changes_since_judgement": [6],
    }
    assert facts_from_record(record).as_record() == record
    # A decision recorded before the judgement's provenance was: the same facts, with none named.
    older = {
        k: v for k, v in record.items() if k not in ("judgement_recorded_in_version", "concern_changes_since_judgement")
    }
    assert facts_from_record(older).as_record() == {
        **older,
        "judgement_recorded_in_version": None,
        "concern_changes_since_judgement": [],
    }


def test_the_impact_command_reports_the_same_as_json_and_csv(
    population: tuple[CaseJourney, list[Built]], store_settings: Settings, tmp_path: Path
) -> None:
    from infrastructure.cli.main import cli

    app, built = population
    env = cli_env(store_settings)
    runner = CliRunner()
    chart = tmp_path / "impact.html"
    done = runner.invoke(
        cli, ["impact", "--candidate", str(NO_THREAT), "--format", "json", "--chart", str(chart)], env=env
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout[done.stdout.index("{") :])
    assert data["counts"][NEWLY_ELIGIBLE] == PER_PROFILE
    assert {c["case_id"] for c in data["changes"]} == ids(built, "no_threat")
    page = chart.read_text()
    assert "<svg" in page and "two_part_test" in page and "http://www.w3.org/2000/svg" in page
    assert "<script" not in page and "https://" not in page

    done = runner.invoke(
        cli, ["impact", "--candidate", str(NO_THREAT), "--format", "csv", "--to", "2026-01-05"], env=env
    )
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stdout.splitlines() if line]
    # 2026-01-05 inclusive: decisions at 09:05 .. 23:05 of that day, indexes 0..14: all "police" cases.
    assert lines[0].split(",") == IMPACT_COLUMNS == list(assess(app, POLICY_V1).decisions[0].as_row())
    assert len(lines) == 1  # police cases are unchanged under this candidate: nothing to list

    # as people read it: each changed case whole, with what changes on one line; an empty table is a sentence
    done = runner.invoke(cli, ["impact", "--candidate", str(NO_THREAT)], env=env)
    assert done.exit_code == 0, done.output
    for case_id in ids(built, "no_threat"):
        assert case_id in done.stdout
    assert "newly eligible (recorded: not referred), decided" in done.stdout
    assert re.search(r"│ 2026-\d\d-\d\d \d\d:\d\d:00 UTC +│", done.stdout)  # the one time format, whole
    same = runner.invoke(cli, ["impact", "--candidate", str(V1_FILE)], env=env)
    assert same.exit_code == 0, same.output
    assert "No changes: no case's outcome would change under the candidate." in same.stdout
    assert "By team: no changes." in same.stdout and "By source of concern: no changes." in same.stdout
