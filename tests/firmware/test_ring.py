"""Ring of frames: drop-oldest with exact accounting, under random capture/send interleavings."""

from __future__ import annotations

import json

import pytest
from fwhelpers import AUDIO, DEVICE_DROP, FIRST, I2S_OVERRUN, parse_frames, run_mp, run_mp_json
from picomic.deploy.build import FirmwareBuild

_RANDOM_OPS = """
from picomic_fw.ring import FrameRing
from picomic_fw.proto import F_FIRST, F_I2S_OVERRUN
import random, binascii, json
random.seed(SEED)
ring = FrameRing(N, 8, 16000, 2)
sent = bytearray()
captured = 0
busy = -1
for step in range(3000):
    if random.getrandbits(2):  # capture more often than send: the ring overflows
        slot = ring.acquire()
        flags = F_FIRST if captured == 0 else (F_I2S_OVERRUN if captured % 97 == 5 else 0)
        ring.push(slot, captured & 0x3FFFFFFF, captured * 10, 8, flags)
        captured += 1
    elif busy < 0:
        busy = ring.pop()
        if busy >= 0:
            size = ring.seal(busy)
            sent.extend(memoryview(ring.bufs[busy])[:size])
    else:
        ring.release(busy)
        busy = -1
    assert ring.nfree + ring.count + (busy >= 0) == ring.n
print(binascii.hexlify(sent).decode())
print(json.dumps({"captured": captured, "dropped": ring.total_dropped, "queued": ring.count,
                  "carry": ring.carry_drop, "busy": busy}))
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [3, 4, 32])
def test_drop_accounting_is_exact(fw: FirmwareBuild, n: int, seed: int) -> None:
    out = run_mp(fw, _RANDOM_OPS.replace("SEED", str(seed)).replace("N,", f"{n},"))
    hexdata, summary_line = out.strip().splitlines()
    summary = json.loads(summary_line)
    frames = parse_frames(bytes.fromhex(hexdata))
    assert frames and all(f.type == AUDIO for f in frames)
    assert summary["dropped"] > 0
    prev = -1
    overruns_seen = 0
    for f in frames:
        gap = f.seq - prev - 1
        assert gap == f.dropped, (prev, f.seq, f.dropped)  # the frame after a gap says exactly how many
        assert bool(f.flags & DEVICE_DROP) == (gap > 0)
        overruns_seen += bool(f.flags & I2S_OVERRUN)
        prev = f.seq
    assert frames[0].flags & FIRST  # carried over even if frame 0 itself was dropped
    # every captured frame is sent (a busy slot's bytes are already out), dropped (counted) or queued
    assert len(frames) + summary["dropped"] + summary["queued"] == summary["captured"]
    assert overruns_seen >= 1


def test_acquire_drops_oldest_and_carries_to_next(fw: FirmwareBuild) -> None:
    result = run_mp_json(
        fw,
        """
from picomic_fw.ring import FrameRing
import json
r = FrameRing(3, 4, 16000, 2)
for seq in range(5):           # 3 slots, nothing sent: 0 and 1 get dropped
    r.push(r.acquire(), seq, 0, 4, 0)
order = []
while r.count:
    s = r.pop()
    order.append([r.seq[s], r.dropped[s], r.flags[s]])
    r.release(s)
print(json.dumps({"order": order, "total": r.total_dropped}))
""",
    )
    assert result == {"order": [[2, 2, DEVICE_DROP], [3, 0, 0], [4, 0, 0]], "total": 2}
