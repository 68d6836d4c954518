# Capture: I2S -> ring slots, with gain/clip processing, timestamps and I2S overrun detection by timing.
#
# Invariant: owns the I2S object and the epoch's counters; writes only into the slot it acquired from the
# ring (readinto fills that slot's payload memoryview directly) and queues it with push(). Runs in the main
# loop, never from an IRQ. Every int it creates is < 2^30: seq and timestamps are masked to 30 bits, the
# timing balance is clamped to the I2S buffer's capacity (a few hundred ms in µs).
#
# Overrun detection: rp2's I2S ring (`ibuf`, 8 bytes per sample frame: two 32-bit slots) silently drops DMA
# blocks when full. `balance` = µs elapsed since the first frame - µs of audio delivered, clamped at 0, is a
# lower bound of the audio waiting in ibuf (readinto returns as soon as a frame is complete). When it
# exceeds the buffer's capacity plus _MARGIN_US, samples were certainly lost: the frame gets I2S_OVERRUN,
# `overruns` counts it, and the balance is set back to the capacity (what the full buffer now holds).

from micropython import const
from .proto import MASK30, HEADER, F_CLIPPED, F_FIRST, F_I2S_OVERRUN, F_STEREO, F_WIDTH32
from . import dsp

SETTLE_SAMPLES = const(4096)  # INMP441 ready 2^18 SCK cycles after clock start: 4096 sample frames
_MARGIN_US = const(2000)  # timing jitter allowance: DMA block granularity + loop scheduling
_HALF = const(0x20000000)
_WRAP = const(0x40000000)


def frame_bytes(bits, channels):
    # Payload bytes per sample frame.
    return (4 if bits == 24 else 2) * channels


class Capture:
    def __init__(self, i2s, ring, cfg, ibuf, ticks):
        # cfg: validated START settings (commands.parse_start); rate * frame_ms is a multiple of 1000.
        rate = cfg["rate"]
        bits = cfg["bits"]
        channels = cfg["channels"]
        self.i2s = i2s
        self.ring = ring
        self.spf = rate * cfg["frame_ms"] // 1000  # sample frames per audio frame
        self.bpf = frame_bytes(bits, channels)
        self.plen = self.spf * self.bpf
        self.gain = cfg["gain"]
        self.proc = dsp.process24 if bits == 24 else dsp.process16
        self.ticks = ticks
        self.frame_us = cfg["frame_ms"] * 1000
        self.cap_us = ibuf * 1000 // rate * 125  # ibuf / (8 bytes * rate) in µs
        self.limit = self.cap_us + _MARGIN_US
        self.base_flags = (F_WIDTH32 if bits == 24 else 0) | (F_STEREO if channels == 2 else 0)
        self.settle = SETTLE_SAMPLES
        rem = SETTLE_SAMPLES % self.spf
        self.settle_rem = memoryview(ring.bufs[0])[HEADER:HEADER + rem * self.bpf] if rem else None
        self.seq = 0
        self.first = True
        self.last = 0
        self.balance = 0
        self.frames = 0
        self.overruns = 0
        self.clipped = 0

    def step(self):
        # Capture one frame. Returns payload bytes queued, 0 while discarding the settle time, -1 when the
        # I2S source ended (readinto returned 0: only a simulated signal does that).
        if self.settle:
            return self._settle()
        ring = self.ring
        slot = ring.acquire()
        n = self.i2s.readinto(ring.payload[slot])
        now = self.ticks() & MASK30
        if not n:
            ring.abandon(slot)
            return -1
        n -= n % self.bpf
        dur = self.frame_us if n == self.plen else self.frame_us * (n // self.bpf) // self.spf
        d = (now - self.last) & MASK30
        if d >= _HALF:
            d -= _WRAP
        self.last = now
        b = self.balance + d - dur
        flags = self.base_flags
        if b < 0:
            b = 0
        elif b > self.limit:
            flags |= F_I2S_OVERRUN
            self.overruns = (self.overruns + 1) & MASK30
            b = self.cap_us
        self.balance = b
        if self.proc(ring.bufs[slot], HEADER, n, self.gain):
            flags |= F_CLIPPED
            self.clipped = (self.clipped + 1) & MASK30
        if self.first:
            flags |= F_FIRST
            self.first = False
        ring.push(slot, self.seq, (now - b - dur) & MASK30, n, flags)
        self.seq = (self.seq + 1) & MASK30
        self.frames = (self.frames + 1) & MASK30
        return n

    def _settle(self):
        # Read and discard the microphone's start-up samples; the timing reference starts after them.
        want = self.settle
        if want >= self.spf:
            n = self.i2s.readinto(self.ring.payload[0])
        else:
            n = self.i2s.readinto(self.settle_rem)
        if not n:
            return -1
        got = n // self.bpf
        self.settle = want - got if got < want else 0
        self.last = self.ticks() & MASK30
        return 0

    def close(self):
        deinit = getattr(self.i2s, "deinit", None)
        if deinit:
            deinit()
