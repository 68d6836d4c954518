"""audio/files.py: one reader for every file (exact int16 for 16-bit mono, mixed down otherwise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from picomic.audio.files import load_audio, read_audio
from picomic.audio.pcm import float_to_i16, to_float32
from picomic.errors import ConfigError


def test_16bit_mono_is_exact_and_stereo_is_mixed_down(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(8000) * 0.05) * 10000).astype(np.int16)
    soundfile.write(tmp_path / "m.wav", pcm, 8000, subtype="PCM_16")
    soundfile.write(tmp_path / "s.flac", np.column_stack((pcm, pcm)), 8000)
    rate, mono = load_audio(tmp_path / "m.wav")
    assert rate == 8000 and mono.dtype == np.int16 and np.array_equal(mono, pcm)
    rate, mixed = load_audio(tmp_path / "s.flac")
    assert rate == 8000 and mixed.dtype == np.float64
    assert np.abs(float_to_i16(mixed) - pcm).max() <= 1
    up = read_audio(tmp_path / "m.wav")  # 16 kHz by default
    assert up.dtype == np.int16 and abs(len(up) - 16000) <= 16


def test_missing_and_unreadable_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such audio file"):
        load_audio(tmp_path / "nope.wav")
    bad = tmp_path / "junk.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ConfigError, match="junk.wav"):
        read_audio(bad)


def test_float32_conversion_scales_by_width_and_keeps_shape() -> None:
    assert to_float32(np.array([16384], np.int16))[0] == 0.5
    assert to_float32(np.array([1 << 22], np.int32))[0] == 0.5
    st = np.zeros((4, 2), np.int16)
    assert to_float32(st).shape == (4, 2)
    f = np.zeros(3, np.float32)
    assert to_float32(f) is f
