"""Bring audio to 16 kHz mono float32 (what Silero VAD and Whisper expect) with a real resampler.

Built on PyAV's `AudioResampler` (libswresample), already a faster-whisper dependency (DECISIONS 18).
At 16 kHz both helpers are the identity: no resampler is created and nothing beyond the float conversion is
copied (pass `AudioChunk.float32()`, which the bus computes once per chunk and shares).

libswresample compensates its filter delay: output sample k is at input time k / 16000 s. While streaming it
holds back a few samples (about 1 ms) until more input or `flush()` arrives.
"""

from __future__ import annotations

import numpy as np

TARGET_RATE_HZ = 16000


def _as_float32(samples: np.ndarray) -> np.ndarray:
    """Mono float32 in [-1, 1): int16 scaled by 1/32768, int32 (24-bit) by 1/2^23; stereo → left slot."""
    if samples.ndim == 2:
        samples = samples[:, 0]
    if samples.dtype == np.float32:
        return samples
    if samples.dtype == np.int16:
        scale = np.float32(1.0 / 32768.0)
    elif samples.dtype == np.int32:
        scale = np.float32(1.0 / 8388608.0)
    elif samples.dtype.kind == "f":
        return np.asarray(samples, dtype=np.float32)
    else:
        raise ValueError(f"unsupported sample dtype {samples.dtype}; give int16, int32 (24-bit) or float")
    out: np.ndarray = samples.astype(np.float32)
    out *= scale
    return out


class Resampler16k:
    """Streaming resampler to 16 kHz that keeps its filter state across chunks (one per consumer)."""

    def __init__(self, rate_hz: int) -> None:
        if rate_hz <= 0:
            raise ValueError(f"sample rate must be a positive number of Hz, got {rate_hz}")
        self.rate_hz = rate_hz
        self._resampler: object | None = None
        self.reset()

    def reset(self) -> None:
        """Drop the filter state (after a stream gap: the next chunk does not continue the last one)."""
        if self.rate_hz == TARGET_RATE_HZ:
            self._resampler = None
            return
        import av

        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE_HZ)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk (int16/int32/float, mono or stereo → left). Returns 16 kHz float32."""
        mono = _as_float32(samples)
        if self._resampler is None:
            return mono
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(mono, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.rate_hz
        return self._collect(self._resampler.resample(frame))  # type: ignore[attr-defined]

    def flush(self) -> np.ndarray:
        """The samples still held in the filter (end of stream). The resampler is reset afterwards."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        out = self._collect(self._resampler.resample(None))  # type: ignore[attr-defined]
        self.reset()
        return out

    @staticmethod
    def _collect(frames: list[object]) -> np.ndarray:
        parts = [np.asarray(f.to_ndarray(), dtype=np.float32).reshape(-1) for f in frames]  # type: ignore[attr-defined]
        if not parts:
            return np.zeros(0, np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def to_16k(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """A whole signal (int16/int32/float, mono or stereo → left) as 16 kHz mono float32."""
    resampler = Resampler16k(rate_hz)
    head = resampler.process(samples)
    if resampler.rate_hz == TARGET_RATE_HZ:
        return head
    return np.concatenate([head, resampler.flush()])
