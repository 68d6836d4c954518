"""Sample-format conversion: PCM integers to float32 in [-1, 1) and float back to int16.

The one conversion every consumer shares: `AudioChunk.float32()` caches its result per chunk, the resampler
converts what it is given with the same function.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I16 = npt.NDArray[np.int16]

_INT16_SCALE = 1.0 / 32768.0
_INT24_SCALE = 1.0 / 8388608.0  # int32 words holding 24-bit samples (the INMP441's 24-bit mode)


def to_float32(samples: np.ndarray) -> np.ndarray:
    """`samples` scaled to [-1, 1) as float32, same shape: int16 by 1/32768, int32 (24-bit) by 1/2^23.

    float32 input is returned as is (no copy), other floats are cast; any other dtype is a ValueError.
    """
    if samples.dtype == np.float32:
        return samples
    if samples.dtype == np.int16:
        scale = _INT16_SCALE
    elif samples.dtype == np.int32:
        scale = _INT24_SCALE
    elif samples.dtype.kind == "f":
        return np.asarray(samples, dtype=np.float32)
    else:
        raise ValueError(f"unsupported sample dtype {samples.dtype}; give int16, int32 (24-bit) or float")
    out: np.ndarray = samples.astype(np.float32)
    out *= np.float32(scale)
    return out


def left_channel(samples: np.ndarray) -> np.ndarray:
    """Mono samples: a `(n, 2)` stereo array's left slot (a view), a `(n,)` array as is."""
    return samples[:, 0] if samples.ndim == 2 else samples


def float_to_i16(x: np.ndarray) -> I16:
    """Float samples in [-1, 1] as int16 (× 32767, rounded, clipped)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)
