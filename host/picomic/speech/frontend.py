"""The speech front end: one consumer's bus chunks as a continuous 16 kHz float32 stream.

VAD and STT each own one `Frontend16k` (the resampler keeps filter state per consumer). It resamples the
bus's shared float32 (`AudioChunk.float32()`, converted once per chunk), bridges gaps up to the bound (frames lost on
the wire) with silence so positions stay right and speech goes on, and reports every real discontinuity
(first chunk, a long gap, a new epoch, a rate change, a step back): the 16 kHz timeline restarts there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ, Resampler
from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, AudioChunk


def bridge_gap(
    expected: tuple[int, int, int] | None, rate_hz: int, chunk: AudioChunk, max_gap_s: float = DEFAULT_MAX_GAP_S
) -> int | None:
    """Samples of silence that bridge a gap before `chunk` in the same epoch, segment and rate (0: contiguous);
    None when the jump is a real discontinuity (first chunk, new epoch or recording segment, rate change, a gap
    longer than `max_gap_s` — the same bound as the recorder's, DECISIONS 32 — or a step back).
    `expected` is (epoch, segment, stream sample) just after the previous chunk."""
    if expected is None or chunk.sample_rate != rate_hz or expected[:2] != (chunk.epoch, chunk.segment):
        return None
    gap = chunk.stream_sample - expected[2]
    if 0 <= gap <= int(max_gap_s * rate_hz):
        return gap
    return None


@dataclass(frozen=True, slots=True)
class FrontendStep:
    """What one chunk adds to the 16 kHz stream."""

    blocks: tuple[np.ndarray, ...]
    """16 kHz mono float32, in stream order: the bridging silence (if any), then the chunk's audio."""
    start16: int
    """16 kHz timeline position of the chunk's first sample (stream_sample × 16000 / rate)."""
    restart: bool = False
    """A discontinuity came before this chunk: the 16 kHz timeline restarts at `start16`."""
    tail: np.ndarray | None = None
    """On a restart after earlier audio: what the previous stream's resampler still held (it belongs
    before the restart). None on the very first chunk and when there is no restart."""


class Frontend16k:
    """Bus chunks in, 16 kHz float32 blocks out, gaps bridged. Not thread-safe (its consumer's thread)."""

    def __init__(self) -> None:
        self._resampler = Resampler(TARGET_RATE_HZ)  # replaced at the first chunk (the stream's rate)
        self._expected: tuple[int, int, int] | None = None  # (epoch, segment, next stream_sample)

    @property
    def rate_hz(self) -> int:
        """The input (bus) rate of the current stream; 16000 before the first chunk."""
        return self._resampler.rate_in_hz

    def feed(self, chunk: AudioChunk) -> FrontendStep:
        """The 16 kHz audio of `chunk` (resampled output is delay-compensated: position p is input time
        p / 16000 s)."""
        start16 = chunk.stream_sample * TARGET_RATE_HZ // chunk.sample_rate
        gap = bridge_gap(self._expected, self._resampler.rate_in_hz, chunk)
        restart, tail, blocks = gap is None, None, []
        if gap is None:
            if self._expected is not None:
                tail = self._resampler.flush()
            self._resampler = Resampler(chunk.sample_rate)
        elif gap:  # frames lost on the wire (up to the gap bound): silence keeps positions right without ending speech
            blocks.append(self._resampler.process(np.zeros(gap, np.float32)))
        self._expected = (chunk.epoch, chunk.segment, chunk.stream_sample + chunk.num_samples)
        blocks.append(self._resampler.process(chunk.float32()))
        return FrontendStep(tuple(blocks), start16, restart, tail)

    def flush(self) -> np.ndarray:
        """End of stream: the samples the resampler still holds."""
        return self._resampler.flush()
