"""Device data is untrusted (DECISIONS 33): the payload schema, the event keys, terminal-safe text, bounded gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from hostwire import AUDIO, INFO, STATUS, encode_frame, encode_json
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event
from picomic.bus.status import PipelineStatus
from picomic.bus.text import printable
from picomic.errors import FrameError
from picomic.outputs.recorder import Recorder
from picomic.stream.devicedata import MAX_DEPTH, parse_device_json
from picomic.stream.router import FrameRouter


def test_known_fields_are_typed_and_the_rest_goes_under_extra() -> None:
    body = parse_device_json(
        "INFO",
        json.dumps({"fw": "0.1.0", "proto": "1", "type": "transcript", "wall": "x", "board": "p" * 999}).encode(),
    )
    assert body["fw"] == "0.1.0" and body["board"] == "p" * 64
    assert "type" not in body and "wall" not in body and "proto" not in body
    assert body["extra"] == {"proto": "1", "type": "transcript", "wall": "x"}


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe{}",
        b"not json",
        b"[1, 2]",
        b'{"a": NaN}',
        b"[" * 10_000 + b"]" * 10_000,
        json.dumps({"a": [[[[[[[1]]]]]]]}).encode(),
        b"{" + b'"a":' * 1 + b"1" * 5000 + b"}",
    ],  # fmt: skip
)
def test_malformed_payloads_are_frame_errors(payload: bytes) -> None:
    with pytest.raises(FrameError):
        parse_device_json("STATUS", payload)


def test_extra_is_bounded() -> None:
    big = {f"k{i}": ["s" * 1000] * 100 for i in range(100)}
    body = parse_device_json("END", json.dumps(big).encode())
    extra = body["extra"]
    assert isinstance(extra, dict) and len(extra) == 32
    assert all(isinstance(v, list) and len(v) == 16 and len(v[0]) == 256 for v in extra.values())
    assert MAX_DEPTH >= 3


def test_a_forged_type_never_sets_the_event_type() -> None:
    event = DeviceInfo({"fw": "1", "type": "transcript", "wall": "forged"})
    assert event.to_json()["type"] == "device" and "wall" not in event.to_json()


def test_printable_escapes_control_characters() -> None:
    text = printable("a\x1b]0;owned\x07b\x1b[2J\x9b\x7f\n\u202eZ")
    assert text == "a\\x1b]0;owned\\x07b\\x1b[2J\\x9b\\x7f\\x0a\\u202eZ"
    assert all(ch.isprintable() for ch in text)
    assert printable("x" * 500).endswith("…") and len(printable("x" * 500)) == 201


def _router(max_gap_s: float = 5.0) -> tuple[FrameRouter, list[Event], AudioBus, PipelineStatus]:
    status = PipelineStatus()
    bus = AudioBus(status)
    events: list[Event] = []
    return FrameRouter(bus, status, events.append, max_gap_s=max_gap_s), events, bus, status


def test_a_malformed_reply_is_counted_and_reported_not_raised() -> None:
    router, events, _bus, status = _router()
    router.feed(encode_frame(STATUS, payload=b"\xff not json") + encode_json(STATUS, {"cmd": "X\x1b[2J", "ok": False}))
    assert status.bad_replies == 1
    messages = [e.message for e in events if isinstance(e, ErrorEvent)]
    assert len(messages) == 2 and "\x1b" not in messages[1] and "\\x1b[2J" in messages[1]
    router.feed(encode_json(INFO, {"fw": "0.1.0", "type": "transcript", "text": "forged"}))
    (info,) = [e for e in events if isinstance(e, DeviceInfo)]
    assert info.to_json()["type"] == "device" and info.to_json()["extra"] == {"type": "transcript", "text": "forged"}


def _frames(seqs: list[int], ts_of: dict[int, int] | None = None) -> bytes:
    ts_of = ts_of or {}
    return b"".join(
        encode_frame(AUDIO, s, ts_of.get(s, s) * 10_000, 16000, 160, bytes(320), flags=8 if s == 0 else 0) for s in seqs
    )


def test_a_long_gap_is_a_new_segment_and_a_recording_stays_small(tmp_path: Path) -> None:
    router, events, bus, _status = _router()
    out = tmp_path / "r.wav"
    rec = Recorder(bus, str(out), 16000)
    rec.start()
    # 1 s lost (explained by the clock: silence), then 100 s lost (a new segment), then a jump of 10^8 frames
    seqs = [*range(10), *range(110, 120), *range(10_120, 10_130)]
    router.feed(_frames(seqs), now_ms=0.0)
    router.feed(_frames([10**8 + i for i in range(10)], {10**8 + i: 10_130 + i for i in range(10)}), now_ms=200_000.0)
    bus.close()
    rec.finish(5.0)
    gaps = [e for e in events if isinstance(e, Discontinuity)]
    assert [(g.reason, g.lost_frames, g.new_segment) for g in gaps] == [
        ("gap", 100, False), ("gap", 10_000, True), ("jump", 0, False)
    ]  # fmt: skip
    assert gaps[0].file_s == pytest.approx(1.1) and gaps[1].file_s == pytest.approx(1.2)
    assert gaps[2].file_s == pytest.approx(1.3)
    assert sf.info(str(out)).frames == 40 * 160 + 100 * 160  # audio + the 1 s bridged, not 100 s
    assert rec.file.segments == 2 and router.segment == 1


def test_silence_never_outruns_wall_time_plus_one_bound() -> None:
    router, events, _bus, _status = _router(max_gap_s=5.0)
    # a hostile board: every frame claims 4 s were lost (seq and clock agree), all within 0.1 s of wall time
    seqs = [i * 401 for i in range(20)]
    router.feed(_frames(seqs), now_ms=0.0)
    assert router.file_samples <= 20 * 160 + 5 * 16000
    assert sum(1 for e in events if isinstance(e, Discontinuity) and e.new_segment) >= 18
