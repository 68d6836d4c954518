# picomic firmware entry point: the ONLY place that touches hardware. It reads /board.json (the board
# profile; Pico defaults when missing), builds the LED pin, the optional watchdog and an I2S factory, and
# hands them with the binary USB streams to picomic_fw.app.run. The simulated board runs this same file
# with its own `machine` (and `time`) module earlier on sys.path.
#
# Ctrl-C while idle leaves to the REPL (mpremote works): rp2's USB receive callback raises
# KeyboardInterrupt (kbd_intr(3)); while streaming Ctrl-C is disabled (kbd_intr(-1), 0x03 is data) and the
# host's STOP, 3 s of host silence or a reset ends the stream.

import sys
import json
import machine
import micropython
from machine import Pin

_PICO = {"board": "pico", "i2s_id": 0, "sck": 16, "ws": 17, "sd": 18, "led": "LED", "rate": 16000,
         "frame_ms": 10, "ibuf": 20000, "ring_frames": 32, "mic": "INMP441"}


def load_profile():
    profile = dict(_PICO)
    for path in ("/board.json", "board.json"):
        try:
            with open(path) as f:
                profile.update(json.load(f))
            break
        except (OSError, ValueError):
            pass
    return profile


def make_led(profile):
    try:
        return Pin(profile["led"], Pin.OUT) if profile.get("led") is not None else None
    except (ValueError, TypeError):
        return None  # no LED on this board or pin name unknown: run without it


_WDT_MAX_MS = {"RP2040": 8388, "RP2350": 16777}  # ports/rp2/machine_wdt.c


def chip():
    # "Raspberry Pi Pico with RP2040" -> "RP2040"; elsewhere (the simulated board) the profile's "mcu".
    name = getattr(sys.implementation, "_machine", "")
    for c in _WDT_MAX_MS:
        if c in name:
            return c
    return None


def make_wdt(profile):
    # Off by default: once started a watchdog cannot be stopped, so it would also reset a board that the
    # user left at the REPL. Enable with "watchdog_ms" in board.json; clamped to what the chip allows
    # (RP2040 8388 ms, RP2350 16777 ms).
    ms = profile.get("watchdog_ms", 0)
    wdt_class = getattr(machine, "WDT", None)
    if not ms or not wdt_class:
        return None
    top = _WDT_MAX_MS.get(profile.get("mcu"), 8388)
    return wdt_class(timeout=ms if ms < top else top)


class Mic:
    # The capture factory App calls at START: Mic(profile)(rate, bits, channels, ibuf) -> an I2S-like reader
    # (readinto, ioctl poll, deinit). By default picomic's own capture, picomic_fw.pio_i2s (PIO + DMA straight
    # into a ring): on rp2 for real, on the simulated board its model (machine.pio_capture: the same buffer,
    # delivery and divider). The profile's "capture": "i2s" picks rp2's machine.I2S driver instead.
    # heap() is what one takes from the heap (START's RAM check), `nearest` how its PIO divider rounds (None:
    # by the MicroPython version, chips.round_nearest, as rp2's I2S driver does; rp2.StateMachine truncates).

    def __init__(self, profile):
        self.i2s_id = profile["i2s_id"]
        self.ws_ok = profile["ws"] == profile["sck"] + 1
        self.sm_id = profile.get("pio_sm", 0)
        self.sck = Pin(profile["sck"])
        self.ws = Pin(profile["ws"])  # rp2: must be sck + 1 (the PIO side-sets both)
        self.sd = Pin(profile["sd"], Pin.IN, Pin.PULL_DOWN)  # INMP441 SD needs a pull-down
        self.pio = None
        self.rp2 = False
        if profile.get("capture", "pio") == "pio":
            from picomic_fw import pio_i2s

            self.pio = pio_i2s
            try:
                import rp2  # noqa: F401

                self.rp2 = True
            except ImportError:
                pass  # the simulated board: its machine.I2S models pio_i2s
        self.nearest = False if self.pio else None

    def heap(self, rate, bits, channels, ibuf):
        if self.pio is None:
            return ibuf
        return self.pio.heap_bytes(ibuf, bits, channels)

    def __call__(self, rate, bits, channels, ibuf):
        if self.pio is not None and not self.ws_ok:
            raise ValueError("invalid ws (must be sck+1)")  # rp2's I2S says the same
        if self.rp2:
            return self.pio.PioI2S(self.sm_id, self.sck, self.sd, rate, bits, channels, ibuf)
        if self.pio is not None:
            return machine.pio_capture(self.sck, self.ws, self.sd, rate, bits, channels, ibuf)
        I2S = machine.I2S
        fmt = I2S.STEREO if channels == 2 else I2S.MONO
        return I2S(self.i2s_id, sck=self.sck, ws=self.ws, sd=self.sd, mode=I2S.RX, bits=bits, format=fmt,
                   rate=rate, ibuf=ibuf)


def uid_hex():
    try:
        return "".join("%02x" % b for b in machine.unique_id())
    except (AttributeError, OSError):
        return ""


def main():
    from picomic_fw import app

    profile = load_profile()
    profile["mcu"] = chip() or profile.get("mcu")
    profile["clk_hz"] = machine.freq()  # the I2S PIO divider, hence the true sample rate, follows it
    # The simulated board's machine module models rp2's USB Ctrl-C handling (machine.kbd_intr); rp2 has none.
    kbd_intr = getattr(machine, "kbd_intr", None) or micropython.kbd_intr
    app.run(Mic(profile), sys.stdin.buffer, sys.stdout.buffer, profile, make_led(profile),
            uid_hex(), make_wdt(profile), None, getattr(machine, "reset", None), kbd_intr)


main()
