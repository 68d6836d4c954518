#!/usr/bin/env python3
"""Each piece of the harder set decoded alone on short encoder windows and on the full window.

A piece is a stretch of speech between the set's mid-sentence pauses (the manifest's `segments`), cut with the
stream's pre-roll (300 ms) and end pad (150 ms), decoded with the text of its sentence's earlier pieces as
prompt, as a later piece of a turn is. Per piece and per encoder pad: the decode time, whether the first,
capped attempt was `window.suspect` (a loop or a cut; then `window.transcribe` retries), and the text. Prints
the count of suspect first attempts and the total decode time per pad.

    PYTHONPATH=host python tools/window_check.py [PAD_S ...]   # default: 4 5 6 8 10 s and the full window,
                                                               # each with pre-rolls of 200 and 300 ms
"""

from __future__ import annotations

import sys
import time

import numpy as np
from picomic.audio.files import read_audio
from picomic.bench.stt import load_manifest
from picomic.bench.stt_set import SET
from picomic.speech import window
from picomic.speech.decode import DecodeOptions
from picomic.speech.models import ModelSettings, load_whisper

PRE_ROLLS_MS = (200, 300)
"""Audio before each piece's manifest start: greedy tiny.en loops on some cuts and not on others 100 ms away."""
END_PAD = 2400  # samples at 16 kHz: 150 ms, the stream's end pad


def pieces(pre_roll: int) -> list[tuple[str, np.ndarray, int]]:
    """(file, audio of the piece, index of the piece in its sentence) for every piece of the set's speech."""
    out = []
    for f in load_manifest(SET):
        if f["kind"] == "noise":
            continue
        audio = read_audio(SET / f["file"]).astype(np.float32) / 32768.0
        for sentence in f["sentences"]:
            for i, (start, end) in enumerate(sentence["segments"]):
                out.append((f["file"], audio[max(0, start - pre_roll) : end + END_PAD], i))
    return out


def main() -> int:
    pads: list[float | None] = [float(a) for a in sys.argv[1:]] or [4.0, 5.0, 6.0, 8.0, 10.0, None]
    for pre_roll_ms in PRE_ROLLS_MS:
        cut = pieces(pre_roll_ms * 16)
        for pad in pads:
            check(pad, cut, f"{'full' if pad is None else f'{pad:g} s'}, pre-roll {pre_roll_ms} ms")
    return 0


def check(pad: float | None, cut: list[tuple[str, np.ndarray, int]], label: str) -> None:
    """Decode every piece on one pad; print each piece and the totals."""
    model = load_whisper(ModelSettings(encoder_pad_s=pad))
    options = DecodeOptions()
    suspects, total_ms, prompt = 0, 0.0, ""
    for name, audio, index in cut:
        prompt = "" if index == 0 else prompt
        kwargs = options.transcribe_kwargs(prompt or None)
        t0 = time.perf_counter()
        segments, decodes = window.attempts(model, audio, kwargs)
        ms = (time.perf_counter() - t0) * 1000.0
        text = " ".join(s.text.strip() for s in segments)
        retried = decodes > 1
        suspects += retried
        total_ms += ms
        prompt = f"{prompt} {text}".strip()
        flag = "retry" if retried else "     "
        print(f"{label:<24} {name:<20} {len(audio) / 16000:4.1f} s {ms:6.0f} ms {flag} {text}")
    print(f"{label}: {suspects} of {len(cut)} first attempts suspect, {total_ms:.0f} ms of decodes\n")


if __name__ == "__main__":
    sys.exit(main())
