"""Typed domain errors: each has a stable machine-readable ``code`` and a human sentence.

The HTTP layer maps them to responses (404, 409, 403, 422); the CLI prints the sentence.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID


class DomainError(Exception):
    """Raised when a command is refused. ``code`` is stable; ``message`` is for people."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class RuleViolation(DomainError):
    """Raised when a command breaks a rule of the case journey (HTTP 409)."""

    code = "rule_violation"


def require(condition: bool, code: str, message: str) -> None:
    """Raises ``RuleViolation(message, code=code)`` unless ``condition`` holds."""
    if not condition:
        raise RuleViolation(message, code=code)


class CaseClosedError(RuleViolation):
    """Raised when any command but a correction is sent to a closed case."""

    code = "case_closed"


class NotPermitted(DomainError):
    """Raised when the actor's role may not perform the command (HTTP 403)."""

    code = "role_not_permitted"


class CaseNotFound(DomainError):
    """Raised when no case has the given id (HTTP 404)."""

    code = "case_not_found"

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"No case with id {case_id}.", case_id=str(case_id))


class ConcurrencyConflict(DomainError):
    """Raised when the expected version is not the case's current version (HTTP 409)."""

    code = "version_conflict"

    def __init__(self, case_id: UUID, expected: int, current: int) -> None:
        super().__init__(
            f"Case {case_id} is at version {current}, not the expected version {expected}:"
            " read it again and decide on the current state.",
            case_id=str(case_id),
            expected_version=expected,
            current_version=current,
        )
        self.current_version = current


class IdempotencyKeyReused(DomainError):
    """Raised when a command id already used for one command comes with different content."""

    code = "command_id_reused"


class NotATeamMember(RuleViolation):
    """Raised when a command names a person, or is made by one, who is not a current member of the
    team the rule needs (the staff roster, ``domain/staff``)."""

    code = "not_a_current_member"


class NoLegitimateRelationship(NotPermitted):
    """Raised when a reader has no legitimate relationship to the case for what they ask to see (HTTP 403)."""

    code = "no_legitimate_relationship"
