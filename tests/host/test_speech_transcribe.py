"""`transcribe` on a long file gives every utterance (regression: on files over ~10 s the STT ring was trimmed
while the VAD, seconds behind on its own queue in file mode, had not yet reported the start edge, so only the last
few utterances came out). A ~3 minute file in CI (DECISIONS 42: the hour-long file is a bench figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.speech.stt import StreamingPolicy
from picomic.speech.transcribe import transcribe_file
from speech_support import RATE_HZ, entry, load_pcm, whisper_model

pytestmark = pytest.mark.slow
NAMES = ("utt1", "utt2", "utt3", "utt4", "utt5")
GAP_S = 1.5
SPLIT_MS = StreamingPolicy().turn_gap_ms  # a longer pause inside a fixture ends its first final (turn)


def _final_starts(name: str) -> list[int]:
    """Where the finals of one fixture start (samples): one per run of segments closer than SPLIT_MS."""
    starts, last_end = [], None
    for start, end in entry(name)["segments"]:
        if last_end is None or start - last_end >= SPLIT_MS * RATE_HZ // 1000:
            starts.append(start)
        last_end = end
    return starts


def test_every_utterance_of_a_three_minute_file(tmp_path: Path) -> None:
    parts, starts = [], []
    position = 0
    while position < 180 * RATE_HZ:
        for name in NAMES:
            pcm = load_pcm(name)
            starts += [(position + at) / RATE_HZ for at in _final_starts(name)]
            parts += [pcm, np.zeros(int(GAP_S * RATE_HZ), np.int16)]
            position += len(pcm) + int(GAP_S * RATE_HZ)
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate(parts), RATE_HZ)
    finals = transcribe_file(path, model=whisper_model())
    assert len(finals) == len(starts), [f"{t.start_s:.1f} {t.text}" for t in finals]
    for t, start in zip(finals, starts, strict=True):
        assert abs(t.start_s - start) < 0.3, (t.start_s, start, t.text)
        assert len(t.text.split()) >= 2


def test_feed_progress_reaches_the_whole_file() -> None:
    from picomic.bus.audiobus import AudioBus
    from picomic.speech.transcribe import feed_chunks

    told: list[tuple[float, float]] = []
    feed_chunks(AudioBus(), np.zeros(16000 * 3 + 100, np.int16), 16000, on_progress=lambda d, t: told.append((d, t)))
    done = [d for d, _ in told]
    assert done == sorted(done) and told[-1] == (3.00625, 3.00625) and len(told) == len(range(0, 48100, 512))
