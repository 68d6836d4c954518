# Per-frame sample processing, in place, in viper (no allocation, machine-word arithmetic).
#
# 16-bit mode: each int16 is already the INMP441 sample's top 16 bits (rp2 I2S bits=16 returns bits 31..16
# of the 32-bit slot), so with gain 0 the frame is only scanned for clipping.
# 24-bit mode: each 32-bit slot word holds the 24-bit sample in bits 31..8 and junk in bits 7..0; the word is
# replaced by the sample sign-extended to int32 (an arithmetic shift right by 8, what I2S.shift(shift=-8)
# does, fused with the gain and clip pass so the payload is walked once). Byte access keeps it independent
# of the machine word size.
# Both return 1 when a sample sits at full scale after the gain (saturated), else 0.

import micropython


@micropython.viper
def process16(buf: ptr8, start: int, nbytes: int, gain: int) -> int:
    clipped = 0
    i = start
    end = start + nbytes
    while i < end:
        s = buf[i] | (buf[i + 1] << 8)
        if s >= 0x8000:
            s -= 0x10000
        if gain:
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


@micropython.viper
def process24(buf: ptr8, start: int, nbytes: int, gain: int) -> int:
    clipped = 0
    i = start
    end = start + nbytes
    while i < end:
        s = buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16)
        if s >= 0x800000:
            s -= 0x1000000
        if gain:
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
