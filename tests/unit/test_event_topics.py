"""Event topics are a published contract: explicit, stable, unique and resolvable.

The stored log names each event by its topic. A topic that follows the module path would orphan
every stored event when the module moves; an explicit ``casejourney.case:<Name>`` never does. The
frozen list below makes a rename, a removal or an addition a deliberate change to this file.
"""

from __future__ import annotations

import pytest
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.case.aggregate import TOPIC_PREFIX, Case

EXPECTED_TOPICS = [
    "casejourney.case:ApplicationReceived",
    "casejourney.case:CaseworkerAssigned",
    "casejourney.case:ServiceTypeChanged",
    "casejourney.case:ConcernRecorded",
    "casejourney.case:ConcernResolved",
    "casejourney.case:SignpostingGiven",
    "casejourney.case:SafetyRiskAssessed",
    "casejourney.case:PoliceInvolvementEnded",
    "casejourney.case:AcsInvolvementRecorded",
    "casejourney.case:ReferredToSpecialistTeam",
    "casejourney.case:ReferralNotMade",
    "casejourney.case:AcceptedBySpecialistTeam",
    "casejourney.case:EnforcementStarted",
    "casejourney.case:EnforcementManagerHandedOver",
    "casejourney.case:EnforcementEnded",
    "casejourney.case:ExpeditedPathwayOpened",
    "casejourney.case:ExpeditedPathwayClosed",
    "casejourney.case:ExpeditedDeadlineMissed",
    "casejourney.case:EscalationRaised",
    "casejourney.case:EscalationResolved",
    "casejourney.case:ServiceDesignIssueRaised",
    "casejourney.case:RemovalRequested",
    "casejourney.case:RemovalApproved",
    "casejourney.case:RemovalRefused",
    "casejourney.case:CaseClosed",
    "casejourney.case:EntryRecordedInError",
]


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _events_nested_in_case() -> set[type]:
    return {
        value
        for value in vars(Case).values()
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and value is not Case.Event
    }


EVENT_CLASSES = sorted(Case.EVENT_CLASSES.values(), key=lambda cls: cls.__name__)


def test_the_event_catalogue_is_every_case_event_class() -> None:
    # Found two other ways: nested in the aggregate, and as subclasses of the base event.
    catalogue = set(Case.EVENT_CLASSES.values())
    assert _events_nested_in_case() == catalogue
    assert _all_subclasses(Case.Event) == catalogue


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_every_event_class_declares_its_own_topic(event_class: type[Case.Event]) -> None:
    topic = event_class.__dict__.get("TOPIC")  # declared on the class itself, not inherited

    assert isinstance(topic, str)
    assert topic.startswith("casejourney.case:")
    assert topic.startswith(TOPIC_PREFIX)
    assert len(topic) > len(TOPIC_PREFIX)


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_every_topic_resolves_to_its_class_and_is_what_gets_stored(event_class: type[Case.Event]) -> None:
    assert resolve_topic(event_class.TOPIC) is event_class
    assert get_topic(event_class) == event_class.TOPIC


def test_the_topics_are_unique() -> None:
    topics = [cls.TOPIC for cls in Case.EVENT_CLASSES.values()]

    assert len(set(topics)) == len(topics)


def test_the_topics_are_the_published_ones() -> None:
    assert sorted(cls.TOPIC for cls in Case.EVENT_CLASSES.values()) == sorted(EXPECTED_TOPICS)
    assert len(EXPECTED_TOPICS) == len(set(EXPECTED_TOPICS))


def test_the_aggregate_itself_has_a_stable_topic() -> None:
    assert Case.TOPIC == "casejourney.case:Case"
    assert resolve_topic("casejourney.case:Case") is Case
    assert get_topic(Case) == "casejourney.case:Case"


def test_the_created_event_is_the_application_received() -> None:
    assert Case.Created is Case.ApplicationReceived
    assert Case.ApplicationReceived.TOPIC == "casejourney.case:ApplicationReceived"
