# The control loop: idle (command loop, Ctrl-C works) <-> streaming (binary frames, Ctrl-C off).
#
# Invariant: `streaming` is True exactly while `cap` holds an open I2S and kbd_intr is -1. The audio ring
# stays attached to the link after STOP until its frames are sent (END follows them). stream_step() is the
# steady-state hot path: one select.poll wait per frame, over stdin (POLLIN) and, while output is pending,
# stdout (POLLOUT) -- waiting in poll is what services rp2's USB stack -- until the frame is due by the
# clock; then it reads the frame from the I2S (in ASYNCIO mode since START polled it once: readinto copies
# what is there and returns early), writes it at once, and checks host liveness. Two prebuilt polls (with
# and without stdout) mean no poll interest changes per frame. It allocates nothing (tests/firmware proves
# it under micropython.heap_lock()). Commands (other than PING) allocate, which is fine: they are rare and outside
# the per-frame work.

from micropython import const
import gc
import json
import select
import sys
import time
import micropython
from . import VERSION
from .proto import PROTO, MASK30, MAX_PAYLOAD, OVERHEAD, T_INFO, T_STATUS, T_END
from .ring import FrameRing
from .capture import Capture, EMPTY, frame_bytes
from .commands import LINE_MAX, LIMITS, START_KEYS, parse, parse_start
from .link import Link, NONE, LONG, EOF
from . import chips

try:
    from ._build import DIGEST as _BUILD  # written by the host's build: which sources these are
except ImportError:
    _BUILD = ""

_SILENT_US = const(3000000)  # host liveness: streaming stops after 3 s without a byte from the host
_IDLE_POLL_MS = const(100)
_BUSY_POLL_MS = const(2)
_RX_BUDGET = const(512)  # stdin bytes read per service_rx (one at a time: see link.py)
_ROUNDS = const(3)  # poll waits per stream_step
_REPROBE = const(32)  # frames between probes while probes find nothing
_WAIT_MAX_MS = const(20)  # longest poll wait while streaming (liveness, watchdog)
_RAM_SLACK = const(4096)  # START's RAM check: the I2S object, poll, stage buffer, fragmentation
_POLLIN = const(1)
_POLLOUT = const(4)
_POLLHUP = const(16)
_POLLERR = const(8)
_DRAIN_US = const(1000000)  # START waits at most this long for the previous stream's backlog
_LED_US = const(500000)  # idle blink half-period (LED: slow blink idle, steady on streaming)
_LED_ERR_US = const(100000)  # fast blink half-period after an error (a refused START, an I2S failure)
_ERR_SHOW_US = const(3000000)  # how long the fast blink shows an error
_PONG = b'{"cmd": "PING", "ok": true, "streaming": true}'
_PONG_IDLE = b'{"cmd": "PING", "ok": true, "streaming": false}'
_PING = b"PING"


def _defaults(profile):
    d = {"rate": 16000, "frame_ms": 10, "gain": 0, "bits": 16, "channels": 1}
    for key in START_KEYS:
        if key in profile:
            d[key] = profile[key]
    return d


class App:
    def __init__(self, make_i2s, stdin, stdout, profile=None, led=None, uid="", wdt=None, ticks_us=None,
                 reset=None, kbd_intr=None, poll=None):
        # profile: board.json plus what main.py measured ("mcu": the chip, "clk_hz": machine.freq()).
        # kbd_intr: micropython.kbd_intr (the simulated board passes its model of rp2's USB Ctrl-C);
        # poll: the select.poll factory (the fakes pass one that moves their clock).
        self.profile = profile or {}
        self.defaults = _defaults(self.profile)
        self.make_i2s = make_i2s
        self.link = Link(stdin, stdout, self.profile.get("tx_chunk", 0))
        self.led = led
        self.uid = uid
        self.wdt = wdt
        self.ticks = ticks_us or time.ticks_us
        self.kbd_intr = kbd_intr or micropython.kbd_intr
        self.new_poll = poll or select.poll
        self.chip = chips.chip_of(getattr(sys.implementation, "_machine", ""), self.profile.get("mcu"))
        self.clk = self.profile.get("clk_hz", 0)
        nearest = getattr(make_i2s, "nearest", None)  # how the capture's PIO divider rounds (main.Mic)
        self.nearest = chips.round_nearest(sys.implementation.version) if nearest is None else nearest
        self.spoll = None  # the stream's poll: stdin (made at START)
        self.pout = None  # the same with stdout's POLLOUT, used while output is pending
        self.pi2s = None  # a poll of the I2S alone
        self.probe = False  # a frame just completed: look at the I2S once without waiting
        self.short = False  # the last read came up short: wait a moment before the next
        self.reprobe = 0  # frames until the next probe
        self.reset = reset  # machine.reset from the hardware seam (None: RESET is refused)
        self.cap = None
        self.ring = None
        self.streaming = False
        self.done = False
        self.epochs = 0
        self.last_rx = 0
        self.led_t = 0
        self.err = False  # an error to show on the LED (fast blink) since err_t
        self.err_t = 0
        self.led_on = 0

    def now(self):
        return self.ticks() & MASK30

    # ---- loop

    def run(self):
        try:
            while not self.done:
                if self.streaming:
                    self.stream_step()
                else:
                    self.idle_step()
        finally:
            self.shutdown()

    def stream_step(self):
        # Waits and reads until a frame was captured (at most _ROUNDS waits): typically one wait in the poll
        # until the frame is due (stdin always, stdout only while output is pending), then the read and the
        # write of that frame at once. The I2S is not in the poll: it was polled once at START (which put
        # rp2's driver in ASYNCIO mode) and the frame's due time comes from the clock, so no poll interest
        # changes per frame. Then the liveness check. Main loop only; allocates nothing.
        cap = self.cap
        if cap is None:
            return  # streaming ended (the caller's loop looks at `streaming` before each step)
        ticks = self.ticks
        frames = cap.frames
        settling = cap.settle
        rounds = 0
        while rounds < _ROUNDS and self.streaming and cap.frames == frames and (cap.settle or not settling):
            rounds += 1
            due = 0 if self.probe else cap.due_us(ticks() & MASK30)
            if due > 0 or self.short:
                self.short = False
                t = (due + 999) // 1000 if due > 0 else 1
                if self._wait(t if t < _WAIT_MAX_MS else _WAIT_MAX_MS) or t < due // 1000 + 1:
                    due = cap.due_us(ticks() & MASK30)  # woken early (or a capped wait): look again
                else:
                    due = 0  # the wait ran out at or after the frame's due time
            else:
                self._wait(0)  # USB and stdin still get their turn while a backlog is read
            if self.streaming and due <= 0:
                self._read(cap)
        now = ticks() & MASK30
        link = self.link
        if link.got_byte:
            link.got_byte = False
            self.last_rx = now
        elif (now - self.last_rx) & MASK30 > _SILENT_US and self.streaming:
            self.stop("host_silent")
        if self.wdt:
            self.wdt.feed()

    def _read(self, cap):
        # Read the I2S into the frame being filled; a completed frame is written at once. Right after a
        # frame the I2S is read once more without waiting (`probe`) while that keeps finding whole frames (a
        # backlog; the simulated board's fast mode, which outruns the clock), and every _REPROBE frames.
        probing = self.probe
        r = cap.step()
        if r == EMPTY:
            r = self._empty(cap)
        if r < 0:
            self.stop("signal_end")
        elif r > 0:
            self.probe = probing or not self.reprobe
            self.reprobe = (self.reprobe + 1) % _REPROBE
            if not self.link.broken:
                self.link.pump()
        elif probing:
            self.probe = False

    def _empty(self, cap):
        # The I2S gave nothing: its DMA block is not in yet (wait a moment before the next read), unless it
        # polls readable and a read after that poll still gives nothing: then the source ended (only a
        # simulated signal ends).
        for _ in self.pi2s.ipoll(0):
            r = cap.step()
            return cap.end() if r == EMPTY else r
        self.short = not self.probe
        return 0

    def _wait(self, timeout):
        # Wait up to `timeout` ms in the poll for stdin (and stdout while output is pending), and handle what
        # it reports; True when it reported something (the wait may have ended early).
        link = self.link
        p = self.pout if (link.wbuf is not None or link.pending()) and not link.broken else self.spoll
        woke = False
        for obj, ev in p.ipoll(timeout):
            woke = True
            if ev & _POLLOUT and obj is link.out:
                link.pump(True)
            if ev & _POLLIN and obj is link.inp:
                self.service_rx()
            elif ev & (_POLLHUP | _POLLERR) and obj is link.inp:
                self.done = True  # the host side is gone (simulated board torn down)
                self.stop("host_silent")
            if not self.streaming:
                break
        return woke

    def idle_step(self):
        link = self.link
        busy = link.pump()
        if link.readable(_BUSY_POLL_MS if busy else _IDLE_POLL_MS):
            self.service_rx()
        if link.broken and not link.pending():
            link.broken = False
        now = self.now()
        period = _LED_ERR_US if self.err and (now - self.err_t) & MASK30 < _ERR_SHOW_US else _LED_US
        if (now - self.led_t) & MASK30 >= period:
            self.led_t = now
            self._led(self.led_on ^ 1)
        if self.wdt:
            self.wdt.feed()

    def shutdown(self):
        if self.cap is not None:
            self._end_capture()
        self.kbd_intr(3)
        self._led(0)

    def _led(self, on):
        self.led_on = on
        if self.led is not None:
            self.led.value(on)

    # ---- commands

    def service_rx(self):
        link = self.link
        while True:
            n = link.poll_line(_RX_BUDGET)
            if n == NONE:
                return
            if n == EOF:
                self.done = True  # nobody can talk to us any more (simulated board torn down)
                return
            if n == LONG:
                self.reply(None, False, "line too long (max %d bytes)" % LINE_MAX)
            elif n == 4 and self._is_ping():
                # "streaming": false tells a host whose END frame was lost on the wire that the stream is over
                link.send(T_STATUS, _PONG if self.streaming else _PONG_IDLE, self._seq(), self.now())
            elif n:
                self.command(bytes(memoryview(link.line)[:n]))

    def _is_ping(self):
        line = self.link.line
        for i in range(4):
            if line[i] != _PING[i]:
                return False
        return True

    def _seq(self):
        return self.cap.seq if self.cap is not None else 0

    def reply(self, cmd, ok, error=None, extra=None, late=False):
        body = {"cmd": cmd, "ok": ok}
        if error is not None:
            body["error"] = error
        if extra:
            body.update(extra)
        self.link.send(T_STATUS, json.dumps(body).encode(), self._seq(), self.now(), late)

    def command(self, line):
        cmd, args, err = parse(line)
        if err is not None:
            self.reply(cmd, False, err)
        elif cmd == "INFO":
            self.link.send(T_INFO, json.dumps(self.info()).encode(), self._seq(), self.now())
        elif cmd == "PING":
            self.reply(cmd, True, None, {"streaming": self.streaming})
        elif cmd == "STATS":
            self.reply(cmd, True, None, self.stats())
        elif cmd == "START":
            self.start(args)
        elif cmd == "RESET":
            self.reset_board()
        elif self.streaming:
            self.stop("stop")
            self.reply(cmd, True, None, None, True)
        else:
            self.reply(cmd, True, None, {"noop": True}, True)

    def info(self):
        impl = sys.implementation
        limits = {key: list(LIMITS[key]) for key in START_KEYS}  # bits, channels: the two choices
        limits["max_payload"] = MAX_PAYLOAD
        limits["line"] = LINE_MAX
        modes = chips.modes(self.chip)
        if modes is not None:
            limits["modes"] = modes  # what this chip sustains: (bits, channels) -> max_rate
        long = chips.long_frames(self.chip)
        if long is not None:
            limits["long_frames"] = long  # [rate, frame_ms, bits, channels]: that mode's shortest frames
        info = {
            "fw": VERSION, "build": _BUILD, "proto": PROTO, "board": self.profile.get("board", "unknown"),
            "mpy": ".".join(str(v) for v in impl.version[:3]), "uid": self.uid, "ticks_bits": 30,
            "mic": self.profile.get("mic", "INMP441"), "defaults": self.defaults,
            "limits": limits,
            "ring_frames": self.profile.get("ring_frames", 32), "streaming": self.streaming,
            "chip": self.chip, "clk_hz": self.clk,
        }
        if self.clk:
            # true rate = clk_hz * 2 / div256, div256 = clk_hz * 2 / rate rounded to an integer (nearest,
            # or down with MicroPython <= 1.24): docs/protocol.md
            info["pio_div_round"] = "nearest" if self.nearest else "floor"
            info["rate_true_hz"] = self._true_rate(self.defaults["rate"])
        return info

    def _true_rate(self, rate):
        if not self.clk:
            return rate
        return chips.true_rate(self.clk, chips.pio_div256(self.clk, rate, self.nearest))

    def stats(self):
        # mem_free after a collection while idle (what is really free, for a RAM-at-START figure); while
        # streaming without one (a collection stalls the loop), which counts the replies' own garbage as used.
        cap = self.cap
        ring = self.ring
        if not self.streaming:
            gc.collect()
        return {
            "streaming": self.streaming, "epochs": self.epochs,
            "frames": cap.frames if cap else 0, "dropped": ring.total_dropped if ring else 0,
            "overruns": cap.overruns if cap else 0, "clipped": cap.clipped if cap else 0,
            "ring_used": ring.count if ring else 0, "ring_frames": ring.n if ring else 0,
            "ctl_dropped": self.link.ctl_dropped, "mem_free": gc.mem_free(),
        }

    # ---- streaming state

    def _error(self, cmd, message):
        # A refused command: reply, and show it on the LED (fast blink for a few seconds).
        self.err = True
        self.err_t = self.now()
        self.reply(cmd, False, message)

    def start(self, args):
        if self.streaming:
            self.reply("START", False, "already streaming")
            return
        defaults = self.defaults
        long = 0 if "frame_ms" in args else chips.needs_long(
            self.chip, *(args.get(k, defaults[k]) for k in ("rate", "bits", "channels")))
        if long:
            defaults = dict(defaults)
            defaults["frame_ms"] = long  # a mode that needs long frames gets them when none are asked for
        cfg, err = parse_start(args, defaults)
        if err is None:
            err = chips.refuse(self.chip, cfg)
        if err is not None:
            self._error("START", err)
            return
        self._drain()
        ibuf = self._ibuf(cfg)
        err = self._make_stream(cfg, ibuf)
        if err is not None:
            self._error("START", err)
            return
        i2s = self.cap.i2s
        self.epochs += 1
        ring = self.ring
        extra = dict(cfg)
        extra["samples"] = self.cap.spf
        extra["ring_frames"] = ring.n
        extra["ibuf"] = ibuf
        if self.clk:
            extra["rate_true_hz"] = self._true_rate(cfg["rate"])
        self.reply("START", True, None, extra)
        link = self.link
        p = self.new_poll()
        p.register(i2s, _POLLIN)  # rp2: from this poll on, the I2S is in ASYNCIO mode (and stays in it)
        for _ in p.ipoll(0):
            pass
        self.pi2s = p  # asked only when a read gives nothing
        p = self.new_poll()
        p.register(link.inp, _POLLIN)
        self.spoll = p
        p = self.new_poll()
        if link.out is link.inp:  # rp2: sys.stdin.buffer IS sys.stdout.buffer: one entry, both interests
            p.register(link.inp, _POLLIN | _POLLOUT)
        else:
            p.register(link.inp, _POLLIN)
            p.register(link.out, _POLLOUT)
        self.pout = p
        for p in (self.spoll, self.pout):
            for _ in p.ipoll(0):  # a poll object makes its result tuple at its first ipoll: not later,
                pass  # inside the allocation-free loop
        self.probe = False
        self.short = False
        self.reprobe = 0
        self.link.ring = ring
        self.kbd_intr(-1)
        self.streaming = True
        self.last_rx = self.now()
        self._led(1)

    def _make_stream(self, cfg, ibuf):
        # The ring and the I2S (whose ibuf is on the heap too): RAM checked for both after a collection,
        # the bigger block taken first. Returns None, or START's error (nothing left allocated then).
        spf = cfg["rate"] * cfg["frame_ms"] // 1000
        bpf = frame_bytes(cfg["bits"], cfg["channels"])
        plen = spf * bpf
        n = self._ring_frames(plen)
        ring = self.ring
        reuse = ring is not None and ring.n == n and ring.payload_max == plen and ring.rate == cfg["rate"] \
            and ring.bpf == bpf
        if not reuse:
            self.ring = self.link.ring = ring = None
        gc.collect()
        ring_bytes = 0 if reuse else n * (plen + OVERHEAD + 24)  # + views and per-slot metadata
        heap = getattr(self.make_i2s, "heap", None)
        bits = 32 if cfg["bits"] == 24 else 16
        taken = heap(cfg["rate"], bits, cfg["channels"], ibuf) if heap else ibuf  # the capture's buffer
        need = ring_bytes + taken + _RAM_SLACK
        free = gc.mem_free()
        if need > free:
            return "not enough RAM: this mode needs %d bytes (ring %d + I2S buffer %d + %d), %d free" % (
                need, ring_bytes, taken, _RAM_SLACK, free)
        i2s = None
        try:
            if ring_bytes < taken:
                i2s = self.make_i2s(cfg["rate"], bits, cfg["channels"], ibuf)
            if not reuse:
                ring = FrameRing(n, plen, cfg["rate"], bpf)
            if i2s is None:
                i2s = self.make_i2s(cfg["rate"], bits, cfg["channels"], ibuf)
        except MemoryError:
            self._close_i2s(i2s)
            return "not enough RAM for this mode (ring %d + I2S buffer %d bytes)" % (ring_bytes, taken)
        except Exception as e:  # a wrong pin or an I2S the port cannot make: report it, stay responsive
            self._close_i2s(i2s)
            return "i2s: %s" % e
        if reuse:
            ring.reset()
        self.ring = ring
        div = chips.pio_div256(self.clk, cfg["rate"], self.nearest) if self.clk else 0
        self.cap = Capture(i2s, ring, cfg, ibuf, self.ticks, self.clk, div)
        return None

    @staticmethod
    def _close_i2s(i2s):
        deinit = getattr(i2s, "deinit", None)
        if deinit:
            deinit()

    def _end_capture(self):
        # Leave streaming (the reverse of start()'s last steps) and close the I2S; returns the Capture, whose
        # counters describe the epoch. The state is consistent before close() runs, even if it raises.
        cap = self.cap
        self.cap = None
        self.streaming = False
        self.spoll = self.pout = self.pi2s = None
        self.kbd_intr(3)
        self._led(0)
        cap.close()
        return cap

    def stop(self, reason):
        cap = self._end_capture()
        body = {"reason": reason, "frames": cap.frames, "dropped": self.ring.total_dropped,
                "overruns": cap.overruns}
        self.link.send(T_END, json.dumps(body).encode(), cap.seq, self.now(), True)

    def _ibuf(self, cfg):
        # The profile's I2S buffer (bytes, default rp2's 20000; or "ibuf_ms" of DMA data at 8 bytes per
        # sample frame), at least 2 frames. The overrun threshold is derived from it, so it must be the
        # real size.
        spf = cfg["rate"] * cfg["frame_ms"] // 1000
        ms = self.profile.get("ibuf_ms", 0)
        base = cfg["rate"] * 8 * ms // 1000 if ms else self.profile.get("ibuf", 20000)
        return max(base, spf * 8 * 2)

    def _ring_frames(self, plen):
        budget = self.profile.get("ring_bytes", 65536) // (plen + OVERHEAD)
        return max(3, min(self.profile.get("ring_frames", 32), budget))

    def reset_board(self):
        # RESET: answer, let the reply out (bounded), reboot through the seam. The host sees the USB link
        # drop, like an unplug, and reconnects (a new epoch); a stream that was running simply ends there.
        if self.reset is None:
            self._error("RESET", "reset is not available on this board")
            return
        if self.streaming:  # stop the I2S DMA; the ring's audio is dropped with the reboot
            self._end_capture()
            self.link.ring = None
        self.reply("RESET", True)
        self._flush()
        self.reset()

    def _flush(self):
        # Write pending output for at most _DRAIN_US; True when everything went out.
        link = self.link
        t0 = self.now()
        while link.pump() and (self.now() - t0) & MASK30 < _DRAIN_US:
            link.writable(_BUSY_POLL_MS)
        return not link.pending()

    def _drain(self):
        # Let the previous stream's frames go out (bounded), so a new epoch starts on a clean wire.
        link = self.link
        if not self._flush():
            link.abort_frame()
        link.ctl_count = 0
        link.ring = None


def run(make_i2s, stdin, stdout, profile=None, led=None, uid="", wdt=None, ticks_us=None, reset=None,
        kbd_intr=None):
    # Entry point used by main.py (real hardware) and the simulated board (fake machine module).
    App(make_i2s, stdin, stdout, profile, led, uid, wdt, ticks_us, reset, kbd_intr).run()
