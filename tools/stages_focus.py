#!/usr/bin/env python3
"""A focused slice of the stage benchmark: chosen noises, SNRs and stage configurations on a speech set, with each
utterance's hypothesis and VAD starts, and the pooled WER per (config, noise, SNR) — the mixtures and the path of
`picomic bench --only stages` (bench/stages.py: `transcribe_with`, seeds 100 + utterance index), in minutes.

    PYTHONPATH=host HF_HUB_OFFLINE=1 python tools/stages_focus.py [--set DIR] [--noises fan,babble,white]
        [--snrs 20,10,5,0] [--configs off,webrtc]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from picomic.bench.noise import load_speech_set, mix, mixture_length, noise
from picomic.bench.stages import CONFIGS, PAUSED_SPEECH_SET, false_starts, transcribe_with
from picomic.bench.stt import wer_counts
from picomic.speech.stt import SttSettings, load_model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=PAUSED_SPEECH_SET)
    ap.add_argument("--noises", default="fan,babble,white")
    ap.add_argument("--snrs", default="20,10,5,0")
    ap.add_argument("--configs", default="off,webrtc")
    args = ap.parse_args()
    configs = dict(CONFIGS)
    utterances = load_speech_set(args.set)
    model = load_model(SttSettings())
    totals: dict[tuple[str, str, int], list[int]] = {}
    for i, utt in enumerate(utterances):
        for kind in args.noises.split(","):
            noise_unit = noise(kind, mixture_length(utt), seed=100 + i, voices=utterances)
            for snr in (int(x) for x in args.snrs.split(",")):
                pcm, spans = mix(utt, noise_unit, snr)
                for name in args.configs.split(","):
                    text, starts = transcribe_with(pcm, configs[name], model)
                    errors, words = wer_counts([utt.text], [text])
                    total = totals.setdefault((name, kind, snr), [0, 0, 0])
                    total[0], total[1] = total[0] + errors, total[1] + words
                    total[2] += false_starts(starts, spans)
                    print(f"{utt.name} {kind} {snr} dB {name}: {errors}/{words} errors, VAD starts at "
                          f"{[round(s / 16000, 2) for s in starts]} s: {text!r}", flush=True)  # fmt: skip
    for (name, kind, snr), (errors, words, fs) in totals.items():
        print(f"{name:8} {kind:6} {snr:2} dB  WER {100 * errors / max(words, 1):5.1f} % ({errors}/{words}), "
              f"false starts {fs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
