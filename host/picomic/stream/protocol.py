"""Wire protocol v1 (docs/protocol.md): constants, frame fields, header check, host → device commands.

This module mirrors the spec; it has no frame encoder (frames are made by the firmware only; tests build
streams from the golden vectors in tests/vectors/).
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass

import numpy as np

from picomic.errors import FrameError
from picomic.stream.devicedata import parse_device_json

VERSION = 1
"""Protocol version this host speaks."""
SYNC = b"\xa5\x5a"
HEADER_SIZE = 22
TRAILER_SIZE = 4
OVERHEAD = HEADER_SIZE + TRAILER_SIZE
MAX_PAYLOAD = 24576
"""Bytes: 64 ms × 48 kHz × 4 bytes × 2 channels."""
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 48000
WRAP_BITS = 30
WRAP = 1 << WRAP_BITS
"""`seq` and `ts_us` are masked to 30 bits on the wire; the receiver unwraps them."""
WRAP_MASK = WRAP - 1
MAX_COMMAND_BYTES = 128
SETTLE_SAMPLES = 4096
"""INMP441 start-up: 2^18 SCK cycles = 4096 sample frames (64 SCK each) after the clock starts; the firmware
discards them after START (docs/protocol.md), so an epoch's first sample is captured that much later. The
firmware (picomic_fw/capture.py) and the simulated board (firmware/sim/machine.py) hold the same number:
tests/test_shared_constants.py fails when a copy drifts."""
GARBAGE_LIMIT_BYTES = 65536
"""This many bytes without a valid frame: the other end is not sending picomic frames (the handshake gives up
early, a running stream treats the link as lost)."""


def version_mismatch(board_version: object, where: str = "") -> FrameError:
    """The one error for a board that speaks another protocol version (the firmware and host differ)."""
    on = f" on {where}" if where else ""
    return FrameError(
        f"protocol version mismatch: the board{on} speaks version {board_version}, this host speaks version "
        f"{VERSION} — the firmware and the host differ: picomic flash installs this host's firmware"
    )


HEADER = struct.Struct("<2sBBIIHHHHBB")
"""sync, version, type, seq, ts_us, rate_hz, samples, length, dropped, flags, hcheck."""
CRC = struct.Struct("<I")


class FrameType(enum.IntEnum):
    AUDIO = 1
    INFO = 2
    STATUS = 3
    END = 4


class Flags(enum.IntFlag):
    """Bits of an AUDIO frame's `flags` byte."""

    DEVICE_DROP = 1 << 0
    I2S_OVERRUN = 1 << 1
    CLIPPED = 1 << 2
    FIRST = 1 << 3
    WIDTH32 = 1 << 4
    STEREO = 1 << 5


KNOWN_FLAGS = int(Flags.DEVICE_DROP | Flags.I2S_OVERRUN | Flags.CLIPPED | Flags.FIRST | Flags.WIDTH32 | Flags.STEREO)
_AUDIO = int(FrameType.AUDIO)  # plain ints: `int & IntFlag` goes through enum code, 10x slower
_WIDTH32 = int(Flags.WIDTH32)
_STEREO = int(Flags.STEREO)
FRAME_TYPES: dict[int, FrameType] = {int(t): t for t in FrameType}
"""Wire byte → FrameType (a dict lookup is much faster than calling the enum)."""

COMMANDS = frozenset({"INFO", "PING", "STATS", "START", "STOP", "RESET"})
_KEY_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")


def header_check(header: bytes | bytearray | memoryview, offset: int = 0) -> int:
    """The `hcheck` byte for the header starting at `offset`: `(~sum(bytes[2..20])) & 0xFF`."""
    return ~sum(header[offset + 2 : offset + 21]) & 0xFF


def header_error(ftype: int, rate_hz: int, samples: int, length: int, dropped: int, flags: int) -> str:
    """Why a header (whose hcheck passed) breaks the limits of docs/protocol.md; '' when it is valid.
    The version is not checked here (a mismatch is an error of its own)."""
    if ftype == _AUDIO:
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            return f"rate {rate_hz} Hz out of {MIN_RATE_HZ}..{MAX_RATE_HZ}"
        if samples < 1:
            return "audio frame without samples"
        if flags & ~KNOWN_FLAGS:
            return f"unknown flags 0x{flags:02x}"
        width = 4 if flags & _WIDTH32 else 2
        channels = 2 if flags & _STEREO else 1
        if length != samples * channels * width or length > MAX_PAYLOAD:
            return f"length {length} does not match {samples} samples × {channels} ch × {width} bytes"
        return ""
    if ftype not in FRAME_TYPES:
        return f"unknown frame type {ftype}"
    if length > MAX_PAYLOAD:
        return f"length {length} > {MAX_PAYLOAD}"
    if rate_hz or samples or dropped or flags:
        return "non-audio frame with audio fields set"
    return ""


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One frame as it was on the wire (fields still masked to 30 bits)."""

    type: FrameType
    seq: int
    """Masked sequence number (AUDIO: the frame's; others: the next audio sequence number)."""
    ts_us: int
    """Masked device `ticks_us`: AUDIO: first sample's capture time; others: time of sending."""
    rate_hz: int
    sample_count: int
    """Sample frames per channel (0 for non-audio)."""
    dropped: int
    """Frames the device ring dropped just before this frame (saturates at 65535)."""
    flags: int
    """`Flags` bits."""
    payload: bytes

    @property
    def channels(self) -> int:
        return 2 if self.flags & _STEREO else 1

    @property
    def width(self) -> int:
        """Bytes per sample: 2 (int16) or 4 (int32 holding a sign-extended 24-bit sample)."""
        return 4 if self.flags & _WIDTH32 else 2

    def pcm(self) -> np.ndarray:
        """AUDIO payload as a read-only ndarray over the payload bytes (no copy): int16 or int32,
        shape (n,) mono or (n, 2) stereo."""
        if self.type is not FrameType.AUDIO:
            raise FrameError(f"{self.type.name} frame has no audio samples")
        arr = np.frombuffer(self.payload, dtype="<i4" if self.flags & _WIDTH32 else "<i2")
        if self.flags & _STEREO:
            arr = arr.reshape(-1, 2)
        return arr

    def json(self) -> dict[str, object]:
        """INFO/STATUS/END payload as typed, bounded fields (`stream.devicedata`: unknown keys under `extra`);
        FrameError if it is not a UTF-8 JSON object within the limits."""
        if self.type is FrameType.AUDIO:
            raise FrameError("AUDIO frame has no JSON payload")
        return parse_device_json(self.type.name, self.payload)


def encode_command(name: str, **kwargs: int) -> bytes:
    """A host → device command line, e.g. `encode_command("START", rate=16000)` → b"START rate=16000\\n".

    ValueError for an unknown command, a non-integer value, a malformed key or a line over 128 bytes."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}; commands are {', '.join(sorted(COMMANDS))}")
    parts = [name]
    for key, value in kwargs.items():
        if not _KEY_RE.match(key):
            raise ValueError(f"command key {key!r} must be lowercase letters, digits and _")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"command value {key}={value!r} must be an integer")
        parts.append(f"{key}={value}")
    line = (" ".join(parts) + "\n").encode("ascii")
    if len(line) > MAX_COMMAND_BYTES:
        raise ValueError(f"command line is {len(line)} bytes, the limit is {MAX_COMMAND_BYTES}")
    return line
