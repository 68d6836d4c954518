# Fake `machine` for running firmware/main.py on the unix port in tests (put before the built-in one on
# sys.path). I2S is the benchmark's FakeI2S (a ramp) paced in real time; fake_i2s.json in the working
# directory can limit the number of frames (then readinto returns 0: the simulated signal ended).
import json
import time

from fakes import FakeI2S


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


class _RealTime:
    # The clock FakeI2S advances by each read's duration: here a read waits until its audio would have
    # arrived in real time.
    def __init__(self):
        self.t = time.ticks_us()

    def advance(self, us):
        self.t = time.ticks_add(self.t, us)
        wait = time.ticks_diff(self.t, time.ticks_us())
        if wait > 0:
            time.sleep_us(wait)


class I2S(FakeI2S):
    RX = 0
    MONO = 0
    STEREO = 1

    def __init__(self, i2s_id, sck=None, ws=None, sd=None, mode=0, bits=16, format=0, rate=16000, ibuf=0):
        channels = 2 if format == I2S.STEREO else 1
        super().__init__(rate, bits, channels, ibuf, _RealTime(), _config().get("frames", -1))


def unique_id():
    return b"\xe6\x61\x4c\x31\x1b\x7e\x5a\x2f"
