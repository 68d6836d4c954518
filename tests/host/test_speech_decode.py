"""decode.py with the real model: hotwords and initial prompt reach faster-whisper on every decode (and a later
piece's prompt carries its turn's text), word timestamps on finals sit on the stream timeline."""

from __future__ import annotations

from typing import Any

import pytest
from picomic.speech.decode import DecodeOptions
from picomic.speech.stt import StreamingPolicy, SttSettings
from picomic.speech.transcribe import transcribe_file
from speech_support import RATE_HZ, set_entry, set_path, whisper_model


class _Recording:
    """The real model, with every `transcribe` call's keyword arguments kept (a spy, not a stand-in)."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, []  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def transcribe(self, audio: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.model.transcribe(audio, **kwargs)


def test_hotwords_and_initial_prompt_reach_every_decode() -> None:
    spy = _Recording(whisper_model())
    options = DecodeOptions(hotwords="Maria", initial_prompt="Hotel reception.")
    found = transcribe_file(set_path("p2_desk"), SttSettings(decode=options), model=spy)
    assert "maria" in " ".join(t.text for t in found).lower()
    assert spy.calls and all(c["hotwords"] == "Maria" for c in spy.calls)
    assert all(str(c["initial_prompt"]).startswith("Hotel reception.") for c in spy.calls)


def test_a_piece_decoded_alone_reads_its_turns_text_as_prompt() -> None:
    spy = _Recording(whisper_model())
    # partials decode the open piece alone: once a turn has a first piece, its text is their prompt
    settings = SttSettings(policy=StreamingPolicy(partials_interval_ms=100))
    from speech_support import speech_events

    speech_events(set_path("p3_package"), settings, realtime=True, model=spy)
    prompts = [c["initial_prompt"] for c in spy.calls if c["initial_prompt"]]
    assert any("package should be delivered" in p.lower() for p in prompts), prompts


def test_prompt_options_are_validated() -> None:
    with pytest.raises(ValueError, match="initial_prompt"):
        DecodeOptions(initial_prompt="x" * 601)


def test_word_timestamps_on_finals_follow_the_speech() -> None:
    e = set_entry("u3_plants")
    settings = SttSettings(decode=DecodeOptions(word_timestamps=True))
    (final,) = transcribe_file(set_path("u3_plants"), settings, model=whisper_model())
    assert final.words is not None
    words = final.words
    assert [w["word"] for w in words] == final.text.split()
    starts = [float(w["start_s"]) for w in words]  # type: ignore[arg-type]
    ends = [float(w["end_s"]) for w in words]  # type: ignore[arg-type]
    assert starts == sorted(starts) and all(a <= b for a, b in zip(starts, ends, strict=True))
    sentence = e["sentences"][0]
    assert abs(starts[0] - sentence["start_sample"] / RATE_HZ) <= 0.3
    assert abs(ends[-1] - sentence["end_sample"] / RATE_HZ) <= 0.4
    plain = transcribe_file(set_path("u3_plants"), model=whisper_model())
    assert plain[0].words is None and "words" not in plain[0].to_json()
