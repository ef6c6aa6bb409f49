"""The HTTP API of the case journey: ``create_app(settings)`` builds it; see docs/http.md.

- ``app``: ``create_app``, the one composition root; ``deps``: what every route depends on, named;
- ``commands``: one POST per command; ``reads``: the GETs; ``staff``: the roster and alerts;
- ``auth``: bearer tokens; ``authz``: the route matrix; ``problems``: errors as RFC 9457;
- ``limits``: the request body limit.
"""

from infrastructure.http.app import create_app

__all__ = ["create_app"]
