"""The one resampling path: any rate to any rate, streaming (`Resampler`) or whole (`resample`, `resample_i16`).

Built on PyAV's `AudioResampler` (libswresample), already a faster-whisper dependency (DECISIONS 18). The
speech side takes 16 kHz mono float32 (what Silero VAD and Whisper expect: `TARGET_RATE_HZ`, the default
output rate); the simulated board renders files as int16 at the stream rate (`resample_i16`).

When the rates match no resampler is created and nothing beyond the float conversion (`pcm.to_float32`) is
copied (pass `AudioChunk.float32()`, which the bus computes once per chunk and shares).

libswresample compensates its filter delay: output sample k is at input time k / rate_out_hz s. While
streaming it holds back a few samples (about 1 ms) until more input or `flush()` arrives.
"""

from __future__ import annotations

import numpy as np

from picomic.audio.pcm import I16, float_to_i16, left_channel, to_float32

TARGET_RATE_HZ = 16000
"""The speech rate: Silero VAD and Whisper take 16 kHz."""


class Resampler:
    """Streaming resampler (mono float32 out) that keeps its filter state across chunks (one per consumer)."""

    def __init__(self, rate_in_hz: int, rate_out_hz: int = TARGET_RATE_HZ) -> None:
        for name, rate in (("input", rate_in_hz), ("output", rate_out_hz)):
            if rate <= 0:
                raise ValueError(f"{name} sample rate must be a positive number of Hz, got {rate}")
        self.rate_in_hz = rate_in_hz
        self.rate_out_hz = rate_out_hz
        self._resampler: object | None = None  # an av.AudioResampler (PyAV loads on first use)
        self.reset()

    @property
    def identity(self) -> bool:
        """True when the rates match: `process` only converts to float32."""
        return self.rate_in_hz == self.rate_out_hz

    def reset(self) -> None:
        """Drop the filter state (after a stream gap: the next chunk does not continue the last one)."""
        if self.identity:
            self._resampler = None
            return
        import av

        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.rate_out_hz)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk (int16/int32/float, mono or stereo → left). Returns float32 at the output rate."""
        mono = to_float32(left_channel(samples))
        if self._resampler is None:
            return mono
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(mono, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.rate_in_hz
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


def resample(samples: np.ndarray, rate_in_hz: int, rate_out_hz: int = TARGET_RATE_HZ) -> np.ndarray:
    """A whole signal (int16/int32/float, mono or stereo → left) as mono float32 at `rate_out_hz`."""
    resampler = Resampler(rate_in_hz, rate_out_hz)
    head = resampler.process(samples)
    if resampler.identity:
        return head
    return np.concatenate([head, resampler.flush()])


def resample_i16(mono: np.ndarray, rate_in_hz: int, rate_out_hz: int) -> I16:
    """Mono audio (int16, or float in [-1, 1]) at `rate_in_hz` as int16 at `rate_out_hz`.

    When the rates match int16 is returned as is (exact) and float is only rounded to int16.
    """
    if rate_in_hz == rate_out_hz:
        if mono.dtype == np.int16:
            return mono.astype(np.int16, copy=False)
        return float_to_i16(mono)
    return float_to_i16(resample(mono, rate_in_hz, rate_out_hz))
