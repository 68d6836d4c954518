"""The wake word: the packaged model hears the TTS fixture's phrase (and nothing in the other speech fixtures),
and the gate passes on only the utterance that follows a detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event, WakeDetection
from picomic.errors import ModelError
from picomic.speech.edges import SpeechEdge
from picomic.speech.transcribe import feed_chunks
from picomic.speech.wake import HEARD_ALL, WakeGate, WakeListener
from picomic.speech.wakeword import WakeDetector, wake_model_names
from speech_support import FIXTURES, load_pcm

WAKE = json.loads((FIXTURES / "wake.json").read_text())
S = 16  # 16 kHz samples per ms


def _detections(pcm: np.ndarray, model: str = "okay_nabu") -> tuple[list[int], list[Event]]:
    bus, events = AudioBus(), []
    listener = WakeListener(bus, model, events.append)
    listener.start()
    feed_chunks(bus, pcm, 16000, chunk_ms=10)
    assert listener.join(30)
    return listener.detections, events


def test_the_packaged_models_are_listed_by_file_stem() -> None:
    assert {"okay_nabu", "hey_jarvis"} <= set(wake_model_names())
    with pytest.raises(ModelError, match="okay_nabu"):
        WakeDetector("okay_google")


def test_the_fixture_phrase_is_detected_once_right_after_it_is_said() -> None:
    import soundfile as sf

    pcm, _ = sf.read(FIXTURES / WAKE["file"], dtype="int16")
    found, events = _detections(np.asarray(pcm, np.int16))
    _phrase_start, phrase_end = WAKE["segments"][1]
    assert len(found) == 1
    assert phrase_end - 200 * S <= found[0] <= phrase_end + 600 * S
    assert events == [WakeDetection("okay_nabu", found[0] / 16000)]


@pytest.mark.parametrize("name", ["utt1_box", "utt2_lights", "utt3_coffee", "utt4_weather", "utt5_meeting"])
def test_other_speech_does_not_wake_it(name: str) -> None:
    assert _detections(load_pcm(name))[0] == []


def _gate(heard: int = HEARD_ALL) -> tuple[WakeGate, list[SpeechEdge]]:
    """A gate whose wake listener has heard up to `heard` (by default: all of it, the listener ran ahead)."""
    out: list[SpeechEdge] = []
    gate = WakeGate(out.append, timeout_s=8.0, min_command_ms=400)
    gate.heard(heard)
    return gate, out


def test_without_a_detection_nothing_but_closed_passes() -> None:
    gate, out = _gate()
    for edge in (SpeechEdge("start", 100), SpeechEdge("tentative_end", 900), SpeechEdge("end", 1000)):
        gate.on_vad(edge)
    gate.on_vad(SpeechEdge("closed", 2000))
    assert out == [SpeechEdge("closed", 2000)]


def test_only_the_next_utterance_after_a_detection_passes() -> None:
    gate, out = _gate()
    gate.on_detection(10_000)
    nxt = [SpeechEdge("start", 20_000), SpeechEdge("tentative_end", 40_000), SpeechEdge("resume", 41_000),
           SpeechEdge("end", 50_000)]  # fmt: skip
    for edge in [*nxt, SpeechEdge("start", 60_000), SpeechEdge("end", 70_000)]:
        gate.on_vad(edge)
    assert out == nxt


def test_a_detection_expires_after_8_seconds() -> None:
    gate, out = _gate()
    gate.on_detection(0)
    gate.on_vad(SpeechEdge("start", 8 * 16000 + 1))
    gate.on_vad(SpeechEdge("end", 9 * 16000))
    assert out == []


def test_a_command_said_without_a_pause_starts_at_the_detection() -> None:
    gate, out = _gate()
    gate.on_vad(SpeechEdge("start", 1000))  # "okay nabu turn on the lights": one utterance
    gate.on_detection(15_000)
    gate.on_vad(SpeechEdge("end", 40_000))
    assert out == [SpeechEdge("start", 15_000), SpeechEdge("end", 40_000)]


def test_a_phrase_said_alone_waits_for_the_next_utterance() -> None:
    gate, out = _gate()
    gate.on_vad(SpeechEdge("start", 1000))
    gate.on_detection(15_000)
    gate.on_vad(SpeechEdge("end", 15_000 + 100 * S))  # only 100 ms after the detection: the phrase alone
    gate.on_vad(SpeechEdge("start", 40_000))
    gate.on_vad(SpeechEdge("end", 60_000))
    assert out == [SpeechEdge("start", 40_000), SpeechEdge("end", 60_000)]


def test_a_detection_that_arrives_before_the_start_of_its_utterance_edge_counts_inside_it() -> None:
    gate, out = _gate()
    gate.on_detection(15_000)  # the wake thread ran ahead of the VAD
    gate.on_vad(SpeechEdge("start", 1000))
    gate.on_vad(SpeechEdge("end", 15_000 + 50 * S))
    gate.on_vad(SpeechEdge("start", 30_000))
    gate.on_vad(SpeechEdge("end", 50_000))
    assert out == [SpeechEdge("start", 30_000), SpeechEdge("end", 50_000)]


def test_a_wake_listener_behind_the_vad_still_finds_the_command() -> None:
    gate, out = _gate(heard=0)  # the VAD has heard the phrase and the whole command; the wake thread has not
    phrase = [SpeechEdge("start", 1000), SpeechEdge("end", 14_000)]
    command = [SpeechEdge("start", 20_000), SpeechEdge("tentative_end", 40_000), SpeechEdge("end", 45_000)]
    for edge in [*phrase, *command, SpeechEdge("closed", 60_000)]:
        gate.on_vad(edge)
    assert out == []
    gate.heard(15_000)
    gate.on_detection(15_500)  # right after the phrase
    gate.heard(30_000)
    assert out == command[:1]
    gate.heard(50_000)
    assert out == command
    gate.heard(HEARD_ALL)  # the listener stopped: nothing can wake it any more
    assert out == [*command, SpeechEdge("closed", 60_000)]


def test_closed_waits_for_the_wake_listener_to_stop() -> None:
    gate, out = _gate(heard=0)
    gate.on_vad(SpeechEdge("closed", 10_000))
    gate.heard(20_000)
    assert out == []
    gate.on_detection(19_000)  # in the tail the VAD closed on: no utterance follows it
    gate.heard(HEARD_ALL)
    assert out == [SpeechEdge("closed", 10_000)]


def test_the_listener_reports_how_far_it_has_heard_and_when_it_stops() -> None:
    bus, heard = AudioBus(), []
    listener = WakeListener(bus, "okay_nabu")
    listener.add_progress_callback(heard.append)
    listener.start()
    feed_chunks(bus, np.zeros(16000, np.int16), 16000, chunk_ms=10)
    assert listener.join(30)
    assert heard[-1] == HEARD_ALL
    assert heard[:-1] == sorted(heard[:-1]) and 15000 <= heard[-2] <= 16000
