"""pio_i2s, the rp2 capture path (PIO + a self-re-arming DMA channel into a ring), off the chip: its ring sizing
and its reader, on the unix port with the DMA channel replaced by its write address (the PIO program and the DMA
set-up run in the emulated Pico: tests/hil, tests/emulator)."""

from __future__ import annotations

import pytest
from fwhelpers import run_mp_json
from picomic.deploy.build import FirmwareBuild

READER = """
from picomic_fw import pio_i2s
import json

class Ch:
    def __init__(self, write):
        self.write = write

class Reader(pio_i2s.PioI2S):
    # the reader of PioI2S on a plain ring: base 0x20010000, the channel's write address set by the test
    def __init__(self, size, bpf):
        self.bpf = bpf
        self._base = 0x20010000
        self._ring = bytearray(size)
        for i in range(size):
            self._ring[i] = i & 0xFF
        self._mask = size - 1
        self._hmask = (size >> 1) - 1
        self._rd = 0
        self._a = Ch(self._base)
        self._sm = None

def dma(r, offset):
    r._a.write = r._base + offset

out = []
"""


def _run(fw: FirmwareBuild, body: str) -> list[object]:
    result = run_mp_json(fw, READER + body + "\nprint(json.dumps(out))\n")
    assert isinstance(result, list)
    return result


def test_reads_what_the_channel_wrote_and_wraps(fw: FirmwareBuild) -> None:
    got = _run(
        fw,
        """
r = Reader(1024, 2)
buf = bytearray(300)
dma(r, 200)                          # the channel wrote 200 bytes
out.append(r.readinto(buf))          # 200: what is there, not the whole buffer
out.append(list(buf[:4]))
dma(r, 1000)
out.append(r.readinto(buf))          # 300 of the 800 waiting
dma(r, 100)                          # 100 past the wrap
out.append(r.readinto(buf, 256))     # max_len caps it
out.append(r.readinto(buf))          # 300 more, across the wrap
out.append(r.readinto(buf))          # the rest up to b's 100
out.append(list(buf[64:68]))
out.append(r.readinto(buf))          # nothing new
""",
    )
    assert got == [200, [0, 1, 2, 3], 300, 256, 300, 68, [96, 97, 98, 99], 0]


def test_reads_whole_sample_frames_only(fw: FirmwareBuild) -> None:
    got = _run(
        fw,
        """
r = Reader(1024, 8)                  # 24-bit stereo: 8 bytes per sample frame
buf = bytearray(64)
dma(r, 30)
out.append(r.readinto(buf))          # 24: three whole frames of the 30 bytes
out.append(r.ioctl(3, 1))            # 6 bytes wait: less than a frame, not readable
dma(r, 32)
out.append(r.ioctl(3, 1))
out.append(r.readinto(buf))
""",
    )
    assert got == [24, 0, 1, 8]


def test_after_a_lap_it_reads_on_from_the_oldest_audio_the_ring_holds(fw: FirmwareBuild) -> None:
    got = _run(
        fw,
        """
r = Reader(1024, 4)
buf = bytearray(2048)
dma(r, 100)
out.append(r.readinto(buf, 64))      # 64 read: _rd 64
dma(r, 80)                           # the DMA went round past _rd: what waits at 64 is a lap newer
r.lapped()
out.append(r._rd)                    # a guard ahead of the write offset
out.append(r.readinto(buf))          # the ring full but the guard: 1024 - 256
""",
    )
    assert got == [64, 336, 768]


@pytest.mark.parametrize(
    ("ibuf", "bpf", "size"),
    [
        (20000, 2, 8192),  # 16 kHz mono: 2500 frames of rp2's buffer -> 4096 frames
        (20000, 4, 16384),
        (20000, 8, 16384),  # at most 16 KiB for rp2's default buffer
        (61440, 8, 32768),  # two long 48 kHz stereo frames: up to the DMA's 32 KiB
        (800, 2, 1024),
    ],
)
def test_ring_size(fw: FirmwareBuild, ibuf: int, bpf: int, size: int) -> None:
    got = run_mp_json(
        fw,
        f"from picomic_fw import pio_i2s\nimport json\n"
        f"print(json.dumps([pio_i2s.ring_size({ibuf}, {bpf}), "
        f"pio_i2s.heap_bytes({ibuf}, {32 if bpf >= 4 else 16}, {1 + (bpf == 8)})]))",
    )
    assert got == [size, 2 * size]
