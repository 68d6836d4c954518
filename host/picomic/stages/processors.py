"""What a stage runs on each 10 ms block: high-pass (PyAV's libavfilter), WebRTC noise suppression and automatic
gain (`webrtc-noise-gain`), RNNoise (`pyrnnoise`), and the pass-through a failed stage falls back to.

Every processor takes exactly `BLOCK_SAMPLES` int16 samples at 16 kHz per call and returns int16 samples of
its output stream, which may lag the input by a fixed `delay_samples` (the algorithm's look-back, measured and
checked by the tests) and may hold a few samples back between calls (a resampler's filter). The stage
compensates both, so derived chunks keep the source's positions. Processors are used from one thread.
"""

from __future__ import annotations

import ctypes
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from picomic.audio.pcm import I16
from picomic.audio.resample import TARGET_RATE_HZ, Resampler
from picomic.errors import ConfigError

BLOCK_SAMPLES = TARGET_RATE_HZ // 100
"""10 ms at 16 kHz: webrtc-noise-gain takes exactly 320 bytes (DECISIONS 43)."""
HIGHPASS_RANGE_HZ = (10, 1000)
WEBRTC_NS_DELAY_SAMPLES = 96
"""WebRTC's noise suppressor overlaps 256-sample analysis frames by 96 samples: its output lags by 6 ms."""
RNNOISE_RATE_HZ = 48000
RNNOISE_DELAY_SAMPLES = 320
"""RNNoise (960-sample window at 48 kHz, 480 hop) lags by 20 ms: 320 samples at 16 kHz."""


class Processor(Protocol):
    """One stage's algorithm (not thread-safe: the stage's thread)."""

    @property
    def name(self) -> str:
        """The derived stream's name (`highpass`, `webrtc`, `rnnoise`)."""
        ...

    @property
    def delay_samples(self) -> int:
        """Output sample n is input sample n - delay_samples after processing (16 kHz samples)."""
        ...

    def describe(self) -> str:
        """Its settings in a few words (status, doctor, bench)."""
        ...

    def process(self, block: I16) -> I16:
        """Exactly BLOCK_SAMPLES int16 samples in; the next int16 samples of the output stream out."""
        ...

    def reset(self) -> None:
        """Forget all state (a new epoch or segment: the next block does not continue the last)."""
        ...


def to_i16(x: np.ndarray) -> I16:
    """Float in [-1, 1) as int16, the exact inverse of `audio.pcm.to_float32` (× 32768, rounded, clipped)."""
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


class Passthrough:
    """The block unchanged: what a failed stage's stream carries from then on."""

    delay_samples = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> str:
        return "pass-through (raw audio)"

    def process(self, block: I16) -> I16:
        return block

    def reset(self) -> None:
        pass


class Highpass:
    """A 2-pole Butterworth high-pass (libavfilter `highpass`, through PyAV): removes DC and rumble."""

    name = "highpass"
    delay_samples = 0  # an IIR filter: phase, no block delay

    def __init__(self, cutoff_hz: float) -> None:
        low, high = HIGHPASS_RANGE_HZ
        if not low <= cutoff_hz <= high:
            raise ConfigError(
                f"high-pass cutoff must be {low}..{high} Hz, got {cutoff_hz:g}", settings=("highpass_hz",)
            )
        self.cutoff_hz = cutoff_hz
        self._graph: Any = None
        self._pts = 0
        self.reset()

    def describe(self) -> str:
        return f"high-pass {self.cutoff_hz:g} Hz"

    def reset(self) -> None:
        import av

        graph = av.filter.Graph()
        rate = TARGET_RATE_HZ
        src = graph.add_abuffer(format="s16", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
        hp = graph.add("highpass", f"f={self.cutoff_hz:g}:poles=2")
        sink = graph.add("abuffersink")
        src.link_to(hp)
        hp.link_to(sink)
        graph.configure()
        self._graph, self._pts = graph, 0

    def process(self, block: I16) -> I16:
        import av

        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = TARGET_RATE_HZ, self._pts
        self._pts += len(block)
        self._graph.push(frame)
        parts = []
        while True:
            try:
                parts.append(self._graph.pull().to_ndarray().reshape(-1))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
        return np.concatenate(parts).astype(np.int16, copy=False) if parts else np.zeros(0, np.int16)


def _import_webrtc() -> Any:
    try:
        from webrtc_noise_gain import AudioProcessor
    except ImportError as exc:
        raise ConfigError(
            "noise suppression and auto gain need webrtc-noise-gain (Linux): pip install webrtc-noise-gain",
            settings=("noise_suppression",),
        ) from exc
    return AudioProcessor


class WebRtc:
    """WebRTC's audio processing module (what Home Assistant's voice satellites run): noise suppression
    level 0..4 and automatic gain toward −auto_gain_dbfs dBFS (1..31; 0 is off)."""

    name = "webrtc"

    def __init__(self, noise_suppression: int = 0, auto_gain_dbfs: int = 0) -> None:
        if not 0 <= noise_suppression <= 4:
            raise ConfigError(
                f"noise suppression must be 0..4, got {noise_suppression}", settings=("noise_suppression",)
            )
        if not 0 <= auto_gain_dbfs <= 31:
            raise ConfigError(
                f"auto gain targets -N dBFS with N 0..31 (0: off), got {auto_gain_dbfs}", settings=("auto_gain_dbfs",)
            )
        self.noise_suppression, self.auto_gain_dbfs = noise_suppression, auto_gain_dbfs
        self.delay_samples = WEBRTC_NS_DELAY_SAMPLES if noise_suppression else 0
        self._factory = _import_webrtc()
        self._apm: Any = None
        self.reset()

    def describe(self) -> str:
        parts = [f"noise suppression {self.noise_suppression}"] if self.noise_suppression else []
        parts += [f"auto gain -{self.auto_gain_dbfs} dBFS"] if self.auto_gain_dbfs else []
        return "WebRTC " + (", ".join(parts) or "off")

    def reset(self) -> None:
        self._apm = self._factory(self.auto_gain_dbfs, self.noise_suppression)

    def process(self, block: I16) -> I16:
        audio = self._apm.Process10ms(block.astype("<i2", copy=False).tobytes()).audio
        return np.frombuffer(audio, dtype="<i2")


def _import_rnnoise() -> Any:
    try:
        from pyrnnoise import rnnoise
    except (ImportError, OSError) as exc:
        raise ConfigError("the RNNoise denoiser needs pyrnnoise: pip install 'picomic[rnnoise]'",
                          settings=("denoiser",)) from exc  # fmt: skip
    return rnnoise


class Rnnoise:
    """RNNoise (Xiph's recurrent-network suppressor, through pyrnnoise's librnnoise) at its native 48 kHz:
    16 kHz blocks are resampled up, denoised in 480-sample frames and resampled back (the one resampling path)."""

    name = "rnnoise"
    delay_samples = RNNOISE_DELAY_SAMPLES

    def __init__(self) -> None:
        self._lib = _import_rnnoise()
        self._frame = int(self._lib.FRAME_SIZE)
        self._state: Any = None
        self.reset()

    def describe(self) -> str:
        return "RNNoise"

    def reset(self) -> None:
        self._destroy()
        self._state = self._lib.create()
        self._up = Resampler(TARGET_RATE_HZ, RNNOISE_RATE_HZ)
        self._down = Resampler(RNNOISE_RATE_HZ, TARGET_RATE_HZ)
        self._pending = np.zeros(0, np.float32)

    def process(self, block: I16) -> I16:
        up = np.concatenate([self._pending, self._up.process(block) * np.float32(32768.0)])
        n = len(up) // self._frame * self._frame
        frames = np.ascontiguousarray(up[:n], dtype=np.float32)
        self._pending = up[n:]
        pointer = ctypes.POINTER(ctypes.c_float)
        for start in range(0, n, self._frame):
            frame = frames[start : start + self._frame]
            data = frame.ctypes.data_as(pointer)
            self._lib.lib.rnnoise_process_frame(self._state, data, data)  # in place
        return to_i16(self._down.process(frames / np.float32(32768.0))) if n else np.zeros(0, np.int16)

    def _destroy(self) -> None:
        if self._state is not None:
            self._lib.destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self._destroy()
