"""Reading audio files: any rate, width and channel count, as mono samples (libsndfile first, then FFmpeg).

One reader for everything that takes a file: the simulated board's file signals and speech-to-text of a
file (`read_audio`: int16 at one rate, through the shared resampler).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from picomic.audio.pcm import I16
from picomic.audio.resample import TARGET_RATE_HZ, resample_i16
from picomic.errors import ConfigError

Mono = npt.NDArray[np.float64] | I16
"""Mono samples as read: int16 for 16-bit PCM mono files (kept exact), else float64 in [-1, 1]."""


def load_audio(path: str | Path) -> tuple[int, Mono]:
    """(rate in Hz, mono samples) of an audio file: int16 when it is 16-bit PCM mono, else the channels'
    mean as float64. ConfigError naming the file when it is missing or cannot be decoded."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no such audio file: {p}")
    try:
        return _load_soundfile(p)
    except Exception:  # noqa: BLE001 - libsndfile cannot read it: try FFmpeg before giving up
        pass
    try:
        return _load_av(p)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot decode {p} as audio ({exc}); give a WAV, FLAC, MP3 or OGG file") from exc


def read_audio(path: str | Path, rate_hz: int = TARGET_RATE_HZ) -> I16:
    """An audio file as mono int16 at `rate_hz` (16 kHz: what speech-to-text takes)."""
    native_rate_hz, mono = load_audio(path)
    return resample_i16(mono, native_rate_hz, rate_hz)


def _load_soundfile(path: Path) -> tuple[int, Mono]:
    import soundfile

    info = soundfile.info(str(path))
    if info.channels == 1 and info.subtype == "PCM_16":
        data, rate = soundfile.read(str(path), dtype="int16", always_2d=False)
        return int(rate), np.asarray(data, dtype=np.int16)
    data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return int(rate), np.asarray(data.mean(axis=1), dtype=np.float64)


def _load_av(path: Path) -> tuple[int, Mono]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        resampler = av.AudioResampler(format="dbl", layout="mono", rate=rate)
        parts = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(np.asarray(out.to_ndarray(), dtype=np.float64).reshape(-1))
        for out in resampler.resample(None):
            parts.append(np.asarray(out.to_ndarray(), dtype=np.float64).reshape(-1))
    if not parts:
        raise ValueError("no audio samples")
    return rate, np.concatenate(parts)
