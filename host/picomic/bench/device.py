"""Device-side benchmark: the real firmware in the real MicroPython unix port.

    python tools/fw_measure.py [--mpy] [--frames N]      # the full table, one row per START configuration

For each START configuration the firmware (source, or the .mpy build for this interpreter — what the
simulated board runs) is driven on the MicroPython fakes (firmware/sim/mpfakes: a ramp I2S on a fake clock
that advances by each read's duration, an always-ready writer, a stdin fed one PING per second of audio):
- RAM allocated by START (`gc.mem_alloc()` before and after, collected): the ring, views and metadata;
- µs per frame of the steady-state loop (capture → ring → seal+CRC → write → stdin poll → liveness); the
  fake I2S's own fill cost is measured apart (`fake_i2s_us_per_frame`) and included in the loop figure;
- heap allocations in the steady state, counted AND proved: bytes allocated per frame from `gc.mem_alloc()`
  deltas with the collector disabled, then the same number of frames under `micropython.heap_lock()`, each
  step in a `try` that counts MemoryErrors (any allocation attempt raises one); a deliberate allocation under
  the lock must fail, which proves the lock is active on this interpreter;
- wire bytes per frame (everything the writer accepted, PING replies included) against the payload.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from picomic.deploy.build import build_firmware, fakes_dir, micropython_exe, micropython_sys_mpy
from picomic.errors import ConfigError, DeviceError

DEFAULT_CONFIG = ""
"""START arguments of the default stream: 16 kHz, 10 ms, 16-bit mono."""
CONFIGS = (DEFAULT_CONFIG, "bits=24", "rate=48000", "rate=48000 bits=24")
"""The mono streams whose figures `picomic bench` reports."""
TABLE_CONFIGS = (*CONFIGS, "rate=48000 bits=24 channels=2", "rate=48000 frame_ms=64 bits=24 channels=2")
"""What tools/fw_measure.py prints (adds the diagnostic stereo modes and the largest frame)."""
_TIMEOUT_S = 300.0
_VERSION_SCRIPT = "import sys; v = sys.implementation.version; print('MicroPython %d.%d.%d' % v[:3], sys.version)"

_SCRIPT = r"""
import sys, gc, json, time, micropython
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
from fakes import FakeI2S, FakeTicks, FakeIn, FakeOut, FakePoll
from picomic_fw import app as appmod
N = int(sys.argv[3])

def steps(a, inp, n, every):
    # the steady state as the host drives it: one PING per second of audio
    for i in range(n):
        a.stream_step()
        if i % every == 0:
            inp.feed(b"PING\n")

def locked_steps(a, inp, n, every):
    fails = 0
    micropython.heap_lock()
    try:
        for i in range(n):
            try:
                a.stream_step()
                if i % every == 0:
                    inp.feed(b"PING\n")
            except MemoryError:
                fails += 1
        try:
            x = [i, i]          # a deliberate allocation: must fail, else the lock proves nothing
            lock_works = False
        except MemoryError:
            lock_works = True
    finally:
        micropython.heap_unlock()
    return fails, lock_works

results = []
for args in json.loads(sys.argv[4]):
    clock = FakeTicks(0)
    made = []
    def make_i2s(rate, bits, channels, ibuf):
        made.append(FakeI2S(rate, bits, channels, ibuf, clock))
        return made[-1]
    inp = FakeIn(); out = FakeOut()
    a = appmod.App(make_i2s, inp, out, {"board": "pico"}, ticks_us=clock, poll=lambda: FakePoll(clock))
    gc.collect()
    before = gc.mem_alloc()
    a.command(("START " + args).strip().encode())
    gc.collect()
    start_bytes = gc.mem_alloc() - before
    every = max(1, 1000000 // a.cap.frame_us)
    while a.cap.settle:
        a.stream_step()
    steps(a, inp, 2 * every, every)
    gc.collect()
    sent0 = out.total
    t0 = time.ticks_us()
    steps(a, inp, N, every)
    loop_us = time.ticks_diff(time.ticks_us(), t0) / N
    wire_bytes = (out.total - sent0) / N
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    steps(a, inp, N, every)
    alloc = gc.mem_alloc() - m0
    gc.enable()
    gc.collect()
    fails, lock_works = locked_steps(a, inp, N, every)
    i2s = made[-1]
    mv = a.ring.payload[0]
    t0 = time.ticks_us()
    for _ in range(N):
        i2s.readinto(mv)
    fake_us = time.ticks_diff(time.ticks_us(), t0) / N
    plen = a.cap.plen
    results.append({"start": args or "(defaults)", "payload_bytes": plen, "ring_frames": a.ring.n,
                    "ram_at_start_bytes": start_bytes, "overhead_pct": round(2600 / (plen + 26), 2),
                    "wire_bytes_per_frame": wire_bytes, "loop_us_per_frame": round(loop_us, 2),
                    "fake_i2s_us_per_frame": round(fake_us, 2), "frame_us": a.cap.frame_us,
                    "alloc_bytes_per_frame": alloc / N, "heap_lock_failed_frames": fails,
                    "heap_lock_frames": N, "heap_lock_effective": lock_works, "streaming": a.streaming})
print(json.dumps(results))
"""


def measure(
    *, mpy: bool = False, frames: int = 10000, configs: tuple[str, ...] = TABLE_CONFIGS
) -> list[dict[str, Any]]:
    """Run the measurement in MicroPython; one result dict per START configuration (see the module doc)."""
    if frames < 1:
        raise ConfigError("frames must be at least 1")
    if not (fakes_dir() / "fakes.py").is_file():
        raise ConfigError(f"the device benchmark's fakes are missing ({fakes_dir()}): reinstall picomic")
    exe = micropython_exe()
    build = build_firmware(sys_mpy=micropython_sys_mpy(exe)) if mpy else build_firmware(source=True)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "measure.py"
        script.write_text(_SCRIPT)
        cmd = [exe, "-X", "heapsize=4M", str(script), str(build.root), str(fakes_dir()), str(frames)]
        try:
            proc = subprocess.run(
                [*cmd, json.dumps(list(configs))], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"the firmware measurement took over {_TIMEOUT_S:.0f} s under MicroPython") from exc
    if proc.returncode != 0:
        raise DeviceError(f"the firmware measurement failed under MicroPython:\n{proc.stdout}{proc.stderr}")
    rows: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def micropython_version() -> str:
    """Version of the unix-port interpreter (for the machine info), or why it is unknown."""
    try:
        proc = subprocess.run(
            [micropython_exe(), "-c", _VERSION_SCRIPT],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (ConfigError, OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return proc.stdout.strip() or f"unavailable (exit {proc.returncode})"


def _key(config: str) -> str:
    """`rate=48000 bits=24` → `48k_24bit` (figure-name suffix for a mono config)."""
    parts = dict(p.split("=") for p in config.split())
    return f"{int(parts.get('rate', '16000')) // 1000}k_{parts.get('bits', '16')}bit"


def run(quick: bool = False, frames: int | None = None, repeats: int | None = None) -> dict[str, Any]:
    """The device figures for `picomic bench`: each a list over `repeats` MicroPython runs of the .mpy build
    (`quick`: 3 runs of 3000 frames, else 5 of 10000); `rows` keeps the last run's full table."""
    n_frames = frames or (3000 if quick else 10000)
    n_runs = repeats or (3 if quick else 5)
    runs = [measure(mpy=True, frames=n_frames, configs=CONFIGS) for _ in range(n_runs)]
    out: dict[str, Any] = {"frames": n_frames, "runs": n_runs, "rows": runs[-1]}

    def series(config: str, field: str) -> list[float]:
        return [float(next(r[field] for r in rows if r["start"] == (config or "(defaults)"))) for rows in runs]

    for config in CONFIGS:
        out[f"loop_us_{_key(config)}"] = series(config, "loop_us_per_frame")
    out["ram_at_start_bytes"] = series(DEFAULT_CONFIG, "ram_at_start_bytes")
    out["wire_bytes_per_frame"] = series(DEFAULT_CONFIG, "wire_bytes_per_frame")
    out["fake_i2s_us_per_frame"] = series(DEFAULT_CONFIG, "fake_i2s_us_per_frame")
    out["frame_us"] = runs[-1][0]["frame_us"]
    # worst configuration of each run: a single allocating configuration must show
    out["alloc_bytes_per_frame"] = [max(float(r["alloc_bytes_per_frame"]) for r in rows) for rows in runs]
    out["heap_lock_effective"] = all(r["heap_lock_effective"] for rows in runs for r in rows)
    # frames whose step tried to allocate under heap_lock; NaN (a miss) when the lock proved nothing
    out["heap_lock_failed_frames"] = [
        float(sum(r["heap_lock_failed_frames"] for r in rows)) if out["heap_lock_effective"] else math.nan
        for rows in runs
    ]
    out["streaming"] = all(r["streaming"] for rows in runs for r in rows)
    return out
