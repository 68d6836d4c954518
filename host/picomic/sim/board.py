"""The simulated board: the real firmware in the real MicroPython unix port, on a pty, with faults on demand.

    SimBoard ──▶ build_firmware() ──copy──▶ <tmp>/flash  (main.py, board.json, picomic_fw/*.mpy or .py)
    micropython -i main.py  (cwd = flash; MICROPYPATH puts firmware/sim/ — machine, time — on sys.path)
        stdin/stdout = pty A slave (raw; stdout O_NONBLOCK so a stalled host means short writes), the board
        process's controlling terminal: its line discipline turns 0x03 into SIGINT while the firmware has
        Ctrl-C enabled (machine.kbd_intr models rp2's USB receive callback)
        exit 0 (Ctrl-D or sys.exit() at the REPL) = soft reset: "MPY: soft reboot", main.py runs again
        machine.I2S ──unix socket──▶ SignalServer thread (renders INMP441 words, picomic.sim.signals)
    Relay thread: pty A master ⇄ pty B master, board→host faults (bit errors, byte drops), unplug/replug
    the host opens pty B's slave, through the stable symlink `port` (re-pointed after each replug)

SignalServer and Relay live in picomic.sim.relay; this module owns the board process, its lifecycle and the
`picomic sim` CLI.

See docs/simulator.md for the semantics (settle, exact injection, drift, buffer drops, faults).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import signal as signal_mod
import subprocess
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from picomic.deploy.build import board_profile, build_firmware, fakes_dir, micropython_exe, micropython_sys_mpy, sim_dir
from picomic.errors import ConfigError, DeviceError
from picomic.sim.mic import MicOptions, parse_mic_fault
from picomic.sim.relay import Relay, SignalServer
from picomic.sim.signals import Signal, parse_signal

RESET_EXIT = 75
RESET_MARKER = "reset.flag"
"""File machine.reset() writes before the board process kills itself: the monitor then reboots it."""
"""Exit status of the board process meaning "reboot me" (machine.reset(), watchdog)."""
_HEAP = {"RP2040": "384K", "RP2350": "768K"}  # ~2x the real heap: objects are twice as big on 64 bits
SOFT_REBOOT = b"MPY: soft reboot\r\n"
"""What rp2 prints when Ctrl-D at the REPL soft-resets it (then main.py runs again)."""


class SimBoard:
    """A simulated picomic board. Use as a context manager, or `start()` … `stop()`.

    `port` is a stable symlink for the host to open; `tty` the pty it points at now (it changes after an
    unplug). Faults: `ber` (bit-error rate, board→host), `drop_bytes` (probability per byte), `unplug_at`
    (seconds after start), `overrun_at` (stream seconds after START's settle: one I2S overflow dropping
    100 ms; in real time the board stalls until its full buffer overflows, so the firmware's timing check
    sees it),
    `drift_ppm` (the board's crystal), `mic_fault` (see picomic.sim.signals.parse_mic_fault).
    `ibuf_s`: seconds of audio in the simulated I2S buffer; None (default) = the ibuf the firmware asks for,
    rp2's 20,000 B (DECISIONS 30).
    """

    def __init__(
        self,
        signal: str | None,
        *,
        fast: bool = False,
        loop: bool = False,
        ber: float = 0.0,
        drop_bytes: float = 0.0,
        unplug_at: float | None = None,
        overrun_at: float | None = None,
        drift_ppm: float = 0.0,
        mic_fault: str | None = None,
        board: str = "pico",
        source: bool = False,
        seed: int | None = None,
        duration_s: float | None = None,
        noise_floor_dbfs: float | None = None,
        stdin: BinaryIO | None = None,
        on_replug: Callable[[str], None] | None = None,
        ibuf_s: float | None = None,
    ) -> None:
        if ibuf_s is not None and not (math.isfinite(ibuf_s) and 0.0 < ibuf_s <= 10.0):
            raise ConfigError(f"ibuf_s must be within (0, 10] seconds, got {ibuf_s}")
        self.ibuf_s = ibuf_s
        _check_rate("ber", ber)
        _check_rate("drop_bytes", drop_bytes)
        for name, value in (("--unplug-at", unplug_at), ("--overrun-at", overrun_at)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be >= 0 seconds, got {value}")
        if noise_floor_dbfs is not None and not -140.0 <= noise_floor_dbfs <= 0.0:
            raise ConfigError(f"--noise-floor must be within -140..0 dBFS (INMP441: -87), got {noise_floor_dbfs}")
        if not -10000.0 <= drift_ppm <= 10000.0:
            raise ConfigError(f"--drift-ppm must be within ±10000, got {drift_ppm}")
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        self.signal: Signal = parse_signal(signal, duration_s=duration_s, loop=loop, seed=self.seed, stdin=stdin)
        fault = parse_mic_fault(mic_fault)
        self.mic = MicOptions(fault.fault, fault.dc, noise_floor_dbfs, self.seed)
        self.fast, self.board, self.source = fast, board, source
        self.ber, self.drop_bytes, self.unplug_at = ber, drop_bytes, unplug_at
        self.overrun_at, self.drift_ppm = overrun_at, drift_ppm
        self._on_replug = on_replug
        self.profile = board_profile(board)
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.first_audio_s: float | None = None
        """Seconds from start() to the first AUDIO frame header leaving the board (None: none yet)."""
        self.reboots = 0
        self.soft_reboots = 0
        """Soft resets (Ctrl-D or sys.exit() at the REPL): main.py ran again, the USB link stayed up."""
        self._server: SignalServer | None = None
        self._relay: Relay | None = None
        self._monitor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._fds: list[int] = []

    # ---- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> SimBoard:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Build the firmware, start the board process, the signal server and the relay."""
        self.started_at = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="picomic-sim-"))
        try:
            self._start_in(self.dir)
        except BaseException:
            self.stop()
            raise

    def _start_in(self, root: Path) -> None:
        exe = micropython_exe()
        sys_mpy = None if self.source else micropython_sys_mpy(exe)
        build = build_firmware(board=self.board, source=self.source, sys_mpy=sys_mpy)
        shutil.copytree(build.root, root / "flash")
        self._server = SignalServer(str(root / "i2s.sock"), self.signal, self.mic)
        self._write_config(root)
        a_master, a_slave = os.openpty()
        self._fds += [a_master, a_slave]
        tty.setraw(a_slave)
        self._relay = Relay(a_master, root / "port", self)
        self._relay.start()
        self._server.start()
        self._a_slave = a_slave
        self._exe = exe
        self._launch()
        self._monitor = threading.Thread(target=self._watch, name="picomic-sim-monitor", daemon=True)
        self._monitor.start()

    def _write_config(self, root: Path) -> None:
        mcu = str(self.profile.get("mcu", "RP2040"))
        cfg = {
            "socket": str(root / "i2s.sock"),
            "fast": self.fast,
            "drift_ppb": round(self.drift_ppm * 1000),
            "ibuf_s": self.ibuf_s,
            "tty_intr": True,
            "overrun_at_s": self.overrun_at,
            "overrun_ms": 100,
            "uid": f"{self.seed & 0xFFFFFFFF:08x}e6614c31",
            "mcu": mcu if mcu in _HEAP else "RP2040",
            "ticks_start_us": 0,
            "reset_marker": str(root / RESET_MARKER),
            "frames": -1,
        }
        (root / "sim.json").write_text(json.dumps(cfg), encoding="utf-8")

    def _launch(self) -> None:
        assert self.dir is not None
        root = self.dir
        flash = root / "flash"
        out_fd = os.open(os.ttyname(self._a_slave), os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        cfg = json.loads((root / "sim.json").read_text(encoding="utf-8"))
        env = dict(os.environ)
        env["MICROPYPATH"] = f"{sim_dir()}:{fakes_dir()}:.frozen:{flash / 'lib'}"
        env["PICOMIC_SIM"] = str(root / "sim.json")
        self._launched_at = time.monotonic()
        with open(root / "board.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self._exe, "-X", f"heapsize={_HEAP[cfg['mcu']]}", "-i", "main.py"],
                cwd=flash,
                stdin=self._a_slave,
                stdout=out_fd,
                stderr=log,
                env=env,
                start_new_session=True,
                preexec_fn=_take_terminal,
            )
        os.close(out_fd)

    def _watch(self) -> None:
        quick = 0
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None or proc.poll() is None:
                time.sleep(0.05)
                continue
            if self._stopping.is_set():
                return
            if proc.returncode == 0 and not self._take_reset_marker():
                # Ctrl-D (or sys.exit()) at the REPL: rp2 soft-resets and runs main.py again; USB stays up.
                # (A board that exits at once again and again -- its stdin at EOF -- is left ended.)
                quick = quick + 1 if time.monotonic() - self._launched_at < 0.5 else 0
                if quick >= 3:
                    return
                self.soft_reboots += 1
                with contextlib.suppress(OSError):
                    os.write(self._a_slave, SOFT_REBOOT)
                self._launch()
                continue
            if proc.returncode != RESET_EXIT and not self._take_reset_marker():
                return
            self.reboots += 1  # machine.reset() / watchdog: reboot, and USB re-enumerates on the host
            self._launch()
            if self._relay is not None:
                self._relay.request_unplug()

    def _take_reset_marker(self) -> bool:
        """machine.reset() left its marker (the process killed itself to leave the `-i` REPL behind)."""
        marker = self.dir / RESET_MARKER if self.dir is not None else None
        if marker is None or not marker.exists():
            return False
        marker.unlink()
        return True

    def stop(self) -> None:
        """Terminate the board (SIGTERM, then SIGKILL after 2 s), stop the threads, remove the temp folder."""
        self._stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal_mod.SIGTERM)
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2.0)
        for part in (self._relay, self._server):
            if part is not None:
                part.close()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(2.0)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- state ---------------------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Stable path for the host (a symlink re-pointed after each unplug)."""
        if self.dir is None:
            raise DeviceError("the simulated board is not started")
        return str(self.dir / "port")

    @property
    def tty(self) -> str:
        """The pty the host side currently is."""
        if self._relay is None:
            raise DeviceError("the simulated board is not started")
        return self._relay.path

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else -1

    @property
    def exited(self) -> int | None:
        """The board process's exit status once it ended (and was not rebooted), else None."""
        proc = self.proc
        if proc is None or proc.poll() is None or proc.returncode == RESET_EXIT:
            return None
        return proc.returncode

    @property
    def flash_dir(self) -> Path:
        if self.dir is None:
            raise DeviceError("the simulated board is not started")
        return self.dir / "flash"

    def log(self) -> str:
        """What the board process wrote to stderr (tracebacks, reboot notes)."""
        if self.dir is None or not (self.dir / "board.log").exists():
            return ""
        return (self.dir / "board.log").read_text(encoding="utf-8", errors="replace")

    def wait_signal_end(self, timeout: float | None = None) -> bool:
        """True once the board read the signal to its end (it then sends END `signal_end`)."""
        return self._server is not None and self._server.ended.wait(timeout)

    def drain(self, timeout: float = 2.0, quiet_s: float = 0.2) -> bool:
        """Wait until the board has been silent for `quiet_s` and the relay delivered all it holds."""
        return self._relay is not None and self._relay.wait_quiet(timeout, quiet_s)

    def unplug(self) -> None:
        """Unplug and replug the port now (the same as `unplug_at`)."""
        if self._relay is not None:
            self._relay.request_unplug()

    def replugged(self, path: str) -> None:
        """The relay plugged the port back in at the pty `path` (simwire.WireBoard)."""
        if self._on_replug is not None:
            self._on_replug(path)

    def saw_audio(self) -> None:
        """The relay saw an AUDIO frame header leave the board (simwire.WireBoard)."""
        if self.first_audio_s is None:
            self.first_audio_s = time.monotonic() - self.started_at


def _take_terminal() -> None:
    """In the board process before exec (a new session): its stdin pty becomes its controlling terminal, so
    the line discipline's SIGINT (the simulated USB Ctrl-C) reaches it."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"--{name.replace('_', '-')} must be a probability in [0, 1), got {value}")
