"""The host decoder against the firmware-made golden vectors (DECISIONS 25), and the test-only encoder
checked byte for byte against them (so the property tests built on it are not self-checks)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hostwire import VECTORS_DIR, Vector, encode_frame, load_vectors
from picomic.stream.decoder import Decoder
from picomic.stream.protocol import VERSION, Flags, FrameType

VECTORS = load_vectors()
BY_NAME = {v.name: v for v in VECTORS}


def test_vectors_exist() -> None:
    assert (VECTORS_DIR / "manifest.json").exists(), "golden vectors missing: run tools/make_vectors.py"
    assert len(VECTORS) >= 10
    assert {"info", "session", "seq_wrap", "end", "width32", "stereo", "max_payload"} <= set(BY_NAME)


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v.name)
def test_decoder_reads_every_vector(vec: Vector) -> None:
    for chunk in (len(vec.data), 1, 7):
        dec = Decoder()
        frames = [f for i in range(0, len(vec.data), chunk) for f in dec.feed(vec.data[i : i + chunk])]
        assert len(frames) == len(vec.frames)
        for got, want in zip(frames, vec.frames, strict=True):
            fr = got.frame
            assert (int(fr.type), fr.seq, fr.ts_us, fr.rate_hz, fr.sample_count, fr.dropped, fr.flags) == (
                want["type"], want["seq"], want["ts_us"], want["rate_hz"], want["samples"], want["dropped"],
                want["flags"],
            )  # fmt: skip
            assert len(fr.payload) == want["length"]
            assert fr.payload.hex() == want["payload_hex"]
        assert (dec.crc_errors, dec.resyncs, dec.header_errors, dec.buffered) == (0, 0, 0, 0)


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v.name)
def test_test_encoder_reproduces_every_vector(vec: Vector) -> None:
    rebuilt = b"".join(
        encode_frame(
            int(f["type"]),
            int(f["seq"]),
            int(f["ts_us"]),
            int(f["rate_hz"]),
            int(f["samples"]),  # type: ignore[call-overload]
            bytes.fromhex(str(f["payload_hex"])),
            int(f["dropped"]),
            int(f["flags"]),
            VERSION,  # type: ignore[call-overload]
        )  # fmt: skip
        for f in vec.frames
    )
    assert rebuilt == vec.data
    offset = 0
    for f in vec.frames:
        end = offset + 26 + int(f["length"])  # type: ignore[call-overload]
        assert zlib.crc32(vec.data[offset + 2 : end - 4]) == f["crc32"]
        offset = end


def test_seq_wrap_unwraps() -> None:
    frames = Decoder().feed(BY_NAME["seq_wrap"].data)
    assert [f.seq for f in frames] == [2**30 - 2, 2**30 - 1, 2**30, 2**30 + 1]
    assert [b.ts_us - a.ts_us for a, b in zip(frames, frames[1:], strict=False)] == [1000, 1000, 1000]
    assert [f.stream_sample for f in frames] == [0, 16, 32, 48]


def test_device_drop_is_why_not_extra_loss() -> None:
    dec = Decoder()
    frames = dec.feed(BY_NAME["device_drop"].data)
    assert frames[1].lost_before == 4 and frames[1].flags & Flags.DEVICE_DROP
    assert (dec.lost_frames, dec.device_dropped) == (4, 4)


def test_i2s_overrun_counted() -> None:
    dec = Decoder()
    dec.feed(BY_NAME["i2s_overrun"].data)
    assert dec.i2s_overruns == 1


def test_session_end_accounting() -> None:
    dec = Decoder()
    frames = dec.feed(BY_NAME["session"].data)
    types = [f.type for f in frames]
    assert types == [FrameType.STATUS, FrameType.AUDIO, FrameType.AUDIO, FrameType.STATUS, FrameType.AUDIO,
                     FrameType.END, FrameType.STATUS]  # fmt: skip
    end = frames[5]
    assert end.frame.json()["reason"] == "stop" and end.lost_before == 0 and end.seq == 3
    assert frames[1].new_epoch and dec.epochs == 1 and dec.lost_frames == 0
    assert frames[3].seq == 2  # a STATUS carries the next audio seq


def test_end_vector_json() -> None:
    (end,) = Decoder().feed(BY_NAME["end"].data)
    assert end.type is FrameType.END and end.frame.json()["frames"] == 42 == end.frame.seq


def test_info_vector_json() -> None:
    (info,) = Decoder().feed(BY_NAME["info"].data)
    body = info.frame.json()
    assert body["proto"] == VERSION and isinstance(body["uid"], str) and body["ticks_bits"] == 30


def test_width32_and_stereo_pcm() -> None:
    (w,) = Decoder().feed(BY_NAME["width32"].data)
    pcm = w.frame.pcm()
    assert pcm.dtype == np.dtype("<i4") and pcm.max() <= 2**23 - 1 and pcm.min() >= -(2**23)
    (s,) = Decoder().feed(BY_NAME["stereo"].data)
    st = s.frame.pcm()
    assert st.shape == (8, 2) and not st[:, 1].any() and st[:, 0].any()
    (m,) = Decoder().feed(BY_NAME["max_payload"].data)
    assert m.frame.pcm().shape == (3072, 2)
