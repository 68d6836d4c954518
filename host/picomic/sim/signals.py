"""Signal sources for the simulated boards (the INMP441 words made from them are picomic.sim.mic).

A SIGNAL spec is one of

- a path to an audio file (WAV, FLAC, anything libsndfile or PyAV reads; any rate, width, channels): mixed
  down to mono and resampled to the stream rate with libswresample (PyAV). A 16-bit mono file already at the
  stream rate is used sample for sample (DECISIONS 10: digital injection is exact);
- ``sine:FREQ`` or ``sine:FREQ:LEVEL`` (LEVEL like ``-20dBFS``, the sine's peak; default -20 dBFS);
- ``noise`` or ``noise:LEVEL`` (white Gaussian noise, LEVEL is its RMS; default -40 dBFS);
- ``silence``;
- ``-``: raw signed 16-bit little-endian mono PCM on stdin, taken to be at the stream rate.

Synthetic signals never end unless a duration is given; files and stdin end at their end unless looped.
The stream rate is chosen by the firmware's START, so a signal is rendered on demand at whatever rate the
simulated ``machine.I2S`` asks for (``render(rate, start, n)``, random access by sample index).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from picomic.audio.files import load_audio
from picomic.audio.resample import resample_i16
from picomic.errors import ConfigError
from picomic.stream.protocol import MAX_RATE_HZ

I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]

FULL_SCALE_24 = (1 << 23) - 1
NOISE_FLOOR_DBFS = -87.0
"""INMP441 datasheet noise floor (the opt-in ``noise_floor`` option)."""
DEFAULT_SINE_DBFS = -20.0
DEFAULT_NOISE_DBFS = -40.0
_NOISE_BLOCK = 4096  # noise is generated per block of this many samples, seeded by (seed, rate, block)
_LEVEL_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*dbfs$", re.IGNORECASE)


DEMO_SPEECH = Path(__file__).resolve().parents[1] / "data" / "demo_speech.flac"
"""The bundled speech sample (the simulated board's default signal for `listen --sim`, `doctor --sim`)."""


def demo_speech_path() -> Path:
    """The bundled speech sample the simulated board plays when no SIGNAL is given."""
    return DEMO_SPEECH


# ------------------------------------------------------------------------------------------------ signals


class Signal:
    """Mono int16 audio addressable by sample index at any rate. Subclasses implement `_render`/`_length`."""

    name: str = "signal"

    def __init__(self, duration_s: float | None = None, loop: bool = False) -> None:
        if duration_s is not None and duration_s <= 0:
            raise ConfigError(f"signal duration must be > 0 seconds, got {duration_s}")
        self.duration_s = duration_s
        self.loop = loop

    def length(self, rate_hz: int) -> int | None:
        """Samples at `rate_hz` before the signal ends; None for an endless signal."""
        natural = None if self.loop else self._length(rate_hz)
        if self.duration_s is None:
            return natural
        limit = round(self.duration_s * rate_hz)
        return limit if natural is None else min(limit, natural)

    def render(self, rate_hz: int, start: int, n: int) -> I16:
        """Samples [start, start+n) at `rate_hz`, fewer (possibly none) where the signal ends."""
        end = start + n
        total = self.length(rate_hz)
        if total is not None:
            end = min(end, total)
        if end <= start:
            return np.zeros(0, np.int16)
        return self._render(rate_hz, start, end - start)

    def _length(self, rate_hz: int) -> int | None:
        return None

    def _render(self, rate_hz: int, start: int, n: int) -> I16:
        raise NotImplementedError

    def check_rate(self, rate_hz: int) -> None:
        """ConfigError when the signal cannot be played at the stream rate `rate_hz` (a sine at or above its
        Nyquist frequency would alias into another tone). Every signal but a sine plays at any rate."""


class Silence(Signal):
    name = "silence"

    def _render(self, rate_hz: int, start: int, n: int) -> I16:
        return np.zeros(n, np.int16)


class Sine(Signal):
    name = "sine"

    def __init__(
        self,
        freq_hz: float,
        level_dbfs: float = DEFAULT_SINE_DBFS,
        duration_s: float | None = None,
        loop: bool = False,
    ) -> None:
        super().__init__(duration_s, loop)
        if not 0 < freq_hz < MAX_RATE_HZ / 2:  # NaN fails too
            raise ConfigError(
                f"sine frequency must be > 0 and below {MAX_RATE_HZ // 2} Hz (half the highest stream rate, "
                f"{MAX_RATE_HZ} Hz), got {freq_hz:g}"
            )
        self.freq_hz = freq_hz
        self.amplitude = 32767.0 * db_to_gain(level_dbfs)

    def check_rate(self, rate_hz: int) -> None:
        if self.freq_hz >= rate_hz / 2:
            raise ConfigError(
                f"sine:{self.freq_hz:g} is at or above the Nyquist frequency of a {rate_hz} Hz stream "
                f"({rate_hz / 2:g} Hz): choose a tone below it or a higher rate",
                settings=("signal", "rate_hz"),
            )

    def _render(self, rate_hz: int, start: int, n: int) -> I16:
        idx = np.arange(start, start + n, dtype=np.float64)
        phase = 2.0 * math.pi * self.freq_hz * idx / rate_hz
        return _to_i16(self.amplitude * np.sin(phase))


class Noise(Signal):
    name = "noise"

    def __init__(
        self,
        level_dbfs: float = DEFAULT_NOISE_DBFS,
        seed: int = 0,
        duration_s: float | None = None,
        loop: bool = False,
    ) -> None:
        super().__init__(duration_s, loop)
        self.rms = 32767.0 * db_to_gain(level_dbfs)
        self.seed = seed

    def _render(self, rate_hz: int, start: int, n: int) -> I16:
        first, last = start // _NOISE_BLOCK, (start + n - 1) // _NOISE_BLOCK
        blocks = [self._block(rate_hz, b) for b in range(first, last + 1)]
        joined = np.concatenate(blocks)
        off = start - first * _NOISE_BLOCK
        return joined[off : off + n]

    def _block(self, rate_hz: int, block: int) -> I16:
        rng = np.random.default_rng((self.seed, rate_hz, block))
        return _to_i16(rng.normal(0.0, self.rms, _NOISE_BLOCK))


class FileSignal(Signal):
    """An audio file, decoded once and resampled once per requested rate (cached)."""

    name = "file"

    def __init__(self, path: str | Path, duration_s: float | None = None, loop: bool = False) -> None:
        super().__init__(duration_s, loop)
        self.path = Path(path)
        if not self.path.is_file():
            exists = "is not a regular file" if self.path.exists() else "does not exist"
            why = "is a folder" if self.path.is_dir() else exists
            raise ConfigError(f"signal file {self.path} {why}; give a WAV/FLAC file, sine:440, noise or -")
        self.native_rate, self._mono = load_audio(self.path)
        self._cache: dict[int, I16] = {}

    def at_rate(self, rate_hz: int) -> I16:
        """The whole file as mono int16 at `rate_hz`."""
        pcm = self._cache.get(rate_hz)
        if pcm is None:
            pcm = resample_i16(self._mono, self.native_rate, rate_hz)
            self._cache[rate_hz] = pcm
        return pcm

    def _length(self, rate_hz: int) -> int | None:
        return len(self.at_rate(rate_hz))

    def _render(self, rate_hz: int, start: int, n: int) -> I16:
        return _cyclic(self.at_rate(rate_hz), start, n)


class StreamSignal(Signal):
    """Raw s16le mono PCM from a byte stream (stdin), at the stream rate. Sequential: `render` may look back
    only as far as the last `forget` call (the simulator keeps what a live I2S session may still need)."""

    name = "stdin"

    def __init__(self, stream: BinaryIO, duration_s: float | None = None) -> None:
        super().__init__(duration_s, False)
        self.stream = stream
        self._buf = bytearray()
        self._base = 0  # sample index of _buf[0]
        self._eof = False

    def _length(self, rate_hz: int) -> int | None:
        return None  # known only at EOF; `_render` returns short there

    def render(self, rate_hz: int, start: int, n: int) -> I16:
        if self.duration_s is not None:
            n = max(0, min(n, round(self.duration_s * rate_hz) - start))
        if n <= 0:
            return np.zeros(0, np.int16)
        self._fill((start + n - self._base) * 2)
        off = (start - self._base) * 2
        if off < 0:
            raise ValueError(f"stdin signal cannot rewind to sample {start} (kept from {self._base})")
        data = bytes(self._buf[off : off + n * 2])
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)

    def forget(self, before: int) -> None:
        """Release samples before index `before`."""
        drop = max(0, min(len(self._buf) // 2, before - self._base))
        del self._buf[: drop * 2]
        self._base += drop

    def _fill(self, want_bytes: int) -> None:
        while len(self._buf) < want_bytes and not self._eof:
            chunk = self.stream.read(max(4096, want_bytes - len(self._buf)))
            if not chunk:
                self._eof = True
            else:
                self._buf += chunk


# ----------------------------------------------------------------------------------------- spec parsing


def parse_signal(
    spec: str | None,
    *,
    duration_s: float | None = None,
    loop: bool = False,
    seed: int = 0,
    stdin: BinaryIO | None = None,
) -> Signal:
    """A Signal from a SIGNAL spec (see the module docstring). None means endless silence."""
    if spec is None or spec == "silence":
        return Silence(duration_s, loop)
    if spec == "-":
        if loop:
            raise ConfigError("--loop cannot replay stdin; give a file or a synthetic signal to loop")
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer
        return StreamSignal(stdin, duration_s)
    head, _, rest = spec.partition(":")
    if head == "sine":
        return _parse_sine(spec, rest, duration_s, loop)
    if head == "noise":
        level = _parse_level(spec, rest) if rest else DEFAULT_NOISE_DBFS
        return Noise(level, seed, duration_s, loop)
    return FileSignal(spec, duration_s, loop)


def _parse_sine(spec: str, rest: str, duration_s: float | None, loop: bool) -> Sine:
    freq_s, _, level_s = rest.partition(":")
    try:
        freq = float(freq_s)
    except ValueError:
        raise ConfigError(f"bad signal {spec!r}: write sine:FREQ_HZ or sine:FREQ_HZ:-20dBFS") from None
    level = _parse_level(spec, level_s) if level_s else DEFAULT_SINE_DBFS
    return Sine(freq, level, duration_s, loop)


def _parse_level(spec: str, text: str) -> float:
    m = _LEVEL_RE.match(text.strip())
    if m is None:
        raise ConfigError(f"bad level in signal {spec!r}: write it like -20dBFS")
    level = float(m.group(1))
    if level > 0:
        raise ConfigError(f"bad level in signal {spec!r}: dBFS levels are <= 0")
    return level


# ------------------------------------------------------------------------------------------------ helpers


def db_to_gain(dbfs: float) -> float:
    return float(10.0 ** (dbfs / 20.0))


def _to_i16(x: npt.NDArray[np.float64]) -> I16:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _cyclic(pcm: I16, start: int, n: int) -> I16:
    if not len(pcm):
        return pcm
    if start + n <= len(pcm):
        return pcm[start : start + n]
    idx = np.arange(start, start + n) % len(pcm)
    return pcm[idx]
