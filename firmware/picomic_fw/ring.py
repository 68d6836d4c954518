# Ring of preallocated audio frames with drop-oldest.
#
# Invariant: each of the n slots is in exactly one state -- free (on the `free` stack), filling (held by
# the capture between acquire() and push()/abandon()), queued (in the FIFO `fifo[head .. head+count)`, in
# capture order) or sending (held by the writer between pop() and release()). Only capture calls
# acquire/push/abandon, only the writer calls pop/release; both run in the main loop (nothing here is safe
# from an IRQ). With at most one slot filling and one sending, n >= 3 guarantees acquire() always finds a
# free slot or a queued frame to drop. Queued frames are not sealed yet: their header fields live in the
# per-slot metadata arrays, so a drop only updates the next frame's metadata and the writer packs the
# header and CRC when it pops a frame (frames that get dropped never cost a CRC).
#
# Drop accounting (exact): dropping the oldest queued frame adds its own dropped count + 1 to the frame
# behind it (or, when none is queued, to the frame being filled) and carries its DEVICE_DROP, I2S_OVERRUN
# and FIRST flags over, so the first frame sent after a sequence gap says why the gap is there.

from array import array
from micropython import const
from .proto import HEADER, OVERHEAD, T_AUDIO, F_DEVICE_DROP, init_frame, pack

_CARRY = const(0x0B)  # F_DEVICE_DROP | F_I2S_OVERRUN | F_FIRST
_DROP_MAX = const(65535)


class FrameRing:
    def __init__(self, n, payload_max, rate, bpf):
        # n slots of payload_max bytes; rate (Hz) and bpf (payload bytes per sample frame) go in headers.
        if n < 3:
            raise ValueError("ring needs >= 3 frames")
        self.n = n
        self.payload_max = payload_max
        self.rate = rate
        self.bpf = bpf
        self.bufs = []
        self.payload = []  # memoryview of each slot's payload area, for I2S.readinto
        for _ in range(n):
            b = bytearray(payload_max + OVERHEAD)
            init_frame(b)
            self.bufs.append(b)
            self.payload.append(memoryview(b)[HEADER:HEADER + payload_max])
        self.seq = array("i", range(n))
        self.ts = array("i", range(n))
        self.length = array("H", range(n))
        self.dropped = array("H", range(n))
        self.flags = bytearray(n)
        self.fifo = bytearray(n)
        self.free = bytearray(n)
        self.reset()

    def reset(self):
        # Forget every frame (START of a new epoch); all slots free. Main loop (START); no allocation.
        for i in range(self.n):
            self.free[i] = i
        self.nfree = self.n
        self.head = 0
        self.count = 0
        self.carry_drop = 0  # drops owed to the frame being filled (no queued frame could take them)
        self.carry_flags = 0
        self.total_dropped = 0  # frames dropped since START, masked to 30 bits

    def acquire(self):
        # A slot for the capture to fill: a free one, else the oldest queued frame is dropped. Capture
        # only; no allocation.
        if self.nfree:
            self.nfree -= 1
            return self.free[self.nfree]
        victim = self.pop()  # n >= 3: with no slot free, a frame is queued
        self.total_dropped = (self.total_dropped + 1) & 0x3FFFFFFF
        d = self.dropped[victim] + 1
        f = self.flags[victim] & _CARRY | F_DEVICE_DROP
        if self.count:
            nxt = self.fifo[self.head]
            d += self.dropped[nxt]
            self.dropped[nxt] = d if d < _DROP_MAX else _DROP_MAX
            self.flags[nxt] |= f
        else:
            d += self.carry_drop
            self.carry_drop = d if d < _DROP_MAX else _DROP_MAX
            self.carry_flags |= f
        return victim

    def push(self, slot, seq, ts, length, flags):
        # Queue a filled slot (its payload holds `length` bytes). Capture only; no allocation.
        self.seq[slot] = seq
        self.ts[slot] = ts
        self.length[slot] = length
        self.dropped[slot] = self.carry_drop
        self.flags[slot] = flags | self.carry_flags
        self.carry_drop = 0
        self.carry_flags = 0
        self.fifo[(self.head + self.count) % self.n] = slot
        self.count += 1

    def abandon(self, slot):
        # Give back a slot acquired but not filled (capture), or a sent one (writer, as release()). No
        # allocation.
        self.free[self.nfree] = slot
        self.nfree += 1

    def pop(self):
        # Oldest queued slot for the writer, or -1. Writer (and acquire's drop); no allocation.
        if not self.count:
            return -1
        slot = self.fifo[self.head]
        self.head = (self.head + 1) % self.n
        self.count -= 1
        return slot

    def seal(self, slot):
        # Pack the header, header check and CRC of a popped slot; returns the frame's size in bytes. Writer
        # only; no allocation (viper CRC, pack_into).
        n = self.length[slot]
        return pack(self.bufs[slot], T_AUDIO, self.seq[slot], self.ts[slot], self.rate, n // self.bpf, n,
                    self.dropped[slot], self.flags[slot])

    release = abandon  # the writer is done sending a popped slot
