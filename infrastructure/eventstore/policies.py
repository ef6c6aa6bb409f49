"""Eligibility policies as data: TOML files validated by pydantic, one file per version.

Why data rather than code: "eligibility criteria will be reviewed as intake increases" (seed 1),
and a reviewed policy should be a reviewed file, not a release. The domain's policy model
(criteria made of conditions over named, recorded facts) is expressive enough for seed 1 and for
the variations a review would try (drop a part of the three-part test, add a criterion, extend to
Direct Pay); a policy that needs a new kind of fact needs a code change, deliberately.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.rules.eligibility import Condition, Criterion, EligibilityPolicy, FactName, PolicyRegistry
from domain.values import ConcernKind, ServiceType

#: The policies shipped with the service (v1 is seed 1's criteria).
SHIPPED_POLICY_DIR = Path(__file__).resolve().parent / "policy_files"


class ConditionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    fact: FactName | None = None
    disclosure_of_any: list[ConcernKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exactly_one_test(self) -> ConditionFile:
        if (self.fact is None) == (not self.disclosure_of_any):
            raise ValueError(f"condition {self.code!r} needs exactly one of 'fact' or 'disclosure_of_any'")
        return self


class CriterionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    description: str
    all_of: list[ConditionFile] = Field(min_length=1)


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    effective_from: AwareDatetime
    services: list[ServiceType] = Field(min_length=1)
    criteria: list[CriterionFile] = Field(min_length=1)

    def to_policy(self) -> EligibilityPolicy:
        return EligibilityPolicy(
            version=self.version,
            effective_from=self.effective_from,
            services=frozenset(self.services),
            criteria=tuple(
                Criterion(
                    code=c.code,
                    description=c.description,
                    all_of=tuple(
                        Condition(code=k.code, fact=k.fact, disclosure_of_any=frozenset(k.disclosure_of_any))
                        for k in c.all_of
                    ),
                )
                for c in self.criteria
            ),
        )


class PolicyFileError(ValueError):
    """Raised when a policy file cannot be read or does not validate; names the file."""


def load_policy(path: Path) -> EligibilityPolicy:
    try:
        return PolicyFile.model_validate(tomllib.loads(path.read_text())).to_policy()
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise PolicyFileError(f"policy file {path}: {exc}") from exc


def load_policies(directory: Path = SHIPPED_POLICY_DIR) -> PolicyRegistry:
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise PolicyFileError(f"no policy files (*.toml) in {directory}")
    return PolicyRegistry([load_policy(f) for f in files])
