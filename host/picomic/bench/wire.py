"""Wire overhead and the share of the USB full-speed CDC budget a stream uses (exact, from the protocol).

Per frame the wire carries `OVERHEAD` (22 header + 4 CRC = 26) bytes around the payload; 16-bit samples
take 2 bytes, 24-bit samples 4 (int32 on the wire, `WIDTH32`). The budgets assumed:
- USB full speed signals at 12 Mbit/s raw (1.5 MB/s); bulk transfers, which CDC data uses, deliver about
  1.0–1.2 MB/s in practice — the share is given against the LOWER end, 1.0 MB/s (conservative);
- MicroPython on a Pico 2 was measured at ~586 KiB/s device → host (docs: DESIGN), the budget that matters
  for this firmware, so its share is reported too. Keeping a stream under half of it leaves the writer
  twice real time to drain the ring after a host stall.
The 26 bytes are checked against the real firmware: `benchmarks.device` counts the bytes it writes.
"""

from __future__ import annotations

from typing import Any

from picomic.stream.protocol import OVERHEAD

USB_FS_RAW_BITS_PER_S = 12_000_000
BULK_PRACTICAL_BYTES_PER_S = (1_000_000, 1_200_000)
"""USB FS bulk throughput seen in practice (low, high); shares use the low end."""
MEASURED_PICO2_BYTES_PER_S = 586 * 1024
"""MicroPython CDC device → host measured on a Pico 2 (DESIGN.md)."""
STREAMS = ((16000, 16), (16000, 24), (48000, 16), (48000, 24))
"""(rate Hz, bits) of the mono streams reported."""


def stream(rate_hz: int, bits: int, frame_ms: int = 10, channels: int = 1) -> dict[str, float]:
    """Bytes per frame and per second on the wire, overhead and budget shares (percent) for one stream."""
    width = 2 if bits == 16 else 4
    payload = rate_hz * frame_ms // 1000 * width * channels
    frame = payload + OVERHEAD
    per_s = frame * 1000 / frame_ms
    return {
        "payload_bytes": payload,
        "frame_bytes": frame,
        "bytes_per_s": per_s,
        "overhead_pct": 100.0 * OVERHEAD / frame,
        "usb_fs_raw_share_pct": 100.0 * per_s * 8 / USB_FS_RAW_BITS_PER_S,
        "usb_bulk_share_pct": 100.0 * per_s / BULK_PRACTICAL_BYTES_PER_S[0],
        "measured_share_pct": 100.0 * per_s / MEASURED_PICO2_BYTES_PER_S,
    }


def key(rate_hz: int, bits: int) -> str:
    return f"{rate_hz // 1000}k_{bits}bit"


def run(quick: bool = False) -> dict[str, Any]:
    """The figures for `picomic bench` (exact: `quick` changes nothing), plus each stream's details."""
    out: dict[str, Any] = {
        "overhead_bytes_per_frame": OVERHEAD,
        "budgets": {
            "usb_fs_raw_bits_per_s": USB_FS_RAW_BITS_PER_S,
            "usb_bulk_practical_bytes_per_s": list(BULK_PRACTICAL_BYTES_PER_S),
            "measured_pico2_bytes_per_s": MEASURED_PICO2_BYTES_PER_S,
        },
        "streams": {},
    }
    for rate, bits in STREAMS:
        s = stream(rate, bits)
        out["streams"][key(rate, bits)] = s
        out[f"overhead_pct_{key(rate, bits)}"] = s["overhead_pct"]
        out[f"usb_share_pct_{key(rate, bits)}"] = s["usb_bulk_share_pct"]
        out[f"measured_share_pct_{key(rate, bits)}"] = s["measured_share_pct"]
    return out
