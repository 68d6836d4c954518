# Per-frame sample processing, in place, in viper (no allocation, machine-word arithmetic).
#
# 16-bit mode: each int16 is already the INMP441 sample's top 16 bits (rp2 I2S bits=16 returns bits 31..16
# of the 32-bit slot), so with gain 0 the frame is only scanned for clipping.
# 24-bit mode: each 32-bit slot word holds the 24-bit sample in bits 31..8 and junk in bits 7..0; the word is
# replaced by the sample sign-extended to int32 (an arithmetic shift right by 8, what I2S.shift(shift=-8)
# does, fused with the gain and clip pass so the payload is walked once).
# Both return 1 when a sample sits at full scale after the gain (saturated), else 0.
#
# Speed (RP2040, Thumb: only the first three viper locals -- arguments count -- live in registers): the
# gain-0 paths, the common case, are separate functions whose first three locals are the loop index, its
# end and the pointer, and they move halfwords (ptr16: the payload starts at an even offset, HEADER = 22;
# 32-bit access would be unaligned there). The gain paths keep byte access.

import micropython


@micropython.viper
def _scan16(i: int, end: int, p: ptr16) -> int:
    # i, end: halfword indexes. Clipped when a sample is 0x7FFF or 0x8000: x = sample ^ 0x8000 is then 0xFFFF
    # or 0, so one compare per sample, (x + 1) & 0xFFFF < 2; four samples per pass.
    while i + 3 < end:
        if ((p[i] ^ 0x8000) + 1) & 0xFFFF < 2:
            return 1
        if ((p[i + 1] ^ 0x8000) + 1) & 0xFFFF < 2:
            return 1
        if ((p[i + 2] ^ 0x8000) + 1) & 0xFFFF < 2:
            return 1
        if ((p[i + 3] ^ 0x8000) + 1) & 0xFFFF < 2:
            return 1
        i += 4
    while i < end:
        if ((p[i] ^ 0x8000) + 1) & 0xFFFF < 2:
            return 1
        i += 1
    return 0


@micropython.viper
def _gain16(buf: ptr8, start: int, nbytes: int, gain: int) -> int:
    clipped = 0
    i = start
    end = start + nbytes
    while i < end:
        s = buf[i] | (buf[i + 1] << 8)
        if s >= 0x8000:
            s -= 0x10000
        s = s << gain
        if s > 32767:
            s = 32767
        elif s < -32768:
            s = -32768
        buf[i] = s & 0xFF
        buf[i + 1] = (s >> 8) & 0xFF
        if s >= 32767 or s <= -32768:
            clipped = 1
        i += 2
    return clipped


def process16(buf, start, nbytes, gain):
    if gain:
        return _gain16(buf, start, nbytes, gain)
    return _scan16(start >> 1, (start + nbytes) >> 1, buf)


@micropython.viper
def _shift24(i: int, end: int, p: ptr16) -> int:
    # i, end: halfword indexes, two per 32-bit word [junk | b1 ; b2 | b3]. Each word becomes the sample
    # sign-extended: [b1 | b2 ; b3 | sign]. Clipped when the sample is 0x7FFFFF or -0x800000.
    clipped = 0
    while i < end:
        lo = p[i]
        hi = p[i + 1]
        out = (lo >> 8) | ((hi & 0xFF) << 8)
        top = hi >> 8
        p[i] = out
        if top & 0x80:
            p[i + 1] = top | 0xFF00
            if top == 0x80 and out == 0:
                clipped = 1
        else:
            p[i + 1] = top
            if top == 0x7F and out == 0xFFFF:
                clipped = 1
        i += 2
    return clipped


@micropython.viper
def _gain24(buf: ptr8, start: int, nbytes: int, gain: int) -> int:
    clipped = 0
    i = start
    end = start + nbytes
    while i < end:
        s = buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16)
        if s >= 0x800000:
            s -= 0x1000000
        s = s << gain
        if s > 0x7FFFFF:
            s = 0x7FFFFF
        elif s < -0x800000:
            s = -0x800000
        if s >= 0x7FFFFF or s <= -0x800000:
            clipped = 1
        buf[i] = s & 0xFF
        buf[i + 1] = (s >> 8) & 0xFF
        buf[i + 2] = (s >> 16) & 0xFF
        buf[i + 3] = 0xFF if s < 0 else 0
        i += 4
    return clipped


def process24(buf, start, nbytes, gain):
    if gain:
        return _gain24(buf, start, nbytes, gain)
    return _shift24(start >> 1, (start + nbytes) >> 1, buf)
