# mypy: ignore-errors
# Fakes for running the picomic firmware on the unix port (MicroPython code): the firmware tests and the
# device benchmark of `picomic bench` both use them, so they ship with the package.
import io
import select

import micropython

_POLL = 3
_GET_FILENO = 10
_RD = 1
_WR = 4
_MASK30 = 0x3FFFFFFF

# The unix port polls a Python stream object by sleeping 1 ms per round unless it names a real fd, so the
# fakes name one: /dev/zero (always readable: readinto then says whether fed bytes exist) and /dev/null
# (always writable: write() then decides what the "host" accepts).
_ZERO = open("/dev/zero", "rb")  # noqa: SIM115 (kept open for the process)
_NULL = open("/dev/null", "wb")  # noqa: SIM115


@micropython.viper
def _fill(buf: ptr8, n: int, word: int, step: int, width: int):  # noqa: F821 (viper type)
    # INMP441-shaped slot data: width 2 -> int16 words, width 4 -> 32-bit words (sample in bits 31..8).
    v = word
    i = 0
    while i < n:
        buf[i] = v & 0xFF
        buf[i + 1] = (v >> 8) & 0xFF
        if width == 4:
            buf[i + 2] = (v >> 16) & 0xFF
            buf[i + 3] = (v >> 24) & 0xFF
        v += step
        i += width


class FakeI2S(io.IOBase):
    # Fills readinto buffers with a ramp; `frames` limits how many reads succeed (then 0: signal end).
    # `clock` (anything with advance(us) and a call giving its 30-bit µs: a FakeTicks, or the simulated
    # board's clock) is the sample clock.
    # Blocking mode (never polled): each read advances the clock by the buffer's duration (the read
    # waited for its audio). Poll mode (registered in select.poll, like rp2's ASYNCIO mode): audio arrives
    # with the clock, POLLIN when a sample frame is there, a read returns what is there (at most the buffer
    # or its max_len) without moving the clock; a read after the end is 0 and the end is readable.
    # stall_every/stall_us: every stall_every-th read the clock jumps stall_us more (the loop was late).
    def __init__(
        self, rate, bits, channels, ibuf, clock=None, frames=-1, word=0x0100, step=1, stall_every=0, stall_us=0
    ):
        self.stall_every = stall_every
        self.stall_us = stall_us
        self.rate = rate
        self.width = 4 if bits == 32 else 2
        self.bpf = self.width * channels
        self.clock = clock
        self.left = frames
        self.word = word
        self.step = step
        self.reads = 0
        self.closed = False
        self.polled = False
        self.t0 = clock() if clock is not None else 0
        self.taken = 0  # sample frames read since t0 (poll mode)

    def _avail(self):
        e = (self.clock() - self.t0) & _MASK30
        return e * self.rate // 1000000 - self.taken

    def ioctl(self, req, arg):
        if req == _POLL:
            self.polled = True
            if arg & _RD and (self.left == 0 or self.clock is None or self._avail() > 0):
                return _RD
            return 0
        return -1

    def readinto(self, buf, max_len=-1):
        if self.left == 0:
            return 0
        n = len(buf)
        if 0 <= max_len < n:
            n = max_len
        n -= n % self.bpf
        if self.polled and self.clock is not None:
            k = self._avail()
            if k * self.bpf < n:
                n = k * self.bpf if k > 0 else 0
            if not n:
                return 0
        if self.left > 0:
            self.left -= 1
        _fill(buf, n, self.word, self.step, self.width)
        self.reads += 1
        if self.clock is not None:
            if self.polled:
                self.taken += n // self.bpf
            else:
                # n bytes last n / bpf / rate s, floored to µs exactly, in small ints (runs under heap_lock)
                k = n // self.bpf * 1000
                self.clock.advance(k // self.rate * 1000 + k % self.rate * 1000 // self.rate)
            if self.stall_every and self.reads % self.stall_every == 0:
                self.clock.advance(self.stall_us)
        return n

    def deinit(self):
        self.closed = True


class FakeTicks:
    # A 30-bit microsecond clock (like rp2's ticks_us) that only moves when told to.
    def __init__(self, start=0):
        self.t = start

    def advance(self, us):
        self.t = (self.t + us) & 0x3FFFFFFF

    def __call__(self):
        return self.t


class FakeIn(io.IOBase):
    # stdin: bytes queued by feed() become readable; poll reports them. fd=False: no file descriptor, so
    # select.poll asks ioctl and reports only fed bytes (what FakePoll needs to know nothing is ready).
    def __init__(self, size=512, fd=True):
        self.buf = bytearray(size)
        self.r = 0
        self.w = 0
        self.fd = fd

    def feed(self, data):
        for c in data:
            if self.w == len(self.buf):
                if self.r:  # compact
                    n = self.w - self.r
                    self.buf[:n] = self.buf[self.r : self.w]
                    self.r, self.w = 0, n
                else:
                    self.buf.extend(bytearray(len(self.buf)))
            self.buf[self.w] = c
            self.w += 1

    def readinto(self, b):
        if self.r == self.w:
            return None
        b[0] = self.buf[self.r]
        self.r += 1
        if self.r == self.w:
            self.r = self.w = 0
        return 1

    def ioctl(self, req, arg):
        if req == _GET_FILENO and self.fd:
            return _ZERO.fileno()
        if req == _POLL:
            return _RD if self.r != self.w else 0
        return -1


class FakeOut(io.IOBase):
    # stdout: accepts writes following `pattern` (a bytes of per-call limits: 255 = all, 0 = None/would
    # block); keeps the last `keep` bytes written in a buffer (capture=True) and counts bytes.
    def __init__(self, pattern=b"\xff", keep=0, fd=True):
        self.fd = fd
        self.pattern = pattern
        self.i = 0
        self.total = 0
        self.calls = 0
        self.keep = bytearray(keep)
        self.kept = 0

    def write(self, buf, off, n):
        p = self.pattern[self.i]
        self.i += 1
        if self.i == len(self.pattern):
            self.i = 0
        self.calls += 1
        if p == 0:
            return None
        if p != 255 and p < n:
            n = p
        k = self.kept
        if k + n <= len(self.keep):
            self.keep[k : k + n] = memoryview(buf)[off : off + n]
            self.kept = k + n
        self.total += n
        return n

    def ioctl(self, req, arg):
        # Not writable while the pattern's next entry is 0 (that entry is used up by the poll). With an fd
        # (/dev/null) select.poll itself always says writable; FakePoll asks this.
        if req == _GET_FILENO and self.fd:
            return _NULL.fileno()
        if req == _POLL:
            if self.pattern[self.i] == 0:
                self.i += 1
                if self.i == len(self.pattern):
                    self.i = 0
                return 0
            return _WR & arg
        return -1


class FakePoll:
    # select.poll for a fake clock: a wait that finds nothing ready moves the clock by its timeout instead
    # of sleeping (what the board's clock would do meanwhile). Allocation-free like select.poll's ipoll.
    # Registered objects must be the fakes (their ioctl says whether they are really ready).
    def __init__(self, clock):
        self.p = select.poll()
        self.clock = clock

    def register(self, obj, mask=5):
        self.p.register(obj, mask)

    def modify(self, obj, mask):
        self.p.modify(obj, mask)

    def unregister(self, obj):
        self.p.unregister(obj)

    def ipoll(self, timeout=-1, flags=0):
        for obj, ev in self.p.ipoll(0):
            if obj.ioctl(_POLL, ev):  # the fake's own answer (a FakeIn's /dev/zero is always readable)
                return self.p.ipoll(0)
        if timeout > 0:
            self.clock.advance(timeout * 1000)
        return self.p.ipoll(0)
