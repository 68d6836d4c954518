#!/usr/bin/env python3
"""Measure the firmware on the MicroPython unix port: RAM taken by START, µs per frame, allocations, wire bytes.

    python tools/fw_measure.py [--mpy] [--frames N]

The measurement itself lives in `picomic.bench.device` (also behind `picomic bench`); this prints its
full table: one row per START configuration, the firmware from source (or the .mpy build with --mpy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from picomic.bench.device import measure  # noqa: E402

__all__ = ["measure", "main"]

_COLUMNS = (
    ("start", "START", 42),
    ("payload_bytes", "payload", 7),
    ("ring_frames", "ring", 4),
    ("ram_at_start_bytes", "RAM@START", 9),
    ("overhead_pct", "ovh%", 5),
    ("wire_bytes_per_frame", "wire B/fr", 9),
    ("loop_us_per_frame", "loop µs", 8),
    ("fake_i2s_us_per_frame", "(fake i2s)", 10),
    ("frame_us", "frame µs", 8),
    ("alloc_bytes_per_frame", "alloc B/fr", 10),
    ("heap_lock_failed_frames", "locked fails", 12),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    parser.add_argument("--mpy", action="store_true", help="measure the .mpy build instead of the source")
    parser.add_argument("--frames", type=int, default=10000)
    args = parser.parse_args()
    rows = measure(mpy=args.mpy, frames=args.frames)
    print(" ".join(f"{title:>{width}}" if i else f"{title:{width}}" for i, (_, title, width) in enumerate(_COLUMNS)))
    for r in rows:
        cells = []
        for i, (key, _, width) in enumerate(_COLUMNS):
            value = r[key]
            text = f"{value:.2f}" if isinstance(value, float) else str(value)
            cells.append(f"{text:>{width}}" if i else f"{text:{width}}")
        print(" ".join(cells))
    effective = all(r["heap_lock_effective"] for r in rows)
    print(f"heap_lock effective (a deliberate allocation failed under it): {effective}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
