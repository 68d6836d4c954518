# mypy: ignore-errors
# ruff: noqa
# picomic simulated board: the settings the host wrote for this board (JSON file named by $PICOMIC_SIM).
import json
import os

_DEFAULTS = {
    "socket": None,
    "fast": False,
    "drift_ppb": 0,
    "ibuf_s": None,  # None: the I2S buffer is the ibuf the firmware asks for (rp2's default 20000 B)
    "overrun_at_s": None,
    "overrun_ms": 100,
    "uid": "e6614c311b8f2a21",
    "mcu": "RP2040",
    "ticks_start_us": 0,
    "frames": -1,
    "reset_marker": None,
    "tty_intr": False,  # the board process owns its pty as controlling terminal: model rp2's USB Ctrl-C
}


def _load():
    cfg = dict(_DEFAULTS)
    path = os.getenv("PICOMIC_SIM")
    if path:
        with open(path) as f:
            cfg.update(json.load(f))
    return cfg


CFG = _load()
