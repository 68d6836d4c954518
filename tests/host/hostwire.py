"""TEST-ONLY frame encoder (production never encodes frames: the firmware does).

Written from docs/protocol.md without importing picomic.stream.protocol, and checked byte for byte against the
firmware-made golden vectors (test_stream_vectors.py), so decoder tests built on it are not self-checks.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"

AUDIO, INFO, STATUS, END = 1, 2, 3, 4
FIRST = 0x08
MASK30 = (1 << 30) - 1


def encode_frame(
    ftype: int,
    seq: int = 0,
    ts_us: int = 0,
    rate_hz: int = 0,
    samples: int = 0,
    payload: bytes = b"",
    dropped: int = 0,
    flags: int = 0,
    version: int = 1,
) -> bytes:
    head = struct.pack(
        "<BBIIHHHHB",
        version,
        ftype,
        seq & MASK30,
        ts_us & MASK30,
        rate_hz,
        samples,
        len(payload),
        dropped,
        flags,
    )
    hcheck = ~sum(head) & 0xFF
    body = head + bytes([hcheck]) + payload
    return b"\xa5\x5a" + body + struct.pack("<I", zlib.crc32(body))


@dataclass
class SentAudio:
    seq: int
    ts_us: int
    payload: bytes
    flags: int = 0
    dropped: int = 0
    samples: int = 160
    rate_hz: int = 16000


def audio(seq: int, *, samples: int = 160, rate_hz: int = 16000, flags: int = 0, dropped: int = 0) -> SentAudio:
    payload = bytes((seq * 7 + i) & 0xFF for i in range(samples * 2))
    ts = seq * samples * 1_000_000 // rate_hz
    return SentAudio(seq, ts, payload, flags | (FIRST if seq == 0 else 0), dropped, samples, rate_hz)


def encode_audio(a: SentAudio) -> bytes:
    return encode_frame(AUDIO, a.seq, a.ts_us, a.rate_hz, a.samples, a.payload, a.dropped, a.flags)


def encode_json(ftype: int, obj: dict[str, object], seq: int = 0, ts_us: int = 0) -> bytes:
    return encode_frame(ftype, seq, ts_us, payload=json.dumps(obj).encode())


@dataclass
class Vector:
    name: str
    data: bytes
    frames: list[dict[str, object]] = field(default_factory=list)
    description: str = ""


def load_vectors() -> list[Vector]:
    """Golden vectors from tests/vectors/*.json manifests (empty list when none exist yet)."""
    out: list[Vector] = []
    for manifest in sorted(VECTORS_DIR.glob("*.json")):
        doc = json.loads(manifest.read_text())
        if not isinstance(doc, dict) or "vectors" not in doc:
            continue
        for v in doc["vectors"]:
            data = (VECTORS_DIR / v["file"]).read_bytes()
            out.append(Vector(v["name"], data, list(v["frames"]), v.get("description", "")))
    return out
