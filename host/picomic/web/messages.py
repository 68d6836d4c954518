"""The WebSocket messages of the live web view (docs/web.md): binary audio, JSON text for everything else.

Binary (server → client): one audio chunk from the bus, little-endian, built once per chunk and the same bytes
object sent to every client::

    0   4s  magic b"PMA1" (picomic audio, version 1)
    4   H   header_bytes: offset of the first sample (32 + board id + padding to a multiple of 4)
    6   B   width: bytes per sample, 2 (int16) or 4 (int32 holding 24-bit samples, full scale 2^23)
    7   B   channels, 1 or 2 (interleaved)
    8   I   sample_rate, Hz
    12  I   seq (the chunk's sequence number, low 32 bits)
    16  Q   stream_sample: the first sample's index on the stream timeline since START
    24  I   sample_count (per channel)
    28  H   flags (the wire frame's protocol flags)
    30  B   board id length n (UTF-8 bytes, 0 for a single board)
    31  B   reserved (0)
    32  n   board id, then zero padding up to header_bytes

Text: one JSON object per message. Pipeline events are exactly the `--json` lines (`outputs.recorder.json_line`);
the server adds `hello`, `level`, `web` and `pong` (their fields: docs/web.md).
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from picomic.bus.audiobus import AudioChunk
from picomic.outputs.recorder import json_line
from picomic.outputs.view import MeterReading
from picomic.version import __version__

AUDIO_MAGIC = b"PMA1"
PROTOCOL_VERSION = 1
_HEADER = struct.Struct("<4sHBBIIQIHBB")
HEADER_BYTES = _HEADER.size  # 32
MAX_BOARD_ID_BYTES = 64


def audio_message(chunk: AudioChunk, board_id: str = "") -> bytes:
    """The binary message of one chunk: header + samples, one copy of the samples (into the message)."""
    board = board_id.encode("utf-8")[:MAX_BOARD_ID_BYTES]
    header_bytes = (HEADER_BYTES + len(board) + 3) // 4 * 4
    samples = chunk.samples
    width = 2 if samples.dtype == np.int16 else 4
    little = samples.astype("<i2" if width == 2 else "<i4", copy=False)  # a no-op on little-endian hosts
    channels = 1 if samples.ndim == 1 else int(samples.shape[1])
    header = _HEADER.pack(
        AUDIO_MAGIC,
        header_bytes,
        width,
        channels,
        chunk.sample_rate,
        chunk.seq & 0xFFFFFFFF,
        chunk.stream_sample,
        chunk.num_samples,
        chunk.flags & 0xFFFF,
        len(board),
        0,
    )
    pad = b"\0" * (header_bytes - HEADER_BYTES - len(board))
    return header + board + pad + np.ascontiguousarray(little).data.cast("B")


@dataclass(frozen=True, slots=True)
class AudioMessage:
    """A parsed binary message (for scripts and tests)."""

    board_id: str
    sample_rate: int
    seq: int
    stream_sample: int
    flags: int
    samples: np.ndarray
    """int16 or int32, shape (n,) mono or (n, channels)."""


def parse_audio(data: bytes) -> AudioMessage:
    """Parse a binary message (ValueError when it is not one)."""
    if len(data) < HEADER_BYTES:
        raise ValueError(f"audio message of {len(data)} bytes is shorter than its {HEADER_BYTES}-byte header")
    magic, header_bytes, width, channels, rate, seq, start, count, flags, n, _ = _HEADER.unpack_from(data)
    if magic != AUDIO_MAGIC:
        raise ValueError(f"not a picomic audio message (magic {magic!r})")
    if width not in (2, 4) or channels not in (1, 2) or len(data) != header_bytes + count * channels * width:
        raise ValueError("audio message: inconsistent width, channels or length")
    board = bytes(data[HEADER_BYTES : HEADER_BYTES + n]).decode("utf-8", "replace")
    samples = np.frombuffer(data, dtype="<i2" if width == 2 else "<i4", offset=header_bytes)
    if channels == 2:
        samples = samples.reshape(-1, 2)
    return AudioMessage(board, rate, seq, start, flags, samples)


def event_text(event_json: dict[str, object]) -> str:
    """A pipeline event as a text message: the `--json` line itself."""
    return json_line(event_json)


def level_text(reading: MeterReading, board_id: str = "", stream: str = "raw") -> str:
    """The level meter (outputs.view.Meter's own figures) as a `level` message; `stream`: the bus stream it and
    the audio messages show (`raw`, or a stage's: docs/stages.md)."""
    return json_line(
        {
            "type": "level",
            "board_id": board_id,
            "stream": stream,
            "rms_dbfs": round(reading.rms_dbfs, 2),
            "db_spl": round(reading.rms_db_spl, 2),
            "peak_dbfs": round(reading.peak_dbfs, 2),
            "peak_hold_dbfs": round(reading.peak_hold_dbfs, 2),
            "clipping": reading.clipping,
            "rate_hz": reading.rate_hz,
            "channels": reading.channels,
        }
    )


def hello_text(session: str, limits: dict[str, int]) -> str:
    """The first message on every connection: the protocol version, this server run and its limits."""
    return json_line(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "server": f"picomic {__version__}",
            "session": session,
            "limits": limits,
        }
    )


def web_text(stats: dict[str, int], own_dropped: int) -> str:
    """Server counters for one client (`own_dropped`: messages this client lost to its full queue)."""
    return json_line({"type": "web", **stats, "you_dropped": own_dropped})


def pong_text(ping_id: object) -> str:
    return json_line({"type": "pong", "id": ping_id, "server_ms": round(time.monotonic() * 1000.0, 3)})


def refusal_text(message: str) -> str:
    """A `bad_request` reply: the client's message was understood as JSON but is not one the server takes."""
    return json_line({"type": "bad_request", "message": message})


class BadMessage(ValueError):
    """A client's text message is not a JSON object with a string `type`."""


def parse_client_text(text: str) -> dict[str, Any]:
    """A client's text message as a dict (BadMessage when it is not a JSON object with a string `type`)."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise BadMessage("malformed message: not JSON (send e.g. {\"type\":\"ping\"})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise BadMessage("malformed message: expected a JSON object with a string \"type\"")
    return obj
