"""From settings to stages: which processors run, in which order, on which streams; and the same processors
over a whole signal (`process_signal`: doctor's before/after noise floor, the bench).

Order: high-pass → RNNoise → WebRTC (noise suppression and/or auto gain). Each is a stage of its own with a
stream of its own (`highpass`, `rnnoise`, `webrtc`), each listening to the one before; the last one's stream is
what VAD, STT and wake word use (`speech_stream`). With no stage on everything listens to `raw`, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from picomic.audio.pcm import I16
from picomic.bus.audiobus import RAW_STREAM, AudioBus
from picomic.bus.events import Event
from picomic.bus.status import PipelineStatus
from picomic.errors import ConfigError
from picomic.speech.transcribe import feed_chunks
from picomic.stages.processors import Highpass, Processor, Rnnoise, WebRtc
from picomic.stages.stage import Stage

Denoiser = Literal["webrtc", "rnnoise"]


@dataclass(frozen=True, slots=True)
class StageSettings:
    """Which front-end stages run (all off by default: the speech path hears the raw stream)."""

    highpass_hz: float | None = None
    """High-pass cutoff (DC and rumble removal); None: off."""
    noise_suppression: int = 0
    """WebRTC noise suppression level 0..4 (0: off); with `denoiser="rnnoise"` RNNoise runs instead."""
    auto_gain_dbfs: int = 0
    """WebRTC automatic gain toward −N dBFS, N 1..31 (0: off)."""
    denoiser: Denoiser = "webrtc"
    """Which suppressor `noise_suppression` turns on: WebRTC's (levels 1..4) or RNNoise (any level > 0)."""

    def __post_init__(self) -> None:
        if self.denoiser not in ("webrtc", "rnnoise"):
            raise ConfigError(f"denoiser must be webrtc or rnnoise, got {self.denoiser!r}", settings=("denoiser",))

    @property
    def any(self) -> bool:
        return bool(self.highpass_hz is not None or self.noise_suppression or self.auto_gain_dbfs)


def build_processors(settings: StageSettings) -> list[Processor]:
    """The processors `settings` turns on, in pipeline order (ConfigError for a bad value or a missing library)."""
    chain: list[Processor] = []
    if settings.highpass_hz is not None:
        chain.append(Highpass(settings.highpass_hz))
    rnnoise = settings.denoiser == "rnnoise" and settings.noise_suppression > 0
    if rnnoise:
        chain.append(Rnnoise())
    webrtc_ns = 0 if rnnoise else settings.noise_suppression
    if webrtc_ns or settings.auto_gain_dbfs:
        chain.append(WebRtc(webrtc_ns, settings.auto_gain_dbfs))
    return chain


def add_stages(
    bus: AudioBus,
    processors: list[Processor],
    emit: Callable[[Event], None] | None = None,
    status: PipelineStatus | None = None,
) -> list[Stage]:
    """One Stage per processor, each listening to the previous one's stream (the first to `raw`)."""
    stages: list[Stage] = []
    for processor in processors:
        source = stages[-1].name if stages else RAW_STREAM
        stages.append(Stage(bus, processor, source=source, emit=emit, status=status))
    return stages


def speech_stream(stages: list[Stage]) -> str:
    """The stream VAD, STT and wake word use: the last stage's, or `raw` (DECISIONS 43)."""
    return stages[-1].name if stages else RAW_STREAM


def process_signal(processors: list[Processor], pcm: I16, rate_hz: int) -> I16:
    """A whole int16 mono signal through `processors` on a private bus: the very stages of a pipeline, so the
    result is what a consumer of the last stream receives (16 kHz int16, positions kept)."""
    if not processors:
        raise ConfigError("no stage is on: nothing to process", settings=("noise_suppression",))
    bus = AudioBus()
    stages = add_stages(bus, processors)
    out = bus.subscribe("collect", maxsize=1 << 20, stream=stages[-1].name)
    for stage in stages:
        stage.start()
    feed_chunks(bus, np.asarray(pcm, dtype=np.int16), rate_hz, chunk_ms=10)  # as fast as the stages keep up
    parts = []
    while (chunk := out.recv(timeout=30.0)) is not None:
        parts.append((chunk.stream_sample, chunk.samples))
    for stage in stages:
        stage.finish(5.0)
    if not parts:
        return np.zeros(0, np.int16)
    total = parts[-1][0] + len(parts[-1][1])
    result = np.zeros(total, np.int16)
    for start, samples in parts:
        result[start : start + len(samples)] = samples
    return result
