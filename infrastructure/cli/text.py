"""What the command line shows of stored text: exactly as written, never as terminal controls or markup.

Free text and ids come from the log (some stored before the input checks of ``domain/text.py``, or
written straight to the database). Shown raw, an ANSI escape repaints the operator's terminal, a
carriage return overwrites a line, a right-to-left override turns "called" backwards, and rich's
own markup (``[link=...]``) becomes live. So every table the CLI prints is a ``SafeTable`` (cells are
plain text with every such character escaped) and every message with data in it goes through
``safe``.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from domain.text import neutralise


def safe(value: object) -> str:
    """``value`` for a rich markup string: control characters escaped, markup inert."""
    return escape(neutralise(str(value)))


class SafeTable(Table):
    """A rich table whose string cells are plain text, control and invisible characters escaped."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(neutralise(c)) if isinstance(c, str) else c for c in renderables), **kwargs)
