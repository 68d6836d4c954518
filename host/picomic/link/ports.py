"""Finding and opening a board's serial port: USB VID:PID and serial number, errno → one-line errors.

Also the listing of attached boards (`picomic devices`), which probes each one with an INFO handshake.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from typing import Any

import serial
from serial.tools import list_ports

from picomic.errors import LinkError, PicomicError
from picomic.link.handshake import request_info

MICROPYTHON_VID = 0x2E8A
MICROPYTHON_PID = 0x0005
READ_TIMEOUT_S = 0.05
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}
_DENIED = {errno.EACCES, errno.EPERM}
_MISSING = {errno.ENOENT, errno.ENODEV, errno.ENXIO}


def board_ports() -> list[Any]:
    """The attached ports whose USB VID:PID is MicroPython's on the RP2040 (pyserial ListPortInfo)."""
    return [p for p in list_ports.comports() if p.vid == MICROPYTHON_VID and p.pid == MICROPYTHON_PID]


def find_port(port: str = "auto", serial_number: str | None = None) -> str:
    """The device path to open: `port` itself, the board with `serial_number`, or the only MicroPython
    board attached (LinkError when there is none or more than one)."""
    if port != "auto":
        return port
    if serial_number is not None:
        found = port_of_serial(serial_number)
        if found is None:
            seen = ", ".join(f"{p.device} ({p.serial_number})" for p in board_ports()) or "none"
            raise LinkError(f"no board with serial {serial_number} found (boards attached: {seen})")
        return found
    boards = board_ports()
    if not boards:
        raise LinkError("no board found — plug it in or use --sim")
    if len(boards) > 1:
        listing = "; ".join(f"{p.device} (serial {p.serial_number or '?'})" for p in boards)
        raise LinkError(f"several boards found: {listing} — choose one with --port PORT or --serial ID")
    return str(boards[0].device)


def port_of_serial(serial_number: str) -> str | None:
    """The current device path of the board with this USB serial number, if attached."""
    for p in list_ports.comports():
        if (p.serial_number or "").lower() == serial_number.lower():
            return str(p.device)
    return None


def serial_of_port(path: str) -> str | None:
    """The USB serial number of the port at `path` (a symlink is followed), if the OS knows one (a real Pico's
    is its machine.unique_id in hex, the INFO `uid`); None for a pty or an unknown port."""
    real = os.path.realpath(path)
    for p in list_ports.comports():
        if os.path.realpath(str(p.device)) == real and p.serial_number:
            return str(p.serial_number)
    return None


def open_error(path: str, exc: BaseException) -> LinkError:
    """Translate an OS/pyserial open failure into a LinkError that says the fix (by errno)."""
    code = getattr(exc, "errno", None)
    if code in _DENIED:
        return LinkError(
            f"permission denied opening {path} — add yourself to the dialout group: "
            "sudo usermod -aG dialout $USER (then log out and in)"
        )
    if code in _BUSY or "exclusively lock" in str(exc):
        return LinkError(f"{path} is busy — another program (mpremote, a serial monitor, picomic) has it open")
    if os.path.isdir(path) or code == errno.ENOTTY or "Inappropriate ioctl" in str(exc):
        return LinkError(f"{path} is not a serial port — give the board's port (`picomic devices` lists boards)")
    if code in _MISSING or not os.path.exists(path):
        return LinkError(f"{path} not found — is the board plugged in? (`picomic devices` lists boards)")
    return LinkError(f"cannot open {path}: {exc}")


_TERMINALS = re.compile(r"^/dev/(tty|console|ptmx|tty\d+|vcs\w*)$")
"""Terminals that are never a board: opening one would send STOP/INFO to the user's own screen."""


def open_port(path: str, factory: Callable[..., Any] = serial.Serial) -> Any:
    """Open `path` like a board (raw mode, exclusive, short read timeout); LinkError on failure."""
    if _TERMINALS.match(os.path.realpath(path)):
        raise LinkError(
            f"{path} is a terminal, not a board's serial port — give the board's port "
            "(e.g. /dev/ttyACM0; `picomic devices` lists boards)"
        )
    try:
        return factory(path, baudrate=115200, timeout=READ_TIMEOUT_S, write_timeout=2.0, exclusive=True)
    except (serial.SerialException, OSError) as exc:
        raise open_error(path, exc) from None


def list_boards(probe: bool = False) -> list[dict[str, object]]:
    """Attached MicroPython boards (VID:PID 2E8A:0005): port, serial_number, description; with `probe`,
    also `firmware` (picomic version, or None) and `info` / `error` from an INFO handshake."""
    out: list[dict[str, object]] = []
    for p in board_ports():
        entry: dict[str, object] = {
            "port": p.device,
            "serial_number": p.serial_number,
            "description": p.description,
        }
        if probe:
            entry.update(probe_port(str(p.device)))
        out.append(entry)
    return out


def probe_port(path: str) -> dict[str, object]:
    """INFO from `path` without streaming: {"firmware", "info"} or {"firmware": None, "error"}."""
    try:
        ser = open_port(path)
    except PicomicError as exc:
        return {"firmware": None, "error": str(exc)}
    try:
        info = request_info(ser, path, allow_repl_reset=False)
        return {"firmware": info.get("fw"), "info": info}
    except PicomicError as exc:
        return {"firmware": None, "error": str(exc)}
    finally:
        ser.close()
