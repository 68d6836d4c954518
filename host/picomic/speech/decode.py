"""One Whisper decode: faster-whisper's options (`DecodeOptions`) and the call that applies them.

`DecodeOptions` is handed through to `WhisperModel.transcribe` as a whole (`transcribe_kwargs`, the one place
that builds its keyword arguments), so the streaming path and the batch baseline decode alike. The options
picomic fixes for every decode (no context across utterances, no faster-whisper VAD, no timestamp tokens) are
not settings. A turn's earlier text reaches a later piece as a per-decode `context` (prompt), after the user's
`initial_prompt`.

Hallucination guard: a segment is dropped when faster-whisper's own pair holds (`no_speech_prob` above
`no_speech_threshold` while `avg_logprob` is below `log_prob_threshold`), when it loops (compression ratio),
when it has no letters or digits, and — picomic's stricter second pair, for speech-like noise such as babble,
where Whisper says "Thank you." with no_speech_prob ≈ 0.77 and avg_logprob ≈ -0.86 — when `no_speech_prob`
exceeds `guard_no_speech_prob` while `avg_logprob` is below `guard_log_prob` — and, third, when the decode's
audio is background (`foreground.ForegroundLevel`: `guard_background_db` or more below the speech of the last
final) while `avg_logprob` is below `guard_log_prob`: babble after the utterance that suppression made clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from picomic.speech import window

MAX_PROMPT_CHARS = 600
"""Prompt text kept (its end): Whisper sees at most 223 prompt tokens."""


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
    guard_no_speech_prob: float = 0.5
    """Hallucination guard: drop a segment whose no_speech_prob exceeds this while avg_logprob < guard_log_prob."""
    guard_log_prob: float = -0.6
    """Hallucination guard: see guard_no_speech_prob (1.0 turns the guard off)."""
    guard_background_db: float = 15.0
    """Hallucination guard: a decode whose audio is this many dB or more below the last final's (within 30 s) is
    background; its segments with avg_logprob < guard_log_prob are dropped. 0: off."""
    initial_prompt: str | None = None
    """Text Whisper reads as what came before every utterance (names, spelling, style)."""
    hotwords: str | None = None
    """Words Whisper is nudged towards (faster-whisper's `hotwords`: custom vocabulary)."""
    word_timestamps: bool = False
    """Word start/end times on finals (costs a cross-attention alignment per decode)."""

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"STT beam_size must be >= 1, got {self.beam_size}")
        if self.guard_background_db < 0:
            raise ValueError(f"STT guard_background_db must be >= 0 dB (0: off), got {self.guard_background_db}")
        for name in ("initial_prompt", "hotwords"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_PROMPT_CHARS:
                raise ValueError(f"STT {name} must be at most {MAX_PROMPT_CHARS} characters, got {len(value)}")

    def transcribe_kwargs(self, context: str | None = None) -> dict[str, Any]:
        """The keyword arguments of `WhisperModel.transcribe` for these options (`context`: the text before
        this audio in the same turn, read after `initial_prompt`)."""
        prompt = " ".join(p for p in (self.initial_prompt, context) if p) or None
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
            "initial_prompt": prompt[-MAX_PROMPT_CHARS:] if prompt else None,
            "hotwords": self.hotwords,
            "word_timestamps": self.word_timestamps,
        }

    def rejects(self, seg: Any, background: bool = False) -> bool:
        """True when a faster-whisper segment looks like a hallucination (see the module docstring);
        `background`: its audio is background next to the foreground speech."""
        silent = seg.no_speech_prob > self.no_speech_threshold and seg.avg_logprob < self.log_prob_threshold
        guarded = seg.no_speech_prob > self.guard_no_speech_prob and seg.avg_logprob < self.guard_log_prob
        quiet = background and seg.avg_logprob < self.guard_log_prob
        looping = seg.compression_ratio > self.compression_ratio_threshold
        return silent or guarded or quiet or looping or not any(ch.isalnum() for ch in seg.text)


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a final with its times (seconds from the start of the decoded audio until placed)."""

    word: str
    start_s: float
    end_s: float
    probability: float

    def to_json(self, offset_s: float) -> dict[str, object]:
        """JSON form with times moved onto the stream timeline (`offset_s`: where the decoded audio began)."""
        return {
            "word": self.word,
            "start_s": round(self.start_s + offset_s, 3),
            "end_s": round(self.end_s + offset_s, 3),
            "p": round(self.probability, 3),
        }


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one decode kept: the text and, with `word_timestamps`, its words."""

    text: str
    words: tuple[Word, ...] = ()


def decode(
    model: Any, audio16: np.ndarray, options: DecodeOptions, context: str | None = None, background: bool = False
) -> Decoded:
    """Transcribe 16 kHz float32 audio; segments that look like hallucinations are dropped (`background`: the
    audio is background talk next to the last final, see `DecodeOptions.rejects`)."""
    segments = window.transcribe(model, audio16, options.transcribe_kwargs(context))
    texts: list[str] = []
    words: list[Word] = []
    for seg in segments:
        if options.rejects(seg, background):
            continue
        texts.append(seg.text.strip())
        for w in getattr(seg, "words", None) or ():
            words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
    return Decoded(" ".join(texts), tuple(words))


def decode_text(model: Any, audio16: np.ndarray, options: DecodeOptions) -> str:
    """The text of `decode` (the batch baseline and the bench use it)."""
    return decode(model, audio16, options).text
