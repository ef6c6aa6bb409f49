"""docs/events.md is the published event contract: it must say what the code stores."""

from __future__ import annotations

from pathlib import Path

from domain.case.aggregate import Case
from infrastructure.eventstore.catalogue import event_schemas, markdown

DOC = Path(__file__).parents[2] / "docs" / "events.md"


def test_docs_events_md_is_in_step_with_the_event_classes() -> None:
    assert DOC.read_text() == markdown(), "regenerate: .venv/bin/casejourney events --markdown > docs/events.md"


def test_every_event_has_a_schema_under_its_stored_topic() -> None:
    schemas = event_schemas()
    assert {cls.TOPIC for cls in Case.EVENT_CLASSES.values()} < set(schemas)
    assert schemas["casejourney.customer:DetailsRecorded"]["x-personal-data"] == [
        "name",
        "address",
        "phone",
        "email",
        "bank_account",
    ]
    assert schemas["casejourney.case:ConcernRecorded"]["x-class-version"] == 2
    assert "reason" in schemas["casejourney.case:EnforcementManagerHandedOver"]["required"]
