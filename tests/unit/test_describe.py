"""What people read: recorded values in words, one time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain import values
from projections.describe import facts_in_words, readable_time, term, words


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (True, "yes"),
        (False, "no"),
        (None, "not recorded"),
        ([], "none"),
        (["threatened_violence", "coercive_control"], "threatened violence, coercive control"),
        ({}, "none"),
        (6, "6"),
        ("collect_and_pay", "Collect and Pay"),  # the seed documents' name
        ("other_dwp_service", "another DWP service"),
        ("pwc-s5", "pwc-s5"),  # an id is shown as it is
        ("Police_NOT called", "Police_NOT called"),  # free text is never rewritten
    ],
)
def test_a_recorded_value_reads_as_words(value: object, read: str) -> None:
    assert words(value) == read


def test_facts_keep_their_order_and_read_as_words() -> None:
    facts = {"police_involved_for_domestic_abuse": True, "disclosed_kinds": ["threatened_violence"], "x": None}
    assert facts_in_words(facts) == [
        ("police involved for domestic abuse", "yes"),
        ("disclosed kinds", "threatened violence"),
        ("x", "not recorded"),
    ]


def test_every_time_reads_in_one_format_in_utc() -> None:
    at = datetime(2026, 2, 23, 9, 0, 0, 123456, tzinfo=UTC)
    assert readable_time(at) == "2026-02-23 09:00:00 UTC"
    assert readable_time(at.astimezone(timezone(timedelta(hours=5)))) == "2026-02-23 09:00:00 UTC"
    assert readable_time("2026-02-23T10:00:00+01:00") == "2026-02-23 09:00:00 UTC"
    assert readable_time(datetime(2026, 2, 23, 9)) == "2026-02-23 09:00:00 UTC"  # naive: as written, UTC
    assert readable_time(None) == "(no time)"
    assert readable_time("not a time") == "not a time"


@pytest.mark.parametrize(
    "codes",
    [
        values.ServiceType,
        values.ApplicantRole,
        values.ConcernKind,
        values.ConcernSource,
        values.SignpostTarget,
        values.PathwayReason,
        values.EnforcementStep,
        values.Team,
    ],
)
def test_every_code_of_the_domain_reads_as_words(codes: type) -> None:
    """What the timeline, the bundle page and the reports say of an event ("concern recorded:
    coercive control (disclosed by the customer)") never shows a code."""
    for code in codes:
        said = term(code)
        assert "_" not in said and said.strip() == said and said, (code, said)
        assert words(str(code)) == said
