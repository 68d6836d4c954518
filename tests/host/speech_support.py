"""Shared helpers of the VAD/STT tests: the fixture manifest, audio loading and one Whisper model per run."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RATE_HZ = 16000


@functools.cache
def manifest() -> dict[str, Any]:
    return json.loads((FIXTURES / "manifest.json").read_text())  # type: ignore[no-any-return]


def entry(name: str) -> dict[str, Any]:
    return next(e for e in manifest()["files"] if e["file"].startswith(name))


def load_pcm(name: str) -> np.ndarray:
    """A fixture as 16 kHz int16."""
    pcm, rate = sf.read(FIXTURES / entry(name)["file"], dtype="int16")
    assert rate == RATE_HZ
    return np.asarray(pcm, dtype=np.int16)


@functools.cache
def whisper_model() -> Any:
    """The default model (tiny.en, int8), loaded once per test session."""
    from picomic.speech.stt import load_model

    return load_model()


def white_noise(seconds: float, amplitude: float = 0.1, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(int(seconds * RATE_HZ)) * amplitude * 32768, -32768, 32767).astype(np.int16)
