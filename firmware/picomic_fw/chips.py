# What each chip sustains, and the sample rate its PIO clock divider really gives. Runs at START and INFO
# only (may allocate).
#
# MODES is the one table to change when a measurement says otherwise (docs/performance.md: the emulated
# RP2040 running the real MicroPython rp2 firmware). Each entry: (bits, channels, highest rate in Hz) of a
# mode START accepts on that chip; a chip not listed (the unix port's fakes) gets no limit beyond
# commands.LIMITS.

MODES = {
    # RP2040 (Cortex-M0+, 125 MHz): with picomic's PIO capture every mode ran 60 s in the emulator with 0
    # overruns, the heaviest (48 kHz 24-bit stereo, 20 ms frames) at 63 % of the core (docs/performance.md).
    # (With rp2's machine.I2S, "capture": "i2s", 48 kHz 24-bit mono overran: RP2-FACTS / README.)
    "RP2040": ((16, 1, 48000), (24, 1, 48000), (16, 2, 48000), (24, 2, 48000)),
    # RP2350 (Cortex-M33 / Hazard3, 150 MHz): every mode the protocol allows.
    "RP2350": ((16, 1, 48000), (24, 1, 48000), (16, 2, 48000), (24, 2, 48000)),
}
# From a rate on, a mode needs frames of at least this length (rate Hz, frame_ms, bits, channels): the work per
# frame is fixed (one wake, one read, a header and CRC set-up, the writes' calls), and 48 kHz 24-bit stereo with
# 10 ms frames took 72 % of the emulated RP2040, with 20 ms frames 63 % (docs/performance.md).
LONG_FRAMES = {"RP2040": (44100, 20, 24, 2)}
WDT_MAX_MS = {"RP2040": 8388, "RP2350": 16777}  # ports/rp2/machine_wdt.c


def chip_of(machine_name, fallback=None):
    # "Raspberry Pi Pico with RP2040" (sys.implementation._machine / os.uname().machine) -> "RP2040".
    for chip in MODES:
        if chip in machine_name:
            return chip
    return fallback if fallback in MODES else None


def modes(chip):
    # INFO's list of modes: [{"bits", "channels", "max_rate"}], or None when the chip is unknown.
    table = MODES.get(chip)
    if table is None:
        return None
    return [{"bits": b, "channels": c, "max_rate": r} for b, c, r in table]


def refuse(chip, cfg):
    # None when the chip sustains cfg's mode, else START's error message.
    table = MODES.get(chip)
    if table is None:
        return None
    for bits, channels, rate in table:
        if bits == cfg["bits"] and channels == cfg["channels"]:
            if cfg["rate"] <= rate:
                return _frames(chip, cfg)
            return "%d-bit %s at %d Hz is more than the %s sustains (max %d Hz for this mode)" % (
                bits, "stereo" if channels == 2 else "mono", cfg["rate"], chip, rate)
    return "mode not supported on the %s" % chip


def needs_long(chip, rate, bits, channels):
    # The frame_ms this mode needs at this rate on the chip, or 0 when any frame length will do.
    long = LONG_FRAMES.get(chip)
    if long is None or rate < long[0] or bits != long[2] or channels != long[3]:
        return 0
    return long[1]


def _frames(chip, cfg):
    ms = needs_long(chip, cfg["rate"], cfg["bits"], cfg["channels"])
    if cfg["frame_ms"] >= ms:
        return None
    return "at %d Hz %d-bit %s on the %s needs frames of at least %d ms (frame_ms=%d)" % (
        cfg["rate"], cfg["bits"], "stereo" if cfg["channels"] == 2 else "mono", chip, ms, ms)


def long_frames(chip):
    # INFO's [rate, frame_ms, bits, channels]: from that rate on that mode needs frames that long; None when
    # no such limit.
    long = LONG_FRAMES.get(chip)
    return list(long) if long is not None else None


def round_nearest(mpy_version):
    # pico-sdk >= 2.1 (MicroPython >= 1.25) rounds the PIO divider to the nearest 1/256; pico-sdk 2.0 and
    # older (MicroPython <= 1.24) truncate it (pio_calculate_clkdiv_from_float).
    return tuple(mpy_version[:2]) >= (1, 25)


def pio_div256(clk_hz, rate, nearest=True):
    # rp2's I2S PIO divider in 1/256 units: clk_sys / (rate * 2 slots * 32 bits * 2 instructions per bit).
    # (The SDK computes it in single-precision float; the integer form differs only within ~1e-6 of a
    # rounding boundary.)
    if nearest:
        return (clk_hz * 4 + rate) // (rate * 2)  # floor(x + 1/2), halfway rounds up like the SDK
    return clk_hz * 2 // rate


def true_rate(clk_hz, div256):
    # The sample rate that divider gives, in Hz (a float: INFO/START replies only).
    return clk_hz * 2 / div256
