"""Foreground speech level: how loud the speech a listener last transcribed was, so that a later piece far
quieter than it is known for background talk (the hallucination guard's third test, `decode.DecodeOptions`).

Why: babble after an utterance. Without noise suppression Silero hears 20 dB babble as speech throughout (p ≈
0.95), so the utterance simply runs on into it and Whisper, given the foreground voice, writes only that. With
suppression the VAD ends the utterance (the babble's probability falls to 0.1–0.6), then re-starts on the
suppressed babble a second or two later: a piece of its own, 18–28 dB below the voice, that Whisper decodes
alone into words ("Well, how much is better?", no_speech_prob 0.38, avg_logprob −0.86 — the no_speech pair
does not catch it). Such a piece is what this tracker marks as background.

Used by one DecodeWorker under its lock (not thread-safe by itself); positions are 16 kHz stream samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ

FOREGROUND_HOLD_S = 30.0
"""How long after a final its level stays the reference (then the next piece has none: never background)."""


def level_dbfs(audio16: np.ndarray) -> float:
    """RMS level of float32 audio in [-1, 1) in dBFS (−120 for silence or no samples)."""
    if not len(audio16):
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(audio16, dtype=np.float64))))
    return max(-120.0, 20.0 * float(np.log10(max(rms, 1e-6))))


@dataclass(slots=True)
class ForegroundLevel:
    """The level of the last final with text, and whether new audio is background next to it."""

    below_db: float
    """Audio at least this many dB below the foreground is background; 0: nothing ever is (the test is off)."""
    hold_samples: int = int(FOREGROUND_HOLD_S * TARGET_RATE_HZ)
    """How long (16 kHz samples after the final's end) the reference holds."""
    _level_dbfs: float | None = None
    _end16: int = 0

    def heard(self, level: float, end16: int) -> None:
        """A final with text was emitted: its audio's level (dBFS) is the foreground from `end16` on."""
        self._level_dbfs, self._end16 = level, end16

    def is_background(self, level: float, start16: int) -> bool:
        """Audio of `level` dBFS starting at `start16` is `below_db` or more under a reference still held. A
        start before the reference's end (a new epoch restarts the timeline) has no reference."""
        if self.below_db <= 0 or self._level_dbfs is None:
            return False
        if not 0 <= start16 - self._end16 <= self.hold_samples:
            return False
        return level <= self._level_dbfs - self.below_db
