"""The simulated rp2 machine/time modules, run by the real MicroPython unix port (no firmware involved)."""

from __future__ import annotations

import numpy as np
import pytest
from picomic.sim.mic import MicOptions
from picomic.stream.protocol import SETTLE_SAMPLES

MK = """
import machine, time, sys
from machine import I2S, Pin
def mk(bits=16, fmt=I2S.MONO, rate=16000, ibuf=20000, sck=16, ws=17):
    return I2S(0, sck=Pin(sck), ws=Pin(ws), sd=Pin(18), mode=I2S.RX, bits=bits, format=fmt, rate=rate, ibuf=ibuf)
"""


def test_constructor_checks_like_rp2(run_mp):
    r = run_mp(
        MK
        + """
for kw in ({"ws": 18}, {"bits": 24}, {"fmt": 5}, {"ibuf": 0}, {"rate": 1000}):
    try:
        mk(**kw)
        print("accepted", kw)
    except ValueError as e:
        print("ValueError", e)
try:
    I2S(2, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.RX, bits=16, format=I2S.MONO, rate=16000, ibuf=8)
except ValueError as e:
    print("ValueError", e)
try:
    Pin(30)
except ValueError as e:
    print("ValueError", e)
print(machine.unique_id().hex(), Pin("LED"))
"""
    )
    lines = r.out.splitlines()
    assert r.returncode == 0, r.err
    assert lines[:7] == [
        "ValueError invalid ws (must be sck+1)",
        "ValueError invalid bits",
        "ValueError invalid format",
        "ValueError invalid ibuf",
        "ValueError invalid rate (simulated INMP441: WS 7800..50000 Hz)",
        "ValueError invalid id",
        "ValueError invalid pin",
    ]
    assert lines[7] == "e6614c311b8f2a21 Pin(25)"


def _read_words(run_mp, bits, fmt, n, signal, mic=None, rate=16000):
    r = run_mp(
        MK
        + f"""
i = mk(bits={bits}, fmt={fmt}, rate={rate})
b = bytearray({n})
got = i.readinto(b)
i.deinit()
sys.stdout.write(str(got) + "\\n" + b.hex() + "\\n")
""",
        signal=signal,
        mic=mic,
    )
    assert r.returncode == 0, r.err
    got, hexdata = r.out.split()
    return int(got), bytes.fromhex(hexdata)


def test_word_format_bits32_is_inmp441_left_slot(run_mp):
    n_frames = SETTLE_SAMPLES + 400
    got, raw = _read_words(run_mp, 32, 0, n_frames * 4, "sine:1000:-6dBFS")
    assert got == n_frames * 4
    words = np.frombuffer(raw, "<i4")
    settle, sig = words[:SETTLE_SAMPLES], words[SETTLE_SAMPLES:]
    assert set(np.unique(sig & 0xFF)) <= {0x00, 0xF8, 0xC0} and len(np.unique(sig & 0xFF)) > 1
    expect = np.rint(32767 * 10 ** (-6 / 20) * np.sin(2 * np.pi * 1000 * np.arange(400) / 16000))
    assert np.array_equal(sig >> 16, expect.astype(np.int64))  # 24-bit sample = s16 << 8, exact
    assert np.abs(settle >> 8).max() < 1 << 15  # near-zero start-up junk, not the signal


def test_bits16_mono_returns_top_16_bits_and_stereo_has_zero_right_slot(run_mp):
    n = SETTLE_SAMPLES + 256
    _, raw16 = _read_words(run_mp, 16, 0, n * 2, "noise:-10dBFS")
    _, raw32 = _read_words(run_mp, 32, 1, n * 8, "noise:-10dBFS")
    left32 = np.frombuffer(raw32, "<i4")[0::2]
    right32 = np.frombuffer(raw32, "<i4")[1::2]
    assert np.array_equal(np.frombuffer(raw16, "<i2"), (left32 >> 16).astype(np.int16))
    assert not right32.any()


def test_wrong_slot_fault_puts_the_mic_in_the_right_slot(run_mp):
    n = SETTLE_SAMPLES + 256
    _, raw = _read_words(run_mp, 16, 1, n * 4, "sine:440", MicOptions(fault="wrong-slot"))
    st = np.frombuffer(raw, "<i2").reshape(-1, 2)[SETTLE_SAMPLES:]
    assert not st[:, 0].any() and np.abs(st[:, 1]).max() > 3000


def test_finite_signal_ends_with_zero(run_mp, tmp_path):
    import soundfile

    pcm = (np.arange(1000) * 7).astype(np.int16)
    soundfile.write(tmp_path / "s.wav", pcm, 16000, subtype="PCM_16")
    r = run_mp(
        MK
        + """
i = mk()
b = bytearray(320)
total = 0
while True:
    n = i.readinto(b)
    if not n:
        break
    total += n
print(total, i.readinto(b))
""",
        signal=str(tmp_path / "s.wav"),
    )
    assert r.returncode == 0, r.err
    assert r.out.split() == [str((SETTLE_SAMPLES + 1000) * 2), "0"]


def test_full_buffer_drops_silently_and_readinto_keeps_going(run_mp):
    # Real-time pacing, 0.2 s buffer; the program sleeps 0.5 s: about 0.3 s of blocks are dropped.
    r = run_mp(
        MK
        + """
i = mk(bits=32, ibuf=8)
b = bytearray(4 * 16000)
i.readinto(b)                      # 1 s: settle + ramp up
time.sleep_ms(500)
c = bytearray(4 * 8000)
i.readinto(c)
sys.stdout.write(c.hex())
""",
        signal="sine:1:-1dBFS",
        fast=False,
        ibuf_s=0.2,
        timeout=30,
    )
    assert r.returncode == 0, r.err
    words = np.frombuffer(bytes.fromhex(r.out), "<i4") >> 16
    # a 1 Hz sine: the sample index is recoverable from the value; find the jump
    t = np.arange(100000)
    ref = np.rint(32767 * 10 ** (-1 / 20) * np.sin(2 * np.pi * t / 16000)).astype(np.int64)
    first = int(np.argmin(np.abs(ref[:16000] - words[0])))
    step = np.diff(words)
    jump = int(np.argmax(np.abs(step)))
    assert np.abs(step).max() > 20 * np.median(np.abs(step)) + 10  # there is a discontinuity
    assert first >= 16000 - SETTLE_SAMPLES - 50  # reading resumed with what the buffer kept
    assert jump < 0.2 * 16000 + 16  # ... which is at most the 0.2 s buffer


def test_drift_scales_ticks_and_sample_clock_together(run_mp):
    script = (
        MK
        + """
import time as t
i = mk()
b = bytearray(2 * 1600)
for _ in range(4):
    i.readinto(b)  # settle + 0.1 s: now in steady state
t0 = t.ticks_us()
for _ in range(10):
    i.readinto(b)
print(t.ticks_diff(t.ticks_us(), t0))
"""
    )
    fast = run_mp(script, fast=False, drift_ppb=0)
    slow = run_mp(script, fast=False, drift_ppb=200_000_000)  # +20 %: exaggerated to beat jitter
    assert fast.returncode == 0 and slow.returncode == 0, fast.err + slow.err
    # Board ticks per second of audio are the same (one crystal), whatever the drift
    assert abs(int(fast.out) - 1_000_000) < 60_000
    assert abs(int(slow.out) - 1_000_000) < 60_000


def test_drift_makes_board_clock_faster_than_host(run_mp):
    r = run_mp(
        """
import time, sys
sys.path.insert(0, "")
import _simcfg
h0 = time._t.ticks_us(); b0 = time.ticks_us()
time._t.sleep_ms(300)
print(time.ticks_diff(time.ticks_us(), b0) / time._t.ticks_diff(time._t.ticks_us(), h0))
""",
        drift_ppb=50_000_000,
    )
    assert r.returncode == 0, r.err
    assert float(r.out) == pytest.approx(1.05, abs=0.002)


def test_ticks_wrap_at_2_pow_30_like_rp2(run_mp):
    r = run_mp(
        """
import time
a = time.ticks_us()
time.sleep_ms(30)
b = time.ticks_us()
print(a, b, time.ticks_diff(b, a), time.ticks_add(a, 1 << 30) == a)
""",
        ticks_start_us=(1 << 30) - 10_000,
    )
    a, b, d, same = r.out.split()
    assert int(a) > (1 << 30) - 10_000 and int(b) < 1 << 20 and 25_000 < int(d) < 60_000 and same == "True"


def test_shift_is_arithmetic(run_mp):
    r = run_mp("""
from machine import I2S
import array
a = array.array("i", [-256, 256, 0x7FFFFF00, -0x80000000])
I2S.shift(buf=a, bits=32, shift=-8)
h = array.array("h", [-4, 4])
I2S.shift(buf=h, bits=16, shift=2)
print(list(a), list(h))
""")
    assert r.out.strip() == "[-1, 1, 8388607, -8388608] [-16, 16]", r.err


def test_irq_mode_fills_buffer_and_schedules_callback(run_mp):
    r = run_mp(
        MK
        + """
done = []
i = mk()
i.irq(lambda obj: done.append(obj is i))
b = bytearray(2 * (4096 + 160))
print(i.readinto(b))
t0 = time.ticks_ms()
while not done and time.ticks_diff(time.ticks_ms(), t0) < 2000:
    time.sleep_ms(1)
print(done, time.ticks_diff(time.ticks_ms(), t0) > 200)
""",
        signal="sine:440",
        fast=False,
    )
    assert r.returncode == 0, r.err
    assert r.out.split("\n")[:2] == ["8512", "[True] True"]  # settle takes 256 ms of real time


def test_overrun_at_drops_100ms_once(run_mp):
    r = run_mp(
        MK
        + """
i = mk(bits=32)
b = bytearray(4 * (4096 + 16000))
print(i.readinto(b))
sys.stdout.write(b.hex())
""",
        signal="sine:1:-1dBFS",
        overrun_at_s=0.5,
    )
    n, data = r.out.split("\n", 1)
    words = np.frombuffer(bytes.fromhex(data.strip()), "<i4")[SETTLE_SAMPLES:] >> 16
    t = np.arange(20000)
    ref = np.rint(32767 * 10 ** (-1 / 20) * np.sin(2 * np.pi * t / 16000)).astype(np.int64)
    assert np.array_equal(words[:8000], ref[:8000])
    assert np.array_equal(words[8000:], ref[9600:17600])  # 1600 samples (100 ms) gone at 0.5 s


def test_poll_mode_is_asyncio_like_rp2(run_mp):
    # Registered in select.poll, the I2S reports POLLIN once audio waits and readinto returns what is there
    # (early) instead of blocking; the default buffer is the ibuf asked for (20000 B, DECISIONS 30).
    r = run_mp(
        MK
        + """
import select
i = mk(bits=16)
p = select.poll()
p.register(i, select.POLLIN)
big = bytearray(2 * 16000)                # 1 s: more than ever waits after 50 ms
t0 = time.ticks_ms()
n_events = 0
got = []
while time.ticks_diff(time.ticks_ms(), t0) < 300:
    for obj, ev in p.ipoll(50):
        n_events += 1
        got.append(i.readinto(big))
print(n_events > 3, max(got) < len(big), sum(got) // 2, i._cap)
""",
        signal="silence",
        fast=False,
        timeout=30,
    )
    assert r.returncode == 0, r.err
    many, early, samples, cap = r.out.split()
    assert many == "True" and early == "True"  # several wakes, each read returned early
    assert 0.2 * 16000 < int(samples) <= 0.32 * 16000  # about real time (settle included), no more
    assert int(cap) == 20000 // 8 - (20000 // 8) % 16  # rp2's 20000-byte ibuf in whole DMA blocks


def test_true_rate_and_wdt_limit_follow_the_chip(run_mp):
    # 48 kHz runs at the PIO divider's true rate (+64 ppm at 125 MHz); the RP2350 watchdog allows 16777 ms.
    r = run_mp(
        MK
        + """
i = mk(bits=16, rate=48000)
print(i._num * 1000000 / i._den)
try:
    machine.WDT(timeout=9000)
    print("wdt-ok")
except ValueError as e:
    print("wdt-refused")
""",
        mcu="RP2040",
        timeout=30,
    )
    assert r.returncode == 0, r.err
    rate, wdt = r.out.split()
    assert abs(float(rate) - 48003.07) < 0.01 and wdt == "wdt-refused"
    r2 = run_mp(MK + "\nw = machine.WDT(timeout=16000)\nprint('ok')\n", mcu="RP2350", timeout=30)
    assert r2.returncode == 0 and r2.out.strip() == "ok", r2.err
