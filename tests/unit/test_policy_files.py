"""Eligibility policies as data: the shipped v1 file is seed 1, and bad files are refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.rules.eligibility import POLICY_V1, ReferralFacts
from domain.values import ConcernKind, ServiceType
from infrastructure.eventstore.policies import SHIPPED_POLICY_DIR, PolicyFileError, load_policies, load_policy

V2 = """
version = "v2-candidate"
effective_from = 2027-01-01T00:00:00Z
services = ["collect_and_pay", "direct_pay"]
[[criteria]]
code = "disclosure_and_unresolved"
description = "a disclosure and an unresolved safety concern (no significant-threat test)"
all_of = [
  { code = "disclosure", disclosure_of_any = ["coercive_control", "financial_control", "economic_abuse"] },
  { code = "safety_concern_unresolved", fact = "safety_concern_unresolved" },
]
"""


def test_the_shipped_v1_file_is_exactly_seed_1_as_coded() -> None:
    assert load_policy(SHIPPED_POLICY_DIR / "v1.toml") == POLICY_V1


def test_a_new_version_is_a_new_file_and_applies_from_its_date(tmp_path: Path) -> None:
    (tmp_path / "v1.toml").write_text((SHIPPED_POLICY_DIR / "v1.toml").read_text())
    (tmp_path / "v2.toml").write_text(V2)
    registry = load_policies(tmp_path)
    assert registry.in_force(datetime(2026, 6, 1, tzinfo=UTC)).version == "v1"
    v2 = registry.in_force(datetime(2027, 1, 1, tzinfo=UTC))
    assert v2.version == "v2-candidate"
    facts = ReferralFacts(
        service_type=ServiceType.DIRECT_PAY,
        under_acs_for_domestic_abuse=False,
        police_involved_for_domestic_abuse=False,
        disclosed_kinds=frozenset({ConcernKind.ECONOMIC_ABUSE}),
        safety_concern_unresolved=True,
        significant_threat=False,
    )
    assert v2.evaluate(facts).eligible
    assert not POLICY_V1.evaluate(facts).eligible


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (V2.replace('fact = "safety_concern_unresolved"', 'fact = "gut_feeling"'), "fact"),
        (V2.replace('services = ["collect_and_pay", "direct_pay"]', "services = []"), "services"),
        (V2.replace("2027-01-01T00:00:00Z", "2027-01-01T00:00:00"), "effective_from"),
        (V2 + "\nsurprise = 1\n", "surprise"),
        ("version = ", "Invalid value"),
    ],
)
def test_an_invalid_policy_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, body: str, complaint: str
) -> None:
    path = tmp_path / "v2.toml"
    path.write_text(body)
    with pytest.raises(PolicyFileError) as refused:
        load_policy(path)
    assert str(path) in str(refused.value)
    assert complaint in str(refused.value)
