# Fake `machine` for running firmware/main.py on the unix port in tests (put before the built-in one on
# sys.path). I2S delivers a ramp in real time; fake_i2s.json in the working directory can limit the number
# of frames (then readinto returns 0: the simulated signal ended).
import json
import time

from fakes import _fill


class Pin:
    IN = 0
    OUT = 1
    PULL_DOWN = 2

    def __init__(self, pin, mode=-1, pull=-1):
        self.pin = pin
        self.v = 0

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


def _config():
    try:
        with open("fake_i2s.json") as f:
            return json.load(f)
    except OSError:
        return {}


class I2S:
    RX = 0
    MONO = 0
    STEREO = 1

    def __init__(self, i2s_id, sck=None, ws=None, sd=None, mode=0, bits=16, format=0, rate=16000, ibuf=0):
        cfg = _config()
        self.left = cfg.get("frames", -1)
        self.rate = rate
        self.width = 4 if bits == 32 else 2
        self.channels = 2 if format == I2S.STEREO else 1
        self.t = time.ticks_us()

    def readinto(self, buf):
        if self.left == 0:
            return 0
        if self.left > 0:
            self.left -= 1
        n = len(buf)
        _fill(buf, n, 0x0100, 1, self.width)
        self.t = time.ticks_add(self.t, n // (self.width * self.channels) * 1000000 // self.rate)
        wait = time.ticks_diff(self.t, time.ticks_us())
        if wait > 0:
            time.sleep_us(wait)
        return n

    def deinit(self):
        pass


def unique_id():
    return b"\xe6\x61\x4c\x31\x1b\x7e\x5a\x2f"
