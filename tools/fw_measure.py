#!/usr/bin/env python3
"""Measure the firmware on the MicroPython unix port: RAM taken by START, wire overhead, µs per frame.

    python tools/fw_measure.py [--mpy] [--frames N]

Runs the real picomic_fw (source, or the .mpy build for this interpreter with --mpy) on the test fakes
(tests/firmware/mp): a ramp I2S, an always-ready writer. µs/frame is the steady-state loop (capture -> ring
-> seal+CRC -> write -> stdin poll -> liveness), with the fake I2S's own fill cost measured and shown apart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from picomic.firmware import build_firmware, micropython_exe, micropython_sys_mpy  # noqa: E402

CONFIGS = ["", "bits=24", "rate=48000 bits=24 channels=2", "rate=48000 frame_ms=64 bits=24 channels=2"]

_SCRIPT = r"""
import sys, gc, json, time, micropython
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
from fakes import FakeI2S, FakeTicks, FakeIn, FakeOut
from picomic_fw import app as appmod
N = int(sys.argv[3])
results = []
for args in json.loads(sys.argv[4]):
    clock = FakeTicks(0)
    made = []
    def make_i2s(rate, bits, channels, ibuf):
        made.append(FakeI2S(rate, bits, channels, ibuf, clock))
        return made[-1]
    inp = FakeIn(); out = FakeOut()
    a = appmod.App(make_i2s, inp, out, {"board": "pico"}, ticks_us=clock)
    gc.collect()
    before = gc.mem_alloc()
    a.command(("START " + args).strip().encode())
    gc.collect()
    start_bytes = gc.mem_alloc() - before
    while a.cap.settle:
        a.stream_step()
    for i in range(50):
        a.stream_step()
        if i % 10 == 0:
            inp.feed(b"PING\n")
    gc.collect()
    t0 = time.ticks_us()
    for i in range(N):
        a.stream_step()
        if i % 10 == 0:
            inp.feed(b"PING\n")
    loop_us = time.ticks_diff(time.ticks_us(), t0) / N
    i2s = made[-1]
    mv = a.ring.payload[0]
    t0 = time.ticks_us()
    for _ in range(N):
        i2s.readinto(mv)
    fake_us = time.ticks_diff(time.ticks_us(), t0) / N
    plen = a.cap.plen
    results.append({"start": args or "(defaults)", "payload_bytes": plen, "ring_frames": a.ring.n,
                    "ram_at_start_bytes": start_bytes, "overhead_pct": round(2600 / (plen + 26), 2),
                    "loop_us_per_frame": round(loop_us, 2), "fake_i2s_us_per_frame": round(fake_us, 2),
                    "frame_us": a.cap.frame_us, "streaming": a.streaming})
print(json.dumps(results))
"""


def measure(*, mpy: bool = False, frames: int = 10000) -> list[dict[str, object]]:
    """Run the measurement in MicroPython; one result dict per START configuration."""
    build = build_firmware(sys_mpy=micropython_sys_mpy(micropython_exe())) if mpy else build_firmware(source=True)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "measure.py"
        script.write_text(_SCRIPT)
        proc = subprocess.run(
            [
                micropython_exe(),
                "-X",
                "heapsize=4M",
                str(script),
                str(build.root),
                str(ROOT / "tests" / "firmware" / "mp"),
                str(frames),
                json.dumps(CONFIGS),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(result, list)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpy", action="store_true", help="measure the .mpy build instead of the source")
    parser.add_argument("--frames", type=int, default=10000)
    args = parser.parse_args()
    rows = measure(mpy=args.mpy, frames=args.frames)
    print(
        f"{'START':42} {'payload':>7} {'ring':>4} {'RAM@START':>9} {'ovh%':>5} {'loop µs':>8} "
        f"{'(fake i2s)':>10} {'frame µs':>8}"
    )
    for r in rows:
        print(
            f"{r['start']:42} {r['payload_bytes']:>7} {r['ring_frames']:>4} {r['ram_at_start_bytes']:>9} "
            f"{r['overhead_pct']:>5} {r['loop_us_per_frame']:>8} {r['fake_i2s_us_per_frame']:>10} "
            f"{r['frame_us']:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
