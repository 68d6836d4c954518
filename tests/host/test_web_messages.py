"""The web view's messages: binary audio round trip, text messages that are the `--json` lines, client text."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import EVENT_TYPES, Transcript
from picomic.outputs.recorder import JsonlWriter
from picomic.outputs.view import MeterReading
from picomic.web import messages
from test_bus_events import SAMPLE_VALUES


def _chunk(samples: np.ndarray, **kw: int) -> AudioChunk:
    samples.flags.writeable = False
    return AudioChunk(seq=kw.get("seq", 7), ts_ms=0.0, sample_rate=16000, samples=samples, stream_sample=1234)


@pytest.mark.parametrize("board_id", ["", "a", "kitchen-mic-2", "ü" * 3])
def test_audio_message_round_trips_and_aligns_the_samples(board_id: str) -> None:
    pcm = np.random.default_rng(1).integers(-32768, 32768, 160).astype(np.int16)
    data = messages.audio_message(_chunk(pcm), board_id)
    header_bytes = int.from_bytes(data[4:6], "little")
    assert header_bytes % 4 == 0 and len(data) == header_bytes + 320
    parsed = messages.parse_audio(data)
    assert parsed.board_id == board_id and parsed.sample_rate == 16000 and parsed.seq == 7
    assert parsed.stream_sample == 1234 and np.array_equal(parsed.samples, pcm)


def test_audio_message_24_bit_and_stereo() -> None:
    wide = np.array([-(2**23), 2**23 - 1, 5], dtype=np.int32)
    assert np.array_equal(messages.parse_audio(messages.audio_message(_chunk(wide))).samples, wide)
    stereo = np.arange(12, dtype=np.int16).reshape(6, 2)
    parsed = messages.parse_audio(messages.audio_message(_chunk(stereo)))
    assert parsed.samples.shape == (6, 2) and np.array_equal(parsed.samples, stereo)


def test_audio_message_copies_the_samples_once_and_is_immutable() -> None:
    pcm = np.zeros(160, dtype=np.int16)
    data = messages.audio_message(_chunk(pcm))
    assert isinstance(data, bytes)  # one shared, immutable object for every client
    assert not np.shares_memory(np.frombuffer(data, dtype=np.int16), pcm)


@pytest.mark.parametrize(
    "data", [b"", b"PMA1", b"XXXX" + bytes(28), messages.audio_message(_chunk(np.zeros(4, np.int16)))[:-1]]
)
def test_parse_audio_refuses_what_is_not_a_message(data: bytes) -> None:
    with pytest.raises(ValueError):
        messages.parse_audio(data)


def test_event_text_is_the_json_line(tmp_path) -> None:
    """Every event type: the web text message and the --json/JSONL line are one schema (only `wall` differs)."""
    path = tmp_path / "e.jsonl"
    writer = JsonlWriter(str(path))
    texts = []
    for cls in EVENT_TYPES:
        body = cls(**_example_args(cls)).to_json()
        writer.write(body)
        texts.append(json.loads(messages.event_text(body)))
    writer.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == len(texts) == len(EVENT_TYPES)
    for line, text in zip(lines, texts, strict=True):
        assert line.pop("wall") and text.pop("wall")
        assert line == text and line["type"] in {c.type for c in EVENT_TYPES}


def _example_args(cls: type) -> dict[str, object]:
    """Every field of the event with test_bus_events' sample value (one table of examples for all event tests)."""
    return {f.name: SAMPLE_VALUES[f.name] for f in dataclasses.fields(cls)}


def test_level_text_carries_the_meter_reading() -> None:
    text = messages.level_text(MeterReading(-30.0, -12.0, -10.0, True, 16000, 1), "b1")
    obj = json.loads(text)
    assert obj["type"] == "level" and obj["board_id"] == "b1" and obj["rms_dbfs"] == -30.0
    assert obj["db_spl"] == 90.0 and obj["peak_hold_dbfs"] == -10.0 and obj["clipping"] is True


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{", "not JSON"), ("[1]", "JSON object"), ('{"type": 3}', "string"), ("\x00", "not JSON"), ("", "not JSON")],
)
def test_client_text_that_is_not_a_typed_object_is_refused(text: str, problem: str) -> None:
    with pytest.raises(messages.BadMessage, match=problem):
        messages.parse_client_text(text)
    assert messages.parse_client_text('{"type":"ping","id":1}') == {"type": "ping", "id": 1}


def test_transcript_example_is_the_documented_schema() -> None:
    obj = json.loads(messages.event_text(Transcript("hi", True, 0.5, 1.5, 800.0).to_json()))
    assert set(obj) == {"type", "text", "final", "start_s", "end_s", "latency_ms", "wall"}
