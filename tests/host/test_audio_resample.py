"""audio/resample.py: identity at 16 kHz, a real resampler otherwise, streaming equal to one-shot."""

from __future__ import annotations

import numpy as np
import pytest
from picomic.audio.resample import Resampler, resample


def _tone(rate_hz: int, seconds: float = 1.0, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (np.sin(2 * np.pi * freq_hz * t) * 16000).astype(np.int16)


def test_identity_at_16k_float32_is_the_same_array() -> None:
    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    assert resample(x, 16000) is x


def test_int16_at_16k_is_scaled_only() -> None:
    x = np.array([0, 16384, -32768], np.int16)
    np.testing.assert_array_equal(resample(x, 16000), np.array([0.0, 0.5, -1.0], np.float32))


@pytest.mark.parametrize("rate_hz", [8000, 22050, 44100, 48000])
def test_to_16k_keeps_length_and_pitch(rate_hz: int) -> None:
    y = resample(_tone(rate_hz), rate_hz)
    assert y.dtype == np.float32
    assert abs(len(y) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(y[:16000] * np.hanning(16000)))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 Hz bins


def test_streaming_equals_one_shot_and_stays_aligned() -> None:
    x = _tone(48000, 2.0)
    whole = resample(x, 48000)
    r = Resampler(48000)
    parts = [r.process(x[i : i + 480]) for i in range(0, len(x), 480)] + [r.flush()]
    streamed = np.concatenate(parts)
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
    ideal = np.sin(2 * np.pi * 440 * np.arange(len(streamed)) / 16000) * 16000 / 32768
    np.testing.assert_allclose(streamed[200:-200], ideal[200:-200], atol=0.02)  # no delay, no drift


def test_stereo_takes_the_left_slot_and_bad_input_is_refused() -> None:
    st = np.stack([np.full(10, 16384, np.int16), np.zeros(10, np.int16)], axis=1)
    np.testing.assert_array_equal(resample(st, 16000), np.full(10, 0.5, np.float32))
    with pytest.raises(ValueError, match="positive"):
        Resampler(0)
    with pytest.raises(ValueError, match="dtype"):
        resample(np.zeros(4, np.uint8), 16000)
