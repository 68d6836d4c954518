# Wire protocol v1 (docs/protocol.md): constants, header packing and frame sealing.
#
# Hot-path rules: nothing here allocates once a frame buffer exists. The CRC-32 and the header check are
# computed in viper (machine words), and their bytes are stored straight into the frame, so no Python int
# >= 2^30 is ever created (that would be a heap-allocated big int on 32-bit ports).

from micropython import const
import micropython
from struct import pack_into

PROTO = const(1)
SYNC0 = const(0xA5)
SYNC1 = const(0x5A)

T_AUDIO = const(1)
T_INFO = const(2)
T_STATUS = const(3)
T_END = const(4)

F_DEVICE_DROP = const(0x01)
F_I2S_OVERRUN = const(0x02)
F_CLIPPED = const(0x04)
F_FIRST = const(0x08)
F_WIDTH32 = const(0x10)
F_STEREO = const(0x20)

HEADER = const(22)
TRAILER = const(4)
OVERHEAD = const(26)
MAX_PAYLOAD = const(24576)
MASK30 = const(0x3FFFFFFF)

# Fields after sync+version: type, seq, ts_us, rate_hz, samples, length, dropped, flags (hcheck by seal).
_FIELDS = "<BIIHHHHB"

# CRC-32 (IEEE, reflected, poly 0xEDB88320) lookup table: 256 little-endian u32 words.
_table = bytearray(1024)


@micropython.viper
def _fill_table(t: ptr32):
    poly = (uint(0xEDB8) << 16) | uint(0x8320)
    for i in range(256):
        c = uint(i)
        for _ in range(8):
            if c & 1:
                c = (c >> 1) ^ poly
            else:
                c = c >> 1
        t[i] = c


_fill_table(_table)


@micropython.viper
def _crc(c: uint, i: int, end: int, p: ptr8):
    # CRC-32 of p[i:end] from c = -1 (0xFFFFFFFF, passed as a small int), stored little-endian at
    # p[end:end+4]: two bytes per pass after an odd first one. c, i, end are the first three locals, the
    # ones that get registers on Thumb. The value never leaves viper (as a Python int it could be >= 2^30);
    # `& 0xFFFFFF` after the shift keeps it exact on 64-bit machine words.
    t = ptr32(_table)
    if (end - i) & 1:
        c = uint(t[(c ^ uint(p[i])) & 0xFF]) ^ ((c >> 8) & 0xFFFFFF)
        i += 1
    while i < end:
        c = uint(t[(c ^ uint(p[i])) & 0xFF]) ^ ((c >> 8) & 0xFFFFFF)
        c = uint(t[(c ^ uint(p[i + 1])) & 0xFF]) ^ ((c >> 8) & 0xFFFFFF)
        i += 2
    p[end] = (c & 0xFF) ^ 0xFF
    p[end + 1] = ((c >> 8) & 0xFF) ^ 0xFF
    p[end + 2] = ((c >> 16) & 0xFF) ^ 0xFF
    p[end + 3] = ((c >> 24) & 0xFF) ^ 0xFF


def crc32_into(buf, start, end, tbl=None):
    # CRC-32 of buf[start:end], stored little-endian at buf[end:end+4] (tbl: kept for callers; the table
    # is the module's).
    _crc(-1, start, end, buf)


@micropython.viper
def _hcheck(buf: ptr8):
    s = 0
    for i in range(2, 21):
        s += buf[i]
    buf[21] = (s ^ 0xFF) & 0xFF


def init_frame(buf):
    # Constant bytes of a frame buffer; done once per buffer.
    buf[0] = SYNC0
    buf[1] = SYNC1
    buf[2] = PROTO


def pack(buf, ftype, seq, ts, rate, samples, length, dropped, flags):
    # Header fields, header check and CRC for a frame whose payload already sits at buf[22:22+length].
    # Returns the frame's total size. buf must have gone through init_frame.
    pack_into(_FIELDS, buf, 3, ftype, seq, ts, rate, samples, length, dropped, flags)
    _hcheck(buf)
    _crc(-1, 2, HEADER + length, buf)
    return HEADER + length + TRAILER


@micropython.viper
def copy_into(dst: ptr8, off: int, src: ptr8, n: int):
    for i in range(n):
        dst[off + i] = src[i]


def crc32(data):
    # CRC-32 of a whole buffer as a Python int, for tests and tools (allocates; not for the hot path).
    n = len(data)
    tmp = bytearray(n + 4)
    copy_into(tmp, 0, data, n)
    crc32_into(tmp, 0, n, _table)
    return tmp[n] | tmp[n + 1] << 8 | tmp[n + 2] << 16 | tmp[n + 3] << 24
