"""Device text made safe for a terminal or a log line (DECISIONS 33).

A board is untrusted: any string it sends (INFO fields, error replies, a USB serial number) may hold terminal
escape sequences that clear the screen, recolour it or set the window title. `printable()` escapes every
control character — C0 (including newline and tab), DEL, C1, and the Unicode bidirectional overrides that
reorder what a reader sees — as a `\\xNN` / `\\uNNNN` escape, so the text stays readable and inert. JSON output
does not need it (`json.dumps` escapes control characters); it is for terminal and log text.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

MAX_SHOWN_CHARS = 200
"""Device strings longer than this are cut (with `…`) before they are shown."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as one line of inert text: control characters escaped, at most `limit` characters kept."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _UNSAFE.sub(_escape, text)
