"""The steady-state loop: counter wrap, overrun detection, int bounds and zero allocation (heap_lock)."""

from __future__ import annotations

import pytest
from fwhelpers import APP_HARNESS, AUDIO, END, FIRST, I2S_OVERRUN, STATUS, WRAP, parse_frames, run_mp, run_mp_json
from picomic.deploy.build import FirmwareBuild

_START_NEAR_WRAP = """
a, inp, out, clock, made = make_app(clock_start=0x3FFFFFFF - 380000, pattern=PATTERN, keep=KEEP,
                                    i2s_kw={"stall_every": STALL_EVERY, "stall_us": STALL_US})
inp.feed(b"START\\n")
idle(a, 3)
assert a.streaming
while a.cap.settle:
    a.stream_step()
a.cap.seq = 0x3FFFFFFF - 40   # epoch counters just below the 2^30 wrap
"""


def _script(pattern: bytes = b"\xff", keep: int = 0, stall_every: int = 0, stall_us: int = 0) -> str:
    return APP_HARNESS + (
        _START_NEAR_WRAP.replace("PATTERN", repr(pattern))
        .replace("KEEP", str(keep))
        .replace("STALL_EVERY", str(stall_every))
        .replace("STALL_US", str(stall_us))
    )


def test_seq_and_ts_wrap_at_2_30(fw: FirmwareBuild) -> None:
    out = run_mp(
        fw,
        _script(keep=200000)
        + """
for i in range(100):
    a.stream_step()
    if i % 50 == 0:
        inp.feed(b"PING\\n")
dump(out)
""",
    )
    frames = parse_frames(bytes.fromhex(out.strip()), allow_tail=True)
    audio = [f for f in frames if f.type == AUDIO]
    assert len(audio) >= 90
    seqs = [f.seq for f in audio]
    assert audio[0].flags & FIRST and not any(f.flags & FIRST for f in audio[1:])
    assert seqs[0] == WRAP - 41 and 0 in seqs
    assert all((b - a) % WRAP == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    assert all(0 <= s < WRAP for s in seqs)
    ts = [f.ts_us for f in audio]
    assert all((b - a) % WRAP == 10000 for a, b in zip(ts, ts[1:], strict=False))
    assert any(b < a for a, b in zip(ts, ts[1:], strict=False))  # the timestamp wrapped too
    pings = [f for f in frames if f.type == STATUS and f.json()["cmd"] == "PING"]
    assert len(pings) == 2 and all(0 <= f.seq < WRAP for f in pings)


@pytest.mark.parametrize(("stall_us", "flagged"), [(100000, 0), (400000, 1)])
def test_overrun_detected_by_timing(fw: FirmwareBuild, stall_us: int, flagged: int) -> None:
    # ibuf 20000 bytes at 16 kHz holds 156.25 ms: a 100 ms stall is absorbed, a 400 ms one lost audio.
    out = run_mp(
        fw,
        _script(keep=200000, stall_every=60, stall_us=stall_us)
        + """
for i in range(50):
    a.stream_step()
dump(out)
""",
    )
    audio = [f for f in parse_frames(bytes.fromhex(out.strip()), allow_tail=True) if f.type == AUDIO]
    assert sum(bool(f.flags & I2S_OVERRUN) for f in audio) == flagged


_INT_CHECK = """
from picomic_fw import ring as ringmod, link as linkmod, proto
bad = []
orig_pack = proto.pack
def checked_pack(buf, *fields):
    for v in fields:
        if not 0 <= v < 0x40000000:
            bad.append(("pack", v))
    return orig_pack(buf, *fields)
ringmod.pack = checked_pack
linkmod.pack = checked_pack

def scan(obj, what):
    for name in dir(obj):
        v = getattr(obj, name)
        if type(v) is int and not -0x40000000 <= v < 0x40000000:
            bad.append((what, name, v))
for i in range(4000):
    a.stream_step()
    if i % 50 == 0:
        inp.feed(b"PING\\n")
    for obj, what in ((a, "app"), (a.cap, "capture"), (a.ring, "ring"), (a.link, "link")):
        scan(obj, what)
    for arr in (a.ring.seq, a.ring.ts):
        for v in arr:
            if not 0 <= v < 0x40000000:
                bad.append(("ring array", v))
import json
print(json.dumps({"bad": bad[:10], "dropped": a.ring.total_dropped, "overruns": a.cap.overruns,
                  "seq": a.cap.seq}))
"""


def test_every_int_in_the_loop_stays_below_2_30(fw: FirmwareBuild) -> None:
    # A slow writer (drops) and stalls (overruns) with counters and clock starting just below the wrap.
    result = run_mp_json(fw, _script(pattern=b"\x40\x07\x00", stall_every=700, stall_us=300000) + _INT_CHECK)
    assert isinstance(result, dict)
    assert result["bad"] == []
    assert result["dropped"] > 0 and result["overruns"] > 0 and result["seq"] < 4000


_ZERO_ALLOC = """
import gc, json
gc.collect()
frames0 = a.cap.frames
micropython.heap_lock()
try:
    i = 0
    while (a.cap.frames - frames0) & 0x3FFFFFFF < FRAMES and i < 2 * FRAMES:
        a.stream_step()
        if i % 50 == 0:
            inp.feed(b"PING\\n")   # liveness + the PING reply path, also allocation-free
        i += 1
finally:
    micropython.heap_unlock()
print(json.dumps({"frames": (a.cap.frames - frames0) & 0x3FFFFFFF, "dropped": a.ring.total_dropped,
                  "overruns": a.cap.overruns, "streaming": a.streaming, "bytes": out.total,
                  "seq": a.cap.seq}))
"""


@pytest.mark.parametrize(
    ("pattern", "stall_every"),
    [(b"\xff", 0), (b"\x40\x07\x00\x11", 997), (b"\x00\x00\x00\x00\x00\x00\x01", 0)],
    ids=["writer-ok", "short-and-none", "mostly-blocked"],
)
def test_steady_state_loop_allocates_nothing(fw: FirmwareBuild, pattern: bytes, stall_every: int) -> None:
    frames = 10000
    result = run_mp_json(
        fw,
        _script(pattern=pattern, stall_every=stall_every, stall_us=300000) + _ZERO_ALLOC.replace("FRAMES", str(frames)),
    )
    assert isinstance(result, dict)
    assert result["streaming"] is True and result["frames"] == frames
    assert result["seq"] < 10000  # wrapped past 2^30 under the lock
    if pattern != b"\xff":
        assert result["dropped"] > 0
    if stall_every:
        assert result["overruns"] > 0


def test_heap_lock_test_can_fail(fw: FirmwareBuild) -> None:
    # The same harness reports an allocation as a MemoryError (so the zero-allocation test is meaningful).
    with pytest.raises(AssertionError, match="MemoryError"):
        run_mp(
            fw,
            _script()
            + """
micropython.heap_lock()
a.stream_step()
a.command(b"STATS")
""",
        )


def test_signal_end_and_host_silence(fw: FirmwareBuild) -> None:
    result = run_mp_json(
        fw,
        APP_HARNESS
        + """
import json
a, inp, out, clock, made = make_app(frames=50, keep=100000)
inp.feed(b"START\\n"); idle(a, 3)
while a.streaming:
    a.stream_step()
idle(a, 50)
first = out.kept
a2, inp2, out2, clock2, made2 = make_app(keep=100000)
inp2.feed(b"START\\n"); idle(a2, 3)
steps = 0
t0 = clock2()
while a2.streaming and steps < 1000:
    a2.stream_step(); steps += 1
steps = (clock2() - t0) // 1000  # ms of board time until the device gave up on the host
idle(a2, 50)
print(json.dumps([binascii.hexlify(memoryview(out.keep)[:out.kept]).decode(),
                  binascii.hexlify(memoryview(out2.keep)[:out2.kept]).decode(), steps, a2.spoll is None,
                  made[0].closed, made2[0].closed]))
""",
    )
    assert isinstance(result, list)
    ended, silent, steps, poll_gone, closed1, closed2 = result
    frames = parse_frames(bytes.fromhex(ended))
    end = frames[-1]
    audio = [f for f in frames if f.type == AUDIO]
    assert end.type == END and end.json()["reason"] == "signal_end"
    # 50 successful reads: the 4096-sample start-up discard and the frames (the poll-mode fake returns what
    # its clock has delivered, so a frame may take two reads); every frame captured is sent before END
    assert end.seq == len(audio) and 12 <= len(audio) <= 50 - 26
    frames2 = parse_frames(bytes.fromhex(silent))
    assert frames2[-1].type == END and frames2[-1].json()["reason"] == "host_silent"
    assert 3000 <= steps <= 3070  # ms: 3 s (settle included) without a byte from the host, + one step
    assert poll_gone is True and closed1 and closed2


def test_stop_is_read_when_stdin_and_stdout_are_one_object(fw: FirmwareBuild) -> None:
    # rp2: sys.stdin.buffer is sys.stdout.buffer (one stdio buffer object). The stream's poll must keep
    # POLLIN on that one entry while it asks for POLLOUT (registering stdout with events 0 once replaced
    # stdin's interest: the emulated RP2040 ignored STOP until host_silent).
    result = run_mp_json(
        fw,
        APP_HARNESS
        + """
import json

class FakeIO(FakeOut):
    # one object for both directions, like rp2's stdio buffer
    def __init__(self):
        FakeOut.__init__(self, b"\\xff", 200000)
        self.inp = FakeIn()
    def feed(self, data):
        self.inp.feed(data)
    def readinto(self, b):
        return self.inp.readinto(b)
    def ioctl(self, req, arg):
        if req == 3:
            return (arg & 1 if self.inp.r != self.inp.w else 0) | (arg & 4)
        return -1

clock = FakeTicks(0)
io = FakeIO()
a = appmod.App(lambda r, b, c, i: FakeI2S(r, b, c, i, clock), io, io, {"board": "pico"}, ticks_us=clock,
               poll=lambda: FakePoll(clock))
io.feed(b"START\\n"); idle(a, 3)
for _ in range(40):
    a.stream_step()
io.feed(b"STOP\\n")
steps = 0
while a.streaming and steps < 200:
    a.stream_step(); steps += 1
idle(a, 20)
print(json.dumps([steps, a.streaming, binascii.hexlify(memoryview(io.keep)[:io.kept]).decode()]))
""",
    )
    assert isinstance(result, list)
    steps, streaming, data = result
    assert streaming is False and steps < 10
    ends = [f for f in parse_frames(bytes.fromhex(data), allow_tail=True) if f.type == END]
    assert ends and ends[0].json()["reason"] == "stop"
