#!/usr/bin/env python3
"""The hallucination guard beyond the committed noise files: fresh babble and quieter or noisier speech.

Needs what tools/make_speech_set.py needs (piper-tts + the voice package, espeak-ng) for the babble. Prints, per
babble (3 seeds × 3 levels), the finals with and without the guard pair, and the word errors on the speech files
of the set at −20 dB and at −10 dB under white noise, with and without the guard.

    PYTHONPATH=host:tools python tools/guard_check.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import make_speech_set as ms
import numpy as np
import soundfile as sf
from picomic.bench import stt_set
from picomic.bench.stt import wer_counts
from picomic.speech.decode import DecodeOptions
from picomic.speech.stt import SttSettings, load_model
from picomic.speech.transcribe import transcribe_file

UNGUARDED = SttSettings(decode=DecodeOptions(guard_no_speech_prob=1.0))


def main() -> int:
    model = load_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        voices = ms.Voices(Path(tmp))
        for seed in (1, 2, 3):
            for dbfs in (-25.0, -33.0, -40.0):
                ms.BABBLE_SEED = 100 * seed
                sf.write(path, ms.babble(voices, 5 * ms.RATE_HZ, dbfs), ms.RATE_HZ)
                guarded = [t.text for t in transcribe_file(path, model=model)]
                unguarded = [t.text for t in transcribe_file(path, UNGUARDED, model=model)]
                print(f"babble seed {seed} {dbfs:g} dBFS: guarded {guarded} unguarded {unguarded}")
        files = [f for f in stt_set.load_manifest(stt_set.SET) if f["kind"] != "noise"]
        rng = np.random.default_rng(5)
        for scale, noise_rms in ((0.1, 0.0), (0.3, 200.0)):
            refs, hyps, raw = [], [], []
            for f in files:
                pcm, _ = sf.read(stt_set.SET / f["file"], dtype="int16")
                mixed = pcm * scale + rng.standard_normal(len(pcm)) * noise_rms
                sf.write(path, np.clip(mixed, -32768, 32767).astype(np.int16), ms.RATE_HZ)
                refs.append(f["text"])
                hyps.append(" ".join(t.text for t in transcribe_file(path, model=model)))
                raw.append(" ".join(t.text for t in transcribe_file(path, UNGUARDED, model=model)))
            print(f"speech ×{scale:g}, noise rms {noise_rms:g}: word errors guarded {wer_counts(refs, hyps)}, "
                  f"unguarded {wer_counts(refs, raw)} (errors, words)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
