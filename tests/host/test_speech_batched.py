"""speech/batched.py with the real model (DECISIONS 48): the batched file path cuts where the streaming path
does (one final per turn) and gives its text within a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.bench.stt import wer_counts
from picomic.speech.batched import transcribe_batched
from picomic.speech.transcribe import transcribe_file
from speech_support import RATE_HZ, set_entry, set_path, whisper_model

NAMES = ("p1_train", "u3_plants", "p5_muted", "s1_show")


@pytest.mark.slow
def test_batched_file_transcription_matches_the_streaming_path(tmp_path: Path) -> None:
    parts = []
    for name in NAMES:
        pcm, _ = sf.read(set_path(name), dtype="int16")
        parts += [pcm, np.zeros(RATE_HZ, np.int16)]
    path = tmp_path / "set.flac"
    sf.write(path, np.concatenate(parts), RATE_HZ)
    ref = " ".join(set_entry(n)["text"] for n in NAMES)
    streaming = transcribe_file(path, model=whisper_model())
    batched = transcribe_batched(path, model=whisper_model(), batch_size=4)
    assert len(batched) == len(streaming)
    for b, s in zip(batched, streaming, strict=True):
        assert abs(b.start_s - s.start_s) <= 0.1 and abs(b.end_s - s.end_s) <= 0.2
    errors_b, words = wer_counts([ref], [" ".join(t.text for t in batched)])
    errors_s, _ = wer_counts([ref], [" ".join(t.text for t in streaming)])
    assert abs(errors_b - errors_s) <= 1 and errors_b <= 2, (words, [t.text for t in batched])


def test_noise_gives_nothing_and_bad_batch_sizes_are_refused() -> None:
    assert transcribe_batched(set_path("n3_babble"), model=whisper_model()) == []
    with pytest.raises(ValueError, match="batch_size"):
        transcribe_batched(set_path("u3_plants"), model=whisper_model(), batch_size=0)
