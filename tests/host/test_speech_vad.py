"""vad.py: Silero v6 streamed with carried state, hysteresis, edges vs known fixture edges, the listener."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import Event, VadEvent
from picomic.speech.edges import SpeechEdge
from picomic.speech.vad import StreamingVad, VadListener, VadSettings, default_vad_model_path
from speech_support import RATE_HZ, entry, load_pcm, manifest, white_noise

TOLERANCE_SAMPLES = RATE_HZ // 10  # 100 ms


def _f32(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def _edges(pcm: np.ndarray, settings: VadSettings | None = None, chunk: int = 320) -> list[SpeechEdge]:
    vad = StreamingVad(settings)
    x = _f32(pcm)
    out: list[SpeechEdge] = []
    for i in range(0, len(x), chunk):
        out += vad.process(x[i : i + chunk])
    return out + vad.close()


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"start_threshold": 1.2}, "between 0 and 1"),
        ({"end_threshold": 0.6}, "lower end_threshold"),
        ({"min_silence_ms": -1}, ">= 0 ms"),
        ({"window_samples": 256}, "window_samples=512"),
    ],
)
def test_settings_are_validated_with_a_fix(kwargs: dict[str, Any], hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        VadSettings(**kwargs)


def test_streaming_matches_faster_whisper_whole_file_probabilities() -> None:
    """Carried h/c and 64-sample context: odd-sized chunks give the probabilities of one whole-file run."""
    from faster_whisper.vad import SileroVADModel

    x = _f32(load_pcm("utt3"))
    x = x[: len(x) // 512 * 512]
    reference = np.asarray(SileroVADModel(default_vad_model_path())(x)).reshape(-1)
    vad = StreamingVad()
    probs = []
    for i in range(0, len(x), 777):
        vad.process(x[i : i + 777])
        probs.append(vad.last_probs)
    streamed = np.concatenate(probs)
    assert len(streamed) == len(reference)
    np.testing.assert_allclose(streamed, reference, atol=1e-4)
    assert streamed.max() > 0.9 and streamed.min() < 0.1  # a real signal, not a constant


def test_edges_are_within_100_ms_of_the_known_speech_edges() -> None:
    for e in manifest()["files"]:
        edges = _edges(load_pcm(e["file"].split(".")[0]))
        starts = [x.sample16 for x in edges if x.kind == "start"]
        ends = [x.sample16 for x in edges if x.kind == "end"]
        assert abs(starts[0] - e["speech_start_sample"]) <= TOLERANCE_SAMPLES, e["file"]
        assert abs(ends[-1] - e["speech_end_sample"]) <= TOLERANCE_SAMPLES, e["file"]
        # a 1.2 s pause splits (min_silence 500 ms); a 400 ms pause does not
        assert len(starts) == len(ends) == (2 if e["pause_ms"] > 500 else 1), e["file"]
        if e["pause_ms"] > 500:
            (_, end0), (start1, _) = e["segments"]
            assert abs(ends[0] - end0) <= TOLERANCE_SAMPLES and abs(starts[1] - start1) <= TOLERANCE_SAMPLES


@pytest.mark.parametrize("signal", ["silence", "noise"])
def test_silence_and_white_noise_have_no_speech(signal: str) -> None:
    pcm = np.zeros(5 * RATE_HZ, np.int16) if signal == "silence" else white_noise(5.0, 0.1)
    assert _edges(pcm) == []


class _ScriptedSession:
    """Stands in for the ONNX session: returns scripted probabilities, one per window."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)

    def run(self, _names: object, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = feeds["input"].shape[0]
        assert feeds["input"].shape[1] == 576  # 64 context + 512 window
        out, self.probs = self.probs[:n], self.probs[n:]
        return np.array(out, np.float32), feeds["h"], feeds["c"]


def test_hysteresis_tentative_end_resume_end_and_blip_rejection() -> None:
    settings = VadSettings(min_speech_ms=64, min_silence_ms=128, tentative_end_ms=0)  # 2 and 4 windows
    probs = [0.1, 0.1, 0.9, 0.9, 0.9, 0.2, 0.4, 0.8, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    vad = StreamingVad(settings)
    vad._session = _ScriptedSession(probs)
    edges = vad.process(np.zeros(len(probs) * 512, np.float32)) + vad.close()
    w = 512
    assert edges == [
        SpeechEdge("start", 2 * w),
        SpeechEdge("tentative_end", 5 * w),  # 0.2 < end_threshold
        SpeechEdge("resume", 7 * w),  # 0.4 sits between the thresholds: still silence; 0.8 resumes
        SpeechEdge("tentative_end", 9 * w),
        SpeechEdge("end", 9 * w),  # 4 windows of silence confirm, at the silence onset
    ]  # the one-window blip at 13 is shorter than min_speech: no start


def test_tentative_end_waits_for_the_silence_to_hold() -> None:
    """tentative_end_ms=64 (2 windows): a one-window gap between words announces nothing."""
    settings = VadSettings(min_speech_ms=32, min_silence_ms=160, tentative_end_ms=64)
    probs = [0.9, 0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    vad = StreamingVad(settings)
    vad._session = _ScriptedSession(probs)
    edges = vad.process(np.zeros(len(probs) * 512, np.float32))
    w = 512
    assert edges == [
        SpeechEdge("start", 0),
        SpeechEdge("tentative_end", 5 * w),  # announced after 2 silent windows, at the onset
        SpeechEdge("resume", 7 * w),
        SpeechEdge("tentative_end", 8 * w),
        SpeechEdge("end", 8 * w),
    ]


def test_close_ends_open_speech_at_the_current_position() -> None:
    vad = StreamingVad(VadSettings(min_speech_ms=32))
    vad._session = _ScriptedSession([0.9] * 10)
    edges = vad.process(np.zeros(10 * 512 + 100, np.float32))
    assert edges == [SpeechEdge("start", 0)]
    assert vad.close() == [SpeechEdge("end", 10 * 512 + 100)]


def _run_listener(chunks: list[AudioChunk]) -> tuple[list[Event], list[SpeechEdge]]:
    bus = AudioBus()
    events: list[Event] = []
    edges: list[SpeechEdge] = []
    lock = threading.Lock()

    def emit(ev: Event) -> None:
        with lock:
            events.append(ev)

    vad = VadListener(bus, VadSettings(), emit, on_vad=edges.append)
    vad.start()
    for c in chunks:
        bus.publish(c)
    bus.close()
    assert vad.join(10.0)
    assert vad.error is None
    return events, edges


def _chunks(pcm: np.ndarray, rate: int, n: int, offset: int = 0, seq0: int = 0) -> list[AudioChunk]:
    out = []
    for k, i in enumerate(range(0, len(pcm), n)):
        s = pcm[i : i + n]
        s.flags.writeable = False
        out.append(AudioChunk(seq0 + k, 1000.0 * (offset + i) / rate, rate, s, stream_sample=offset + i))
    return out


def test_listener_emits_vad_events_at_the_edges() -> None:
    e = entry("edges")
    events, edges = _run_listener(_chunks(load_pcm("edges"), RATE_HZ, 320))
    vad_events = [ev for ev in events if isinstance(ev, VadEvent)]
    assert [ev.event for ev in vad_events] == ["start", "end"]
    assert abs(vad_events[0].sample - e["speech_start_sample"]) <= TOLERANCE_SAMPLES
    assert abs(vad_events[1].sample - e["speech_end_sample"]) <= TOLERANCE_SAMPLES
    assert all(ev.t_s == ev.sample / RATE_HZ for ev in vad_events)
    assert edges[-1].kind == "closed"


def test_listener_resamples_48k_and_reports_samples_at_the_bus_rate() -> None:
    e = entry("edges")
    pcm16 = load_pcm("edges").astype(np.float64)
    pcm48 = np.interp(np.arange(len(pcm16) * 3) / 3, np.arange(len(pcm16)), pcm16).astype(np.int16)
    events, _ = _run_listener(_chunks(pcm48, 48000, 960))
    vad_events = [ev for ev in events if isinstance(ev, VadEvent)]
    assert [ev.event for ev in vad_events] == ["start", "end"]
    assert abs(vad_events[0].sample - 3 * e["speech_start_sample"]) <= 3 * TOLERANCE_SAMPLES
    assert abs(vad_events[1].sample - 3 * e["speech_end_sample"]) <= 3 * TOLERANCE_SAMPLES
    assert abs(vad_events[1].t_s - e["speech_end_sample"] / RATE_HZ) <= 0.1


def test_stream_gap_and_bus_close_end_open_speech() -> None:
    """Speech cut by a gap longer than the gap bound ends at the gap; speech cut by the end of stream ends there."""
    pcm = load_pcm("utt4")
    cut = 2 * RATE_HZ  # mid-sentence
    gap = 6 * RATE_HZ  # longer than DEFAULT_MAX_GAP_S (5 s): a discontinuity, not bridged
    chunks = _chunks(pcm[:cut], RATE_HZ, 320) + _chunks(pcm[:cut], RATE_HZ, 320, offset=cut + gap, seq0=1000)
    events, edges = _run_listener(chunks)
    kinds = [(ev.event, ev.sample) for ev in events if isinstance(ev, VadEvent)]
    assert [k for k, _ in kinds] == ["start", "end", "start", "end"]
    assert cut - 1024 <= kinds[1][1] <= cut  # ended at the gap, not after it
    assert kinds[2][1] >= cut + gap  # the next segment lives after the gap
    assert cut + gap + cut - 1024 <= kinds[3][1] <= 2 * cut + gap  # closed at end of stream
    assert edges[-1] == SpeechEdge("closed", 2 * cut + gap)
