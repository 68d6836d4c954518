"""Decoder unit tests: one frame, 1-byte feeding, header rejection, CRC, gaps, epochs, wraps, END tail."""

from __future__ import annotations

import pytest
from hostwire import AUDIO, END, FIRST, INFO, audio, encode_audio, encode_frame, encode_json
from picomic.errors import FrameError
from picomic.stream.decoder import Decoder
from picomic.stream.protocol import Flags, FrameType, header_check


def stream(seqs: list[int]) -> bytes:
    return b"".join(encode_audio(audio(s)) for s in seqs)


def test_one_byte_at_a_time() -> None:
    data = encode_json(INFO, {"fw": "0.1.0", "proto": 1}) + stream(list(range(5)))
    dec = Decoder()
    frames = [f for i in range(len(data)) for f in dec.feed(data[i : i + 1])]
    assert [f.type for f in frames] == [FrameType.INFO] + [FrameType.AUDIO] * 5
    assert frames[0].frame.json() == {"fw": "0.1.0", "proto": 1}
    assert [f.seq for f in frames[1:]] == [0, 1, 2, 3, 4]
    assert [f.stream_sample for f in frames[1:]] == [0, 160, 320, 480, 640]
    assert frames[1].new_epoch and frames[1].flags & Flags.FIRST
    assert frames[3].payload == audio(2).payload
    assert (dec.frames, dec.crc_errors, dec.resyncs, dec.lost_frames, dec.epochs) == (6, 0, 0, 0, 1)
    assert dec.bytes == len(data) and dec.bytes_without_frame == 0 and dec.buffered == 0


def test_pcm_is_a_read_only_view() -> None:
    (f,) = Decoder().feed(encode_audio(audio(0)))
    pcm = f.frame.pcm()
    assert pcm.dtype.str == "<i2" and pcm.shape == (160,) and not pcm.flags.writeable
    assert pcm.base is f.payload
    stereo = encode_frame(AUDIO, 0, 0, 16000, 4, bytes(16), flags=int(Flags.STEREO))
    (s,) = Decoder().feed(stereo)
    assert s.frame.pcm().shape == (4, 2) and s.frame.channels == 2 and s.frame.width == 2
    wide = encode_frame(AUDIO, 0, 0, 16000, 4, bytes(16), flags=int(Flags.WIDTH32))
    (w,) = Decoder().feed(wide)
    assert w.frame.pcm().dtype.str == "<i4" and w.frame.width == 4


def test_gap_counts_lost_frames_and_advances_timeline() -> None:
    dec = Decoder()
    frames = dec.feed(stream([0, 1, 4, 5]))
    assert [f.lost_before for f in frames] == [0, 0, 2, 0]
    assert [f.stream_sample for f in frames] == [0, 160, 640, 800]
    assert dec.lost_frames == 2 and dec.timeline_end == 960


def test_crc_error_is_never_delivered_and_next_frame_is() -> None:
    data = bytearray(stream([0, 1, 2]))
    frame_len = len(encode_audio(audio(0)))
    data[frame_len + 40] ^= 0x10  # payload bit of frame 1
    dec = Decoder()
    frames = dec.feed(bytes(data))
    assert [f.seq for f in frames] == [0, 2]
    assert (dec.crc_errors, dec.resyncs, dec.lost_frames) == (1, 1, 1)


def test_bad_header_is_rejected_at_once() -> None:
    """A corrupted length with a matching hcheck must not make the decoder wait for a bogus payload."""
    good = encode_audio(audio(1))
    bad = bytearray(encode_audio(audio(0)))
    bad[16:18] = (20000).to_bytes(2, "little")  # length no longer matches samples
    bad[21] = header_check(bad)
    dec = Decoder()
    frames = dec.feed(bytes(bad[:22]) + good)  # the bad frame's payload never arrives
    assert [f.seq for f in frames] == [1]
    assert dec.header_errors == 1 and dec.resyncs == 1 and dec.crc_errors == 0


def test_hcheck_mismatch_rejects_header() -> None:
    bad = bytearray(encode_audio(audio(0)))
    bad[21] ^= 1
    dec = Decoder()
    assert dec.feed(bytes(bad) + encode_audio(audio(1)))[0].seq == 1
    assert dec.header_errors == 1


def test_version_mismatch_names_both_versions() -> None:
    frame = encode_frame(INFO, payload=b"{}", version=2)
    with pytest.raises(FrameError, match=r"version 2.*version 1"):
        Decoder().feed(b"junk" + frame)
    corrupted = bytearray(encode_frame(INFO, payload=b"{}"))
    corrupted[2] = 2  # version byte hit by noise: hcheck fails, so it is a resync, not a mismatch
    dec = Decoder()
    assert dec.feed(bytes(corrupted)) == [] and dec.header_errors == 1


def test_epochs_and_end_tail() -> None:
    dec = Decoder()
    first = dec.feed(stream([0, 1, 2]) + encode_frame(END, seq=5, payload=b'{"reason":"stop","frames":5}'))
    end = first[-1]
    assert end.type is FrameType.END and end.lost_before == 2 and end.frame.json()["reason"] == "stop"
    assert dec.lost_frames == 2
    dec.advance_timeline(1600)
    second = dec.feed(stream([0, 1]))
    assert second[0].new_epoch and second[0].epoch == 2 and dec.epochs == 2
    # the lost tail (2 frames) advanced the timeline, then the host-measured gap
    assert second[0].stream_sample == 5 * 160 + 1600
    assert second[0].lost_before == 0 and dec.lost_frames == 2


def test_after_end_a_missing_first_frame_is_counted() -> None:
    dec = Decoder()
    dec.feed(stream([0, 1]) + encode_frame(END, seq=2, payload=b"{}"))
    (f,) = dec.feed(encode_audio(audio(3)))
    assert f.new_epoch and f.lost_before == 3 and dec.lost_frames == 3
    assert f.stream_sample == 2 * 160 + 3 * 160


def test_joining_mid_stream_counts_no_unknown_loss() -> None:
    dec = Decoder()
    frames = dec.feed(encode_audio(audio(7))[5:] + stream([8, 9]))
    assert [f.seq for f in frames] == [8, 9]
    assert frames[0].stream_sample == 0 and dec.lost_frames == 0 and dec.epochs == 1
    assert dec.resyncs == 1 and dec.skipped_bytes == len(encode_audio(audio(7))) - 5


def test_seq_and_ts_unwrap_across_2_pow_30() -> None:
    base = (1 << 30) - 2
    data = b"".join(
        encode_frame(
            AUDIO, base + i, (1 << 30) - 5000 + i * 10_000, 16000, 160, bytes(320)
        )  # joined mid-stream (no FIRST): a FIRST frame with seq > 0 would mean the device dropped seq frames
        for i in range(5)
    )
    frames = Decoder().feed(data)
    assert [f.seq for f in frames] == [base + i for i in range(5)]
    assert [f.ts_us for f in frames] == [(1 << 30) - 5000 + i * 10_000 for i in range(5)]
    assert [f.frame.seq for f in frames][2] == 0
    assert [f.stream_sample for f in frames] == [i * 160 for i in range(5)]


def test_flags_counters() -> None:
    data = encode_audio(audio(0)) + encode_frame(
        AUDIO, 1, 10_000, 16000, 160, bytes(320), dropped=3, flags=int(Flags.DEVICE_DROP | Flags.I2S_OVERRUN)
    )
    dec = Decoder()
    dec.feed(data)
    assert (dec.device_dropped, dec.i2s_overruns, dec.lost_frames) == (3, 1, 0)
    assert dec.counters()["device_dropped"] == 3


def test_garbage_is_visible() -> None:
    dec = Decoder()
    text = b"MicroPython v1.24.0 on 2024-10-25; Raspberry Pi Pico with RP2040\r\n>>> " * 3
    assert dec.feed(text) == []
    assert dec.bytes_without_frame == len(text) and dec.frames == 0
    assert dec.buffered <= 1  # nothing hoarded
    dec.feed(encode_audio(audio(0)))
    assert dec.bytes_without_frame == 0


def test_resync_counts_one_per_loss_of_sync() -> None:
    dec = Decoder()
    dec.feed(b"\x00" * 100 + encode_audio(audio(0)) + b"\xa5\x5a\x00" * 5 + encode_audio(audio(1)))
    assert dec.resyncs == 2 and dec.skipped_bytes == 115 and dec.frames == 2


def test_first_frame_after_device_drops_keeps_the_lost_frames_on_the_timeline() -> None:
    dec = Decoder()
    first = encode_frame(AUDIO, 3, 0, 16000, 160, bytes(320), flags=FIRST | int(Flags.DEVICE_DROP), dropped=3)
    frames = dec.feed(first + encode_frame(AUDIO, 4, 10_000, 16000, 160, bytes(320)))
    assert [f.stream_sample for f in frames] == [3 * 160, 4 * 160]
    assert dec.lost_frames == 3 and dec.device_dropped == 3 and dec.epochs == 1


def test_after_start_a_lost_first_frame_counts_as_lost() -> None:
    dec = Decoder()
    dec.expect_epoch()  # the host sent START; frames 0 and 1 never arrive
    frames = dec.feed(encode_frame(AUDIO, 2, 0, 16000, 160, bytes(320)))
    assert frames[0].stream_sample == 2 * 160 and frames[0].new_epoch
    assert dec.lost_frames == 2


def test_an_i2s_overrun_makes_room_on_the_timeline_for_the_lost_audio() -> None:
    dec = Decoder()
    overrun = int(Flags.I2S_OVERRUN)
    frames = dec.feed(
        encode_frame(AUDIO, 0, 0, 16000, 160, bytes(320), flags=FIRST)
        + encode_frame(AUDIO, 1, 10_000, 16000, 160, bytes(320))
        + encode_frame(AUDIO, 2, 120_000, 16000, 160, bytes(320), flags=overrun)  # 100 ms of audio never captured
        + encode_frame(AUDIO, 3, 130_000, 16000, 160, bytes(320))
    )
    assert [f.stream_sample for f in frames] == [0, 160, 320 + 1600, 480 + 1600]
    assert dec.overrun_samples == 1600 and dec.i2s_overruns == 1 and dec.lost_frames == 0


def _at(seq: int, ts_seq: int | None = None) -> bytes:
    """An audio frame (no FIRST) numbered `seq`, captured at the time of frame `ts_seq` (default: seq)."""
    ts = (seq if ts_seq is None else ts_seq) * 10_000
    return encode_frame(AUDIO, seq, ts, 16000, 160, bytes(320))


def test_a_duplicated_frame_is_dropped_and_counted_not_lost() -> None:
    # the old rule took a repeated seq for a restart: lost = seq (1500 phantom frames) and a new epoch
    dec = Decoder()
    frames = dec.feed(stream(range(1501)) + _at(1500) + _at(1501))
    assert [f.seq for f in frames][-2:] == [1500, 1501]
    assert (dec.duplicates, dec.lost_frames, dec.epochs) == (1, 0, 1)
    assert frames[-1].stream_sample == 1501 * 160 and not frames[-1].new_epoch
    assert dec.counters()["duplicates"] == 1


def test_late_replayed_and_swapped_frames_are_duplicates() -> None:
    dec = Decoder()
    data = stream(range(10)) + _at(3) + _at(0) + _at(11) + _at(10) + _at(12)  # replays, then 10 ↔ 11 swapped
    frames = dec.feed(data)
    assert [f.seq for f in frames] == [*range(10), 11, 12]
    assert (dec.duplicates, dec.lost_frames, dec.epochs) == (3, 1, 1)  # the late 10 was counted lost already
    assert [f.stream_sample for f in frames][-2:] == [11 * 160, 12 * 160]


def test_a_jump_the_device_clock_does_not_explain_is_no_loss() -> None:
    dec = Decoder()
    frames = dec.feed(stream(range(3)) + _at(1_000_000, ts_seq=3) + _at(1_000_001, ts_seq=4))
    jump = frames[3]
    assert jump.jump == 1_000_000 - 3 and jump.lost_before == 0 and not jump.new_epoch
    assert (dec.lost_frames, dec.jumps, dec.epochs, dec.duplicates) == (0, 1, 1, 0)
    assert [f.stream_sample for f in frames][3:] == [3 * 160, 4 * 160]  # the clock did not move: no gap
    assert frames[4].lost_before == 0


def test_a_jump_places_the_elapsed_device_time_on_the_timeline() -> None:
    dec = Decoder()
    frames = dec.feed(stream(range(3)) + _at(500_000, ts_seq=103))  # 1 s of device time, not 5000 s
    assert frames[3].stream_sample == 103 * 160 and dec.lost_frames == 0 and dec.jumps == 1


def test_a_gap_the_device_clock_explains_is_loss() -> None:
    dec = Decoder()
    frames = dec.feed(stream(range(3)) + _at(503))
    assert frames[3].lost_before == 500 and dec.lost_frames == 500 and dec.jumps == 0
    assert frames[3].stream_sample == 503 * 160


def test_near_the_wrap_the_sequence_unwraps_and_behind_is_still_a_duplicate() -> None:
    base = (1 << 30) - 3
    dec = Decoder()
    data = b"".join(_at(base + i) for i in range(6)) + _at(base + 2) + _at(base + 6)
    frames = dec.feed(data)
    assert [f.seq for f in frames] == [base + i for i in range(7)]
    assert (dec.duplicates, dec.lost_frames, dec.epochs) == (1, 0, 1)


def test_a_first_flag_claiming_a_huge_loss_is_bounded() -> None:
    dec = Decoder()
    first = encode_frame(AUDIO, 1 << 29, 0, 16000, 160, bytes(320), flags=FIRST)
    (f,) = dec.feed(first)
    assert f.new_epoch and dec.lost_frames == 65535 and f.stream_sample == 65535 * 160
