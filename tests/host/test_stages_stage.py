"""Stages on the bus: derived streams keep the source's sequence and timeline, one chunk object per listener,
drops counted when a stage falls behind, a failing processor reported and bypassed while the pipeline goes on."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from picomic.bus.audiobus import RAW_STREAM, AudioBus, AudioChunk, Listener
from picomic.bus.events import ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.pipeline import Pipeline
from picomic.stages.chain import add_stages, process_signal
from picomic.stages.processors import BLOCK_SAMPLES, Highpass, Passthrough, Rnnoise, WebRtc
from picomic.stages.stage import Stage
from speech_support import load_pcm, white_noise


def chunks(pcm: np.ndarray, rate_hz: int = 16000, frame: int = 160, epoch: int = 1) -> list[AudioChunk]:
    out = []
    for seq, pos in enumerate(range(0, len(pcm), frame)):
        samples = np.ascontiguousarray(pcm[pos : pos + frame])
        samples.flags.writeable = False
        ts = 1000.0 + pos * 1000.0 / rate_hz
        out.append(
            AudioChunk(seq, ts, rate_hz, samples, stream_sample=pos, epoch=epoch, device_us=pos * 10**6 // rate_hz)
        )
    return out


def drain(listener: Listener, timeout: float = 10.0) -> list[AudioChunk]:
    got = []
    while (chunk := listener.recv(timeout=timeout)) is not None:
        got.append(chunk)
    return got


def run_stage(stage_factory, source: list[AudioChunk], listeners: int = 1) -> tuple[list[list[AudioChunk]], Stage]:  # type: ignore[no-untyped-def]
    bus = AudioBus()
    stage = stage_factory(bus)
    outs = [bus.subscribe(f"out{i}", maxsize=100_000, stream=stage.name) for i in range(listeners)]
    stage.start()
    for chunk in source:
        bus.publish(chunk)
    bus.close()
    got = [drain(out) for out in outs]
    stage.finish(10.0)
    return got, stage


def test_derived_chunks_keep_seq_times_epoch_and_device_clock() -> None:
    pcm = white_noise(1.0, 0.05)
    source = chunks(pcm)
    (got,), stage = run_stage(lambda bus: Stage(bus, WebRtc(noise_suppression=2)), source)
    assert stage.delay_ms == 6.0  # WebRTC NS lags 96 samples: compensated, not passed on
    assert len(got) == len(source)
    for src, out in zip(source, got, strict=True):
        assert (out.seq, out.ts_ms, out.stream_sample, out.epoch, out.segment, out.device_us) == (
            src.seq, src.ts_ms, src.stream_sample, src.epoch, src.segment, src.device_us)  # fmt: skip
        assert out.sample_rate == 16000 and out.samples.dtype == np.int16 and not out.samples.flags.writeable
    assert not np.array_equal(np.concatenate([c.samples for c in got]), pcm)  # processed, not copied through


def test_a_48k_20ms_source_becomes_16k_10ms_blocks_on_the_same_timeline() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    source = chunks(pcm, rate, frame=960)
    (got,), _ = run_stage(lambda bus: Stage(bus, Passthrough("copy")), source)
    assert [c.stream_sample for c in got] == list(range(0, 16000, BLOCK_SAMPLES))
    assert [c.seq for c in got] == [i // 2 for i in range(100)]  # two 10 ms blocks per 20 ms source frame
    assert got[3].ts_ms == pytest.approx(source[1].ts_ms + 10.0)
    assert all(c.num_samples == BLOCK_SAMPLES and c.sample_rate == 16000 for c in got)


def test_a_gap_in_the_source_is_a_gap_in_the_derived_stream_and_a_new_epoch_restarts() -> None:
    source = chunks(white_noise(1.0, 0.05))
    lost = {30, 31, 32}
    second = chunks(white_noise(0.3, 0.05, seed=9), epoch=2)
    kept = [c for c in source if c.seq not in lost] + second
    (got,), _ = run_stage(lambda bus: Stage(bus, WebRtc(noise_suppression=1)), kept)
    assert [(c.epoch, c.seq, c.stream_sample) for c in got] == [(c.epoch, c.seq, c.stream_sample) for c in kept]


@pytest.mark.parametrize("make", [lambda: Highpass(40), lambda: WebRtc(noise_suppression=2), Rnnoise],
                         ids=["highpass", "webrtc", "rnnoise"])  # fmt: skip
def test_processed_audio_is_aligned_with_the_raw_audio(make) -> None:  # type: ignore[no-untyped-def]
    """The delay compensation: the derived samples at a position are the processed samples of that position."""
    speech = load_pcm("utt1")
    noisy = np.clip(speech.astype(np.int32) + white_noise(len(speech) / 16000, 0.01), -32768, 32767).astype(np.int16)
    out = process_signal([make()], noisy, 16000).astype(np.float64)
    ref = speech[4800:50000].astype(np.float64)
    score = {lag: float(np.dot(out[4800 + lag : 50000 + lag], ref)) for lag in range(-200, 400)}
    assert max(score, key=score.__getitem__) in (-1, 0, 1)
    assert len(out) == len(speech)


def test_every_listener_of_a_derived_stream_gets_the_same_chunk_object() -> None:
    source = chunks(white_noise(0.5, 0.05))
    (a, b, c), _ = run_stage(lambda bus: Stage(bus, Highpass(80)), source, listeners=3)
    assert len(a) == len(source)
    assert all(x is y is z for x, y, z in zip(a, b, c, strict=True))
    assert all(x.samples is y.samples for x, y in zip(a, b, strict=True))


class Slow(Passthrough):
    """A processor slower than real time (20 ms per 10 ms block)."""

    def process(self, block: np.ndarray) -> np.ndarray:
        time.sleep(0.02)
        return block


def test_a_stage_that_falls_behind_drops_like_any_listener_and_says_so() -> None:
    status = PipelineStatus()
    bus = AudioBus(status)
    events: list[Event] = []
    stage = Stage(bus, Slow("slow"), status=status, maxsize=10, emit=events.append)
    out = bus.subscribe("out", maxsize=10_000, stream="slow")
    stage.start()
    source = chunks(white_noise(1.0, 0.05))
    for chunk in source:
        bus.publish(chunk)
    bus.close()
    got = drain(out)
    stage.finish(10.0)
    snap = status.snapshot()
    dropped = snap["listeners"]["stage-slow"]["dropped"]  # type: ignore[index]
    assert dropped > 50
    assert snap["streams"]["slow"]["input_dropped"] == dropped  # type: ignore[index]
    assert snap["listeners"]["stage-slow"]["stream"] == RAW_STREAM  # type: ignore[index]
    assert snap["listeners"]["out"]["stream"] == "slow"  # type: ignore[index]
    assert len(got) == len(source) - dropped  # nothing invented for what was dropped
    assert [c.seq for c in got] == sorted({c.seq for c in got})
    reports = [e.message for e in events if isinstance(e, ErrorEvent)]
    assert reports and all("stage slow fell behind" in m for m in reports)
    assert f"({dropped} in all)" in reports[-1]  # the last report has the total


class Breaks(Passthrough):
    """A processor that raises on its 20th block."""

    def __init__(self) -> None:
        super().__init__("fragile")
        self.blocks = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        self.blocks += 1
        if self.blocks == 20:
            raise RuntimeError("model exploded")
        return (block // 2).astype(np.int16)


class Feeder:
    """A source publishing chunks from its own thread, then END (the pipeline's Source protocol)."""

    def __init__(self, pipeline: Pipeline, source: list[AudioChunk]) -> None:
        self.pipeline, self.source = pipeline, source
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for chunk in self.source:
            self.pipeline.bus.publish(chunk)
            time.sleep(0.0005)
        self.pipeline.emit(StreamEnd("signal_end"))

    def stop(self) -> None:
        self._thread.join(5)


class Collect:
    def __init__(self, pipeline: Pipeline, stream: str) -> None:
        self.listener = pipeline.bus.subscribe(f"collect-{stream}", maxsize=100_000, stream=stream)
        self.events: list[Event] = []
        self.chunks: list[AudioChunk] = []
        self._thread = threading.Thread(target=lambda: self.chunks.extend(drain(self.listener)), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> None:
        self._thread.join(timeout)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def refresh(self) -> None:
        pass


def test_a_raising_stage_is_reported_and_its_stream_carries_raw_audio_on() -> None:
    pipeline = Pipeline()
    (stage,) = add_stages(pipeline.bus, [Breaks()], pipeline.emit, pipeline.status)
    pipeline.add_consumer(stage)
    derived, raw = Collect(pipeline, "fragile"), Collect(pipeline, RAW_STREAM)
    for consumer in (derived, raw):
        pipeline.add_consumer(consumer)
    pipeline.add_output(derived)
    source = chunks(white_noise(1.0, 0.05))
    result = pipeline.run(Feeder(pipeline, source))
    assert result.reason == "end:signal_end"
    errors = [e for e in derived.events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and "stage fragile failed" in errors[0].message and "model exploded" in errors[0].message
    assert len(raw.chunks) == len(derived.chunks) == len(source)
    for i, (src, out) in enumerate(zip(source, derived.chunks, strict=True)):
        expected = src.samples // 2 if i < 19 else src.samples
        assert np.array_equal(out.samples, expected), i
    stream = pipeline.status.snapshot()["streams"]["fragile"]  # type: ignore[index]
    assert stream["state"] == "bypassed" and "model exploded" in stream["error"]


def test_chained_stages_listen_to_each_other() -> None:
    bus = AudioBus()
    stages = add_stages(bus, [Highpass(80), WebRtc(noise_suppression=2)])
    assert [s.source for s in stages] == [RAW_STREAM, "highpass"]
    assert bus.streams == (RAW_STREAM, "highpass", "webrtc")
    with pytest.raises(ValueError, match="already has a stream named 'webrtc'"):
        Stage(bus, WebRtc(auto_gain_dbfs=10))
    with pytest.raises(ValueError, match="no bus stream 'denoisd'"):
        bus.subscribe("typo", stream="denoisd")


def test_the_python_example_of_docs_stages_runs() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "stages.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    scope: dict[str, object] = {}
    exec(block, scope)  # noqa: S102 - our own documentation
    bus, denoised = scope["bus"], scope["denoised"]
    for chunk in chunks(white_noise(0.2, 0.05)):
        bus.publish(chunk)  # type: ignore[attr-defined]
    bus.close()  # type: ignore[attr-defined]
    got = drain(denoised)  # type: ignore[arg-type]
    assert len(got) == 20 and denoised.stream == "webrtc"  # type: ignore[attr-defined]


def test_a_24_bit_source_becomes_int16_with_its_format_flag_cleared() -> None:
    from picomic.stream.protocol import Flags

    words = np.full(160 * 5, 1 << 21, np.int32)  # a quarter of 24-bit full scale
    words.flags.writeable = False
    source = [
        AudioChunk(i, float(i * 10), 16000, words[i * 160 : (i + 1) * 160], stream_sample=i * 160,
                   flags=int(Flags.WIDTH32 | Flags.FIRST) if i == 0 else int(Flags.WIDTH32))
        for i in range(5)
    ]  # fmt: skip
    (got,), _ = run_stage(lambda bus: Stage(bus, Passthrough("copy")), source)
    assert all(c.samples.dtype == np.int16 and np.all(c.samples == 1 << 13) for c in got)
    assert [c.flags for c in got] == [int(Flags.FIRST), 0, 0, 0, 0]
