"""Noisy speech for the stage benchmark: a speech set, three synthetic noises and the mixing at a given SNR.

Nothing is downloaded: the noises are made here, deterministically from a seed (`tools/make_noise.py` writes
them to files to listen to). All at 16 kHz, float64, unit RMS before mixing:
- `fan`: a fan's blade-pass hum (120 Hz and 5 harmonics falling 1/k, a slow ±1 % wobble) plus airflow
  (white noise shaped to fall above 400 Hz), at equal energy;
- `babble`: five talkers of the speech set, reversed (no intelligible words) and summed at random offsets;
- `white`: Gaussian white noise.
A speech set is a folder with `manifest.json` (tests/fixtures, or the paused-speech set of
tools/make_speech_set.py): files with `text`, and speech spans as `segments`, `sentences[].segments` or
`speech_start_sample`/`speech_end_sample`; files with kind `noise` or empty text are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picomic.audio.files import read_audio
from picomic.audio.pcm import I16
from picomic.errors import ConfigError

RATE_HZ = 16000
NOISES = ("fan", "babble", "white")
LEAD_S = 2.0
"""Noise alone before and after each utterance: where the VAD can start falsely."""


@dataclass(frozen=True, slots=True)
class Utterance:
    name: str
    text: str
    pcm: I16
    spans: tuple[tuple[int, int], ...]
    """[first, end) sample indices of the speech."""

    def active(self) -> np.ndarray:
        return np.concatenate([self.pcm[a:b] for a, b in self.spans]).astype(np.float64)


def _spans(entry: dict[str, object]) -> tuple[tuple[int, int], ...]:
    if isinstance(entry.get("segments"), list):
        return tuple((int(a), int(b)) for a, b in entry["segments"])  # type: ignore[attr-defined]
    if isinstance(entry.get("sentences"), list):
        return tuple((int(a), int(b)) for s in entry["sentences"] for a, b in s["segments"])  # type: ignore[attr-defined]
    return ((int(entry["speech_start_sample"]), int(entry["speech_end_sample"])),)  # type: ignore[call-overload]


def load_speech_set(folder: Path, limit: int | None = None) -> list[Utterance]:
    """The utterances of a speech set (ConfigError when the folder has no usable manifest)."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"no speech set at {folder}: it needs a manifest.json (see tools/make_fixtures.py)")
    files = json.loads(path.read_text())["files"]
    out = []
    for entry in files:
        if entry.get("kind") == "noise" or not str(entry.get("text", "")).strip():
            continue
        pcm = read_audio(folder / entry["file"])
        out.append(Utterance(Path(entry["file"]).stem, str(entry["text"]), pcm, _spans(entry)))
    if not out:
        raise ConfigError(f"the speech set at {folder} has no utterance with a text")
    return out[:limit]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-12)


def white(n: int, seed: int) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal(n))


def fan(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * 120.0 * np.cumsum(wobble) / RATE_HZ
    hum = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 7))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE_HZ)
    airflow = np.fft.irfft(spectrum / np.sqrt(1.0 + (freqs / 400.0) ** 2), n)
    return _unit(_unit(np.asarray(hum)) + _unit(airflow))


def babble(n: int, seed: int, voices: list[Utterance], talkers: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    for k in range(talkers):
        voice = voices[k % len(voices)].pcm[::-1].astype(np.float64)
        track = np.resize(voice, n + len(voice))  # repeated to cover n from any offset
        start = int(rng.integers(0, len(voice)))
        out += _unit(track[start : start + n])
    return _unit(out)


def noise(kind: str, n: int, seed: int, voices: list[Utterance]) -> np.ndarray:
    makers: dict[str, Callable[[int, int], np.ndarray]] = {
        "fan": fan,
        "white": white,
        "babble": lambda n, seed: babble(n, seed, voices),
    }
    if kind not in makers:
        raise ConfigError(f"unknown noise {kind!r}; choose from {', '.join(NOISES)}")
    return makers[kind](n, seed)


def mix(utt: Utterance, noise_unit: np.ndarray, snr_db: float) -> tuple[I16, tuple[tuple[int, int], ...]]:
    """The utterance with LEAD_S of noise before and after, the noise at `snr_db` below the RMS of the active
    speech; returns the int16 mixture and the speech spans in it."""
    lead = int(LEAD_S * RATE_HZ)
    clean = np.concatenate([np.zeros(lead), utt.pcm.astype(np.float64), np.zeros(lead)])
    speech_rms = float(np.sqrt(np.mean(utt.active() ** 2)))
    scaled = noise_unit[: len(clean)] * speech_rms / 10 ** (snr_db / 20)
    mixed = np.clip(np.rint(clean + scaled), -32768, 32767).astype(np.int16)
    return mixed, tuple((a + lead, b + lead) for a, b in utt.spans)


def mixture_length(utt: Utterance) -> int:
    return len(utt.pcm) + 2 * int(LEAD_S * RATE_HZ)
