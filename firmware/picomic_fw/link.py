# The USB link: command lines in, frames out, written only when the host has room.
#
# Invariant (writer): at most one frame is in flight -- `wbuf` holds it (a ring slot when wslot >= 0, else
# a control buffer) and bytes [woff, wend) of it have not been accepted yet; a short write keeps the offset
# and the rest goes out on a later pump(). Control frames (replies, INFO, END) wait in a FIFO of _CTL
# preallocated buffers, each sealed when queued; a "late" one (END and what follows it) waits until the
# audio ring is empty. The writer seals audio frames itself when it pops them from the ring.
# rp2's stdout: poll(POLLOUT) means one free byte in the 256-byte CDC FIFO; a write puts what fits into it
# and waits (1 ms steps, servicing USB) for room for the rest, up to 500 ms without progress (twice:
# stream.write retries), then returns short. So pump() writes at most `chunk` (default 256 B, the FIFO) per
# write, only after POLLOUT, never past the frame in flight, and at most _PUMP_BUDGET bytes per call: the
# loop goes back to its poll (USB, stdin) in between. With the host reading, a write that found the FIFO
# part full waits for a packet or two to leave (well inside the I2S buffer's 156 ms at 16 kHz); only a host
# that stops reading right then can hold one write ~1 s (smaller chunks shorten neither wait: any write
# larger than the free space waits the same). One 256-byte write costs the CPU far less than four of 64
# (measured in the emulated RP2040: docs/performance.md).
# Invariant (reader): `line[0:nline]` holds the bytes of the current command line; bytes past LINE_MAX are
# discarded and the line reported as too long when its terminator arrives. rp2's stdin read blocks until
# every byte asked for has arrived (shared/runtime/sys_stdio_mphal.c), and poll(POLLIN) only says "at
# least one": so bytes are read one at a time, each after a POLLIN, up to a budget per call.
# 0x03 is never special here: idle, kbd_intr(3) makes rp2's USB receive callback turn it into
# KeyboardInterrupt before the firmware sees it; streaming (kbd_intr(-1)) it is data.
# Nothing here is safe from an IRQ; everything runs in the main loop. pump() and poll_line() do not
# allocate (write(buf, off, n) is MicroPython's offset form of stream.write, so no slice is made); send()
# copies into a preallocated buffer.

from micropython import const
import select
from .proto import HEADER, OVERHEAD, init_frame, pack, copy_into
from .commands import LINE_MAX

_CTL = const(4)  # control frames that can wait for the host
CTL_MAX = const(1024)  # control payload bytes
_EAGAIN = const(11)
_ETIMEDOUT = const(110)

_CHUNK_MAX = const(256)  # rp2's CDC TX FIFO
_PUMP_BUDGET = const(4096)  # bytes per pump() call: a backlog drains fast, capture still gets its turn

NONE = const(-1)  # poll_line results besides a line length
LONG = const(-2)
EOF = const(-3)


class Link:
    def __init__(self, stdin, stdout, tx_chunk=_CHUNK_MAX):
        self.inp = stdin
        self.out = stdout
        self.chunk = tx_chunk if 0 < tx_chunk <= _CHUNK_MAX else _CHUNK_MAX
        self.pin = select.poll()
        self.pin.register(stdin, select.POLLIN)
        self.pout = select.poll()
        self.pout.register(stdout, select.POLLOUT)
        self.rx = bytearray(1)
        self.line = bytearray(LINE_MAX)
        self.nline = 0
        self.long = False
        self.got_byte = False  # set by poll_line on any byte: host liveness
        self.ctl = []
        for _ in range(_CTL):
            b = bytearray(OVERHEAD + CTL_MAX)
            init_frame(b)
            self.ctl.append(b)
        self.ctl_len = [0] * _CTL
        self.ctl_late = bytearray(_CTL)
        self.ctl_head = 0
        self.ctl_count = 0
        self.ring = None
        self.wbuf = None
        self.wslot = -1
        self.woff = 0
        self.wend = 0
        self.broken = False  # stdout failed with a hard error (only a simulated unplug does that)
        self.ctl_dropped = 0

    # ---- reader

    def readable(self, timeout_ms):
        for _ in self.pin.ipoll(timeout_ms):
            return True
        return False

    def writable(self, timeout_ms):
        # pump() inlines writable(0): it runs once per tx_chunk, in the hot path.
        for _ in self.pout.ipoll(timeout_ms):
            return True
        return False

    def poll_line(self, budget):
        # Read at most `budget` available bytes. Returns a complete line's length (line[0:n]), NONE, LONG
        # (an over-long line ended) or EOF (stdin closed). Main loop only; no allocation.
        line = self.line
        while budget and self.readable(0):
            budget -= 1
            try:
                n = self.inp.readinto(self.rx)
            except OSError:
                return EOF
            if n is None:
                return NONE
            if not n:
                return EOF
            self.got_byte = True
            c = self.rx[0]
            if c == 0x0A:
                n = self.nline
                self.nline = 0
                if self.long:
                    self.long = False
                    return LONG
                return n
            if c == 0x0D:
                continue
            if self.nline < LINE_MAX:
                line[self.nline] = c
                self.nline += 1
            else:
                self.long = True
        return NONE

    # ---- writer

    def send(self, ftype, payload, seq, ts, late=False):
        # Queue a control frame; dropped (and counted) when _CTL frames already wait for the host.
        n = len(payload)
        if n > CTL_MAX:
            raise ValueError("control payload too long")
        if self.ctl_count == _CTL:
            self.ctl_dropped += 1
            return False
        i = (self.ctl_head + self.ctl_count) % _CTL
        buf = self.ctl[i]
        copy_into(buf, HEADER, payload, n)
        self.ctl_len[i] = pack(buf, ftype, seq, ts, 0, 0, n, 0, 0)
        self.ctl_late[i] = 1 if late else 0
        self.ctl_count += 1
        return True

    def pending(self):
        ring = self.ring
        return self.wbuf is not None or self.ctl_count or (ring is not None and ring.count)

    def _next(self):
        ring = self.ring
        if self.ctl_count and (not self.ctl_late[self.ctl_head] or ring is None or not ring.count):
            i = self.ctl_head
            self.ctl_head = (i + 1) % _CTL
            self.ctl_count -= 1
            self.wbuf = self.ctl[i]
            self.wslot = -1
            self.wend = self.ctl_len[i]
        elif ring is not None and ring.count:
            slot = ring.pop()
            self.wbuf = ring.bufs[slot]
            self.wslot = slot
            self.wend = ring.seal(slot)
        else:
            return False
        self.woff = 0
        return True

    def _done(self):
        if self.wslot >= 0:
            self.ring.release(self.wslot)
        self.wbuf = None
        self.wslot = -1

    def pump(self, ready=False):
        # Write what the host takes right now, up to _PUMP_BUDGET bytes (whole frames after the first).
        # ready: the caller's poll just reported POLLOUT, so the first chunk needs no poll of its own.
        # Returns True while output is still pending. Main loop only; no allocation. Hot path (once per
        # chunk): the frame's fields live in locals while it is being written.
        budget = _PUMP_BUDGET
        out = self.out
        pout = self.pout
        chunk = self.chunk
        while True:
            buf = self.wbuf
            if buf is None:
                if not self._next():
                    return False
                buf = self.wbuf
            if self.broken:
                return True
            off = self.woff
            end = self.wend
            while off < end:
                if ready:
                    ready = False
                else:
                    for _ in pout.ipoll(0):
                        break
                    else:
                        self.woff = off
                        return True
                want = end - off
                if want > chunk:
                    want = chunk
                try:
                    w = out.write(buf, off, want)
                except OSError as e:
                    self.woff = off
                    if e.errno != _EAGAIN and e.errno != _ETIMEDOUT:
                        self.broken = True
                    return True
                if not w:
                    self.woff = off
                    return True
                off += w
                budget -= w
                if w < want:
                    self.woff = off
                    return True
            self.woff = off
            self._done()
            if budget <= 0:
                return self.pending()

    def abort_frame(self):
        # Give up on the frame in flight (START that could not drain the backlog): the host resyncs.
        if self.wbuf is not None:
            self._done()
