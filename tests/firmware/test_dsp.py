"""Sample conversion: INMP441 slot words (24-bit sample in bits 31..8, junk low byte) and gain/clipping."""

from __future__ import annotations

import struct

import pytest
from fwhelpers import run_mp_json
from picomic.deploy.build import FirmwareBuild

# 24-bit samples, incl. negative, zero, +-1, and full scale
SAMPLES24 = [0, 1, -1, 1000, -1000, 0x123456, -0x123456, 0x7FFFFF, -0x800000, 0x3FFFFF, -0x400000]
JUNK = [0x00, 0xF8, 0xC0]


def _words(samples: list[int], junk: int) -> bytes:
    return struct.pack(f"<{len(samples)}I", *(((s << 8) | junk) & 0xFFFFFFFF for s in samples))


def _run(fw: FirmwareBuild, func: str, data: bytes, gain: int) -> tuple[bytes, int]:
    result = run_mp_json(
        fw,
        f"""
from picomic_fw import dsp
import binascii, json
buf = bytearray(22) + bytearray(binascii.unhexlify({data.hex()!r}))
c = dsp.{func}(buf, 22, len(buf) - 22, {gain})
print(json.dumps([binascii.hexlify(buf[22:]).decode(), c]))
""",
    )
    assert isinstance(result, list)
    return bytes.fromhex(result[0]), int(result[1])


def _sat(v: int, bits: int) -> int:
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, v))


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("gain", [0, 1, 3, 8])
def test_24bit_words_become_sign_extended_int32(fw: FirmwareBuild, junk: int, gain: int) -> None:
    out, clipped = _run(fw, "process24", _words(SAMPLES24, junk), gain)
    got = list(struct.unpack(f"<{len(SAMPLES24)}i", out))
    want = [_sat(s << gain, 24) for s in SAMPLES24]
    assert got == want
    assert clipped == 1  # full-scale samples are in the input


def test_24bit_no_clip_flag_below_full_scale(fw: FirmwareBuild) -> None:
    _, clipped = _run(fw, "process24", _words([0x7FFFFE, -0x7FFFFF, 5], 0xF8), 0)
    assert clipped == 0


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("gain", [0, 1, 4])
def test_16bit_top_half_of_inmp441_word_with_gain(fw: FirmwareBuild, junk: int, gain: int) -> None:
    # rp2's bits=16 mode hands the firmware bits 31..16 of each slot: the junk byte never reaches it.
    words = [((s << 8) | junk) & 0xFFFFFFFF for s in SAMPLES24]
    top16 = [struct.unpack("<h", struct.pack("<H", w >> 16))[0] for w in words]
    out, clipped = _run(fw, "process16", struct.pack(f"<{len(top16)}h", *top16), gain)
    assert list(struct.unpack(f"<{len(top16)}h", out)) == [_sat(v << gain, 16) for v in top16]
    assert clipped == 1


def test_16bit_clip_flag_only_when_gain_saturates(fw: FirmwareBuild) -> None:
    quiet = struct.pack("<4h", 1000, -1000, 16383, -16383)
    assert _run(fw, "process16", quiet, 0) == (quiet, 0)
    assert _run(fw, "process16", quiet, 1) == (struct.pack("<4h", 2000, -2000, 32766, -32766), 0)
    loud = struct.pack("<2h", 5, -16384)  # -16384 << 1 == -32768: full scale
    assert _run(fw, "process16", loud, 1) == (struct.pack("<2h", 10, -32768), 1)
