"""The handshake with a board on an open port: STOP + INFO (with REPL recovery), then START.

Everything here is synchronous and short; `picomic.link.source.SerialSource` runs the stream on top of it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from picomic.bus.text import printable
from picomic.errors import DeviceError, FrameError, LinkError
from picomic.stream.decoder import DecodedFrame, Decoder
from picomic.stream.protocol import (
    GARBAGE_LIMIT_BYTES,
    MAX_RATE_HZ,
    MIN_RATE_HZ,
    VERSION,
    FrameType,
    encode_command,
    version_mismatch,
)

REPLY_TIMEOUT_S = 1.5
SOFT_RESET_WAIT_S = 2.0
INFO_ATTEMPTS = 3  # INFO is asked again when its reply was damaged on the wire (CRC error)
REPL_MARKERS = (b">>> ", b"raw REPL", b"MicroPython v", b"Traceback (most recent call last)")


@dataclass(frozen=True, slots=True)
class StartSettings:
    """Arguments of the START command (docs/protocol.md)."""

    rate_hz: int = 16000
    frame_ms: int = 0
    """0: the default for the rate, `default_frame_ms` (20 ms from 44.1 kHz, else 10 ms)."""
    gain: int = 0
    """Left shift (bits) applied on the device, with saturation."""
    bits: int = 16
    """16, or 24 (int32 samples on the bus)."""
    channels: int = 1
    """1, or 2 (diagnostic: both I2S slots)."""

    def __post_init__(self) -> None:
        if not self.frame_ms:
            object.__setattr__(self, "frame_ms", default_frame_ms(self.rate_hz))
        checks = (
            (
                MIN_RATE_HZ <= self.rate_hz <= MAX_RATE_HZ,
                f"rate must be {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz, got {self.rate_hz}",
            ),
            (5 <= self.frame_ms <= 64, f"frame length must be 5..64 ms, got {self.frame_ms}"),
            (0 <= self.gain <= 8, f"gain must be 0..8 bits, got {self.gain}"),
            (self.bits in (16, 24), f"bits must be 16 or 24, got {self.bits}"),
            (self.channels in (1, 2), f"channels must be 1 or 2, got {self.channels}"),
            (
                self.rate_hz * self.frame_ms % 1000 == 0,
                f"rate × frame length must be whole samples: {self.rate_hz} Hz × {self.frame_ms} ms is not; "
                "choose e.g. --frame-ms 10 or 20",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def command(self) -> bytes:
        return encode_command(
            "START", rate=self.rate_hz, frame_ms=self.frame_ms, gain=self.gain, bits=self.bits,
            channels=self.channels,
        )  # fmt: skip


LONG_FRAME_RATE_HZ = 44100
"""From this rate on the default frame is LONG_FRAME_MS: the firmware's work per frame is fixed, and an RP2040
sustains 48 kHz only with 20 ms frames (its START refuses shorter ones there; docs/performance.md)."""
LONG_FRAME_MS = 20
DEFAULT_FRAME_MS = 10


def default_frame_ms(rate_hz: int) -> int:
    """The frame length START asks for when none is given: 10 ms, 20 ms from 44.1 kHz."""
    return LONG_FRAME_MS if rate_hz >= LONG_FRAME_RATE_HZ else DEFAULT_FRAME_MS


def _read_until(ser: Any, dec: Decoder, want: Callable[[DecodedFrame], bool], timeout_s: float,
                raw: bytearray) -> tuple[DecodedFrame | None, list[DecodedFrame]]:  # fmt: skip
    """Read until a frame satisfies `want`; return it and the frames that came after it in the same read."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = ser.read(max(1, ser.in_waiting))
        if not data:
            continue
        if len(raw) < 4096:
            raw += data[: 4096 - len(raw)]
        frames = dec.feed(data)
        for i, frame in enumerate(frames):
            if want(frame):
                return frame, frames[i + 1 :]
        if not dec.frames and (raw.endswith(b">>> ") or dec.bytes_without_frame > GARBAGE_LIMIT_BYTES):
            break  # a REPL prompt or plenty of garbage: no need to wait for the timeout
    return None, []


def _is_repl(raw: bytes) -> bool:
    return any(marker in raw for marker in REPL_MARKERS)


def _drain(ser: Any, quiet_s: float = 0.1, limit_s: float = 1.0) -> None:
    """Read and discard until the port has been quiet for `quiet_s` (at most `limit_s`)."""
    deadline = time.monotonic() + limit_s
    quiet_until = time.monotonic() + quiet_s
    while time.monotonic() < min(deadline, quiet_until):
        if ser.read(max(1, ser.in_waiting)):
            quiet_until = time.monotonic() + quiet_s


@contextlib.contextmanager
def link_io(path: str, step: str) -> Iterator[None]:
    """The port's I/O errors (the board went away: an unplug, a simulated board that exited, a closed pty)
    as one LinkError, which SerialSource's reconnect handles like any other lost link."""
    try:
        yield
    except OSError as exc:  # pyserial's SerialException is an OSError too
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise LinkError(f"lost the board on {path} during {step}: {reason} — is it still plugged in?") from None


def request_info(ser: Any, path: str, *, allow_repl_reset: bool = True) -> dict[str, object]:
    """STOP (a no-op when idle) then INFO; the INFO dict. A MicroPython REPL instead of the firmware gets
    Ctrl-C, Ctrl-B, Ctrl-D (soft reset runs main.py) and one more try (DECISIONS 1). LinkError when the port
    fails (the board went away)."""
    with link_io(path, "the handshake"):
        return _request_info(ser, path, allow_repl_reset)


def _request_info(ser: Any, path: str, allow_repl_reset: bool) -> dict[str, object]:
    repl_reset = not allow_repl_reset
    for _attempt in range(INFO_ATTEMPTS):
        ser.reset_input_buffer()
        ser.write(b"\r\n" + encode_command("STOP") + encode_command("INFO"))
        raw = bytearray()
        dec = Decoder()  # throwaway: frames of an earlier session (before our STOP) are not ours
        frame, _ = _read_until(ser, dec, lambda f: f.type is FrameType.INFO, REPLY_TIMEOUT_S, raw)
        if frame is not None:
            info = frame.frame.json()
            proto = info.get("proto", VERSION)
            if proto != VERSION:
                raise version_mismatch(proto, path)
            return info
        if _is_repl(bytes(raw)) and not repl_reset:
            repl_reset = True
            _soft_reset(ser)
            continue
        if dec.crc_errors or dec.frames:
            continue  # picomic frames, but the INFO reply was damaged on the wire: ask again
        raise _no_firmware(path, bytes(raw), dec)
    raise FrameError(f"no intact INFO reply from {path} after {INFO_ATTEMPTS} tries — check the USB cable and hub")


def _soft_reset(ser: Any) -> None:
    """Ctrl-C (stop a running program), Ctrl-B (friendly REPL), Ctrl-D (soft reset runs main.py)."""
    ser.write(b"\r\x03\x03")
    time.sleep(0.1)
    ser.write(b"\x02")
    time.sleep(0.1)
    ser.write(b"\x04")
    time.sleep(0.2)
    _drain(ser, quiet_s=0.3, limit_s=SOFT_RESET_WAIT_S)


def _no_firmware(path: str, raw: bytes, dec: Decoder) -> FrameError | DeviceError:
    if _is_repl(raw):
        return FrameError(f"no picomic firmware on {path}: it answers with a MicroPython REPL — run picomic flash")
    if raw:
        sample = raw[:24].hex(" ")
        return FrameError(
            f"{path} talks, but not picomic frames ({dec.bytes} bytes, starting {sample}) — "
            "is this a Pico with picomic firmware? run picomic flash"
        )
    return DeviceError(f"no answer from the board on {path} — press its reset button or run picomic flash")


def _start_answer(f: DecodedFrame) -> bool:
    """START's STATUS reply, or (when that reply was lost to a wire error) the epoch's first audio."""
    if f.frame.type is FrameType.AUDIO:
        return True
    return f.frame.type is FrameType.STATUS and f.frame.json().get("cmd") == "START"


def send_start(ser: Any, dec: Decoder, settings: StartSettings) -> list[DecodedFrame]:
    """START; wait for its STATUS reply; return the frames that followed it (first audio). DeviceError if
    the board refuses, with its message; LinkError when the port fails (the board went away)."""
    with link_io(str(getattr(ser, "port", None) or "the port"), "START"):
        return _send_start(ser, dec, settings)


def _send_start(ser: Any, dec: Decoder, settings: StartSettings) -> list[DecodedFrame]:
    dec.expect_epoch()
    ser.write(settings.command())
    raw = bytearray()
    reply, rest = _read_until(ser, dec, _start_answer, REPLY_TIMEOUT_S, raw)
    if reply is None:
        raise DeviceError("the board did not answer START — press its reset button or run picomic flash")
    if reply.frame.type is FrameType.AUDIO:  # the reply was damaged on the wire, but audio flows: started
        return [reply, *rest]
    body = reply.frame.json()
    if not body.get("ok"):
        raise DeviceError(f"the board refused START: {printable(body.get('error', 'no reason given'))}")
    return rest
