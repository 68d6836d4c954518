"""Endpointing from the speculative text (speech/endpoint.py, SttListener) with the real model: an utterance
whose text ends a sentence ends after sentence_end_ms of silence, any other waits up to open_end_ms."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from picomic.bench.stt import wer_counts
from picomic.bus.events import Transcript, TranscriptRevision
from picomic.speech.endpoint import ends_sentence
from picomic.speech.stt import StreamingPolicy, SttSettings
from picomic.speech.turns import best_finals
from speech_support import RATE_HZ, full_window_model, set_entry, set_path, speech_events

# Same settings for both files: end 200 ms after a sentence end, else wait up to 1.3 s; no turns (one final
# per utterance, so the segmentation shows).
TEXT_DRIVEN = SttSettings(policy=StreamingPolicy(sentence_end_ms=200, open_end_ms=1300, turn_gap_ms=0))
FIXED_WAIT = SttSettings(policy=StreamingPolicy(sentence_end_ms=1300, open_end_ms=1300, turn_gap_ms=0))


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("The package should be delivered.", True),
        ("Is it ready?", True),
        ('He said "stop!"', True),
        ("Before we start the meeting...", False),
        ("Before we start the meeting…", False),
        ("please make sure", False),
        ("tonight,", False),
        ("", False),
    ],
)
def test_ends_sentence(text: str, ends: bool) -> None:
    assert ends_sentence(text) is ends


def _finals(name: str, settings: SttSettings) -> list[Transcript]:
    return [x for x in speech_events(set_path(name), settings) if isinstance(x, Transcript) and x.final]


def test_a_sentence_end_before_a_pause_ends_the_utterance_there() -> None:
    e = set_entry("p3_package")  # "The package should be delivered." 1.2 s pause "sometime between ..."
    first_end = e["sentences"][0]["segments"][0][1] / RATE_HZ
    finals = _finals("p3_package", TEXT_DRIVEN)
    assert len(finals) == 2 and finals[0].text.endswith(".")
    assert abs(finals[0].end_s - first_end) <= 0.1
    assert len(_finals("p3_package", FIXED_WAIT)) == 1  # the 1.2 s pause is shorter than the fixed wait


def test_text_that_does_not_end_a_sentence_waits_out_the_pauses() -> None:
    # "Before we start the meeting..." 0.7 s "please make sure" 1.0 s "that your microphones are muted." On the
    # full window Whisper leaves both fragments open; on the short one it ends "please make sure." (next test).
    events = speech_events(set_path("p5_muted"), TEXT_DRIVEN, model=full_window_model())
    finals = [x for x in events if isinstance(x, Transcript) and x.final]
    assert len(finals) == 1, [t.text for t in finals]
    assert "muted" in finals[0].text.lower()


def test_a_fragment_punctuated_as_a_sentence_is_made_whole_by_its_turn() -> None:
    events = speech_events(set_path("p5_muted"))  # the defaults: the short window, turns on
    (best,) = best_finals(events)
    errors, _ = wer_counts([set_entry("p5_muted")["text"]], [best.text])
    assert errors <= 1, best.text


def test_a_stream_ending_inside_a_pause_ends_the_utterance_at_its_onset(tmp_path: Path) -> None:
    e = set_entry("p5_muted")
    _, end = e["sentences"][0]["segments"][1]  # "... please make sure": no sentence end, STT waits up to 1.3 s
    pcm, _ = sf.read(set_path("p5_muted"), dtype="int16")
    path = tmp_path / "cut.wav"
    sf.write(path, pcm[: end + 600 * RATE_HZ // 1000], RATE_HZ)  # the stream stops 0.6 s into the pause
    finals = [x for x in speech_events(path, TEXT_DRIVEN) if isinstance(x, Transcript) and x.final]
    assert len(finals) == 1 and "make sure" in finals[0].text.lower()
    assert abs(finals[0].end_s - end / RATE_HZ) <= 0.1  # not the stream's end


@pytest.mark.slow
def test_finals_depend_on_sample_positions_only() -> None:
    """Real-time pace and file mode (VAD running ahead) give the same finals and revisions (DECISIONS 42)."""

    def shape(events: list[Transcript | TranscriptRevision]) -> list[tuple[str, str, float, float]]:
        finals = [e for e in events if isinstance(e, TranscriptRevision) or e.final]
        return [(type(e).__name__, e.text, e.start_s, e.end_s) for e in finals]

    live = speech_events(set_path("p2_desk"), realtime=True)
    fast = speech_events(set_path("p2_desk"), realtime=False)
    assert shape(live) == shape(fast) and len(shape(fast)) >= 2
