# rp2 capture without machine.I2S: a PIO program clocks the INMP441 and a DMA channel (re-armed by a second
# one) copies its samples into a ring forever; readinto() copies what the ring holds. rp2's own I2S driver moves
# 8 raw bytes per sample frame through its DMA interrupt and its ring buffer and again in readinto (about 11 % of the emulated RP2040 at
# 16 kHz, docs/performance.md); here the PIO pushes only the bits a mode keeps and the DMA puts them where the
# frame copy reads them, so the CPU touches each payload byte once.
#
# Invariant: `_rd` is the ring offset of the next byte to read; the data channel's write offset is where the
# next sample lands. It writes the ring (ring_sel: the write address wraps at `size`, so the buffer is aligned
# to `size` inside one twice as big) in runs of whole laps, and chains to a control channel that writes its
# transfer count back into its trigger register, so it runs forever and its write address is always the true
# offset. Bytes between `_rd` and the write offset are unread audio; nothing tells the ring it was lapped --
# the capture's timing balance (capture.py) detects that as an I2S overrun, as it does for rp2's driver. readinto() and ioctl() allocate
# nothing (the START path may: programs are assembled and cached there).
#
# The PIO program (side-set: bit 0 SCK, bit 1 WS; two instructions per SCK period, SD sampled as SCK rises):
# Philips I2S, WS low = left slot, the MSB one SCK after the WS edge. It shifts in `n` bits of the left slot
# (16, or 24 then 8 zero bits for a 32-bit word like rp2's bits=32) and skips the rest, then the same for the
# right slot (stereo) or skips it (mono); autopush hands each sample to the DMA. 16-bit samples travel as
# halfword transfers (the low half of the RX FIFO word), 32-bit ones as words: the ring holds the payload's
# own layout, little-endian, left before right.

from micropython import const
from array import array
import io
import micropython

_RING_MAX = const(16384)
_IBUF_DEFAULT = const(20000)  # rp2's I2S buffer (main.py's profile default)
_LAPS = const(8192)  # ring laps per DMA run: <= 2^27 transfers (RP2350 keeps a mode in the count's top 4 bits)
_GUARD = const(256)  # bytes kept clear of the DMA after a lap (a multiple of every mode's sample frame)
_POLL = const(3)
_RD = const(1)
_PIO_BASE = (0x50200000, 0x50300000, 0x50400000)
_DMA_BASE = const(0x50000000)
_AL1_TRANS_COUNT_TRIG = const(0x1C)
_TREQ_FOREVER = const(0x3F)
_programs = {}


def ring_size(ibuf, bpf):
    # Bytes of ring for a mode: the smallest power of two holding the sample frames of an rp2 I2S buffer of
    # `ibuf` bytes (8 per sample frame; START makes that at least two frames), at most 16 KiB for rp2's
    # default buffer and 32 KiB (the DMA's largest ring) for a bigger one (a profile's, or two long frames).
    want = ibuf // 8 * bpf
    top = _RING_MAX if ibuf <= _IBUF_DEFAULT else 2 * _RING_MAX
    r = 1024
    while r < want and r < top:
        r <<= 1
    return r


def heap_bytes(ibuf, bits, channels):
    # What the ring takes from the heap for a mode (bits 16 or 32, as for machine.I2S): twice its size (it is
    # aligned to its size inside the allocation).
    return 2 * ring_size(ibuf, _width(bits) * channels)


def _width(bits):
    return 4 if bits == 32 else 2  # bytes per sample in the ring


def _program(n, stereo):
    key = n * 2 + stereo
    prog = _programs.get(key)
    if prog is None:
        prog = _programs[key] = _assemble(n, stereo)
    return prog


def _assemble(n, stereo):
    import rp2

    @rp2.asm_pio(sideset_init=(rp2.PIO.OUT_LOW, rp2.PIO.OUT_LOW), in_shiftdir=rp2.PIO.SHIFT_LEFT, autopush=True,
                 push_thresh=16 if n == 16 else 32, fifo_join=rp2.PIO.JOIN_RX)
    def i2s_rx():
        # names below are rp2.asm_pio's instructions (the decorator runs this body with them as globals)
        wrap_target()  # noqa: F821
        for ws in (0, 2):
            if ws == 0 or stereo:
                set(x, n - 1).side(ws)  # noqa: F821 -- bit 0 (the delay bit), SCK low; WS edge here
                set(y, 29 - n).side(ws | 1)  # noqa: F821
                nop().side(ws)  # noqa: F821 -- bit 1, SCK low
                label("l%d" % ws)  # noqa: F821
                in_(pins, 1).side(ws | 1)  # noqa: F821 -- SCK rises: bits 1..n
                jmp(x_dec, "l%d" % ws).side(ws)  # noqa: F821
                if n == 24:
                    in_(null, 8).side(ws | 1)  # noqa: F821 -- a 32-bit word: bits 31..8 data, 7..0 zero
                else:
                    nop().side(ws | 1)  # noqa: F821
                label("s%d" % ws)  # noqa: F821
                nop().side(ws)  # noqa: F821 -- the slot's remaining bits
                jmp(y_dec, "s%d" % ws).side(ws | 1)  # noqa: F821
            else:
                set(x, 30).side(ws)  # noqa: F821 -- mono: clock the right slot, keep nothing
                label("r")  # noqa: F821
                nop().side(ws | 1)  # noqa: F821
                jmp(x_dec, "r").side(ws)  # noqa: F821
                nop().side(ws | 1)  # noqa: F821
        wrap()  # noqa: F821

    return i2s_rx


@micropython.viper
def _copy(dst: ptr16, n: int, src: ptr16, si: int, mask: int):  # noqa: F821 (viper types)
    # n halfwords from the ring (halfword index si, wrapping with mask) to dst[0..n).
    i = 0
    while i < n:
        dst[i] = src[si]
        si = (si + 1) & mask
        i += 1


class PioI2S(io.IOBase):
    # Non-blocking like rp2's I2S in ASYNCIO mode: readinto copies what has arrived and returns at once;
    # ioctl(MP_STREAM_POLL) says POLLIN while a sample frame waits. `cap_frames` (sample frames the ring holds
    # before it is lapped) and `block` (sample frames per DMA delivery) feed the capture's overrun timing.
    block = 1

    def __init__(self, sm_id, sck, sd, rate, bits, channels, ibuf, laps=_LAPS):
        # sck, sd: machine.Pin; the PIO side-sets SCK and WS, the pin after SCK (main.Mic checks the profile)
        import rp2
        import uctypes

        width = _width(bits)
        self.bpf = width * channels
        size = ring_size(ibuf, self.bpf)
        self.cap_frames = size // self.bpf
        self._raw = bytearray(2 * size)
        addr = uctypes.addressof(self._raw)
        self._base = (addr + size - 1) & ~(size - 1)
        off = self._base - addr
        self._ring = memoryview(self._raw)[off:off + size]
        self._mask = size - 1
        self._hmask = (size >> 1) - 1
        self._rd = 0
        self._prog = _program(24 if bits == 32 else 16, channels == 2)
        self._pio = sm_id // 4
        self._sm = self._a = self._c = None
        try:
            self._start(rp2, sm_id, sck, sd, rate, width, size, laps)
        except Exception:
            self.deinit()  # no state machine, program or DMA channel left claimed
            raise

    def _start(self, rp2, sm_id, sck, sd, rate, width, size, laps):
        self._sm = rp2.StateMachine(sm_id, self._prog, freq=rate * 128, in_base=sd, sideset_base=sck)
        rxf = _PIO_BASE[self._pio] + 0x20 + 4 * (sm_id % 4)
        treq = self._pio * 8 + 4 + sm_id % 4
        self._count = array("I", [size // width * laps])
        self._a = a = rp2.DMA()  # the PIO's samples into the ring
        self._c = c = rp2.DMA()  # re-arms `a` when its run ends: writes its count to a's TRANS_COUNT_TRIG
        ring = 10
        while 1 << ring < size:
            ring += 1
        c.config(read=self._count, write=_DMA_BASE + 0x40 * a.channel + _AL1_TRANS_COUNT_TRIG, count=1,
                 ctrl=c.pack_ctrl(size=2, inc_read=False, inc_write=False, treq_sel=_TREQ_FOREVER,
                                  chain_to=c.channel, irq_quiet=True))
        a.config(read=rxf, write=self._base, count=self._count[0], trigger=True,
                 ctrl=a.pack_ctrl(size=width >> 1, inc_read=False, inc_write=True, ring_size=ring, ring_sel=True,
                                  treq_sel=treq, chain_to=c.channel, irq_quiet=True))
        self._sm.active(1)

    def _avail(self):
        # Unread bytes in the ring (between a re-arm and a's next sample its write address is the base, the
        # true offset: a run is whole laps).
        return (self._a.write - self._base - self._rd) & self._mask

    def readinto(self, buf, max_len=-1):
        # buf: bytes (a bytearray or a memoryview of one: len() is its size in bytes)
        n = len(buf)
        if 0 <= max_len < n:
            n = max_len
        a = self._avail()
        if a < n:
            n = a
        n -= n % self.bpf
        if n:
            rd = self._rd
            _copy(buf, n >> 1, self._ring, rd >> 1, self._hmask)
            self._rd = (rd + n) & self._mask
        return n

    def lapped(self):
        # The capture saw the ring lapped (an I2S overrun by its timing): what waits at `_rd` is newer than
        # what was read before. Read on from the oldest audio the ring still holds, a guard ahead of the write
        # offset, so the ring is full again, as the capture's timing balance now assumes.
        self._rd = (self._a.write - self._base + _GUARD) & self._mask

    def ioctl(self, req, arg):
        if req != _POLL:
            return -1
        return _RD if arg & _RD and self._avail() >= self.bpf else 0

    def deinit(self):
        # Stop and give back the state machine, the DMA channels (the re-arming one first) and the program.
        import rp2

        sm = self._sm
        if sm is not None:
            self._sm = None
            sm.active(0)
        for ch in (self._c, self._a):
            if ch is not None:
                ch.active(0)
                ch.close()
        self._c = self._a = None
        prog = self._prog
        if prog is not None:
            self._prog = None
            try:
                rp2.PIO(self._pio).remove_program(prog)
            except ValueError:
                pass  # never added (the state machine was not made)
