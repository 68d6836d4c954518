"""The board's filesystem and reset through mpremote: one place that runs mpremote and translates its failures.

Every call is ``mpremote connect PORT resume ...``: no soft reset first (the simulated board's unix port cannot
soft-reset, and a raw-REPL soft reset would not run main.py on a real board anyway). Paths on the board are
relative to its working directory: ``/`` on a real board, the flash folder of the simulated one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from picomic.deploy.build import FW_PACKAGE
from picomic.errors import DeviceError, LinkError, PicomicError
from picomic.link.handshake import request_info
from picomic.link.ports import open_port, port_of_serial

MPREMOTE_TIMEOUT_S = 60.0
BOOT_TIMEOUT_S = 15.0
"""How long the board may take to come back after `mpremote reset` and answer INFO."""
RESET_TIMEOUT_S = 15.0
"""How long `mpremote reset` itself may take."""
OURS_TOP = ("main.py", "board.json")
BACKUP = "main.py.orig"
_MARK = "PICOMIC_FLASH "
_MAIN_MARK = b"picomic_fw"
_INSPECT = r"""
import os, sys, json, binascii
try:
    import hashlib
except ImportError:
    hashlib = None
def _st(p):
    try: return os.stat(p)
    except OSError: return None
def _hash(p):
    if hashlib is None: return None
    d, b = hashlib.sha256(), bytearray(512)
    with open(p, 'rb') as f:
        n = f.readinto(b)
        while n:
            d.update(b[:n]); n = f.readinto(b)
    return binascii.hexlify(d.digest()).decode()
impl = sys.implementation
r = {'version': '.'.join(str(v) for v in impl.version[:3]), 'mpy': getattr(impl, '_mpy', 0),
     'machine': getattr(impl, '_machine', ''), 'files': {}, 'dir': False, 'main_ours': None, 'uid': ''}
try:
    import machine; r['uid'] = binascii.hexlify(machine.unique_id()).decode()
except Exception: pass
def _add(p):
    s = _st(p)
    if s is not None and not s[0] & 0x4000: r['files'][p] = [s[6], _hash(p)]
for p in %(top)r: _add(p)
s = _st('%(pkg)s')
if s is not None and s[0] & 0x4000:
    r['dir'] = True
    for n in os.listdir('%(pkg)s'): _add('%(pkg)s/' + n)
if 'main.py' in r['files']:
    with open('main.py', 'rb') as f: r['main_ours'] = %(mark)r in f.read(1024)
print('%(out)s' + json.dumps(r))
"""


@dataclass(frozen=True, slots=True)
class BoardState:
    """What `inspect` read from the board."""

    version: str
    """MicroPython version, e.g. ``1.24.0``."""
    sys_mpy: int
    machine: str
    uid: str
    files: dict[str, tuple[int, str | None]]
    """Our files on the board: path → (size in bytes, SHA-256 hex or None when the board has no hashlib)."""
    has_dir: bool
    main_ours: bool | None
    """main.py is picomic's (None: there is no main.py)."""
    has_backup: bool


def mpremote(port: str, *args: str, timeout_s: float = MPREMOTE_TIMEOUT_S) -> str:
    """Run ``mpremote connect PORT resume ARGS...``; its stdout. Failures become LinkError/DeviceError."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "resume", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise DeviceError(
            f"mpremote got no answer from {port} within {timeout_s:.0f} s — press the board's reset button "
            "and run picomic flash again"
        ) from None
    if proc.returncode != 0:
        raise _mpremote_error(port, (proc.stderr + proc.stdout).strip())
    return proc.stdout


def _mpremote_error(port: str, output: str) -> PicomicError:
    last = output.splitlines()[-1] if output else "no output"
    if "failed to access" in output or "could not open port" in output.lower():
        return LinkError(f"mpremote cannot open {port} ({last}) — close other programs using it (picomic listen, "
                         "a serial monitor) and check the port with `picomic devices`")  # fmt: skip
    if "could not enter raw repl" in output:
        return DeviceError(f"the board on {port} ignores Ctrl-C (a program with Ctrl-C disabled is running) — "
                           "press its reset button and run picomic flash within a second or two")  # fmt: skip
    return DeviceError(f"mpremote failed on {port}: {last}")


def inspect(port: str) -> BoardState:
    """Read the board's MicroPython version, .mpy ABI and our files on it (one mpremote exec)."""
    script = _INSPECT % {"top": (*OURS_TOP, BACKUP), "pkg": FW_PACKAGE,
                         "mark": _MAIN_MARK, "out": _MARK}  # fmt: skip
    out = mpremote(port, "exec", script)
    line = next((ln[len(_MARK) :] for ln in out.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise DeviceError(f"the board on {port} did not report its state (got {out.strip()[:80]!r})")
    raw = json.loads(line)
    files = {str(p): (int(v[0]), v[1]) for p, v in raw["files"].items() if p != BACKUP}
    return BoardState(
        version=str(raw["version"]), sys_mpy=int(raw["mpy"]), machine=str(raw["machine"]),
        uid=str(raw["uid"]), files=files, has_dir=bool(raw["dir"]), main_ours=raw["main_ours"],
        has_backup=BACKUP in raw["files"],
    )  # fmt: skip


def chain(steps: list[list[str]]) -> list[str]:
    out: list[str] = []
    for step in steps:
        out += (["+"] if out else []) + step
    return out


def reboot(port: str, uid: str) -> str:
    """`mpremote reset`, then the board's path once it is back (by serial number, else the same path)."""
    mpremote(port, "reset", timeout_s=RESET_TIMEOUT_S)
    return wait_for_port(port, uid)


def reset_and_handshake(port: str, uid: str) -> dict[str, object]:
    """`mpremote reset`, wait for the board to come back (same path, or its serial number), INFO."""
    mpremote(port, "reset", timeout_s=RESET_TIMEOUT_S)
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        path = wait_for_port(port, uid, deadline - time.monotonic())
        try:
            ser = open_port(path)
            try:
                return request_info(ser, path, allow_repl_reset=False)
            finally:
                ser.close()
        except (PicomicError, OSError) as exc:
            last = exc
            time.sleep(0.3)
    raise DeviceError(f"the board did not come back with picomic firmware after reset ({last}) — "
                      "unplug and replug it, then run picomic doctor")  # fmt: skip


def wait_for_port(port: str, uid: str, timeout_s: float = BOOT_TIMEOUT_S) -> str:
    """After a reset: the board's path once it is back (by serial number, else the same path)."""
    deadline = time.monotonic() + timeout_s
    time.sleep(0.3)  # the old port may still be there for a moment
    while time.monotonic() < deadline:
        path = (port_of_serial(uid) if uid else None) or port
        if os.path.exists(path):
            return path
        time.sleep(0.1)
    raise DeviceError(f"the board did not come back on {port} after reset — unplug and replug it")


def stop_stream(port: str) -> None:
    """Send STOP (a stream in progress would ignore mpremote's Ctrl-C); open errors say the fix."""
    ser = open_port(port)
    try:
        ser.write(b"\r\nSTOP\n")
        ser.flush()
        time.sleep(0.1)
    finally:
        ser.close()
