#!/usr/bin/env python3
"""Write the stage benchmark's noises (fan-like, babble-like, white) and its noisy mixtures as files to listen to.

The noises are made by picomic.bench.noise (deterministic from a seed, nothing downloaded): `picomic bench --only
stages` makes the very same ones in memory. Babble is the speech set's utterances reversed and summed.

    python tools/make_noise.py OUT_DIR [--seconds 10] [--speech-set tests/fixtures] [--mix-snr 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from picomic.bench.noise import NOISES, RATE_HZ, load_speech_set, mix, mixture_length, noise  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder for the FLAC files (created)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each noise [10]")
    p.add_argument("--speech-set", type=Path, default=ROOT / "tests" / "fixtures", help="speech set folder")
    p.add_argument("--mix-snr", type=float, help="also write the first utterance in each noise at this SNR (dB)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    voices = load_speech_set(args.speech_set)
    n = int(args.seconds * RATE_HZ)
    for kind in NOISES:
        x = noise(kind, n, 1, voices) * 32768 * 10 ** (-20 / 20)  # unit RMS → -20 dBFS
        sf.write(args.out / f"{kind}.flac", np.clip(np.rint(x), -32768, 32767).astype(np.int16), RATE_HZ)
        if args.mix_snr is not None:
            utt = voices[0]
            mixed, _ = mix(utt, noise(kind, mixture_length(utt), 100, voices), args.mix_snr)
            sf.write(args.out / f"{utt.name}_{kind}_{args.mix_snr:g}db.flac", mixed, RATE_HZ)
    print(f"wrote {', '.join(NOISES)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
