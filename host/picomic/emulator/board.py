"""EmulatedBoard: the emulated counterpart of picomic.sim.SimBoard, with the real MicroPython UF2 inside.

    EmulatedBoard ──▶ EmulatorProcess (node pico.mjs: rp2040js + the UF2 + <cache>/emulator/<sha12>.flash)
        cdc_fd ⇄ ChipRelay (picomic.simwire.Relay) ⇄ pty ◀── host opens `port` (stable symlink)
        I2S pins ──unix socket──▶ picomic.simwire.SignalServer (INMP441 words from picomic.signals)

A chip reset (machine.reset(), the watchdog, `reset()`) is an unplug for the host: the pty goes away at the
reset event and a new one is plugged in (the symlink re-pointed) once the new USB device is configured. When
node dies the port goes away and stays away.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from picomic.emulator.install import Harness, harness
from picomic.emulator.process import EmulatorProcess, EmulatorSettings, Event
from picomic.emulator.uf2 import check_bootrom, read_uf2
from picomic.errors import DeviceError
from picomic.sim.mic import MicOptions, parse_mic_fault
from picomic.sim.relay import Relay, SignalServer, WireBoard
from picomic.sim.signals import Signal, parse_signal

BOOT_TIMEOUT_S = 30.0
"""Bounded wait for the first USB enumeration (measured: ~0.3 s)."""
REPLUG_TIMEOUT_S = 30.0
MIN_UNPLUG_S = 0.05


def speed(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Emulated µs per wall µs between two `EmulatedBoard.clock_us()` readings (about 0.45 while streaming):
    rates of an emulated board are checked against its own clock, reported as "emulated ×0.45"."""
    wall = after[1] - before[1]
    return (after[0] - before[0]) / wall if wall > 0 else 1.0


def default_flash_path(uf2_sha256: str) -> Path:
    """$XDG_CACHE_HOME/picomic/emulator/<first 12 hex of the UF2's sha256>.flash (else ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "picomic" / "emulator" / f"{uf2_sha256[:12]}.flash"


class ChipRelay(Relay):
    """simwire.Relay whose unplug lasts until the emulated USB device is configured again (a chip reset),
    or forever once the harness process is gone."""

    def __init__(self, board_fd: int, link: Path, board: WireBoard, usb: threading.Event, gone: threading.Event):
        self.usb, self.gone = usb, gone
        super().__init__(board_fd, link, board)

    def _cycle(self) -> None:
        self._unplug.clear()
        self._unplug_now()
        end = time.monotonic() + REPLUG_TIMEOUT_S
        start = time.monotonic()
        while not self._closed.is_set() and time.monotonic() < end:
            self._read_board(discard=True)  # output of the resetting chip goes nowhere
            if self.gone.is_set():
                time.sleep(0.05)
                end = time.monotonic() + 1.0  # dead: stay unplugged until closed
                continue
            if self.usb.is_set() and time.monotonic() - start >= MIN_UNPLUG_S:
                break
            time.sleep(0.01)
        if not self._closed.is_set() and not self.gone.is_set():
            self._plug()
            self.board.replugged(self.path)


class EmulatedBoard:
    """The emulated Pico. Use as a context manager, or `start()` … `stop()`.

    `port` is a stable symlink for the host to open, `tty` the pty behind it now (new after each reset),
    `reboots` counts chip resets, `log()` is the harness's stderr. `signal`/`mic_fault` as for SimBoard
    (picomic.signals). The flash persists in `flash_path` (default: per UF2 in the user's cache); `fresh`
    starts from a blank flash with the UF2 written in.
    """

    def __init__(
        self,
        uf2: str | Path,
        bootrom: str | Path,
        signal: str | None = None,
        *,
        mic_fault: str | None = None,
        loop: bool = False,
        duration_s: float | None = None,
        noise_floor_dbfs: float | None = None,
        seed: int | None = None,
        flash_path: str | Path | None = None,
        fresh: bool = False,
        stdin: BinaryIO | None = None,
        on_replug: Callable[[str], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.image = read_uf2(uf2)
        self.bootrom = Path(bootrom)
        check_bootrom(self.bootrom)
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        self.signal: Signal = parse_signal(signal, duration_s=duration_s, loop=loop, seed=self.seed, stdin=stdin)
        fault = parse_mic_fault(mic_fault)
        self.mic = MicOptions(fault.fault, fault.dc, noise_floor_dbfs, self.seed)
        self.flash_path = Path(flash_path) if flash_path is not None else default_flash_path(self.image.sha256)
        self.fresh = fresh
        self.reboots = 0
        self.started_at = 0.0
        # simwire.WireBoard: no wire faults on the emulated cable
        self.unplug_at: float | None = None
        self.ber = 0.0
        self.drop_bytes = 0.0
        self.dir: Path | None = None
        self.process: EmulatorProcess | None = None
        self._server: SignalServer | None = None
        self._relay: ChipRelay | None = None
        self._on_replug, self._on_event = on_replug, on_event

    # ---- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> EmulatedBoard:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = BOOT_TIMEOUT_S) -> None:
        """Start the harness, wait (bounded) for USB enumeration, then plug the port in."""
        found = harness()
        self.started_at = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="picomic-emu-"))
        try:
            self._start_in(self.dir, found, timeout)
        except BaseException:
            self.stop()
            raise

    def _start_in(self, root: Path, found: Harness, timeout: float) -> None:
        if self.fresh:
            self.flash_path.unlink(missing_ok=True)
        self.flash_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = SignalServer(str(root / "i2s.sock"), self.signal, self.mic)
        self._server.start()
        settings = EmulatorSettings(
            bootrom=self.bootrom,
            uf2=self.image.path,
            flash=self.flash_path,
            words=root / "i2s.sock",
            log=root / "emulator.log",
        )
        self.process = EmulatorProcess(found, settings, self._event)
        self.process.start()
        if not self.process.wait_usb(timeout):
            why = self.process.error() or (
                f"exited with status {self.process.died}" if self.process.died is not None else "timed out"
            )
            raise DeviceError(f"the emulated Pico did not enumerate on USB ({why}): {self._log_tail()}")
        self._relay = ChipRelay(self.process.cdc_fd, root / "port", self, self.process.usb, self.process.gone)
        self._relay.start()

    def _event(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "reset":
            self.reboots += 1
            if self._relay is not None:
                self._relay.request_unplug()
        elif kind == "exit" and self._relay is not None:
            self._relay.request_unplug()  # node died: the port goes away (ChipRelay keeps it away)
        if self._on_event is not None:
            self._on_event(event)

    def stop(self) -> None:
        """Stop the relay, the harness (it saves the flash) and the signal server; remove the temp folder."""
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self.process is not None:
            self.process.stop()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- state and control ---------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Stable path for the host (a symlink re-pointed after each reset)."""
        if self.dir is None:
            raise DeviceError("the emulated Pico is not started")
        return str(self.dir / "port")

    @property
    def tty(self) -> str:
        if self._relay is None:
            raise DeviceError("the emulated Pico is not started")
        return self._relay.path

    @property
    def died(self) -> int | None:
        return self.process.died if self.process is not None else None

    def reset(self) -> None:
        """Press RUN: the chip resets and the USB device re-enumerates (the port goes away and comes back)."""
        if self.process is None or not self.process.request_reset():
            raise DeviceError("the emulated Pico is not running")

    def wait_port(self, timeout: float) -> bool:
        """True once the port is plugged in and the USB device configured (e.g. after a reset)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            relay = self._relay
            if self.process is not None and self.process.usb.is_set() and relay is not None and relay.b_master >= 0:
                return Path(self.port).exists()
            if self.process is not None and self.process.gone.is_set():
                return False
            time.sleep(0.02)
        return False

    def stats(self) -> Event | None:
        return self.process.stats() if self.process is not None else None

    def clock_us(self) -> tuple[float, float]:
        """(emulated µs, the emulator's wall µs) now: two readings give the emulation speed (`speed`)."""
        stats = self.stats()
        if stats is None:
            raise DeviceError("the emulated Pico gave no stats (is it running?)")
        return float(stats["t_us"]), float(stats["wall_ms"]) * 1000.0

    def log(self) -> str:
        """What the harness wrote to stderr (rp2040js warnings, mic socket notes)."""
        if self.dir is None or not (self.dir / "emulator.log").exists():
            return ""
        return (self.dir / "emulator.log").read_text(encoding="utf-8", errors="replace")

    def _log_tail(self) -> str:
        return " | ".join(self.log().strip().splitlines()[-3:]) or "no output"

    def wait_signal_end(self, timeout: float | None = None) -> bool:
        return self._server is not None and self._server.ended.wait(timeout)

    # ---- simwire.WireBoard ---------------------------------------------------------------------------
    def saw_audio(self) -> None:
        """The relay saw an AUDIO frame header (simwire.WireBoard); nothing to do here."""

    def replugged(self, path: str) -> None:
        if self._on_replug is not None:
            self._on_replug(path)
