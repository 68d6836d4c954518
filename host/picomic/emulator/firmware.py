"""Putting picomic's firmware on an emulated Pico the way it gets onto a user's board: `picomic flash` through
mpremote (plan, copy, verify, reset, handshake) — only when the board does not already answer with it."""

from __future__ import annotations

import time
from collections.abc import Callable

from picomic.deploy.boardfs import inspect, stop_stream
from picomic.deploy.build import firmware_digest
from picomic.deploy.flash import firmware_version, install
from picomic.link.ports import probe_port


def runs_this_firmware(probe: dict[str, object], board: str = "pico") -> bool:
    """True when a `probe_port` answer is this host's firmware: the same version and the same sources."""
    info = probe.get("info")
    build = info.get("build") if isinstance(info, dict) else None
    return probe.get("firmware") == firmware_version() and build == firmware_digest(board)


def wait_firmware(port: str, timeout_s: float = 30.0) -> bool:
    """True once the board on `port` answers INFO with picomic's firmware (a freshly booted emulated Pico takes
    a moment to import it at ~0.4× real time); False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe_port(port).get("firmware") == firmware_version():
            return True
        time.sleep(0.2)
    return False


def ensure_firmware(port: str, board: str | None = None, say: Callable[[str], None] = lambda line: None) -> bool:
    """Flash the firmware onto the board on `port` unless it already runs this host's firmware (its version and
    INFO `build`, the digest of the sources); True if it flashed. The emulated Pico's flash persists between
    runs, so this copies only when the UF2 or the firmware changed."""
    if runs_this_firmware(probe_port(port), board or "pico"):
        return False
    stop_stream(port)
    say(install(port, inspect(port), board, say=say))
    return True
