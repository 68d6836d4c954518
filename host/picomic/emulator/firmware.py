"""Putting picomic's firmware on an emulated Pico the way it gets onto a user's board: `picomic flash` through
mpremote (plan, copy, verify, reset, handshake) — only when the board does not already answer with it."""

from __future__ import annotations

from collections.abc import Callable

from picomic.deploy.boardfs import inspect, stop_stream
from picomic.deploy.flash import firmware_version, install
from picomic.link.ports import probe_port


def ensure_firmware(port: str, board: str | None = None, say: Callable[[str], None] = lambda line: None) -> bool:
    """Flash the firmware onto the board on `port` unless it already runs this host's version; True if it
    flashed. The emulated Pico's flash persists between runs, so this copies only once per UF2."""
    if probe_port(port).get("firmware") == firmware_version():
        return False
    stop_stream(port)
    say(install(port, inspect(port), board, say=say))
    return True
