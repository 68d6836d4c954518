"""The simulated INMP441: the 32-bit I2S slot words it sends for a signal, with its start-up settle, a junk low
byte, and the faults a user's wiring or microphone can have (stuck SD, wrong slot, DC, clipping, self-noise).

`mic_words` places the 16-bit sample digitally into the INMP441's 24-bit slot (``s16 << 8``, i.e. the 32-bit
word is ``s16 << 16`` plus a junk low byte), with noise floor, DC offset, clipping and wiring faults only when
asked for. `dma_bytes` lays the words out exactly as rp2's ``I2S.readinto`` returns them for the requested
``bits`` and ``format``; `i2s_stream` is one I2S session's byte stream (settle, then the signal). The unix-port
simulated board and the emulated Pico both take their words from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from picomic.errors import ConfigError
from picomic.sim.signals import FULL_SCALE_24, I16, I32, Signal, db_to_gain
from picomic.stream.protocol import SETTLE_SAMPLES

MIC_FAULTS = ("stuck-low", "stuck-high", "wrong-slot", "clip", "dc:<fraction>")
_CLIP_GAIN = 8.0  # --mic-fault clip: +18 dB into a saturating 24-bit converter
_JUNK = np.array([0x00, 0xF8, 0xC0], dtype=np.int32)  # the low bytes users report from real INMP441s


@dataclass(frozen=True, slots=True)
class MicOptions:
    """What the simulated microphone adds to the exact digital signal (all off by default)."""

    fault: str | None = None
    """None, "stuck-low", "stuck-high", "wrong-slot" or "clip" (DC is `dc`)."""
    dc: float = 0.0
    """DC offset as a fraction of full scale (``--mic-fault dc:0.05``)."""
    noise_dbfs: float | None = None
    """Add white noise at this RMS level (the INMP441 floor is -87 dBFS); None: no noise."""
    seed: int = 0


def parse_mic_fault(text: str | None) -> MicOptions:
    """``--mic-fault`` value → MicOptions (ConfigError naming the accepted values)."""
    if text is None or text == "":
        return MicOptions()
    if text in ("stuck-low", "stuck-high", "wrong-slot", "clip"):
        return MicOptions(fault=text)
    if text.startswith("dc:"):
        try:
            dc = float(text[3:])
        except ValueError:
            dc = math.nan
        if not -1.0 < dc < 1.0:
            raise ConfigError(f"bad --mic-fault {text!r}: dc:FRACTION takes a fraction of full scale, e.g. dc:0.05")
        return MicOptions(dc=dc)
    raise ConfigError(f"unknown --mic-fault {text!r}; choose one of {', '.join(MIC_FAULTS)}")


def settle_words(start: int, n: int) -> I32:
    """The 32-bit left-slot words of start-up samples [start, start+n) (n ≤ SETTLE_SAMPLES - start):
    a small decaying offset with a junk low byte, never a copy of the signal."""
    idx = np.arange(start, start + n, dtype=np.int64)
    ramp = (-(1 << 14) * (SETTLE_SAMPLES - idx) // SETTLE_SAMPLES).astype(np.int32)
    return (ramp << 8) | _junk(idx)


def mic_words(pcm: I16, start: int, mic: MicOptions) -> tuple[I32, I32]:
    """(left, right) 32-bit slot words for int16 samples whose stream index starts at `start`."""
    if mic.fault in ("stuck-low", "stuck-high"):  # SD tied low/high: no word depends on the signal
        stuck = np.full(len(pcm), 0 if mic.fault == "stuck-low" else -1, np.int32)
        return stuck, stuck
    idx = np.arange(start, start + len(pcm), dtype=np.int64)
    s24 = pcm.astype(np.int64) << 8
    if mic.dc or mic.noise_dbfs is not None or mic.fault == "clip":
        s24 = _analog(s24, idx, mic)
    words = ((s24.astype(np.int32)) << 8) | _junk(idx)
    zeros = np.zeros(len(pcm), np.int32)
    return (zeros, words) if mic.fault == "wrong-slot" else (words, zeros)


def _analog(s24: npt.NDArray[np.int64], idx: npt.NDArray[np.int64], mic: MicOptions) -> npt.NDArray[np.int64]:
    x = s24.astype(np.float64)
    if mic.fault == "clip":
        x *= _CLIP_GAIN
    x += mic.dc * FULL_SCALE_24
    if mic.noise_dbfs is not None and len(idx):
        rng = np.random.default_rng((mic.seed, int(idx[0])))
        x += rng.normal(0.0, FULL_SCALE_24 * db_to_gain(mic.noise_dbfs), len(x))
    return np.clip(np.rint(x), -FULL_SCALE_24 - 1, FULL_SCALE_24).astype(np.int64)


def dma_bytes(left: I32, right: I32, bits: int, stereo: bool) -> bytes:
    """What rp2's `I2S.readinto` returns for these slot words: bits=32 the whole words, bits=16 their top
    16 bits; MONO the left slot only, STEREO left/right interleaved. Little-endian."""
    if bits == 16:
        left16, right16 = (left >> 16).astype("<i2"), (right >> 16).astype("<i2")
        if not stereo:
            return left16.tobytes()
        return np.column_stack((left16, right16)).astype("<i2").tobytes()
    if not stereo:
        return left.astype("<i4").tobytes()
    return np.column_stack((left, right)).astype("<i4").tobytes()


def frame_bytes(bits: int, stereo: bool) -> int:
    """Bytes per sample frame that `readinto` returns."""
    return (2 if bits == 16 else 4) * (2 if stereo else 1)


def i2s_stream(
    signal: Signal, mic: MicOptions, rate_hz: int, bits: int, stereo: bool, start: int, block: int = 2048
) -> Iterator[bytes]:
    """The byte stream one simulated I2S session reads: SETTLE_SAMPLES start-up frames, then the signal from
    sample `start` (at `rate_hz`) until it ends. Stream index 0 is the first settle frame."""
    done = 0
    while done < SETTLE_SAMPLES:
        n = min(block, SETTLE_SAMPLES - done)
        words = settle_words(done, n)
        yield dma_bytes(words, np.zeros(n, np.int32), bits, stereo)
        done += n
    pos = start
    while True:
        pcm = signal.render(rate_hz, pos, block)
        if not len(pcm):
            return
        left, right = mic_words(pcm, SETTLE_SAMPLES + pos - start, mic)
        yield dma_bytes(left, right, bits, stereo)
        pos += len(pcm)
        if len(pcm) < block:
            return


def _junk(idx: npt.NDArray[np.int64]) -> I32:
    out: I32 = _JUNK[(idx * 40503 >> 5) % 3]
    return out
