# Capture: I2S -> ring slots, with gain/clip processing, timestamps and I2S overrun detection by timing.
#
# Invariant: owns the I2S object and the epoch's counters; writes only into the slot it holds (`slot`,
# acquired from the ring, `off` payload bytes filled so far) and queues it with push() once full. step()
# runs in the main loop when the I2S is readable (the I2S is registered in the stream's select.poll, which
# puts rp2's driver in its ASYNCIO mode: readinto copies what the driver's ring holds and returns early, so
# the loop never spins inside a blocking readinto and USB keeps being serviced). Never from an IRQ. Every
# int it creates is < 2^30: seq and timestamps are masked to 30 bits, the timing balance is clamped to the
# I2S buffer's capacity (a few hundred ms in µs). step() and due_us() allocate nothing.
#
# A frame's first read goes straight into the slot's payload memoryview; when readinto returns early the
# rest is read into a small preallocated stage buffer and copied to the slot's offset (a memoryview slice
# would allocate).
#
# Overrun detection: rp2's I2S ring (`ibuf`, 8 bytes per sample frame: two 32-bit slots) silently drops DMA
# blocks when full. `balance` = µs elapsed since the first frame - µs of audio delivered, clamped at 0, is a
# lower bound of the audio waiting in ibuf. When it exceeds the buffer's capacity plus _MARGIN_US, samples
# were certainly lost: the frame gets I2S_OVERRUN, `overruns` counts it, and the balance is set back to the
# capacity (what the full buffer now holds). The audio duration uses the TRUE sample rate (rates.true_rate:
# the PIO divider is rounded, so 32/48 kHz run tens of ppm off nominal), kept as whole µs plus a 16-bit
# fraction so no drift accumulates.

from micropython import const
from .proto import MASK30, HEADER, F_CLIPPED, F_FIRST, F_I2S_OVERRUN, F_STEREO, F_WIDTH32, copy_into
from . import dsp

SETTLE_SAMPLES = const(4096)  # INMP441 ready 2^18 SCK cycles after clock start: 4096 sample frames
EMPTY = const(-2)  # step(): the I2S had nothing to read
_MARGIN_US = const(2000)  # timing jitter allowance: DMA block granularity + loop scheduling
_HALF = const(0x20000000)
_WRAP = const(0x40000000)
_BLOCK = const(16)  # sample frames per DMA half-buffer (128 B of 8-byte raw frames)
_STAGE = const(512)  # bytes per continuation read (4 DMA half-buffers of 16-bit mono)


def frame_bytes(bits, channels):
    # Payload bytes per sample frame.
    return (4 if bits == 24 else 2) * channels


class Capture:
    def __init__(self, i2s, ring, cfg, ibuf, ticks, clk_hz=0, rate_div=0):
        # cfg: validated START settings (commands.parse_start); rate * frame_ms is a multiple of 1000.
        # rate_div: the PIO divider in 1/256 (rates.pio_div256) and clk_hz the system clock: the true rate
        # is clk_hz * 2 / rate_div; 0 means "the nominal rate is exact" (fakes, unknown hardware).
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
        # frame duration at the true rate, in µs * 65536 (START may allocate: big ints are fine here)
        if rate_div and clk_hz:
            q = self.spf * rate_div * 1000000 * 65536 // (2 * clk_hz)
        else:
            q = cfg["frame_ms"] * 1000 * 65536
        self.frame_us = q >> 16
        self.frame_frac = q & 0xFFFF
        self.acc = 0  # fraction of a µs owed to the balance, in 1/65536 µs
        # what the buffer holds before audio is lost, and how many sample frames each DMA delivery brings:
        # rp2's I2S keeps 8 raw bytes per frame in ibuf and delivers 16-frame blocks; pio_i2s says its own
        self.cap_us = getattr(i2s, "cap_frames", ibuf // 8) * 1000 // rate * 1000
        self.limit = self.cap_us + _MARGIN_US
        self.block_us = getattr(i2s, "block", _BLOCK) * 1000000 // rate  # wait for the frame's last delivery
        self.base_flags = (F_WIDTH32 if bits == 24 else 0) | (F_STEREO if channels == 2 else 0)
        self.lapped = getattr(i2s, "lapped", None)  # pio_i2s: re-read from the oldest audio after an overrun
        self.settle = SETTLE_SAMPLES
        self.stage = bytearray(_STAGE)
        self.slot = -1
        self.off = 0
        self.ended = False
        self.seq = 0
        self.first = True
        self.last = ticks() & MASK30
        self.balance = 0
        self.frames = 0
        self.overruns = 0
        self.clipped = 0

    def due_us(self, now):
        # µs until the frame being filled is complete in the I2S buffer, its last DMA block included (<= 0:
        # read now); while settling, until the next frame's worth of start-up samples is. Main loop only.
        if self.ended:
            return 0
        d = (now - self.last) & MASK30
        if d >= _HALF:
            d -= _WRAP
        return self.frame_us + self.block_us - self.balance - d

    def step(self):
        # Read what the I2S holds into the frame being filled. Returns payload bytes of a frame queued,
        # 0 when no frame was completed (still filling, or discarding the settle time), EMPTY when the read
        # gave nothing (the DMA block is not in yet; or the source ended: the caller asks the poll, end()),
        # -1 after end().
        if self.ended:
            return -1
        if self.settle:
            return self._settle()
        ring = self.ring
        slot = self.slot
        if slot < 0:
            slot = self.slot = ring.acquire()
            self.off = 0
        off = self.off
        plen = self.plen
        if off == 0:
            n = self.i2s.readinto(ring.payload[slot])
        else:
            want = plen - off
            n = self.i2s.readinto(self.stage, want if want < _STAGE else _STAGE)
            if n:
                copy_into(ring.bufs[slot], HEADER + off, self.stage, n)
        if not n:
            return EMPTY
        off += n
        self.off = off
        if off < plen:
            return 0
        return self._finish(slot, plen)

    def end(self):
        # The I2S source ended (a read gave nothing while the I2S polls readable: only a simulated signal
        # does that): queue what the frame being filled holds, if a sample frame. Returns its payload
        # bytes, or -1.
        self.ended = True
        slot = self.slot
        if slot < 0 or self.settle:
            return -1
        off = self.off
        if off < self.bpf:
            self.slot = -1
            self.ring.abandon(slot)
            return -1
        return self._finish(slot, off - off % self.bpf)

    def _finish(self, slot, n):
        # The slot holds n payload bytes (a full frame, or the short last one): time it, process, queue it.
        ring = self.ring
        self.slot = -1
        now = self.ticks() & MASK30
        if n == self.plen:
            dur = self.frame_us
            acc = self.acc + self.frame_frac
            if acc >= 0x10000:
                acc -= 0x10000
                dur += 1
            self.acc = acc
        else:
            dur = self.frame_us * (n // self.bpf) // self.spf
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
            if self.lapped is not None:
                self.lapped()
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
        # Read and discard the microphone's start-up samples (exactly SETTLE_SAMPLES: the read is capped);
        # the timing reference starts after them. It advances by the audio read, not to the time of the
        # read, so what the buffer still holds when settling ends counts in the balance (never past now:
        # a source faster than the clock).
        want = self.settle * self.bpf
        plen = self.plen
        n = self.i2s.readinto(self.ring.payload[0], want if want < plen else plen)
        if not n:
            return EMPTY
        got = n // self.bpf
        self.settle = self.settle - got if got < self.settle else 0
        t = (self.last + got * self.frame_us // self.spf) & MASK30
        now = self.ticks() & MASK30
        self.last = now if (now - t) & MASK30 >= _HALF else t
        return 0

    def close(self):
        # Give back a half-filled slot and stop the I2S (frees its ibuf on rp2).
        if self.slot >= 0:
            self.ring.abandon(self.slot)
            self.slot = -1
        deinit = getattr(self.i2s, "deinit", None)
        if deinit:
            deinit()
