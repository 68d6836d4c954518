"""SttListener driven by a controlled sequence of VAD edges and a stand-in model (no Whisper needed):
the speculative final decode is kept when the end is confirmed and discarded when speech resumes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import Event, Transcript
from picomic.bus.status import PipelineStatus
from picomic.speech.edges import SpeechEdge
from picomic.speech.stt import StreamingPolicy, SttListener, SttSettings

RATE = 16000


@dataclass
class _Seg:
    text: str
    no_speech_prob: float = 0.01
    avg_logprob: float = -0.2
    compression_ratio: float = 1.2


class _FakeModel:
    """Each decode takes `delay_s` and returns `call<N>:<samples>`; `started` is set when one begins."""

    def __init__(self, delay_s: float = 0.3) -> None:
        self.delay_s = delay_s
        self.calls: list[int] = []
        self.started = threading.Event()

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[list[_Seg], None]:
        assert options["vad_filter"] is False and options["condition_on_previous_text"] is False
        self.calls.append(len(audio))
        self.started.set()
        time.sleep(self.delay_s)
        return [_Seg(f"call{len(self.calls)}:{len(audio)}")], None


def _setup(
    model: _FakeModel, status: PipelineStatus | None = None, **kw: Any
) -> tuple[AudioBus, SttListener, list[Transcript]]:
    bus = AudioBus(status)
    found: list[Transcript] = []
    lock = threading.Lock()

    def emit(event: Event) -> None:
        assert isinstance(event, Transcript), event
        with lock:
            found.append(event)

    kw.setdefault("turn_gap_ms", 0)  # one final per utterance here; turns are test_speech_turns.py's
    settings = SttSettings(policy=StreamingPolicy(end_pad_ms=0, **kw))
    stt = SttListener(bus, settings, emit, status, model=model)
    stt.start()
    tone = (np.sin(np.arange(4 * RATE) * 0.05) * 8000).astype(np.int16)
    for i in range(0, len(tone), 320):
        s = tone[i : i + 320]
        s.flags.writeable = False
        bus.publish(AudioChunk(i // 320, time.monotonic() * 1000.0, RATE, s, stream_sample=i))
    return bus, stt, found


def _wait(cond: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


PRE_ROLL = 300 * RATE // 1000  # VadSettings().pre_roll_ms


def test_speculative_decode_is_kept_when_the_end_is_confirmed() -> None:
    model = _FakeModel()
    bus, stt, found = _setup(model)
    stt.on_vad(SpeechEdge("start", 16000))
    stt.on_vad(SpeechEdge("tentative_end", 40000))
    assert model.started.wait(5.0)  # decoding before the end is confirmed
    assert found == []  # ...but nothing is emitted yet
    stt.on_vad(SpeechEdge("end", 40000))
    stt.on_vad(SpeechEdge("closed", 64000))
    bus.close()
    assert stt.join(5.0)
    assert model.calls == [40000 - 16000 + PRE_ROLL]  # one decode: the speculative one was used
    assert [t.text for t in found] == [f"call1:{model.calls[0]}"]
    assert found[0].final and (found[0].start_s, found[0].end_s) == (1.0, 2.5)
    assert found[0].latency_ms is not None and found[0].latency_ms > 0
    assert stt.worker.discarded == 0


def test_speculative_decode_is_discarded_when_speech_resumes() -> None:
    model = _FakeModel()
    bus, stt, found = _setup(model)
    stt.on_vad(SpeechEdge("start", 16000))
    stt.on_vad(SpeechEdge("tentative_end", 30000))
    assert model.started.wait(5.0)  # the speculative decode is running...
    stt.on_vad(SpeechEdge("resume", 30512))  # ...when speech resumes
    stt.on_vad(SpeechEdge("tentative_end", 48000))
    stt.on_vad(SpeechEdge("end", 48000))
    stt.on_vad(SpeechEdge("closed", 64000))
    bus.close()
    assert stt.join(5.0)
    full = 48000 - 16000 + PRE_ROLL
    assert model.calls == [30000 - 16000 + PRE_ROLL, full]
    assert [t.text for t in found] == [f"call2:{full}"]  # the discarded text never shows up
    assert stt.worker.discarded == 1


def test_queued_speculative_decode_is_dropped_without_running() -> None:
    model = _FakeModel(delay_s=0.5)
    bus, stt, found = _setup(model, partials_interval_ms=None)
    stt.on_vad(SpeechEdge("start", 4000))
    stt.on_vad(SpeechEdge("end", 12000))  # a final keeps the worker busy
    assert model.started.wait(5.0)
    stt.on_vad(SpeechEdge("start", 20000))
    stt.on_vad(SpeechEdge("tentative_end", 30000))  # queued behind the final
    stt.on_vad(SpeechEdge("resume", 30512))
    _wait(lambda: stt.worker.discarded == 1)
    stt.on_vad(SpeechEdge("end", 40000))
    stt.on_vad(SpeechEdge("closed", 64000))
    bus.close()
    assert stt.join(5.0)
    assert model.calls == [12000, 40000 - 20000 + PRE_ROLL]  # pre-roll clipped at stream start
    assert [t.start_s for t in found] == [0.25, 1.25]


def test_partials_are_emitted_while_speaking_and_not_final() -> None:
    model = _FakeModel(delay_s=0.05)
    bus, stt, found = _setup(model, partials_interval_ms=200)
    stt.on_vad(SpeechEdge("start", 16000))
    _wait(lambda: len(found) >= 1)
    stt.on_vad(SpeechEdge("end", 56000))
    stt.on_vad(SpeechEdge("closed", 64000))
    bus.close()
    assert stt.join(5.0)
    assert not found[0].final and found[0].latency_ms is None
    assert found[-1].final and found[-1].end_s == 3.5


def test_backlog_shows_finals_waiting_behind_a_slow_decoder() -> None:
    model, status = _FakeModel(delay_s=0.4), PipelineStatus()
    bus, stt, found = _setup(model, status)
    for start, end in ((4800, 8000), (16000, 24000), (32000, 40000)):
        stt.on_vad(SpeechEdge("start", start))
        stt.on_vad(SpeechEdge("end", end))
    queued_s = 2 * (8000 + PRE_ROLL) / RATE  # the 2nd and 3rd finals wait while the 1st decodes
    assert model.started.wait(5.0)
    _wait(lambda: status.stt_backlog_s == pytest.approx(queued_s))  # within the 1st decode's 0.4 s
    stt.on_vad(SpeechEdge("closed", 64000))
    bus.close()
    assert stt.join(5.0)
    assert len(found) == 3 and status.stt_backlog_s == 0.0 and status.inference_time_ms >= 400
