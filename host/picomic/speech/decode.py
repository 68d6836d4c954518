"""One Whisper decode: faster-whisper's options (`DecodeOptions`) and the call that applies them.

`DecodeOptions` is handed through to `WhisperModel.transcribe` as a whole (`transcribe_kwargs`, the one place
that builds its keyword arguments), so the streaming path and the batch baseline decode alike. The options
picomic fixes for every decode (no context across utterances, no faster-whisper VAD, no timestamps) are
not settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """faster-whisper decode options (names as in `WhisperModel.transcribe`; validated: ValueError)."""

    language: str | None = None
    """Language code; None: English for .en models, detected otherwise."""
    beam_size: int = 1
    """Beams searched per decode (1: greedy)."""
    temperature: float = 0.0
    """Sampling temperature (0: deterministic; no fallback to higher temperatures)."""
    no_speech_threshold: float = 0.6
    """Drop a segment whose no_speech_prob exceeds this while its avg_logprob is below log_prob_threshold."""
    log_prob_threshold: float = -1.0
    """Average log probability (per token) below which a likely-silent segment is dropped."""
    compression_ratio_threshold: float = 2.4
    """Drop a segment more repetitive than this (gzip ratio): a decoding loop, not speech."""

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"STT beam_size must be >= 1, got {self.beam_size}")

    def transcribe_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `WhisperModel.transcribe` for these options."""
        return {
            "language": self.language,
            "beam_size": self.beam_size,
            "temperature": self.temperature,
            "condition_on_previous_text": False,  # no context across utterances: no runaway repetition
            "vad_filter": False,  # picomic runs its own VAD
            "without_timestamps": True,
            "no_speech_threshold": self.no_speech_threshold,
            "log_prob_threshold": self.log_prob_threshold,
            "compression_ratio_threshold": self.compression_ratio_threshold,
        }


def decode_text(model: Any, audio16: np.ndarray, options: DecodeOptions) -> str:
    """Transcribe 16 kHz float32 audio; segments that look like hallucinations are dropped."""
    segments, _info = model.transcribe(audio16, **options.transcribe_kwargs())
    kept: list[str] = []
    for seg in segments:
        silent = seg.no_speech_prob > options.no_speech_threshold and seg.avg_logprob < options.log_prob_threshold
        looping = seg.compression_ratio > options.compression_ratio_threshold
        text = seg.text.strip()
        if not (silent or looping) and any(ch.isalnum() for ch in text):
            kept.append(text)
    return " ".join(kept)
