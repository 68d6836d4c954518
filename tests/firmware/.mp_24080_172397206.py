import sys
sys.path.insert(0, '/work/wt-fw/firmware/sim/mpfakes')
sys.path.insert(0, '/root/.cache/picomic/firmware/0.1.0-src-pico-297a6c160d0a0233')

from fakes import FakeI2S, FakeTicks, FakeIn, FakeOut, FakePoll
from picomic_fw import app as appmod
import binascii, micropython

def make_app(profile=None, clock_start=0, frames=-1, pattern=b"\xff", keep=400000, i2s_kw=None):
    clock = FakeTicks(clock_start)
    made = []
    def make_i2s(rate, bits, channels, ibuf):
        i2s = FakeI2S(rate, bits, channels, ibuf, clock, frames, **(i2s_kw or {}))
        made.append(i2s)
        return i2s
    inp = FakeIn(fd=False)
    out = FakeOut(pattern, keep, fd=False)
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

a, inp, out, clock, made = make_app(clock_start=0x3FFFFFFF - 380000, pattern=b'@\x07\x00\x11', keep=0,
                                    i2s_kw={"stall_every": 997, "stall_us": 300000})
inp.feed(b"START\n")
idle(a, 3)
assert a.streaming
while a.cap.settle:
    a.stream_step()
a.cap.seq = 0x3FFFFFFF - 40   # epoch counters just below the 2^30 wrap

import gc, json
gc.collect()
frames0 = a.cap.frames
micropython.heap_lock()
try:
    for i in range(10000):
        a.stream_step()
        if i % 50 == 0:
            inp.feed(b"PING\n")   # liveness + the PING reply path, also allocation-free
finally:
    micropython.heap_unlock()
print(json.dumps({"frames": (a.cap.frames - frames0) & 0x3FFFFFFF, "dropped": a.ring.total_dropped,
                  "overruns": a.cap.overruns, "streaming": a.streaming, "bytes": out.total,
                  "seq": a.cap.seq}))
