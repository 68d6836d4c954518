"""The simulated board's wiring: the I2S socket that feeds it and the USB cable between its pty and the host's.

    SignalServer: unix-socket server thread; each simulated I2S session (machine.I2S on the board) connects,
        sends a one-line header and gets its INMP441 words rendered from the signal (picomic.sim.signals)
    Relay: thread copying bytes between pty A (the board's stdin/stdout) and pty B (the host's port), with
        board→host wire faults (bit errors, byte drops) once the audio stream begins, a bounded host-side
        buffer, and unplug/replug (pty B replaced, the stable `port` symlink re-pointed)

This module owns the bytes in flight; SimBoard (picomic.sim.board) owns the board process and its lifecycle, and
builds both. The relay reads its fault settings from the board and reports back through `WireBoard`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from pathlib import Path
from typing import Protocol

import numpy as np

from picomic.sim.mic import MicOptions, i2s_stream
from picomic.sim.signals import Signal, StreamSignal
from picomic.stream.protocol import SYNC, VERSION, FrameType

UNPLUG_S = 0.3
"""How long the port stays gone during an unplug."""
HOST_BUFFER = 4096
"""Bytes the relay holds toward a host that does not read, on top of the kernel's pty buffer (which plays
the host tty buffer of a real CDC ACM port); beyond that the board sees short writes."""
_AUDIO_HEAD = SYNC + bytes((VERSION, FrameType.AUDIO))  # the relay notes the first AUDIO frame header


class WireBoard(Protocol):
    """What the relay reads from and reports to its board (picomic.sim.board.SimBoard)."""

    seed: int
    started_at: float
    """time.monotonic() at the board's start; `unplug_at` counts from it."""
    unplug_at: float | None
    ber: float
    drop_bytes: float

    def saw_audio(self) -> None: ...

    def replugged(self, path: str) -> None: ...


# --------------------------------------------------------------------------------------- signal server


class SignalServer:
    """Serves each simulated I2S session its byte stream (one unix-socket connection per session, in turn).

    Header from the board: ``I2S <rate> <bits> <stereo 0|1> <start sample>\\n``. The server then sends the
    settle frames and the signal from `start` (rendered at `rate`), and half-closes at the signal's end.
    """

    def __init__(self, path: str, signal: Signal, mic: MicOptions) -> None:
        self.signal, self.mic = signal, mic
        self.ended = threading.Event()
        self.sessions = 0
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(4)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, name="picomic-sim-i2s", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2.0)
        self._sock.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(None)
                with contextlib.suppress(OSError, ValueError):
                    self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        rate, bits, stereo, start = (int(v) for v in _read_line(conn).split()[1:5])
        self.sessions += 1
        if isinstance(self.signal, StreamSignal):
            self.signal.forget(start)
        for block in i2s_stream(self.signal, self.mic, rate, bits, bool(stereo), start):
            if self._closed.is_set():
                return
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(0.1)
        while not self._closed.is_set():  # the board reads to the end, then deinit() closes
            try:
                if not conn.recv(64):
                    break
            except TimeoutError:
                continue
        self.ended.set()


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ValueError("I2S session closed before its header")
        data += chunk
    return data.decode("ascii")


# ---------------------------------------------------------------------------------------------- relay


class Relay(threading.Thread):
    """Copies bytes between the board's pty (A) and the host's pty (B); injects board→host wire faults."""

    def __init__(self, board_fd: int, link: Path, board: WireBoard) -> None:
        super().__init__(name="picomic-sim-relay", daemon=True)
        self.a = board_fd
        self.link = link
        self.board = board
        self.rng = np.random.default_rng(board.seed)
        self.to_host = bytearray()
        self.to_board = bytearray()
        self.path = ""
        self.b_master = -1
        self.b_slave = -1
        self._closed = threading.Event()
        self._unplug = threading.Event()
        self._last_rx = time.monotonic()
        self._scan = b""
        self._armed = False  # wire faults on: the audio stream of this plug-in has begun
        os.set_blocking(board_fd, False)
        self._plug()

    def _plug(self) -> None:
        self.b_master, self.b_slave = os.openpty()
        tty.setraw(self.b_slave)
        os.set_blocking(self.b_master, False)
        self.path = os.ttyname(self.b_slave)
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.path)
        os.replace(tmp, self.link)

    def _unplug_now(self) -> None:
        self._armed = False
        self._scan = b""
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.b_master, self.b_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.b_master = self.b_slave = -1
        self.to_host.clear()
        self.to_board.clear()

    def request_unplug(self) -> None:
        self._unplug.set()

    def close(self) -> None:
        self._closed.set()
        self.join(2.0)
        if self.b_master >= 0:
            self._unplug_now()

    def wait_quiet(self, timeout: float, quiet_s: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.to_host and time.monotonic() - self._last_rx >= quiet_s:
                return True
            time.sleep(0.02)
        return False

    def run(self) -> None:
        unplug_at = self.board.unplug_at
        t0 = self.board.started_at
        while not self._closed.is_set():
            if unplug_at is not None and time.monotonic() - t0 >= unplug_at:
                unplug_at = None
                self._unplug.set()
            if self._unplug.is_set():
                self._cycle()
                continue
            self._step()

    def _cycle(self) -> None:
        self._unplug.clear()
        self._unplug_now()
        end = time.monotonic() + UNPLUG_S
        while time.monotonic() < end and not self._closed.is_set():  # the board's output goes nowhere
            self._read_board(discard=True)
            time.sleep(0.01)
        if not self._closed.is_set():
            self._plug()
            self.board.replugged(self.path)

    def _step(self) -> None:
        poll = select.poll()
        a_events = (select.POLLIN if len(self.to_host) < HOST_BUFFER else 0) | (select.POLLOUT if self.to_board else 0)
        if a_events:
            poll.register(self.a, a_events)
        poll.register(self.b_master, select.POLLIN | (select.POLLOUT if self.to_host else 0))
        for fd, ev in poll.poll(20):
            if fd == self.a:
                if ev & select.POLLIN:
                    self._read_board(discard=False)
                if ev & select.POLLOUT and self.to_board:
                    self._write(self.a, self.to_board)
            elif fd == self.b_master:
                if ev & select.POLLIN:
                    self._read_host()
                if ev & select.POLLOUT and self.to_host:
                    self._write(self.b_master, self.to_host)

    def _read_board(self, discard: bool) -> None:
        try:
            data = os.read(self.a, 16384)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            time.sleep(0.01)  # EIO while the board process restarts
            return
        if not data:
            return
        self._last_rx = time.monotonic()
        if not self._armed:
            self._look_for_audio(data)
        if not discard:
            self.to_host += self._corrupt(data) if self._armed else data

    def _look_for_audio(self, data: bytes) -> None:
        """Wire faults start with the audio stream of each plug-in (the INFO/START handshake stays clean:
        a fault run measures the stream; at BER 1e-3 a 450-byte INFO reply would almost never survive)."""
        scan = self._scan + data
        if _AUDIO_HEAD in scan:
            self._armed = True
            self.board.saw_audio()
        self._scan = scan[-3:]

    def _read_host(self) -> None:
        try:
            data = os.read(self.b_master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            time.sleep(0.01)  # nobody has the port open: EIO on some kernels
            return
        self.to_board += data

    @staticmethod
    def _write(fd: int, buf: bytearray) -> None:
        try:
            n = os.write(fd, buf[:16384])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            buf.clear()
            return
        del buf[:n]

    def _corrupt(self, data: bytes) -> bytes:
        ber, drop = self.board.ber, self.board.drop_bytes
        if not ber and not drop:
            return data
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        if ber:
            flips = self.rng.binomial(len(arr) * 8, ber)
            if flips:
                bits = self.rng.integers(0, len(arr) * 8, flips)
                np.bitwise_xor.at(arr, bits // 8, (1 << (bits % 8)).astype(np.uint8))
        if drop:
            arr = arr[self.rng.random(len(arr)) >= drop]
        out: bytes = arr.tobytes()  # numpy types tobytes() as Any
        return out
