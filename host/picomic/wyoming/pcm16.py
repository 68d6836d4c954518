"""Audio as Wyoming carries it: 16 kHz, 16-bit, mono bytes (DECISIONS 34), from bus chunks or from client PCM.

`To16k` is a streaming converter owned by one connection (the resampler keeps filter state): a 16 kHz int16
mono chunk passes through untouched (sample-exact), anything else goes through `audio.resample.Resampler`.
`client_samples` decodes a client's `audio-chunk` bytes (width 2 or 4, any channel count → left).
"""

from __future__ import annotations

import numpy as np

from picomic.audio.pcm import float_to_i16, left_channel
from picomic.audio.resample import TARGET_RATE_HZ, Resampler
from picomic.bus.audiobus import AudioChunk

RATE_HZ = TARGET_RATE_HZ
WIDTH = 2
CHANNELS = 1
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 48000


def check_format(rate: object, width: object, channels: object) -> str | None:
    """Why a client's audio format cannot be taken (None: it can)."""
    if not isinstance(rate, int) or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        return f"rate must be {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz, got {rate!r}"
    if width not in (2, 4):
        return f"width must be 2 or 4 bytes, got {width!r}"
    if not isinstance(channels, int) or not 1 <= channels <= 8:
        return f"channels must be 1..8, got {channels!r}"
    return None


def client_samples(audio: bytes, width: int, channels: int) -> np.ndarray:
    """A client's PCM bytes as mono samples (int16, or int32 scaled to 16-bit for width 4); a trailing
    partial sample frame is dropped."""
    dtype = np.dtype("<i2") if width == 2 else np.dtype("<i4")
    frame = width * channels
    usable = len(audio) - len(audio) % frame
    samples = np.frombuffer(audio[:usable], dtype=dtype).reshape(-1, channels)
    mono = left_channel(samples) if channels > 1 else samples.reshape(-1)
    if width == 4:
        return (mono.astype(np.int32) >> 16).astype(np.int16)
    return mono.astype(np.int16, copy=False)


class To16k:
    """Streaming conversion to 16 kHz int16 mono bytes. Not thread-safe (one connection)."""

    def __init__(self) -> None:
        self._resampler: Resampler | None = None

    def chunk(self, chunk: AudioChunk) -> bytes:
        """A bus chunk's audio (24-bit mode scaled to 16 bits, stereo → left)."""
        samples = left_channel(chunk.samples)
        if chunk.sample_rate == RATE_HZ and samples.dtype == np.int16:
            return samples.tobytes()
        if samples.dtype == np.int32:
            samples = (samples >> 8).astype(np.int16)
        return self.samples(samples, chunk.sample_rate)

    def samples(self, samples: np.ndarray, rate_hz: int) -> bytes:
        """int16 mono samples at `rate_hz` (a rate change restarts the filter)."""
        if rate_hz == RATE_HZ:
            return samples.astype(np.int16, copy=False).tobytes()
        if self._resampler is None or self._resampler.rate_in_hz != rate_hz:
            self._resampler = Resampler(rate_hz)
        return float_to_i16(self._resampler.process(samples)).tobytes()

    def flush(self) -> bytes:
        """What the resampler still holds (end of stream)."""
        if self._resampler is None:
            return b""
        return float_to_i16(self._resampler.flush()).tobytes()
