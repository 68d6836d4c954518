"""Recorder and JSONL writer: file time equals stream time, files are valid whatever ends the run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.errors import ConfigError
from picomic.outputs.recorder import AudioFile, JsonlWriter, Recorder, check_output_path


def chunk(start: int, values: np.ndarray, rate: int = 16000) -> AudioChunk:
    samples = np.frombuffer(values.astype("<i2").tobytes(), dtype="<i2")
    return AudioChunk(seq=start // len(values), ts_ms=0.0, sample_rate=rate, samples=samples, stream_sample=start)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_gap_is_written_as_silence_so_file_time_equals_stream_time(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"rec{suffix}"
    f = AudioFile(str(out), 16000)
    a = np.arange(1, 161, dtype=np.int16)
    f.write_chunk(chunk(1000, a))  # the origin is the first chunk's stream position
    f.write_chunk(chunk(1160 + 480, -a))  # three frames lost
    f.close()
    data, rate = sf.read(str(out), dtype="int16")
    assert rate == 16000
    assert len(data) == 160 + 480 + 160
    assert np.array_equal(data[:160], a)
    assert not data[160:640].any()
    assert np.array_equal(data[640:], -a)
    assert f.gap_samples == 480


def test_overlap_keeps_what_was_written(tmp_path: Path) -> None:
    out = tmp_path / "o.wav"
    f = AudioFile(str(out), 16000)
    f.write_chunk(chunk(0, np.full(160, 7, dtype=np.int16)))
    f.write_chunk(chunk(100, np.full(160, 9, dtype=np.int16)))
    f.close()
    data, _ = sf.read(str(out), dtype="int16")
    assert len(data) == 260
    assert (data[:160] == 7).all() and (data[160:] == 9).all()


def test_rate_change_mid_recording_is_an_error(tmp_path: Path) -> None:
    f = AudioFile(str(tmp_path / "r.wav"), 16000)
    with pytest.raises(ConfigError, match="rate changed"):
        f.write_chunk(chunk(0, np.zeros(160, dtype=np.int16), rate=48000))
    f.close()


@pytest.mark.parametrize(
    ("name", "message"),
    [("x.mp3", "use a .wav or .flac"), ("missing/x.wav", "does not exist")],
)
def test_bad_output_paths(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_output_path(str(tmp_path / name))


def test_unwritable_output_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(ConfigError, match="folder"):
        AudioFile(str(tmp_path / "d.wav"), 16000)


def test_recorder_thread_drains_the_bus_and_closes_the_file(tmp_path: Path) -> None:
    bus = AudioBus()
    out = tmp_path / "t.flac"
    rec = Recorder(bus, str(out), 16000)
    rec.start()
    for i in range(50):
        bus.publish(chunk(i * 160, np.full(160, i, dtype=np.int16)))
    bus.close()
    rec.finish(5.0)
    data, _ = sf.read(str(out), dtype="int16")
    assert len(data) == 50 * 160
    assert data[-1] == 49
    assert rec.seconds == pytest.approx(0.5)


def test_jsonl_writer_adds_wall_and_writes_whole_lines(tmp_path: Path) -> None:
    buf = io.StringIO()
    w = JsonlWriter(buf)
    w.write({"type": "x", "n": 1})
    w.close()
    obj = json.loads(buf.getvalue())
    assert obj["type"] == "x" and obj["n"] == 1 and obj["wall"].endswith("+00:00")
    with pytest.raises(ConfigError, match="cannot write"):
        JsonlWriter(str(tmp_path / "nope" / "t.jsonl"))
