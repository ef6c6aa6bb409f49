"""No GET appends anything to the case log (issue 15, item 2).

A reader may be a hot standby or a SELECT-only role, so a read must not write: safety markers are
set by the policy on the write path, never by the read that shows them. Every GET route of the
API is called, by every role, on a case with a domestic-abuse concern recorded by a writer that
did not mark the person (the previous release set markers on read); the case log's head does not
move, and the case still shows the person as protected. Recorded reads go to the access log, a
log of their own: that one grows, as it must.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from infrastructure.eventstore.application import CaseJourney
from infrastructure.http import create_app
from tests.conftest import seed_test_roster
from tests.e2e.conftest import CW, ONE_OF_EACH_ROLE, SCW, Api, http_settings, open_protected_case
from tests.integration.test_person_markers import PreviousReleaseWriter


def test_every_get_by_every_role_leaves_the_case_log_as_it_was(store_settings: Any, clock: Any) -> None:
    settings = http_settings(store_settings)
    old = PreviousReleaseWriter(settings, clock=clock)
    seed_test_roster(old)
    asgi = create_app(settings, clock=clock, app=old)
    with TestClient(asgi) as client:
        api = Api(client, settings, clock)
        case_id = open_protected_case(api)
        app: CaseJourney = old
        customer = app.customer("pwc-1")
        assert customer is None or not customer.markers  # not marked on write: the old release's store
        head = app.recorder.max_notification_id()
        values = {"case_id": case_id, "party_id": "pwc-1", "staff_id": SCW.id}
        called = 0
        for route in asgi.routes:
            if not isinstance(route, APIRoute) or "GET" not in route.methods:
                continue
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), route.path)
            for actor in [None, *ONE_OF_EACH_ROLE.values()]:
                answer = api.get(path, actor, purpose="checking what a read writes", reader=SCW.id)
                assert answer.status_code < 500, (path, actor, answer.text)
                called += 1
        assert called > 50
        assert app.recorder.max_notification_id() == head  # not one event appended by a read
        shown = api.get(f"/cases/{case_id}", CW)
        assert shown.status_code == 200, shown.text
        assert "domestic_abuse" in shown.text  # and she is shown protected all the same
    asgi.state.services.close()
    old.close()
