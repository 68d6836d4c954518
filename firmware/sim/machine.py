# mypy: ignore-errors
# ruff: noqa
# picomic simulated board: `machine` for the rp2 port (Pin, I2S RX with an INMP441, unique_id, WDT, freq,
# reset, and kbd_intr: rp2's USB Ctrl-C). The firmware's main.py imports this module unchanged; the host's `picomic sim` renders the
# microphone's words (picomic/signals.py) and serves them on a unix socket, one connection per I2S session,
# already laid out as rp2's readinto returns them for the session's bits/format. So this side does no work
# per sample: it paces, models rp2's silently-dropping buffer and copies bytes.
#
# I2S buffer invariant (stream index = frame number in the session's byte stream, 0 = first settle frame):
#   [_rd, _prod) is what the "DMA" has delivered and the program has not read; inside it the ranges
#   [_ds[i], _de[i]) were dropped (buffer full when their 16-frame DMA block completed, or --overrun-at),
#   the rest (`_avail` frames, <= `_cap`) waits in the buffer and is read from the socket in order.
#   Only the main loop touches it (readinto, or the _service hook of non-blocking mode via time.*).
# Like rp2's driver, registering the I2S in select.poll (ioctl MP_STREAM_POLL) switches it to ASYNCIO mode:
# POLLIN while frames wait in the buffer, and readinto then copies what is there and returns early. The
# "DMA" runs at the TRUE rate of rp2's PIO divider (clk_sys / (rate * 128), rounded to 1/256), and the
# buffer is the `ibuf` asked for (rp2's default 20000 B) unless the board config sets "ibuf_s".

import os
import io
import select
import socket
import struct
import sys
import micropython
from micropython import const
import time
from _simcfg import CFG

_BLOCK = const(16)  # frames per 128-byte DMA half (two 32-bit slots per frame)
_SETTLE = const(4096)  # INMP441 start-up: 2^18 SCK cycles
_NDROP = const(16)  # drop ranges remembered at once (more are merged: the frames between are lost too)
_RESET_EXIT = const(75)  # exit status the simulator turns into a reboot of the board
_GPIO = {"RP2040": 30, "RP2350": 48}
_WDT_MAX_MS = {"RP2040": 8388, "RP2350": 16777}  # ports/rp2/machine_wdt.c
_POLL = const(3)
_RD = const(1)


def unique_id():
    return bytes(int(CFG["uid"][i : i + 2], 16) for i in range(0, len(CFG["uid"]), 2))


def freq(hz=None):
    return 150000000 if CFG["mcu"] == "RP2350" else 125000000


def _pio_div256(rate):
    # rp2's I2S PIO divider in 1/256 (pico-sdk >= 2.1 rounds to nearest; this unix port is >= 1.25)
    return (freq() * 4 + rate) // (rate * 2)


def _tty_isig(on):
    # rp2 catches 0x03 in its USB receive callback while kbd_intr is 3: it drops the pending input and
    # raises KeyboardInterrupt, and the program never reads the byte; with kbd_intr(-1) 0x03 is data. Here
    # the pty's line discipline does the same: ISIG with only VINTR = 0x03 (SIGINT, which the unix port
    # turns into KeyboardInterrupt; the queued input is flushed). The board process owns the pty as its
    # controlling terminal when the simulator says so ("tty_intr").
    if CFG["tty_intr"]:
        os.system("stty isig intr ^C quit undef susp undef" if on else "stty -isig")


def kbd_intr(c):
    # micropython.kbd_intr, plus the simulated USB receive callback (main.py passes this one when present).
    micropython.kbd_intr(c)
    _tty_isig(c == 3)


_tty_isig(True)  # boot: Ctrl-C interrupts, like rp2's REPL default


def idle():
    time.sleep_us(100)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def reset():
    # A reset reboots the board: the simulator restarts main.py (and the host sees a USB re-plug). It must end
    # the process from anywhere: SystemExit inside main.py would land in the `-i` REPL, so a marker file says
    # "reboot" and the process kills itself (the shell's parent is this interpreter).
    sys.stderr.write("machine.reset(): simulated reboot\n")
    with open(CFG["reset_marker"], "w") as f:
        f.write("reset\n")
    import os

    os.system("kill -KILL $PPID")
    sys.exit(_RESET_EXIT)  # not reached


def soft_reset():
    reset()


def reset_cause():
    return 1  # PWRON_RESET


PWRON_RESET = const(1)
WDT_RESET = const(3)


class Pin:
    IN = const(0)
    OUT = const(1)
    OPEN_DRAIN = const(2)
    ALT = const(3)
    PULL_UP = const(1)
    PULL_DOWN = const(2)
    IRQ_FALLING = const(4)
    IRQ_RISING = const(8)

    def __init__(self, id, mode=-1, pull=-1, *, value=None, alt=-1):
        if isinstance(id, Pin):
            id = id.id
        if id == "LED":
            id = 25 if CFG["mcu"] == "RP2040" else "LED"
        elif not isinstance(id, int) or not 0 <= id < _GPIO.get(CFG["mcu"], 30):
            raise ValueError("invalid pin")
        self.id = id
        self._v = 0
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, alt=-1):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self._v = 1 if value else 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0

    high = on
    low = off

    def toggle(self):
        self._v ^= 1

    def irq(self, handler=None, trigger=12, hard=False):
        return None

    def __repr__(self):
        return "Pin(%s)" % (self.id,)


def _pin_number(p):
    if isinstance(p, Pin):
        return p.id
    if isinstance(p, int):
        return p
    raise TypeError("expecting a Pin")


class WDT:
    # rp2: timeout at most 8388 ms (RP2040) / 16777 ms (RP2350); once started it cannot be stopped. Expiry
    # is checked on every clock read (time hooks) and reboots the simulated board.
    def __init__(self, id=0, timeout=5000):
        top = _WDT_MAX_MS.get(CFG["mcu"], 8388)
        if timeout > top:
            raise ValueError("timeout exceeds %dms" % top)
        if timeout < 1:
            raise ValueError("timeout must be at least 1ms")
        self._ms = timeout
        self._due = time.board_us() + timeout * 1000
        time._hooks.append(self._check)

    def feed(self):
        self._due = time.board_us() + self._ms * 1000

    def _check(self):
        if time.board_us() > self._due:
            time._hooks.remove(self._check)
            sys.stderr.write("machine.WDT: not fed for %d ms, simulated reboot\n" % self._ms)
            sys.exit(_RESET_EXIT)


_tape = [0, 16000]  # [signal sample where the next session starts, at this rate]: sessions continue
_overrun_pending = [CFG["overrun_at_s"] is not None]


_out_poll = [None]


def _link_room():
    # Fast mode has no clock to keep, so the microphone waits while the USB link is full (at most 2 s):
    # capture then never outruns the host and nothing is lost unless a fault is asked for.
    p = _out_poll[0]
    if p is None:
        p = _out_poll[0] = select.poll()
        p.register(sys.stdout.buffer, select.POLLOUT)
    for i in range(2000):
        for _ in p.ipoll(0 if i == 0 else 1):
            return


def _sockaddr(path):
    return struct.pack("<H", 1) + path.encode() + b"\0"  # struct sockaddr_un (AF_UNIX = 1)


class I2S(io.IOBase):
    RX = const(0)
    TX = const(1)
    MONO = const(0)
    STEREO = const(1)
    _active = [None, None]
    _blk = _BLOCK  # sample frames per DMA delivery

    def _frames(self, ibuf):
        return ibuf // 8  # sample frames ibuf holds

    @staticmethod
    def _div256(rate):
        return _pio_div256(rate)

    def __init__(self, id, **kw):
        if not isinstance(id, int) or not 0 <= id < 2:
            raise ValueError("invalid id")
        prev = I2S._active[id]
        if prev is not None:
            prev.deinit()
        self.id = id
        self._sock = None
        self._init(**kw)

    def init(self, **kw):
        self.deinit()
        self._init(**kw)

    def _init(self, *, sck=None, ws=None, sd=None, mck=None, mode=-1, bits=-1, format=-1, rate=-1, ibuf=-1):
        # Argument checks in rp2's order and words (machine_i2s.c), then the simulated microphone's range.
        if _pin_number(ws) != _pin_number(sck) + 1:
            raise ValueError("invalid ws (must be sck+1)")
        if mode not in (I2S.RX, I2S.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        if ibuf <= 0:
            raise ValueError("invalid ibuf")
        if mode == I2S.TX:
            raise OSError("simulated board: I2S TX (a speaker) is not simulated")
        if not 7800 <= rate <= 50000:
            raise ValueError("invalid rate (simulated INMP441: WS 7800..50000 Hz)")
        self.rate = rate
        self.bits = bits
        self.format = format
        self.ibuf = ibuf
        self._fb = (2 if bits == 16 else 4) * (2 if format == I2S.STEREO else 1)
        # rp2 keeps raw DMA data (8 bytes per frame) in ibuf; a board config may ask for ibuf_s seconds.
        cap = int(CFG["ibuf_s"] * rate) if CFG["ibuf_s"] else self._frames(ibuf)
        self._num = freq() * 2  # true rate = _num / _den frames per µs * 1e6
        self._den = self._div256(rate) * 1000000
        self._asyncio = False
        blk = self._blk
        self._cap = max(blk, cap - cap % blk)
        self.cap_frames = self._cap  # what the firmware's overrun timing counts on (capture.py)
        self.block = blk
        self._fast = CFG["fast"]
        self._prod = 0
        self._rd = 0
        self._avail = 0
        self._ds = [0] * _NDROP
        self._de = [0] * _NDROP
        self._dh = 0
        self._dn = 0
        self._eof = False
        self._cb = None
        self._pend = None
        self._pend_off = 0
        self._scratch = bytearray(512)
        self._ovr_at = -1  # fast mode: drop [_ovr_at, _ovr_end) outright (there is no clock to stall)
        self._stall_at = -1  # real time: the program stalls here until the full buffer overflows
        if _overrun_pending[0]:
            at = _SETTLE + int(CFG["overrun_at_s"] * rate)
            n = int(CFG["overrun_ms"]) * rate // 1000
            if self._fast:
                self._ovr_at = at - at % self._blk
                self._ovr_end = self._ovr_at + max(self._blk, n + (-n) % self._blk)
            else:
                self._stall_at = at
        self._connect()
        I2S._active[self.id] = self
        self._t0 = time.board_us()

    def _connect(self):
        pos, prate = _tape
        start = pos * self.rate // prate
        _tape[0], _tape[1] = start, self.rate
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(_sockaddr(CFG["socket"]))
        s.write(b"I2S %d %d %d %d\n" % (self.rate, self.bits, 1 if self.format == I2S.STEREO else 0, start))
        self._sock = s

    def deinit(self):
        s = self._sock
        if s is None:
            return
        self._sock = None
        _tape[0] += self._rd - _SETTLE if self._rd > _SETTLE else 0
        try:
            s.close()
        except OSError:
            pass
        if self._service in time._hooks:
            time._hooks.remove(self._service)
        if I2S._active[self.id] is self:
            I2S._active[self.id] = None

    # ---- the DMA side: frames arrive in 16-frame blocks; a block that does not fit is dropped

    def _produce(self, target):
        prod = self._prod
        while prod < target:
            oa = self._ovr_at
            if 0 <= oa <= prod:  # inside the forced overflow (--overrun-at)
                end = self._ovr_end if self._ovr_end < target else target
                self._drop(prod, end)
                prod = end
                if end == self._ovr_end:
                    self._ovr_at = -1
                    _overrun_pending[0] = False
                continue
            stop = oa if prod < oa < target else target
            room = self._cap - self._avail
            room -= room % self._blk
            n = stop - prod
            acc = n if n < room else room
            self._avail += acc
            prod += acc
            if prod < stop:
                self._drop(prod, stop)
                prod = stop
        self._prod = prod

    def _drop(self, a, b):
        n = self._dn
        if n:
            last = (self._dh + n - 1) % _NDROP
            if self._de[last] == a or n == _NDROP:
                self._avail -= a - self._de[last]  # merging loses the kept frames in between
                self._de[last] = b
                return
        i = (self._dh + n) % _NDROP
        self._ds[i] = a
        self._de[i] = b
        self._dn = n + 1

    def _stall(self):
        # --overrun-at in real time: the board stops reading until its buffer is full plus overrun_ms, as a
        # long GC or flash write would; the buffer fills and rp2's rule drops what does not fit (overrun_ms
        # of audio, whatever the buffer held when the stall began).
        self._stall_at = -1
        _overrun_pending[0] = False
        due = self._due()
        if due > self._prod:
            self._produce(due)
        room = self._cap - self._avail
        room -= room % self._blk
        full = self._prod + room  # stream index at which the buffer is full: the drops start there
        until = self._t0 + (full * self._den + self._num - 1) // self._num + int(CFG["overrun_ms"]) * 1000
        time.sleep_us(until - time.board_us())

    def _due(self):
        # Stream index the DMA has reached by now (board clock, true rate), in whole blocks.
        p = (time.board_us() - self._t0) * self._num // self._den
        return p - p % self._blk

    def _wait(self, n):
        # Block until at least n frames (n <= _cap) wait in the buffer, or the stream ended.
        while self._avail < n:
            short = n - self._avail
            short += (-short) % self._blk
            if self._fast:
                _link_room()
                self._produce(self._prod + short)
                continue
            due = self._due()
            if due > self._prod:
                self._produce(due)
                continue
            t_next = self._t0 + ((self._prod + short) * self._den + self._num - 1) // self._num
            time.sleep_us(t_next - time.board_us() + 1)

    # ---- the read side: copy kept frames out of the socket, skipping dropped ranges

    def _take(self, buf, off, n):
        # Read n kept frames into buf at frame offset off. Returns frames copied (fewer at the end).
        fb = self._fb
        got = 0
        while got < n:
            if self._dn and self._rd == self._ds[self._dh]:
                self._skip(self._de[self._dh] - self._rd)
                self._dh = (self._dh + 1) % _NDROP
                self._dn -= 1
                if self._eof:
                    break
                continue
            k = n - got
            if self._dn and self._ds[self._dh] - self._rd < k:
                k = self._ds[self._dh] - self._rd
            if off == 0 and got == 0 and k * fb == len(buf):
                r = self._sock.readinto(buf)
            else:
                a = (off + got) * fb
                r = self._sock.readinto(memoryview(buf)[a : a + k * fb])
            r = (r or 0) // fb
            got += r
            self._rd += r
            self._avail -= r
            if r < k:
                self._eof = True
                break
        return got

    def _skip(self, n):
        fb = self._fb
        left = n * fb
        mv = memoryview(self._scratch)
        while left > 0:
            k = left if left < 512 else 512
            r = self._sock.readinto(mv[:k]) or 0
            left -= r
            if r < k:
                self._eof = True
                break
        self._rd += n

    def _ready(self, want):
        # Frames of `want` a read without waiting can take now: in fast mode after the link has room (the
        # microphone waits for the host), else what the DMA has delivered by the board clock.
        if self._fast:
            self._wait(want if want < self._cap else self._cap)
        else:
            due = self._due()
            if due > self._prod:
                self._produce(due)
        return want if want < self._avail else self._avail

    # ---- public API

    def ioctl(self, req, arg):
        # MP_STREAM_POLL: from now on ASYNCIO mode (rp2: a poll request means asyncio is in use).
        if req != _POLL:
            return -1
        self._asyncio = True
        if not arg & _RD or self._sock is None:
            return 0
        if self._fast:
            return _RD
        due = self._due()
        if due > self._prod:
            self._produce(due)
        return _RD if self._avail or self._eof else 0

    def readinto(self, buf, max_len=-1):
        if self._sock is None:
            raise OSError(1)  # EPERM: deinitialised
        if self._cb is not None:
            return self._start_nonblocking(buf)
        fb = self._fb
        n = len(buf)
        if 0 <= max_len < n:
            n = max_len
        want = n // fb
        if self._asyncio:
            # copy what the buffer holds (fast mode: what the host's link has room for), never wait
            k = self._ready(want)
            got = self._take(buf, 0, k) if k else 0
            if 0 <= self._stall_at <= self._rd:
                self._stall()  # the program stalls right after this read (a GC pause in its loop)
            return got * fb
        if 0 <= self._stall_at <= self._rd:
            self._stall()
        got = 0
        while got < want and not self._eof:
            need = want - got
            self._wait(need if need < self._cap else self._cap)
            k = need if need < self._avail else self._avail
            got += self._take(buf, got, k)
        return got * fb

    def write(self, buf):
        raise OSError(1)  # RX only

    def irq(self, handler):
        # rp2: a handler makes readinto non-blocking; the handler is scheduled when the buffer is full.
        self._cb = handler
        if handler is None:
            self._pend = None
            if self._service in time._hooks:
                time._hooks.remove(self._service)
        elif self._service not in time._hooks:
            time._hooks.append(self._service)

    def _start_nonblocking(self, buf):
        if self._eof:
            return 0
        self._pend = buf
        self._pend_off = 0
        self._service()
        return len(buf)

    def _service(self):
        buf = self._pend
        if buf is None or self._sock is None:
            return
        fb = self._fb
        want = len(buf) // fb - self._pend_off
        k = self._ready(want)
        if k:
            self._pend_off += self._take(buf, self._pend_off, k)
        if self._pend_off * fb >= len(buf) - len(buf) % fb or self._eof:
            self._pend = None
            micropython.schedule(self._cb, self)

    @staticmethod
    def shift(*, buf, bits, shift):
        # In-place arithmetic shift of each sample (left for shift > 0), like rp2's C implementation.
        mv = memoryview(buf)
        nbytes = len(mv) * len(bytes(mv[:1])) if len(mv) else 0  # len() counts items, not bytes
        if bits == 16:
            _shift16(buf, nbytes // 2, shift)
        elif bits == 32:
            _shift32(buf, nbytes // 4, shift)
        else:
            raise ValueError("invalid bits")

    def __repr__(self):
        return "I2S(id=%d, mode=RX, bits=%d, format=%s, rate=%d, ibuf=%d)" % (
            self.id,
            self.bits,
            "STEREO" if self.format else "MONO",
            self.rate,
            self.ibuf,
        )


@micropython.viper
def _shift32(buf, n: int, sh: int):
    p = ptr32(buf)
    for i in range(n):
        v = (int(p[i]) ^ 0x80000000) - 0x80000000
        if sh >= 0:
            v = v << sh
        else:
            v = v >> (0 - sh)
        p[i] = v


@micropython.viper
def _shift16(buf, n: int, sh: int):
    p = ptr16(buf)
    for i in range(n):
        v = (int(p[i]) ^ 0x8000) - 0x8000
        if sh >= 0:
            v = v << sh
        else:
            v = v >> (0 - sh)
        p[i] = v


class _PioCapture(I2S):
    # picomic's own capture on rp2 (picomic_fw/pio_i2s.py: PIO + DMA into a ring) where rp2's driver differs:
    # the ring pio_i2s makes of ibuf, one sample frame per DMA delivery, rp2.StateMachine's truncated divider.
    # (Its ring is lapped when full, where this drops the newest audio: either way the frames in between are
    # lost and the capture's timing flags the overrun.)
    _blk = 1

    def _frames(self, ibuf):
        from picomic_fw.pio_i2s import ring_size

        return ring_size(ibuf, self._fb) // self._fb

    @staticmethod
    def _div256(rate):
        return freq() * 2 // rate  # clk_sys * 256 / (rate * 128), truncated (rp2_pio.c)


def pio_capture(sck, ws, sd, rate, bits, channels, ibuf):
    # The simulated board's stand-in for picomic_fw.pio_i2s.PioI2S (main.py's Mic calls it off rp2).
    fmt = I2S.STEREO if channels == 2 else I2S.MONO
    return _PioCapture(0, sck=sck, ws=ws, sd=sd, mode=I2S.RX, bits=bits, format=fmt, rate=rate, ibuf=ibuf)


if CFG["socket"] is None:
    # No signal server (the whole-program firmware tests): the I2S is the fakes' ramp (fakes.py, shared with
    # the device benchmark), paced by the board clock; sim.json's "frames" limits the reads (then 0: the
    # simulated signal ended).
    from fakes import FakeI2S

    class _BoardClock:
        # The clock FakeI2S advances by each read's duration: a read waits until its audio would have
        # arrived on the board clock. In poll mode FakeI2S reads the board clock instead (audio arrives
        # with it).
        def __init__(self):
            self.t = time.board_us()

        def __call__(self):
            return time.board_us() & 0x3FFFFFFF

        def advance(self, us):
            self.t += us
            wait = self.t - time.board_us()
            if wait > 0:
                time.sleep_us(wait)

    _Rp2I2S = I2S  # its RX/MONO/STEREO are compile-time constants of this module: reuse them

    class I2S(FakeI2S):
        def __init__(self, id, sck=None, ws=None, sd=None, mode=0, bits=16, format=0, rate=16000, ibuf=0):
            channels = 2 if format == STEREO else 1
            super().__init__(rate, bits, channels, ibuf, _BoardClock(), CFG["frames"])

    I2S.RX, I2S.MONO, I2S.STEREO = _Rp2I2S.RX, _Rp2I2S.MONO, _Rp2I2S.STEREO

    def pio_capture(sck, ws, sd, rate, bits, channels, ibuf):
        return I2S(0, bits=bits, format=STEREO if channels == 2 else MONO, rate=rate, ibuf=ibuf)
