"""The HTTP API of the case journey (issue 4): ``create_app(settings)`` builds it; see docs/http.md."""

from infrastructure.http.app import create_app

__all__ = ["create_app"]
