"""Who may use the web view: the Origin rule, the token rule and the loopback test (DECISIONS 34, 46).

- Bound to a loopback address no token is needed; bound to any other address a token is (generated at start,
  printed in the URL), on the page and on the WebSocket, compared in constant time.
- A WebSocket is accepted with no Origin header (scripts) or with an Origin whose host:port is the request's
  Host, so a page from another site cannot open it and listen to the microphone.
- Without a token (loopback), the Host header must name a loopback address too: a site that re-points its own
  name at 127.0.0.1 (DNS rebinding) would otherwise pass the Origin rule with its own name.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

TOKEN_BYTES = 18


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (an address only this machine can reach)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_ok(expected: str | None, given: str | None) -> bool:
    """No token required (`expected` None), or `given` equals it (constant-time)."""
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def host_problem(host: str | None, token_required: bool) -> str | None:
    """None when the Host header is acceptable; else the reason the request is refused."""
    if token_required:
        return None
    name = urlsplit(f"//{host or ''}").hostname or ""
    if is_loopback(name):
        return None
    return f"host {(host or '')[:80]!r} not allowed: without a token the web view answers only to a loopback name"


def origin_problem(origin: str | None, host: str | None) -> str | None:
    """None when the Origin is acceptable; else the one-line reason the WebSocket is refused."""
    if origin is None:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"origin {origin[:80]!r} not allowed: the web view only accepts its own page"
    if host is None or parts.netloc.lower() != host.lower():
        return f"origin {origin[:80]!r} not allowed: the web view only accepts its own page ({host})"
    return None
