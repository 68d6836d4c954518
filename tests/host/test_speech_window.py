"""The short encoder window (speech/window.py): the trim, the loop check, and the real model on it."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from faster_whisper.transcribe import Segment
from picomic.speech import window
from picomic.speech.decode import DecodeOptions
from picomic.speech.models import ModelSettings
from picomic.speech.window import ShortWindowWhisper
from speech_support import RATE_HZ, set_entry, set_path, whisper_model


def _features(content: int, total: int = 3000) -> np.ndarray:
    f = np.zeros((80, total), np.float32)
    f[:, :content] = np.random.default_rng(1).uniform(-1.5, 1.0, (80, content)).astype(np.float32)
    return f


def _segment(text: str, tokens: int, ratio: float = 1.2) -> Segment:
    return Segment(0, 0, 0.0, 1.0, text, list(range(tokens)), -0.2, ratio, 0.05, None, 0.0)


def test_the_trim_keeps_the_audio_and_the_pad_of_its_zero_frames() -> None:
    f = _features(311)
    assert window.content_frames(f) == 311
    assert window.trimmed(f, 500).shape == (80, 811)
    assert window.trimmed(f, 5000).shape == (80, 3000)  # never longer than given
    batch = np.stack([_features(311), _features(900)])
    assert window.trimmed(batch, 100).shape == (2, 80, 1000)  # the longest item of a batch
    assert window.content_frames(np.zeros((80, 3000), np.float32)) == 0


@pytest.mark.parametrize(
    ("text", "loops"),
    [
        ("Just call the front desk. Just call the front desk. Just call the", True),
        ("And he loves the mountains. And he loves", True),
        ("Let us get started. Let us get started.", True),
        ("Just call the front desk.", False),
        ("If you need anything else tonight, just call the front desk and ask for Maria.", False),
        ("The old lighthouse on the northern coast has guided fishing boats through storms and fog.", False),
        ("no no no", False),
    ],
)
def test_a_text_whose_end_repeats_it_is_a_loop(text: str, loops: bool) -> None:
    assert window.repeats(text) is loops


def test_a_cut_looping_or_repetitive_decode_is_suspect() -> None:
    cap = window.token_cap(int(1.6 * RATE_HZ))
    assert cap == window.MIN_TOKENS + 16
    assert not window.suspect([_segment(" Just call the front desk.", 6)], cap, 2.4)
    assert window.suspect([_segment(" Just call the front desk just call", cap)], cap, 2.4)  # stopped at the cap
    assert window.suspect([_segment(" And he loves the mountains. And he loves", 10)], cap, 2.4)
    assert window.suspect([_segment(" Just call the front desk." * 9, 20, ratio=22.6)], cap, 2.4)


def test_the_encoder_runs_on_the_audio_plus_the_pad_and_on_the_full_window_when_asked() -> None:
    model = whisper_model()
    assert isinstance(model, ShortWindowWhisper) and model.pad_s == 5.0
    f = _features(311)
    assert model.encode(f).shape[1] == (311 + 500 + 1) // 2  # the encoder halves the frames (rounding up)
    with window.full_window(model):
        assert model.encode(f).shape[1] == 1500
    assert model.encode(f).shape[1] == (311 + 500 + 1) // 2


def test_a_piece_that_loops_on_the_short_window_still_decodes_right() -> None:
    """The second piece of p2 ("just call the front desk", 1.6 s) loops on pads of 4–8 s with tiny.en int8
    (faster-whisper 1.2.1, CTranslate2 4.8.5); the widening retries give its words whichever pad loops here."""
    pcm, _ = sf.read(set_path("p2_desk"), dtype="float32")
    start, end = set_entry("p2_desk")["sentences"][0]["segments"][1]
    clip = pcm[start - 3200 : end + 2400]
    kwargs = DecodeOptions().transcribe_kwargs("if you need anything else tonight.")
    text = " ".join(s.text for s in window.transcribe(whisper_model(), clip, kwargs)).lower()
    assert text.strip(" .") == "just call the front desk"


def test_the_cap_leaves_room_for_the_longest_prompt_and_hotwords() -> None:
    """Whisper reads and writes 448 tokens in all: with a 600-character prompt and hotwords the cap of a 25 s
    utterance (262 tokens) would pass that, and faster-whisper would refuse the decode."""
    pcm, _ = sf.read(set_path("u2_report"), dtype="float32")
    audio = np.concatenate([pcm, pcm[: 13 * RATE_HZ]])  # 25.4 s
    words = "Picomic INMP441 lighthouse quarterly Denver Maria " * 12
    options = DecodeOptions(initial_prompt=words[:600], hotwords=words[:600])
    model = whisper_model()
    kwargs = options.transcribe_kwargs()
    assert window.token_cap(len(audio)) > window.token_room(model, kwargs) > 0
    text = " ".join(s.text for s in window.transcribe(model, audio, kwargs)).lower()
    assert "quarterly report" in text


@pytest.mark.parametrize(("field", "value"), [("encoder_pad_s", 0.5), ("encoder_pad_s", 31.0), ("cpu_threads", -1)])
def test_model_settings_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ModelSettings(**{field: value})  # type: ignore[arg-type]
