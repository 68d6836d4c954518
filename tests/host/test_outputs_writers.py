"""Crash-safe writers and output errors: files readable while they grow, OS errors as one OutputError, a failing
output or recorder ends a pipeline run, stop requests, the handshake's I/O errors, the smaller messages."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import Event
from picomic.bus.status import PipelineStatus
from picomic.errors import ConfigError, LinkError, OutputError
from picomic.link.handshake import StartSettings, request_info, send_start
from picomic.link.ports import open_port
from picomic.outputs.metrics import MetricsServer
from picomic.outputs.recorder import AudioFile, JsonlWriter, Recorder
from picomic.outputs.writers import FlacWriter, WavWriter, patch_flac_length
from picomic.pipeline import Pipeline
from picomic.sim.signals import FileSignal, Sine, parse_signal
from picomic.stream.decoder import Decoder

RATE = 16000
NOISE = np.random.default_rng(1).normal(0, 4000, RATE * 4).astype(np.int16)


def _snapshot(path: Path, tmp: Path) -> Path:
    """What a reader finds after a SIGKILL at this moment: the bytes on disk (the process's fd left open)."""
    copy = tmp / f"snap{path.suffix}"
    shutil.copyfile(path, copy)
    return copy


def test_a_growing_wav_is_readable_by_soundfile_and_wave_with_at_most_a_second_missing(tmp_path: Path) -> None:
    out = tmp_path / "g.wav"
    w = WavWriter(str(out), RATE)
    empty = _snapshot(out, tmp_path)
    with wave.open(str(empty)) as wf:
        assert wf.getnframes() == 0 and len(sf.read(empty)[0]) == 0
    for written in range(160, len(NOISE) + 1, 160):
        w.write(NOISE[written - 160 : written])
        if written % 8000 == 0:  # every half second: a kill here loses at most HEADER_EVERY_S
            snap = _snapshot(out, tmp_path)
            with wave.open(str(snap)) as wf:
                n = wf.getnframes()
                assert np.array_equal(np.frombuffer(wf.readframes(n), "<i2"), NOISE[:n])
            data, _ = sf.read(snap, dtype="int16")
            assert len(data) == n and written - RATE <= n <= written
    w.close()
    assert np.array_equal(sf.read(out, dtype="int16")[0], NOISE)


def test_a_growing_flac_is_readable_by_soundfile_and_appears_once_readable(tmp_path: Path) -> None:
    out = tmp_path / "g.flac"
    f = FlacWriter(str(out), RATE)
    seen = []
    for written in range(160, len(NOISE) + 1, 160):
        f.write(NOISE[written - 160 : written])
        if written % 4000 == 0 and out.exists():
            data, _ = sf.read(_snapshot(out, tmp_path), dtype="int16")
            assert np.array_equal(data, NOISE[: len(data)])
            assert written - RATE - 2 * 4096 <= len(data) <= written
            seen.append(len(data))
    assert not out.with_suffix(".flac.part").exists()
    assert seen and seen[0] <= RATE and seen[-1] > len(NOISE) - 2 * RATE
    f.close()
    assert np.array_equal(sf.read(out, dtype="int16")[0], NOISE)


def test_a_flac_of_no_samples_leaves_no_file(tmp_path: Path) -> None:
    FlacWriter(str(tmp_path / "e.flac"), RATE).close()
    assert list(tmp_path.iterdir()) == []


def test_patch_flac_length_leaves_other_files_alone(tmp_path: Path) -> None:
    junk = tmp_path / "j.flac"
    junk.write_bytes(b"RIFF" + bytes(100))
    assert patch_flac_length(str(junk)) is None and junk.read_bytes() == b"RIFF" + bytes(100)
    assert patch_flac_length(str(tmp_path / "missing.flac")) is None


def chunk(start: int, values: np.ndarray) -> AudioChunk:
    return AudioChunk(seq=start // 160, ts_ms=0.0, sample_rate=RATE, samples=values, stream_sample=start)


def test_raw_pcm_to_a_full_device_is_one_output_error() -> None:
    f = AudioFile("-", RATE)
    f._raw = open("/dev/full", "wb", buffering=0)  # noqa: SIM115 - closed below
    try:
        with pytest.raises(OutputError, match="^cannot write stdout: No space left on device$") as info:
            f.write_chunk(chunk(0, NOISE[:160]))
        assert info.value.errno == errno.ENOSPC and info.value.exit_code == 7
        assert f.samples_written == 0
    finally:
        raw = f._raw
        f.close()
        assert raw is not None
        raw.close()


def test_jsonl_to_a_full_device_and_a_half_line_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = JsonlWriter("/dev/full")
    with pytest.raises(OutputError, match="cannot write /dev/full: No space left on device"):
        w.write({"type": "x"})
    w.write({"type": "dropped after the error"})  # no second error, nothing written
    w.close()
    out = tmp_path / "t.jsonl"
    w = JsonlWriter(str(out))
    w.write({"type": "a"})
    real = os.write

    def short_then_full(fd: int, data: Any) -> int:
        if len(data) > 20:
            return real(fd, bytes(data)[:20])  # the disk fills mid-line
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(OutputError, match="No space left on device"):
        w.write({"type": "b", "text": "a long line that does not fit"})
    monkeypatch.undo()
    w.close()
    lines = out.read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["a"] and out.read_text().endswith("\n")


def test_a_recorder_that_cannot_write_tells_the_pipeline_at_once(tmp_path: Path) -> None:
    bus = AudioBus()
    failures: list[BaseException] = []
    rec = Recorder(bus, "-", RATE, on_error=failures.append)
    rec.file._raw = open("/dev/full", "wb", buffering=0)  # noqa: SIM115 - closed below
    raw = rec.file._raw
    rec.start()
    bus.publish(chunk(0, NOISE[:160]))
    deadline = time.monotonic() + 5
    while not failures and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failures and isinstance(failures[0], OutputError), failures
    bus.close()
    with pytest.raises(OutputError):
        rec.finish(5.0)
    raw.close()


class _Source:
    def __init__(self, pipeline: Pipeline, events: list[Event]) -> None:
        self.pipeline = pipeline
        self.events = events

    def start(self) -> None:
        for event in self.events:
            self.pipeline.emit(event)

    def stop(self) -> None:
        pass


class _Out:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.seen: list[str] = []
        self.name = "the view"

    def on_event(self, event: Event) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.seen.append(event.type)

    def refresh(self) -> None:
        pass


def test_an_output_that_fails_ends_the_run_and_the_others_still_get_the_last_status() -> None:
    p = Pipeline()
    broken, good = _Out(OSError(errno.EIO, "Input/output error")), _Out()
    p.add_output(broken)
    p.add_output(good)
    with pytest.raises(OutputError, match="^cannot write the view: Input/output error$"):
        p.run(_Source(p, []), seconds=5)
    assert good.seen[-1] == "status" and broken not in p.outputs


def test_interrupt_stops_a_streaming_run_and_is_refused_before_it() -> None:
    p = Pipeline()
    assert p.interrupt() is False  # nothing streams yet: the CLI raises KeyboardInterrupt instead
    threading.Timer(0.3, p.interrupt).start()
    t0 = time.monotonic()
    result = p.run(_Source(p, []), seconds=10)
    assert result.reason == "interrupted" and time.monotonic() - t0 < 2.0


class _DeadPort:
    """A port whose board went away: reads and writes fail like a closed pty."""

    port = "/dev/pts/99"
    in_waiting = 0

    def reset_input_buffer(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def read(self, n: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")


class _GoneAfterReset(_DeadPort):
    """A REPL that exits at the soft reset's Ctrl-D (the simulated board's unix port does)."""

    def __init__(self) -> None:
        self.gone = False
        self.replies = [b">>> "]

    def write(self, data: bytes) -> int:
        if b"\x04" in data:
            self.gone = True
        return len(data)

    def read(self, n: int) -> bytes:
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")
        return self.replies.pop() if self.replies else b""


@pytest.mark.parametrize("port", [_DeadPort(), _GoneAfterReset()], ids=["dead", "gone after Ctrl-D"])
def test_the_handshake_turns_io_errors_into_one_link_error(port: Any) -> None:
    with pytest.raises(LinkError, match=r"^lost the board on /dev/pts/9 during the handshake: Input/output err"):
        request_info(port, "/dev/pts/9")
    with pytest.raises(LinkError, match="during START: Input/output error"):
        send_start(_DeadPort(), Decoder(), StartSettings())


def test_smaller_messages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="below 24000 Hz"):
        parse_signal("sine:1e9")
    with pytest.raises(ConfigError, match="Nyquist frequency of a 16000 Hz stream"):
        Sine(9000).check_rate(16000)
    Sine(9000).check_rate(48000)
    parse_signal("noise").check_rate(8000)
    with pytest.raises(ConfigError, match=f"signal file {tmp_path} is a folder"):
        FileSignal(tmp_path)
    with pytest.raises(LinkError, match="is a terminal, not a board's serial port"):
        open_port("/dev/tty")
    server = MetricsServer(PipelineStatus(), "127.0.0.1", 0)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.close()
