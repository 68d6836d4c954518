"""Whisper's encoder on the audio plus a pad, not on a full 30 s window — and the full window when that fails.

faster-whisper pads every segment's log-Mel features with zeros to Whisper's 30 s window (3,000 frames) before
the encoder runs, so a 2 s utterance costs the encoder as much as 30 s of audio: ≈ 0.44 s of the ≈ 0.6 s
decode of tiny.en int8 on 2 cores. CTranslate2's encoder takes shorter inputs. `ShortWindowWhisper` overrides
`WhisperModel.encode` to drop the padding beyond the audio plus `pad_s` (the zero frames at the end: log-Mel
frames of real audio, silence included, are never all exactly zero). With the default 5 s pad, that utterance
decodes in ≈ 0.17 s (`picomic bench --only stt-set`; docs/speech.md "Encoder window").

Whisper was trained on 30 s windows, and a short window sometimes makes it loop: "Just call the front desk.
Just call the front desk. …" up to the token limit (a 1.6 s piece of the harder set, with pads of 4 to 8 s;
not with 10 s: `tools/window_check.py`). So `transcribe` caps a short-window decode at `MAX_TOKENS_PER_S` of
audio and decodes again, with twice the pad and then on the full window, while the text looks cut or looping
(`suspect`). The batched path (`transcribe --batched`, 30 s chunks) always uses the full window.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from picomic.audio.resample import TARGET_RATE_HZ

FRAMES_PER_S = 100
"""Log-Mel frames per second."""
HOP = TARGET_RATE_HZ // FRAMES_PER_S
FULL_WINDOW_FRAMES = 3000
"""Whisper's window: 30 s."""
MAX_TOKENS_PER_S = 10
"""A short-window decode's token cap per second of audio (speech is ≈ 3–5 tokens/s; a loop runs to the cap)."""
MIN_TOKENS = 12
REPEAT_WORDS = 3
"""A text whose last this many words already occurred in it is taken for a loop."""


def content_frames(features: np.ndarray) -> int:
    """Frames up to the last one that is not all zeros (across mel bins and, batched, across the batch)."""
    frames = features.reshape(-1, features.shape[-1])
    nonzero = np.flatnonzero(np.any(frames != 0.0, axis=0))
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


def trimmed(features: np.ndarray, pad_frames: int) -> np.ndarray:
    """`features` cut to their content plus `pad_frames` of their zero padding (never longer than given)."""
    keep = min(features.shape[-1], content_frames(features) + pad_frames)
    return np.ascontiguousarray(features[..., :keep])


class ShortWindowWhisper(WhisperModel):  # type: ignore[misc]  # faster-whisper is untyped
    """A faster-whisper `WhisperModel` whose encoder sees the audio plus `pad_s` seconds, not 30 s (on the
    calling thread, inside `padded(s)`, plus `s`; inside `padded(None)`, the full window)."""

    def __init__(self, *args: Any, pad_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pad_s = pad_s
        self._local = threading.local()

    @contextlib.contextmanager
    def padded(self, pad_s: float | None) -> Iterator[None]:
        """Encode with `pad_s` of padding (None: the full window) while inside (this thread only)."""
        before = getattr(self._local, "pad_s", self.pad_s)
        self._local.pad_s = pad_s
        try:
            yield
        finally:
            self._local.pad_s = before

    def encode(self, features: np.ndarray) -> Any:
        """faster-whisper's encode on the trimmed features (the transcribe and batched paths both call it)."""
        pad_s = getattr(self._local, "pad_s", self.pad_s)
        if pad_s is None:
            return super().encode(features)
        return super().encode(trimmed(features, round(pad_s * FRAMES_PER_S)))


def full_window(model: Any) -> contextlib.AbstractContextManager[None]:
    """Any model on Whisper's full window while inside (a plain `WhisperModel` always is)."""
    return model.padded(None) if isinstance(model, ShortWindowWhisper) else contextlib.nullcontext()


def token_cap(samples16: int) -> int:
    """The most tokens a short-window decode of this much audio may generate."""
    return MIN_TOKENS + MAX_TOKENS_PER_S * samples16 // TARGET_RATE_HZ


def token_room(model: Any, kwargs: dict[str, Any]) -> int:
    """Tokens left for the text after faster-whisper's prompt (Whisper reads and writes 448 in all; faster-whisper
    refuses a `max_new_tokens` past that): the prompt's and the hotwords' tokens, each at most 223, and 5 more."""
    used = 5  # sot_prev, the 3-token sot sequence, no_timestamps
    for text in (kwargs.get("initial_prompt"), kwargs.get("hotwords")):
        if text:
            tokens = model.hf_tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids
            used += min(len(tokens), model.max_length // 2 - 1)
    return int(model.max_length) - used


def repeats(text: str) -> bool:
    """The text's last `REPEAT_WORDS` words occur earlier in it (a decoder loop, whole or begun)."""
    words = re.findall(r"[\w']+", text.lower())
    tail = words[-REPEAT_WORDS:]
    if len(words) < 2 * REPEAT_WORDS:
        return False
    return any(words[i : i + REPEAT_WORDS] == tail for i in range(len(words) - REPEAT_WORDS))


def first_cap(model: Any, audio16: np.ndarray, kwargs: dict[str, Any]) -> int:
    """The token cap of a short-window attempt: `token_cap`, within `token_room`."""
    return min(token_cap(len(audio16)), token_room(model, kwargs))


def suspect(segments: list[Any], cap: int, compression_ratio_threshold: float) -> bool:
    """A short-window decode to do again on the full window: cut at the cap, looping or too repetitive."""
    tokens = sum(len(s.tokens) for s in segments)
    text = " ".join(s.text for s in segments)
    too_repetitive = any(s.compression_ratio > compression_ratio_threshold for s in segments)
    return tokens >= cap or too_repetitive or repeats(text)


def transcribe(model: Any, audio16: np.ndarray, kwargs: dict[str, Any]) -> list[Any]:
    """faster-whisper's segments of `audio16` (16 kHz float32) for `WhisperModel.transcribe` keyword arguments
    (see `attempts`)."""
    return attempts(model, audio16, kwargs)[0]


def attempts(model: Any, audio16: np.ndarray, kwargs: dict[str, Any]) -> tuple[list[Any], int]:
    """`transcribe`'s segments and how many decodes they took. A short-window model tries its pad, then twice
    that, each capped (`first_cap`) and kept unless `suspect`, then the full window."""
    if not isinstance(model, ShortWindowWhisper):
        return list(model.transcribe(audio16, **kwargs)[0]), 1
    cap = first_cap(model, audio16, kwargs)
    tried = 0
    for pad_s in (model.pad_s, 2 * model.pad_s):
        if pad_s * FRAMES_PER_S + len(audio16) // HOP >= FULL_WINDOW_FRAMES:
            break
        with model.padded(pad_s):
            segments = list(model.transcribe(audio16, max_new_tokens=cap, **kwargs)[0])
        tried += 1
        if not suspect(segments, cap, kwargs["compression_ratio_threshold"]):
            return segments, tried
    with full_window(model):
        return list(model.transcribe(audio16, **kwargs)[0]), tried + 1
