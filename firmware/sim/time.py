# mypy: ignore-errors
# ruff: noqa
# picomic simulated board: the board's clock (replaces the built-in `time` for every module on the board).
#
# Invariant: board µs = ticks_start + host µs since boot × (1 + drift), one crystal for ticks, sleeps and
# (through machine.I2S, which paces itself on board_us()) the sample clock, so --drift-ppm moves them
# together relative to the host. ticks_* wrap at 2^30 like on rp2 (32-bit port: small-int period), not at
# 2^62 like the unix port. `_hooks` are the simulated DMA's interrupts (non-blocking I2S): they run on every
# clock read and sleep, i.e. whenever the program looks at the time.
import sys

_path = sys.path
sys.path = []  # without a path only the built-in module can be found: that is the real clock
try:
    import time as _t
finally:
    sys.path = _path
del _path

from micropython import const
from _simcfg import CFG

_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
_SLICE_US = const(2000)  # longest sleep step while non-blocking I2S transfers are pending

_ppb = int(CFG["drift_ppb"])  # board clock runs (1 + _ppb / 1e9) times as fast as the host's
_r0 = _t.ticks_us()
_b0 = int(CFG["ticks_start_us"])
_hooks = []


def board_us():
    # Non-wrapping board microseconds since boot (a 64-bit small int on the unix port).
    e = _t.ticks_diff(_t.ticks_us(), _r0)
    if _ppb:
        e += e * _ppb // 1000000000
    return _b0 + e


def _run_hooks():
    for h in _hooks:
        h()


def ticks_us():
    if _hooks:
        _run_hooks()
    return board_us() & _MASK


def ticks_ms():
    if _hooks:
        _run_hooks()
    return (board_us() // 1000) & _MASK


def ticks_cpu():
    return ticks_us()


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


def ticks_add(t, delta):
    return (t + delta) & _MASK


def _host_us(board_delta_us):
    if _ppb:
        return board_delta_us * 1000000000 // (1000000000 + _ppb)
    return board_delta_us


def sleep_us(us):
    if us <= 0:
        if _hooks:
            _run_hooks()
        return
    if not _hooks:
        _t.sleep_us(_host_us(us))
        return
    end = board_us() + us
    while True:
        _run_hooks()
        left = end - board_us()
        if left <= 0:
            return
        _t.sleep_us(_host_us(left if left < _SLICE_US else _SLICE_US))


def sleep_ms(ms):
    sleep_us(ms * 1000)


def sleep(s):
    sleep_us(int(s * 1000000))


# Wall-clock functions are the host's (the board's RTC is set from the host by mpremote anyway).
time = _t.time
time_ns = _t.time_ns
gmtime = _t.gmtime
localtime = _t.localtime
mktime = _t.mktime
