"""stt.py with the real default model (tiny.en int8): WER on the fixtures, no transcript for non-speech,
latency measured from the last voiced sample, flush at end of stream, --no-vad windows."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.bench.stt import wer_counts
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event, Transcript, TranscriptRevision
from picomic.bus.status import PipelineStatus
from picomic.speech.decode import DecodeOptions
from picomic.speech.stt import StreamingPolicy, SttListener, SttSettings
from picomic.speech.transcribe import feed_chunks, transcribe_file
from picomic.speech.turns import best_finals
from picomic.speech.vad import VadListener, VadSettings
from speech_support import FIXTURES, RATE_HZ, load_pcm, manifest, whisper_model, white_noise

MAX_WER = 0.10  # DECISIONS 26; with ~70 reference words: at most 7 word errors in total


def test_fixture_transcripts_match_the_expected_words() -> None:
    refs, hyps = [], []
    for e in manifest()["files"]:
        found = transcribe_file(FIXTURES / e["file"], model=whisper_model())
        assert all(t.final and t.latency_ms is None for t in found)
        refs.append(e["text"])
        hyps.append(" ".join(t.text for t in found))
    errors, words = wer_counts(refs, hyps)
    assert words >= 60
    assert errors <= int(MAX_WER * words), list(zip(refs, hyps, strict=True))


def test_utterances_split_at_a_long_pause_with_stream_times() -> None:
    e = next(x for x in manifest()["files"] if x["pause_ms"] > 1000)
    no_turns = SttSettings(policy=StreamingPolicy(turn_gap_ms=0))
    found = transcribe_file(FIXTURES / e["file"], no_turns, model=whisper_model())
    assert len(found) == 2
    for t, (first, end) in zip(found, e["segments"], strict=True):
        assert abs(t.start_s - first / RATE_HZ) <= 0.1 and abs(t.end_s - end / RATE_HZ) <= 0.1
    (turn,) = transcribe_file(FIXTURES / e["file"], model=whisper_model())  # a 1.2 s pause: one turn
    assert abs(turn.start_s - e["segments"][0][0] / RATE_HZ) <= 0.1
    assert abs(turn.end_s - e["segments"][-1][1] / RATE_HZ) <= 0.1
    assert "morning" in turn.text.lower() and "update" in turn.text.lower()


@pytest.mark.parametrize("use_vad", [True, False])
@pytest.mark.parametrize("signal", ["silence", "noise"])
def test_silence_and_white_noise_give_no_transcript(tmp_path: Path, signal: str, use_vad: bool) -> None:
    pcm = np.zeros(6 * RATE_HZ, np.int16) if signal == "silence" else white_noise(6.0, 0.1)
    path = tmp_path / f"{signal}.wav"
    sf.write(path, pcm, RATE_HZ, subtype="PCM_16")
    assert transcribe_file(path, model=whisper_model(), use_vad=use_vad) == []


def test_no_vad_mode_transcribes_fixed_windows() -> None:
    demo = Path(__file__).resolve().parents[2] / "host" / "picomic" / "data" / "demo_speech.flac"
    found = transcribe_file(
        demo, SttSettings(policy=StreamingPolicy(window_s=5.0, use_vad=False)), model=whisper_model()
    )
    assert [round(t.start_s, 3) for t in found] == [0.0, 5.0]
    text = " ".join(t.text for t in found).lower()
    assert "raspberry pi" in text and "microphone" in text


def _live(pcm: np.ndarray, settings: SttSettings, realtime: bool) -> tuple[list[Event], PipelineStatus]:
    bus, status = AudioBus(), PipelineStatus()
    found: list[Event] = []
    lock = threading.Lock()

    def emit(event: Event) -> None:
        if isinstance(event, (Transcript, TranscriptRevision)):
            with lock:
                found.append(event)

    vad = VadListener(bus, VadSettings(), emit, status)
    stt = SttListener(bus, settings, emit, status, vad=vad, model=whisper_model())
    vad.start()
    stt.start()
    feed_chunks(bus, pcm, RATE_HZ, chunk_ms=20, realtime=realtime)
    vad.finish(10.0)
    stt.finish(20.0)
    assert stt.error is None and vad.error is None
    return found, status


def test_real_time_final_latency_counts_from_the_last_voiced_sample() -> None:
    """Live pace: latency >= the silence window, and the speculative decode hides most of the decode."""
    found, status = _live(load_pcm("utt4"), SttSettings(), realtime=True)
    finals = [t for t in found if isinstance(t, Transcript) and t.final]
    assert len(finals) == 1 and "breeze" in finals[0].text.lower()
    latency = finals[0].latency_ms
    assert latency is not None
    assert StreamingPolicy().sentence_end_ms <= latency <= 2500  # the text ends a sentence: no VAD end awaited
    assert status.inference_time_ms > 0 and status.stt_backlog_s == 0.0


def test_end_of_stream_mid_utterance_still_emits_the_last_transcript() -> None:
    pcm = load_pcm("utt2")[: int(2.5 * RATE_HZ)]  # cut inside the sentence: no trailing silence
    events, _ = _live(pcm, SttSettings(policy=StreamingPolicy(partials_interval_ms=None)), realtime=False)
    found = best_finals(events)  # a pause inside may split it into pieces: their turn's revision is one final
    assert len(found) == 1 and found[0].final
    assert "kitchen" in found[0].text.lower()
    assert found[0].end_s == pytest.approx(len(pcm) / RATE_HZ, abs=0.05)


@pytest.mark.parametrize(
    ("options", "kwargs", "hint"),
    [
        (DecodeOptions, {"beam_size": 0}, "beam_size"),
        (StreamingPolicy, {"partials_interval_ms": 10}, "partials_interval_ms"),
        (StreamingPolicy, {"max_utterance_s": 40}, "Whisper sees 30 s"),
    ],
)
def test_settings_are_validated_with_a_fix(options: type, kwargs: dict[str, object], hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        options(**kwargs)
