"""Babble after an utterance, with noise suppression on, gives no words (issue 19): WebRTC suppression lets the VAD
end the utterance and start again on the suppressed babble, a piece of its own far below the voice; the guard's
background test (speech/foreground.py, DecodeOptions.guard_background_db) drops what Whisper is unsure of there.
The tracker and the decode worker's use of it with a scripted model, then the bench's mixture with the real ones."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from picomic.bench.noise import load_speech_set, mix, mixture_length, noise
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event, Transcript
from picomic.speech.decode import DecodeOptions
from picomic.speech.foreground import ForegroundLevel, level_dbfs
from picomic.speech.stt import SttSettings
from picomic.speech.transcribe import transcribe_pcm
from picomic.speech.worker import DecodeWorker, Job
from picomic.stages.chain import StageSettings, add_stages, build_processors, speech_stream
from speech_support import FIXTURES, whisper_model

S = 16000  # samples per second on the 16 kHz timeline


def test_level_dbfs_of_a_sine_and_of_silence() -> None:
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(S) / S)).astype(np.float32)
    assert level_dbfs(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)  # -9.03 dBFS
    assert level_dbfs(np.zeros(S, np.float32)) == -120.0
    assert level_dbfs(np.zeros(0, np.float32)) == -120.0


def test_background_is_far_below_the_last_final_while_it_holds() -> None:
    fg = ForegroundLevel(below_db=15.0)
    assert not fg.is_background(-60.0, 0)  # no final yet: nothing is background
    fg.heard(-20.0, end16=10 * S)
    assert fg.is_background(-35.0, 11 * S)  # 15 dB below
    assert not fg.is_background(-34.0, 11 * S)  # 14 dB below: foreground
    assert fg.is_background(-50.0, 10 * S + fg.hold_samples)  # still held at the end of the hold
    assert not fg.is_background(-50.0, 10 * S + fg.hold_samples + 1)  # then forgotten
    assert not fg.is_background(-50.0, 5 * S)  # before the reference (a new epoch restarted the timeline)
    fg.heard(-40.0, end16=20 * S)  # a quieter final is the new reference
    assert not fg.is_background(-50.0, 21 * S)


def test_zero_below_db_turns_the_test_off() -> None:
    fg = ForegroundLevel(below_db=0.0)
    fg.heard(-10.0, end16=S)
    assert not fg.is_background(-100.0, 2 * S)


def _segment(text: str, avg_logprob: float, no_speech_prob: float = 0.3) -> SimpleNamespace:
    return SimpleNamespace(text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob, compression_ratio=1.0)


def test_background_drops_only_the_segments_whisper_is_unsure_of() -> None:
    options = DecodeOptions()
    unsure, sure = _segment(" Well, how much?", -0.93, 0.33), _segment(" Turn it off.", -0.3, 0.33)
    assert not options.rejects(unsure)  # past faster-whisper's pair and the no_speech pair
    assert options.rejects(unsure, background=True)
    assert not options.rejects(sure, background=True)


def test_guard_background_db_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="guard_background_db"):
        DecodeOptions(guard_background_db=-1.0)


class ScriptedModel:
    """Whisper stand-in: every decode is one segment with this text and avg_logprob; the audio levels it got."""

    def __init__(self, text: str, avg_logprob: float) -> None:
        self.segment = _segment(" " + text, avg_logprob)
        self.levels: list[float] = []

    def transcribe(self, audio: np.ndarray, **_kwargs: Any) -> tuple[list[SimpleNamespace], None]:
        self.levels.append(level_dbfs(audio))
        return [self.segment], None


def _tone(dbfs: float, seconds: float = 1.0) -> np.ndarray:
    amplitude = np.sqrt(2) * 10 ** (dbfs / 20)
    return (amplitude * np.sin(2 * np.pi * 300 * np.arange(int(seconds * S)) / S)).astype(np.float32)


@pytest.mark.parametrize(("guard_db", "kept"), [(15.0, ["loud", "loud again"]), (0.0, ["loud", "quiet", "loud again"])])
def test_the_worker_drops_an_unsure_quiet_piece_after_a_loud_final(guard_db: float, kept: list[str]) -> None:
    finals: list[str] = []
    lock = threading.Lock()

    def emit(event: Event) -> None:
        if isinstance(event, Transcript):
            with lock:
                finals.append(event.text)

    model = ScriptedModel("words", avg_logprob=-0.9)  # unsure: only the background test can drop it
    worker = DecodeWorker(model, DecodeOptions(guard_background_db=guard_db), emit, None)
    try:
        for text, dbfs, start_s in (("loud", -20.0, 1), ("quiet", -38.0, 3), ("loud again", -21.0, 5)):
            model.segment = _segment(" " + text, -0.9)
            worker.submit(Job(_tone(dbfs), start_s * S, (start_s + 1) * S))
            assert worker.wait_idle(10.0)
    finally:
        worker.close()
    assert finals == kept
    assert model.levels == pytest.approx([-20.0, -38.0, -21.0], abs=0.05)


def _suppressed_babble_mixture() -> tuple[np.ndarray, str]:
    """The stage bench's babble-at-20-dB mixture of utt5_meeting (bench/noise.py, seed 100 + its index) and its
    text: with WebRTC suppression level 2 the VAD re-starts on the babble 2.1 s after the utterance."""
    utterances = load_speech_set(Path(FIXTURES))
    i = next(k for k, u in enumerate(utterances) if u.name == "utt5_meeting")
    utt = utterances[i]
    pcm, _spans = mix(utt, noise("babble", mixture_length(utt), seed=100 + i, voices=utterances), 20)
    return pcm, utt.text


def _transcribe_suppressed(pcm: np.ndarray, settings: SttSettings) -> str:
    bus = AudioBus()
    stages = add_stages(bus, build_processors(StageSettings(noise_suppression=2)))
    for stage in stages:
        stage.start()
    finals = transcribe_pcm(pcm, settings, model=whisper_model(), chunk_ms=10, bus=bus, stream=speech_stream(stages))
    for stage in stages:
        stage.finish(10.0)
    return " ".join(t.text for t in finals)


def test_suppressed_babble_after_the_utterance_gives_no_words() -> None:
    pcm, text = _suppressed_babble_mixture()
    words = len(text.split())
    guarded = _transcribe_suppressed(pcm, SttSettings())
    assert guarded.startswith("Good morning everyone")
    assert len(guarded.split()) == words  # the utterance, nothing after it
    unguarded = _transcribe_suppressed(pcm, replace(SttSettings(), decode=DecodeOptions(guard_background_db=0.0)))
    assert len(unguarded.split()) > words  # without the background test the babble became words
