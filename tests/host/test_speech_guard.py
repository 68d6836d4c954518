"""No text from noise: the noise-only files of the harder set give no final, through the real VAD and model;
without picomic's guard pair Whisper says "Thank you." to the babble (so the guard is what removes it)."""

from __future__ import annotations

import pytest
from picomic.speech.decode import DecodeOptions
from picomic.speech.stt import SttSettings
from picomic.speech.transcribe import transcribe_file
from speech_support import set_manifest, set_path, whisper_model

NOISE = [e["file"].removesuffix(".flac") for e in set_manifest()["files"] if e["kind"] == "noise"]


@pytest.mark.parametrize("name", NOISE)
def test_noise_only_files_give_no_final_text(name: str) -> None:
    assert transcribe_file(set_path(name), model=whisper_model()) == []


def test_the_guard_is_what_silences_the_babble() -> None:
    unguarded = SttSettings(decode=DecodeOptions(guard_no_speech_prob=1.0))
    found = transcribe_file(set_path("n3_babble"), unguarded, model=whisper_model())
    assert found and all(t.text for t in found)  # Whisper's own thresholds let a hallucination through


def test_the_guard_keeps_speech_of_the_noisy_session() -> None:
    found = transcribe_file(set_path("s1_show"), model=whisper_model())
    assert len(" ".join(t.text for t in found).split()) >= 15
