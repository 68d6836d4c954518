import sys
sys.path.insert(0, '/work/main/firmware/sim/mpfakes')
sys.path.insert(0, '/root/.cache/picomic/firmware/0.1.0-mpy6.3-x64-pico-d8e6b970309e3486')

from fakes import FakeI2S, FakeTicks, FakeIn, FakeOut
from picomic_fw import app as appmod
import binascii, micropython

def make_app(profile=None, clock_start=0, frames=-1, pattern=b"\xff", keep=400000, i2s_kw=None):
    clock = FakeTicks(clock_start)
    made = []
    def make_i2s(rate, bits, channels, ibuf):
        i2s = FakeI2S(rate, bits, channels, ibuf, clock, frames, **(i2s_kw or {}))
        made.append(i2s)
        return i2s
    inp = FakeIn()
    out = FakeOut(pattern, keep)
    a = appmod.App(make_i2s, inp, out, profile or {"board": "pico"}, ticks_us=clock)
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

a, inp, out, clock, made = make_app(clock_start=0x3FFFFFFF - 380000, pattern=b'@\x07\x00', keep=0,
                                    i2s_kw={"stall_every": 700, "stall_us": 300000})
inp.feed(b"START\n")
idle(a, 3)
assert a.streaming
while a.cap.settle:
    a.stream_step()
a.cap.seq = 0x3FFFFFFF - 40   # epoch counters just below the 2^30 wrap

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
        inp.feed(b"PING\n")
    for obj, what in ((a, "app"), (a.cap, "capture"), (a.ring, "ring"), (a.link, "link")):
        scan(obj, what)
    for arr in (a.ring.seq, a.ring.ts):
        for v in arr:
            if not 0 <= v < 0x40000000:
                bad.append(("ring array", v))
import json
print(json.dumps({"bad": bad[:10], "dropped": a.ring.total_dropped, "overruns": a.cap.overruns,
                  "seq": a.cap.seq}))
