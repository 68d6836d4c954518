"""File transcription with faster-whisper's batched pipeline (DECISIONS 48), cut where the streaming path cuts.

The streaming path (`transcribe.transcribe_file`) stays the reference. This one runs the same Silero VAD
(`vad.StreamingVad`, same settings) over the whole file, joins its segments into turns the way the streaming
path does (pauses up to `turn_gap_ms`, at most 28 s of audio per turn), pads each turn like a final
(`pre_roll_ms` before, `end_pad_ms` after) and decodes all turns with `BatchedInferencePipeline`, several per
encoder run. One final per turn, with the same decode options and hallucination guard. The bench (`stt-set`)
measures both paths' WER and speed on the same long file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from picomic.audio.files import read_audio
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.events import Transcript
from picomic.speech import window
from picomic.speech.stt import SttSettings, load_model
from picomic.speech.vad import StreamingVad, VadSettings

_MAX_TURN_S = 28.0
_BATCH_OPTIONS = ("language", "beam_size", "temperature", "no_speech_threshold", "log_prob_threshold",
                  "compression_ratio_threshold", "initial_prompt", "hotwords", "word_timestamps")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """One turn to decode: speech edges and the padded clip, in 16 kHz samples."""

    start16: int
    end16: int
    clip_from16: int
    clip_to16: int


def speech_turns(audio16: np.ndarray, settings: SttSettings, vad_settings: VadSettings | None = None) -> list[Span]:
    """The VAD's segments of a whole signal joined into turns, padded as the streaming path pads finals."""
    vs = vad_settings or VadSettings()
    vad = StreamingVad(vs)
    edges = vad.process(audio16) + vad.close()
    segments: list[list[int]] = []
    for e in edges:
        if e.kind == "start":
            segments.append([e.sample16, e.sample16])
        elif e.kind == "end" and segments:
            segments[-1][1] = e.sample16
    gap = settings.policy.turn_gap_ms * TARGET_RATE_HZ // 1000
    turns: list[list[int]] = []
    for start, end in segments:
        if turns and start - turns[-1][1] <= gap and end - turns[-1][0] <= _MAX_TURN_S * TARGET_RATE_HZ:
            turns[-1][1] = end
        else:
            turns.append([start, end])
    pre = vs.pre_roll_ms * TARGET_RATE_HZ // 1000
    post = settings.policy.end_pad_ms * TARGET_RATE_HZ // 1000
    return [Span(s, e, max(0, s - pre), min(len(audio16), e + post)) for s, e in turns]


def transcribe_batched(
    path: str | Path,
    settings: SttSettings | None = None,
    vad_settings: VadSettings | None = None,
    *,
    model: Any = None,
    batch_size: int = 8,
) -> list[Transcript]:
    """Final transcripts of a file, one per turn, decoded `batch_size` turns per encoder run."""
    from faster_whisper import BatchedInferencePipeline

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    s = settings or SttSettings()
    audio = read_audio(path).astype(np.float32) / 32768.0
    spans = speech_turns(audio, s, vad_settings)
    if not spans:
        return []
    model = model if model is not None else load_model(s)
    kwargs = {k: v for k, v in s.decode.transcribe_kwargs().items() if k in _BATCH_OPTIONS}
    clips = [{"start": sp.clip_from16 / TARGET_RATE_HZ, "end": sp.clip_to16 / TARGET_RATE_HZ} for sp in spans]
    with window.full_window(model):  # 30 s chunks: a shorter window would save little
        segments, _info = BatchedInferencePipeline(model).transcribe(
            audio, vad_filter=False, clip_timestamps=clips, batch_size=batch_size, without_timestamps=True, **kwargs
        )
        segments = list(segments)  # decoded while iterated
    texts: list[list[str]] = [[] for _ in spans]
    for seg in segments:
        if s.decode.rejects(seg):
            continue
        middle = (seg.start + seg.end) / 2 * TARGET_RATE_HZ
        i = min(range(len(spans)), key=lambda k: _distance(spans[k], middle))
        texts[i].append(seg.text.strip())
    return [
        Transcript(" ".join(t), True, sp.start16 / TARGET_RATE_HZ, sp.end16 / TARGET_RATE_HZ, None, turn=i)
        for i, (sp, t) in enumerate(zip(spans, texts, strict=True))
        if t
    ]


def _distance(span: Span, position16: float) -> float:
    """0 inside the span's clip, else how far outside."""
    return max(span.clip_from16 - position16, position16 - span.clip_to16, 0.0)
