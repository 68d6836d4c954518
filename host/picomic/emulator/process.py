"""The harness process: `node pico.mjs` with the CDC socketpair on its fd 3, JSON events read on a thread.

    EmulatorProcess ── stdin  {"cmd": stop|reset|stats} ──▶ node pico.mjs
                    ◀─ stdout {"event": boot|usb|reset|stats|i2s|error} ──
                    ⇄  cdc_fd (our end of a socketpair; fd 3 in node) = the USB CDC bytes, both ways

When node ends on its own (crash, kill, fatal error), `died` holds its exit status and `gone` is set: the
host must see that as an unplug, never as a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from picomic.emulator.install import Harness
from picomic.errors import DeviceError

Event = dict[str, Any]
STOP_WAIT_S = 5.0
_FD3_TRAMPOLINE = (
    "import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); fd != 3 and os.close(fd); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """What one harness run gets: images, the flash file it keeps, the mic socket and pins."""

    bootrom: Path
    uf2: Path
    flash: Path
    words: Path | None = None
    """Unix socket of a picomic.simwire.SignalServer (None: the mic drives zeros)."""
    pins: tuple[int, int, int] = (16, 17, 18)
    """(SCK, WS, SD) GPIOs of the INMP441."""
    flash_size: int = 2 * 1024 * 1024
    log: Path | None = None
    """Where node's stderr goes (None: discarded)."""
    extra_env: dict[str, str] = field(default_factory=dict)


class EmulatorProcess:
    """One `node pico.mjs` process. `start()`, then use `cdc_fd`; `stop()` always ends it (bounded)."""

    def __init__(self, harness: Harness, settings: EmulatorSettings, on_event: Callable[[Event], None] | None = None):
        self.harness, self.settings = harness, settings
        self.on_event = on_event
        self.events: list[Event] = []
        self.gone = threading.Event()
        """Set once the process has ended (for whatever reason)."""
        self.usb = threading.Event()
        """Set while the emulated USB device is configured (cleared at each reset event)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self._cond = threading.Condition()
        self._ours: socket.socket | None = None
        self._stopping = False
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        s, h = self.settings, self.harness
        args = [h.node, str(h.script), "--modules", str(h.modules), "--bootrom", str(s.bootrom), "--uf2", str(s.uf2)]
        args += ["--flash", str(s.flash), "--flash-size", str(s.flash_size)]
        args += ["--sck", str(s.pins[0]), "--ws", str(s.pins[1]), "--sd", str(s.pins[2])]
        if s.words is not None:
            args += ["--words", str(s.words)]
        return args

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        # fd 3 in the child without preexec_fn (not thread-safe): a tiny exec trampoline moves it there
        argv = [sys.executable, "-c", _FD3_TRAMPOLINE, str(fd), *self.command()]
        log: IO[bytes] | int = subprocess.DEVNULL
        if self.settings.log is not None:
            log = open(self.settings.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                pass_fds=(fd,),
                env={**os.environ, **self.settings.extra_env},
                start_new_session=True,
            )
        finally:
            theirs.close()
            if not isinstance(log, int):
                log.close()
        self._ours = ours
        self._reader = threading.Thread(target=self._read_events, name="picomic-emu-events", daemon=True)
        self._reader.start()

    @property
    def cdc_fd(self) -> int:
        """Our end of the CDC socketpair: hand it to picomic.simwire.Relay as its board fd."""
        if self._ours is None:
            raise DeviceError("the emulated Pico is not started")
        return self._ours.fileno()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else -1

    @property
    def died(self) -> int | None:
        """Exit status when the process ended on its own (not through stop()); None while it runs."""
        if self.proc is None or self._stopping or self.proc.poll() is None:
            return None
        return self.proc.returncode

    # ---- events --------------------------------------------------------------------------------------
    def _read_events(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            self._record(event)
        self.proc.wait()
        self.usb.clear()
        self.gone.set()
        with self._cond:
            self._cond.notify_all()
        if self.on_event is not None and not self._stopping:
            self.on_event({"event": "exit", "status": self.proc.returncode})

    def _record(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "usb" and event.get("connected"):
            self.usb.set()
        elif kind in ("reset", "boot"):
            self.usb.clear()
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        if self.on_event is not None:
            self.on_event(event)

    def wait_event(self, kind: str, timeout: float, since: int = 0, **match: Any) -> Event | None:
        """The first event of `kind` at index >= `since` whose fields equal `match`; None on timeout/exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if event.get("event") == kind and all(event.get(k) == v for k, v in match.items()):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.gone.is_set():
                    return None
                self._cond.wait(min(left, 0.2))

    def wait_usb(self, timeout: float) -> bool:
        """True once the USB device is configured (the host may open the port); False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while not self.usb.wait(0.05):
            if self.gone.is_set() or time.monotonic() > deadline:
                return False
        return True

    def error(self) -> str | None:
        """The message of the harness's error event, if it reported one."""
        errors = [e for e in self.events if e.get("event") == "error"]
        return str(errors[-1].get("message")) if errors else None

    # ---- commands ------------------------------------------------------------------------------------
    def _send(self, cmd: str) -> bool:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return False
        try:
            proc.stdin.write(json.dumps({"cmd": cmd}).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def request_reset(self) -> bool:
        """Reset the chip now (like pressing RUN); the USB device re-enumerates."""
        return self._send("reset")

    def stats(self, timeout: float = 5.0) -> Event | None:
        """A fresh stats event: t_us (emulated), wall_ms, busy_us, sleep_us."""
        since = len(self.events)
        if not self._send("stats"):
            return None
        return self.wait_event("stats", timeout, since=since)

    def stop(self, timeout: float = STOP_WAIT_S) -> int | None:
        """stdin stop (the harness saves its flash), then SIGTERM, then SIGKILL; bounded. Returns the status."""
        proc = self.proc
        if proc is None:
            return None
        self._stopping = True
        self._send("stop")
        for step in (proc.terminate, proc.kill):
            try:
                proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    step()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout)
        if self._ours is not None:
            self._ours.close()
            self._ours = None
        return proc.returncode
