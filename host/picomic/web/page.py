"""The static page (package data in picomic/web/static, carried by the wheel), served from memory.

Only the files listed here are served (no paths from the request reach the file system). Every response
forbids other origins' scripts and network use: the page loads nothing from anywhere but this server.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "scope.js": "text/javascript; charset=utf-8",
    "wire.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""Static file name → content type."""

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers on every page response (no-referrer: the token in the URL never leaves in a Referer)."""


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str


def load_static() -> dict[str, StaticFile]:
    """Every page file, read once from the package."""
    root = resources.files("picomic.web") / "static"
    return {name: StaticFile(root.joinpath(name).read_bytes(), ctype) for name, ctype in FILES.items()}
