"""What counts as text here: checks at the boundary, and neutralised output for terminals and pages.

Free text (reasons, notes, purposes) and ids reach operators' terminals, auditors' pages and other
systems. Three rules keep them honest:

- **Nothing invisible that changes what is seen.** Control characters (an ANSI escape repaints a
  terminal, NUL cuts a C string, a carriage return overwrites a line) and the Unicode characters
  that reorder or hide text (bidirectional embeddings, overrides and isolates, zero-width space,
  word joiner, byte-order mark, line and paragraph separators) are refused on input. The joiners
  and direction marks that real writing needs (ZWJ, ZWNJ, LRM, RLM) are kept.
- **A reason says something.** Blank means nothing visible once whitespace and format characters
  are taken away: spaces, tabs or a zero-width space are not a reason.
- **Output is neutralised anyway.** Events stored before these checks, or written straight to the
  database, are shown with every such character as a visible escape (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import unicodedata

#: Characters that reorder or hide text, refused in input and escaped in output.
_INVISIBLE_EDITS = frozenset(
    "\u200b"  # zero-width space
    "\u2028\u2029"  # line and paragraph separators
    "\u202a\u202b\u202c\u202d\u202e"  # bidirectional embeddings and overrides
    "\u2060"  # word joiner
    "\u2066\u2067\u2068\u2069"  # bidirectional isolates
    "\ufeff"  # byte-order mark / zero-width no-break space
)

MAX_ID_LENGTH = 100


def _unsafe(char: str, *, multiline: bool) -> bool:
    if char in "\n\t":
        return not multiline
    return char in _INVISIBLE_EDITS or unicodedata.category(char) in ("Cc", "Cs")


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why ``value`` is not acceptable text (a sentence fragment), or ``None`` if it is."""
    for position, char in enumerate(value):
        if _unsafe(char, multiline=multiline):
            return f"contains the invisible or control character {_escape(char)} at position {position + 1}"
    return None


def visible(value: str) -> str:
    """``value`` without surrounding whitespace and without format characters: what a reader sees."""
    return "".join(c for c in value if unicodedata.category(c) != "Cf").strip()


def is_blank(value: str) -> bool:
    return not visible(value)


#: Prefixes of the text keys' names in the keys table (``case_text.py``): a party id never takes one,
#: so no person's key can be a case's text key, nor her erasure destroy another case's text.
RESERVED_ID_PREFIXES = ("case:", "reads:")


def id_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable id (of a person, a party, a service), or ``None``."""
    if not value or is_blank(value):
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if any(c.isspace() or _unsafe(c, multiline=False) or unicodedata.category(c) == "Cf" for c in value):
        return "must not contain spaces, control or invisible characters"
    if value.lower().startswith(RESERVED_ID_PREFIXES):
        return "must not start with 'case:' or 'reads:' (the names of text keys)"
    return None


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(value: str, *, multiline: bool = True) -> str:
    """``value`` with every control or invisible character shown as a visible escape."""
    if not any(_unsafe(c, multiline=multiline) for c in value):
        return value
    return "".join(_escape(c) if _unsafe(c, multiline=multiline) else c for c in value)


def meaningful(value: str | None, *, min_visible: int = 3) -> bool:
    """True when ``value`` says something: at least ``min_visible`` visible characters, none unsafe."""
    return value is not None and len(visible(value)) >= min_visible and text_problem(value) is None
