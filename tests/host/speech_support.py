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


@functools.cache
def full_window_model() -> Any:
    """The default model with its encoder on Whisper's full 30 s window (`--full-window`), loaded once."""
    from picomic.speech.models import ModelSettings
    from picomic.speech.stt import SttSettings, load_model

    return load_model(SttSettings(model=ModelSettings(encoder_pad_s=None)))


def white_noise(seconds: float, amplitude: float = 0.1, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(int(seconds * RATE_HZ)) * amplitude * 32768, -32768, 32767).astype(np.int16)


SET = FIXTURES / "speechset"
"""The harder set (tools/make_speech_set.py): paused/unpaused sentences, a noisy session, noise-only files."""


@functools.cache
def set_manifest() -> dict[str, Any]:
    return json.loads((SET / "manifest.json").read_text())  # type: ignore[no-any-return]


def set_entry(name: str) -> dict[str, Any]:
    return next(e for e in set_manifest()["files"] if e["file"].startswith(name))


def set_path(name: str) -> Path:
    return SET / set_entry(name)["file"]


def speech_events(path: Path, settings: Any = None, realtime: bool = False, model: Any = None) -> list[Any]:
    """Every Transcript and TranscriptRevision of one file through the real bus → VAD → STT path."""
    import threading

    from picomic.bus.audiobus import AudioBus
    from picomic.bus.events import Event, Transcript, TranscriptRevision
    from picomic.speech.stt import SttListener
    from picomic.speech.transcribe import feed_chunks
    from picomic.speech.vad import VadListener

    pcm, rate = sf.read(path, dtype="int16")
    bus, found, lock = AudioBus(), [], threading.Lock()

    def emit(event: Event) -> None:
        if isinstance(event, Transcript | TranscriptRevision):
            with lock:
                found.append(event)

    vad = VadListener(bus, None, emit)
    stt = SttListener(bus, settings, emit, vad=vad, model=model if model is not None else whisper_model())
    vad.start()
    stt.start()
    feed_chunks(bus, np.asarray(pcm, np.int16), rate, chunk_ms=20, realtime=realtime)
    vad.finish(10.0)
    stt.finish(60.0)
    assert stt.error is None and vad.error is None
    return found
