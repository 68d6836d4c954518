"""A hostile board on a real pty, written from docs/protocol.md alone (no picomic import, no firmware).

It answers the handshake like the firmware (STOP → STATUS ok, INFO → an INFO frame, START → STATUS ok) and
then plays a scripted stream: frames a test builds with `frame()` / `audio()`, raw bytes, pauses, optionally
dripped one byte at a time. Everything it sends passes the frame checks (sync, header check, CRC32), so what
the host does with it is the host's decision, not a decoding accident.
"""

from __future__ import annotations

import json
import os
import select
import struct
import threading
import time
import tty
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

AUDIO, INFO, STATUS, END = 1, 2, 3, 4  # docs/protocol.md "Frame layout": type
FIRST = 1 << 3  # flags bit 3
MASK30 = (1 << 30) - 1  # seq and ts_us are masked to 30 bits on the wire
RATE_HZ = 16000
SAMPLES = 160  # 10 ms frames at 16 kHz
FRAME_US = SAMPLES * 1_000_000 // RATE_HZ

GOOD_INFO: dict[str, object] = {
    "fw": "0.1.0", "proto": 1, "board": "pico", "mpy": "1.24.0", "uid": "0123456789abcdef", "ticks_bits": 30,
    "mic": "INMP441", "ring_frames": 32, "streaming": False,
    "defaults": {"rate": 16000, "frame_ms": 10, "gain": 0, "bits": 16, "channels": 1},
}  # fmt: skip


def frame(ftype: int, seq: int = 0, ts_us: int = 0, rate_hz: int = 0, samples: int = 0, payload: bytes = b"",
          dropped: int = 0, flags: int = 0) -> bytes:  # fmt: skip
    """One frame: sync A5 5A, version 1, the header fields little-endian, hcheck = ~sum(bytes 2..20) & 0xFF,
    the payload, CRC-32 over bytes 2 .. end of payload."""
    body = struct.pack("<BBIIHHHHB", 1, ftype, seq & MASK30, ts_us & MASK30, rate_hz, samples, len(payload),
                       dropped, flags)  # fmt: skip
    body += bytes([~sum(body) & 0xFF]) + payload
    return b"\xa5\x5a" + body + struct.pack("<I", zlib.crc32(body))


def audio(seq: int, ts_frames: int | None = None, *, flags: int = 0, value: int = 1000) -> bytes:
    """A 10 ms mono int16 audio frame numbered `seq`, captured at the device time of frame `ts_frames`
    (default `seq`: the clock agrees with the sequence); every sample is `value`."""
    ts = (seq if ts_frames is None else ts_frames) * FRAME_US
    pcm = struct.pack(f"<{SAMPLES}h", *([value] * SAMPLES))
    return frame(AUDIO, seq, ts, RATE_HZ, SAMPLES, pcm, flags=flags | (FIRST if seq == 0 else 0))


def reply(ftype: int, body: object | bytes, seq: int = 0) -> bytes:
    """An INFO/STATUS/END frame whose payload is `body` (bytes as they are, else JSON)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return frame(ftype, seq, 0, payload=payload)


def end(frames: int) -> bytes:
    return reply(END, {"reason": "stop", "frames": frames, "dropped": 0, "overruns": 0}, seq=frames)


@dataclass
class Pause:
    seconds: float


@dataclass
class HostileBoard:
    """Answers the handshake on a pty, then plays `script` after START. `path` is the slave to open."""

    script: list[bytes | Pause] = field(default_factory=list)
    info: bytes = field(default_factory=lambda: json.dumps(GOOD_INFO).encode())
    drip_s: float | None = None
    """When set, the script's bytes go out one at a time, this many seconds apart."""
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: a USB CDC port
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._frame_lock = threading.Lock()  # a reply never lands inside a frame being dripped
        self.played = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-board", daemon=True)

    def __enter__(self) -> HostileBoard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for fd in (self._master, self._slave):
            os.close(fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                time.sleep(0.001)

    def _serve(self) -> None:
        line = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue  # the host closed the port (EIO): wait for the next open
            line += data
            while b"\n" in line:
                raw, line = line.split(b"\n", 1)
                self._command(raw.strip(b"\r ").decode("ascii", "replace"))

    def _command(self, text: str) -> None:
        if text:
            with self._frame_lock:
                self._answer(text)

    def _answer(self, text: str) -> None:
        name = text.split()[0].upper()
        self.commands.append(name)
        if name == "INFO":
            self._write(frame(INFO, payload=self.info))
        elif name == "START":
            self._write(reply(STATUS, {"cmd": "START", "ok": True, "rate": RATE_HZ, "frame_ms": 10}))
            threading.Thread(target=self._play, name="hostile-play", daemon=True).start()
        elif name in ("STOP", "PING"):
            self._write(reply(STATUS, {"cmd": name, "ok": True, "streaming": name == "PING"}))

    def _play(self) -> None:
        for step in self.script:
            if isinstance(step, Pause):
                time.sleep(step.seconds)
            elif self.drip_s is None:
                self._write(step)
            else:
                with self._frame_lock:
                    for i in range(len(step)):
                        self._write(step[i : i + 1])
                        time.sleep(self.drip_s)
        self.played.set()


def stream(seqs: Iterable[int], ts_of: dict[int, int] | None = None) -> bytes:
    """Audio frames for `seqs` (in this order); `ts_of` overrides a frame's capture time (in frames)."""
    ts_of = ts_of or {}
    return b"".join(audio(s, ts_of.get(s)) for s in seqs)


def frames(seqs: Iterable[int]) -> list[bytes | Pause]:
    """One script step per frame (a dripping board sends each frame whole before it answers a command)."""
    return [audio(s) for s in seqs]
