"""Speech-to-text of a whole file, through the same bus → VAD → STT path as live audio.

`feed_chunks` publishes int16 PCM as AudioChunks (as fast as the listeners keep up, or paced like a live
source); `transcribe_file` reads a file with `audio.files.read_audio` and collects the finals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from picomic.audio.files import read_audio
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import RAW_STREAM, AudioBus, AudioChunk
from picomic.bus.events import ErrorEvent, Event, Transcript, TranscriptRevision
from picomic.errors import ConfigError
from picomic.speech.stt import SttListener, SttSettings
from picomic.speech.turns import best_finals
from picomic.speech.vad import VadListener, VadSettings

__all__ = ["Progress", "feed_chunks", "transcribe_file", "transcribe_pcm"]

Progress = Callable[[float, float], None]
"""Told (seconds of audio fed to VAD and STT so far, seconds in all)."""


def transcribe_file(
    path: str | Path,
    settings: SttSettings | None = None,
    vad_settings: VadSettings | None = None,
    *,
    use_vad: bool | None = None,
    model: Any = None,
    chunk_ms: int = 32,
    on_progress: Progress | None = None,
) -> list[Transcript]:
    """Final transcripts of an audio file, through the same bus → VAD → STT path, as fast as possible, with
    revisions applied (`turns.best_finals`: a turn of several pieces is one final). The speculative decode
    stays on: the endpoint depends on its text (and only on sample positions, so the finals are the real-time
    path's). `use_vad` None: `settings.policy.use_vad`. Latency is meaningless here and reported as None.
    `on_progress` is told (seconds heard, seconds in all) as the audio goes in.
    """
    pcm = read_audio(path)
    return transcribe_pcm(pcm, settings, vad_settings, use_vad=use_vad, model=model, chunk_ms=chunk_ms,
                          name=str(path), on_progress=on_progress)  # fmt: skip


def transcribe_pcm(
    pcm: np.ndarray,
    settings: SttSettings | None = None,
    vad_settings: VadSettings | None = None,
    *,
    use_vad: bool | None = None,
    model: Any = None,
    chunk_ms: int = 32,
    name: str = "the audio",
    bus: AudioBus | None = None,
    stream: str = RAW_STREAM,
    on_event: Callable[[Event], None] | None = None,
    on_progress: Progress | None = None,
) -> list[Transcript]:
    """`transcribe_file` of 16 kHz int16 `pcm`. With `bus` (and `stream`): VAD and STT listen to that stream of
    it (a stage's, whose stages the caller started); `on_event` sees every event (VAD edges too); `name` names
    the audio in errors."""
    if not len(pcm):
        return []  # an empty file: nothing to hear, no model to load
    s = settings or SttSettings()
    use_vad = s.policy.use_vad if use_vad is None else use_vad
    # A file arrives faster than real time: the VAD may trail this listener by its queue, and the decodes queue
    # up behind the last chunk, so the end-of-stream wait grows with the audio (a decode is faster than real time).
    flush_s = s.policy.flush_timeout_s + len(pcm) / TARGET_RATE_HZ
    s = replace(
        s,
        policy=replace(s.policy, partials_interval_ms=None, use_vad=use_vad, flush_timeout_s=flush_s),
    )
    found: list[Event] = []
    errors: list[str] = []

    def collect(event: Event) -> None:
        if on_event is not None:
            on_event(event)
        if isinstance(event, (Transcript, TranscriptRevision)):
            found.append(event)
        elif isinstance(event, ErrorEvent):
            errors.append(event.message)

    bus = AudioBus() if bus is None else bus
    vad = VadListener(bus, vad_settings, collect, stream=stream) if use_vad else None
    stt = SttListener(bus, s, collect, vad=vad, model=model, stream=stream)
    if vad is not None:
        vad.start()
    stt.start()
    feed_chunks(bus, pcm, TARGET_RATE_HZ, chunk_ms=chunk_ms, realtime=False, on_progress=on_progress)
    if vad is not None:
        vad.join(s.policy.flush_timeout_s)
    stt.join(s.policy.flush_timeout_s + 5.0)
    if errors:
        raise ConfigError(f"transcribing {name} failed: {errors[0]}")
    return [replace(t, latency_ms=None) for t in best_finals(found)]


def feed_chunks(
    bus: AudioBus,
    pcm: np.ndarray,
    rate_hz: int,
    *,
    chunk_ms: int = 32,
    realtime: bool = False,
    on_progress: Progress | None = None,
) -> None:
    """Publish int16 `pcm` as AudioChunks, then close the bus. `realtime`: paced like a live source (host
    capture times are real); else as fast as the listeners keep up (never overflowing their queues).
    `on_progress(seconds published, seconds in all)` after each chunk."""
    n = max(1, rate_hz * chunk_ms // 1000)
    total_s = len(pcm) / rate_hz
    t0 = time.monotonic() * 1000.0
    bus.paced = realtime  # else the listeners set the pace (AudioBus)
    for seq, pos in enumerate(range(0, len(pcm), n)):
        ts_ms = t0 + pos * 1000.0 / rate_hz
        if realtime:
            time.sleep(max(0.0, (ts_ms + chunk_ms - time.monotonic() * 1000.0) / 1000.0))
        samples = pcm[pos : pos + n]
        samples.flags.writeable = False
        bus.publish(AudioChunk(seq, ts_ms, rate_hz, samples, stream_sample=pos))
        if on_progress is not None:
            on_progress((pos + len(samples)) / rate_hz, total_s)
    bus.close()
