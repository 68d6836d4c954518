"""Host-side helpers for the firmware tests: running MicroPython on a build, a minimal frame parser.

The parser here is deliberately independent of the host package's decoder: it checks the firmware against
docs/protocol.md (header check, zlib CRC-32), not against another implementation of the same code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from picomic.deploy.build import FirmwareBuild, fakes_dir, micropython_exe, sim_dir

REPO = Path(__file__).resolve().parents[2]
FAKES_DIR = fakes_dir()  # FakeI2S & co., shared with the device benchmark
SIM_DIR = sim_dir()  # the simulated board's `machine` and `time`, for whole-program tests
VECTORS = REPO / "tests" / "vectors"
TIMEOUT_S = 120.0
WRAP = 1 << 30

AUDIO, INFO, STATUS, END = 1, 2, 3, 4
DEVICE_DROP, I2S_OVERRUN, CLIPPED, FIRST, WIDTH32, STEREO = 1, 2, 4, 8, 16, 32


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_mp(fw: FirmwareBuild, script: str, *, timeout: float = TIMEOUT_S, args: tuple[str, ...] = ()) -> str:
    """Run a MicroPython script with the firmware build and the test fakes importable; return stdout."""
    prelude = (
        f"import sys\nsys.path.insert(0, {str(FAKES_DIR)!r})\n"
        f"sys.path.insert(0, {str(fw.root)!r})\n"
    )
    path = Path(__file__).resolve().parent / f".mp_{os.getpid()}_{abs(hash(script)) % 10**9}.py"
    path.write_text(prelude + script)
    try:
        proc = subprocess.run(
            [micropython_exe(), "-X", "heapsize=8M", str(path), *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}:\n{out[-3000:]}\n{proc.stderr.decode()}")
    return out


def run_mp_json(fw: FirmwareBuild, script: str, **kw: object) -> object:
    """Run a script whose last stdout line is JSON; return it parsed."""
    out = run_mp(fw, script, **kw)  # type: ignore[arg-type]
    return json.loads(out.strip().splitlines()[-1])


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    ts_us: int
    rate_hz: int
    samples: int
    length: int
    dropped: int
    flags: int
    payload: bytes

    def json(self) -> dict[str, object]:
        data = json.loads(self.payload)
        assert isinstance(data, dict)
        return data


def parse_frames(data: bytes, *, allow_tail: bool = False) -> list[Frame]:
    """Split a byte stream into frames, checking sync, version, header check and CRC of every one."""
    frames: list[Frame] = []
    i = 0
    while i < len(data):
        if len(data) - i < 26 and allow_tail:
            break
        assert data[i : i + 3] == b"\xa5\x5a\x01", f"no sync/version at {i}: {data[i : i + 24].hex()}"
        ftype, seq, ts, rate, samples, length, dropped, flags, hcheck = struct.unpack_from("<BIIHHHHBB", data, i + 3)
        assert hcheck == (~sum(data[i + 2 : i + 21])) & 0xFF, f"header check at {i}"
        end = i + 22 + length
        if end + 4 > len(data) and allow_tail:
            break
        (crc,) = struct.unpack_from("<I", data, end)
        assert crc == zlib.crc32(data[i + 2 : end]), f"CRC at {i}"
        frames.append(Frame(ftype, seq, ts, rate, samples, length, dropped, flags, data[i + 22 : end]))
        i = end + 4
    return frames


# MicroPython-side harness: an App on fakes, driven by a script (commands, steps), output captured.
APP_HARNESS = """
from fakes import FakeI2S, FakeTicks, FakeIn, FakeOut, FakePoll
from picomic_fw import app as appmod
import binascii, micropython

def make_app(profile=None, clock_start=0, frames=-1, pattern=b"\\xff", keep=400000, i2s_kw=None):
    clock = FakeTicks(clock_start)
    made = []
    def make_i2s(rate, bits, channels, ibuf):
        i2s = FakeI2S(rate, bits, channels, ibuf, clock, frames, **(i2s_kw or {}))
        made.append(i2s)
        return i2s
    inp = FakeIn()
    out = FakeOut(pattern, keep)
    a = appmod.App(make_i2s, inp, out, profile or {"board": "pico"}, ticks_us=clock,
                   poll=lambda: FakePoll(clock))
    return a, inp, out, clock, made

def idle(a, n=20):
    # idle_step without its 100 ms wait on stdin (the fakes answer poll at once)
    for _ in range(n):
        a.link.pump()
        if a.link.readable(0):
            a.service_rx()
        a.link.pump()

def dump(out):
    print(binascii.hexlify(memoryview(out.keep)[:out.kept]).decode())
"""
