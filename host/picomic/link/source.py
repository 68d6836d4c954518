"""SerialSource: the serial transport. It owns the port, its threads and reconnect — nothing else.

What the bytes mean (decoding, chunks on the bus, END/STATUS/INFO events, status counters, the device clock) is
the port-free `picomic.stream.router.FrameRouter`; this class feeds it. Threads: `start()` connects and
handshakes in the caller's thread (so setup errors raise there), then a
reader thread reads, decodes, maps the device clock and publishes; a pinger thread sends PING twice a second
(host liveness, DECISIONS 2) and never reads. I/O errors (unplug) are handled in the reader: it reports them,
waits for the same port (or serial number) to come back, handshakes again and starts a new epoch, advancing
the stream timeline by the host-measured gap so stream time keeps pace with real time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, AudioBus
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.errors import LinkError, PicomicError
from picomic.link.handshake import StartSettings, request_info, send_start
from picomic.link.ports import find_port, open_port, port_of_serial
from picomic.stream.decoder import DecodedFrame
from picomic.stream.protocol import GARBAGE_LIMIT_BYTES, SETTLE_SAMPLES, encode_command
from picomic.stream.router import FrameRouter

__all__ = ["SerialSource", "StartSettings"]

log = logging.getLogger(__name__)

PING_INTERVAL_S = 0.5
SILENCE_LIMIT_S = 3.0
"""No byte for this long while streaming: the link is treated as lost (firmware hung or port dead)."""
RECONNECT_BACKOFF_S = (0.05, *(0.1,) * 9, 0.2, 0.5, 1.0)
"""Waits between reconnect attempts: every 100 ms for the first second (a replugged board is back fast),
then backing off to 1 s."""
STOP_DRAIN_S = 1.0


def _ignore(event: Event) -> None:
    pass


class SerialSource:
    """Streams from one board. `start()`, then chunks arrive on `bus`; `stop()` or an END finishes it."""

    def __init__(
        self,
        port: str = "auto",
        *,
        serial_number: str | None = None,
        settings: StartSettings | None = None,
        bus: AudioBus | None = None,
        status: PipelineStatus | None = None,
        emit: Callable[[Event], None] | None = None,
        on_fatal: Callable[[PicomicError], None] | None = None,
        reconnect: bool = True,
        reconnect_timeout_s: float | None = None,
        port_factory: Callable[..., Any] = serial.Serial,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
    ) -> None:
        self.settings = settings or StartSettings()
        self.status = status or PipelineStatus()
        self.bus = bus or AudioBus(self.status)  # its listeners show in this status (dropped_chunks)
        self._requested_port = port
        self._serial_number = serial_number
        self._emit = emit or _ignore
        self._on_fatal = on_fatal
        self._reconnect = reconnect
        self._reconnect_timeout_s = reconnect_timeout_s
        self._factory = port_factory
        frame_ms = self.settings.frame_ms
        self.router = FrameRouter(self.bus, self.status, self._emit, frame_ms=frame_ms, max_gap_s=max_gap_s)
        self.decoder = self.router.decoder
        self.clock = self.router.clock
        self.path: str | None = None
        """The device path in use (resolved from `auto` / `--serial`)."""
        self.info: dict[str, object] = {}
        """The board's INFO reply."""
        self.error: PicomicError | None = None
        """The error that ended the stream, if any."""
        self._ser: Any = None
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._finished = self.router.finished
        self._threads: list[threading.Thread] = []
        self._last_byte_s = time.monotonic()
        self._uid: str | None = None  # the board's machine.unique_id (its USB serial number)
        self._advance = 0  # samples the timeline advances at the next epoch (set on reconnect)

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Find and open the port, handshake, START streaming, start the threads. Raises LinkError,
        FrameError or DeviceError with a one-line fix when the board cannot be used."""
        self.path = find_port(self._requested_port, self._serial_number)
        pending = self._connect()
        self._emit(DeviceInfo(self.info))
        uid = self.info.get("uid")
        self._uid = uid if isinstance(uid, str) else None
        reader = threading.Thread(target=self._run, args=(pending,), name="picomic-reader", daemon=True)
        pinger = threading.Thread(target=self._ping_loop, name="picomic-ping", daemon=True)
        self._threads = [reader, pinger]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """STOP the board (its END and last frames are still delivered, up to 1 s) and close the port."""
        if not self._finished.is_set() and self._write(encode_command("STOP")):
            self._finished.wait(STOP_DRAIN_S)
        self._stopping.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._close()
        self._finished.set()

    def reset_board(self) -> None:
        """Reboot the board (RESET). The stream goes on after the reconnect, as after an unplug (a new epoch);
        LinkError when the link is down."""
        if not self._write(encode_command("RESET")):
            raise LinkError(f"cannot reset the board on {self.path}: the link is down")

    @property
    def stream_s(self) -> float:
        """Seconds of audio on the stream timeline so far (the board's clock, whatever the host's)."""
        return self.decoder.timeline_end / self.settings.rate_hz

    @property
    def finished(self) -> bool:
        """The stream is over (END, stop() or a fatal error)."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream is over; True if it is."""
        return self._finished.wait(timeout)

    # ---- connection ------------------------------------------------------------------------------------
    def _connect(self) -> list[DecodedFrame]:
        """Open `self.path`, INFO, START. Returns frames that arrived right after the START reply."""
        if self.path is None:
            raise LinkError("no port to open")
        ser = open_port(self.path, self._factory)
        try:
            self.info = request_info(ser, self.path)
            self.decoder.reset_buffer()
            if self.router.last_end_ms is not None:  # a lost span: keep stream time = real time
                gap_ms = time.monotonic() * 1000.0 - self.router.last_end_ms
                self._advance = max(0, round(gap_ms * self.settings.rate_hz / 1000.0)) + SETTLE_SAMPLES
                self.decoder.advance_timeline(self._advance)
            pending = send_start(ser, self.decoder, self.settings)
        except BaseException:
            ser.close()
            raise
        with self._write_lock:
            self._ser = ser
        self._last_byte_s = time.monotonic()
        return pending

    def _close(self) -> None:
        with self._write_lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                ser.close()

    def _write(self, data: bytes) -> bool:
        with self._write_lock:
            if self._ser is None:
                return False
            try:
                self._ser.write(data)
                return True
            except (OSError, serial.SerialException):
                return False  # the reader notices the dead link

    def _ping_loop(self) -> None:
        ping = encode_command("PING")
        while not self._stopping.wait(PING_INTERVAL_S) and not self._finished.is_set():
            self._write(ping)

    # ---- reader ----------------------------------------------------------------------------------------
    def _run(self, pending: list[DecodedFrame]) -> None:
        try:
            self.router.route(pending)
            while not self._stopping.is_set() and not self._finished.is_set():
                try:
                    data = self._read()
                except (OSError, serial.SerialException, LinkError) as exc:
                    if self._stopping.is_set():
                        break
                    self._relink(f"lost the board on {self.path}: {exc}")
                    continue
                if data:
                    self.router.feed(data)
        except PicomicError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug, not a user error: still end the stream visibly
            self._fail(PicomicError(f"serial reader crashed: {exc!r}"))
        finally:
            self._finished.set()

    def _read(self) -> bytes:
        ser = self._ser
        if ser is None:
            raise LinkError("port closed")
        data: bytes = ser.read(max(1, min(ser.in_waiting, 1 << 16)))
        now = time.monotonic()
        if data:
            self._last_byte_s = now
            if self.decoder.bytes_without_frame > GARBAGE_LIMIT_BYTES:
                raise LinkError("the board sends bytes that are not picomic frames")
        elif now - self._last_byte_s > SILENCE_LIMIT_S:
            raise LinkError(f"no data for {SILENCE_LIMIT_S:.0f} s")
        return data

    def _fail(self, exc: PicomicError) -> None:
        log.debug("stream failed: %s", exc)
        self.error = exc
        self._emit(ErrorEvent(str(exc)))
        if self._on_fatal is not None:
            self._on_fatal(exc)
        else:
            self._emit(StreamEnd("error"))
        self._finished.set()

    # ---- reconnect -------------------------------------------------------------------------------------
    def _relink(self, why: str) -> None:
        """The link died: report it, wait for the board to come back, handshake, START a new epoch."""
        self._close()
        self.router.sync_status()
        if not self._reconnect:
            raise LinkError(f"{why} — reconnect is off")
        log.info("%s — waiting for it to come back", why)
        self._emit(ErrorEvent(f"{why} — waiting for it to come back"))
        lost_at_ms = time.monotonic() * 1000.0
        deadline = None if self._reconnect_timeout_s is None else time.monotonic() + self._reconnect_timeout_s
        attempt = 0
        while not self._stopping.is_set():
            if deadline is not None and time.monotonic() > deadline:
                raise LinkError(f"{why}; it did not come back within {self._reconnect_timeout_s:.0f} s")
            self._stopping.wait(RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)])
            attempt += 1
            path = self._current_path()
            if path is None or self._stopping.is_set():
                continue
            next_epoch = self.decoder.epochs + 1
            try:
                self.path = path
                pending = self._connect()
            except PicomicError as exc:
                log.debug("reconnect attempt %d to %s failed: %s", attempt, path, exc)
                if attempt % 10 == 1:
                    self._emit(ErrorEvent(f"reconnecting to {path}: {exc}"))
                continue
            self._reconnected(lost_at_ms, next_epoch, pending)
            return

    def _current_path(self) -> str | None:
        """Where the board is now: by `--serial`, else the same path, else the path of the same uid."""
        if self._serial_number is not None:
            return port_of_serial(self._serial_number)
        if self.path is not None and os.path.exists(self.path):
            return self.path
        return port_of_serial(self._uid) if self._uid else None

    def _reconnected(self, lost_at_ms: float, epoch: int, pending: list[DecodedFrame]) -> None:
        self.status.add("reconnects")
        gap_s = self._advance / self.settings.rate_hz
        if self.router.last_end_ms is None:  # nothing was delivered before the link died
            gap_s = (time.monotonic() * 1000.0 - lost_at_ms) / 1000.0
        log.info("reconnected to %s: stream timeline advanced %.3f s", self.path, gap_s)
        self._emit(DeviceInfo(self.info))
        self._emit(Discontinuity("reconnect", 0, gap_s, epoch))
        self.router.route(pending)
