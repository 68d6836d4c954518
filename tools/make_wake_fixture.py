#!/usr/bin/env python3
"""Make the wake-word fixture (tests/fixtures/wake_okay_nabu.flac and wake.json).

Developer tool, like tools/make_fixtures.py (whose espeak-ng → sox → trim pipeline it reuses): needs
`espeak-ng` and `sox` (apt-get install -y espeak-ng sox). Tests never run it; they read the committed files.

The file is speech the wake word must not open ("Good morning everyone."), the wake phrase ("Okay nabu.")
and the command that follows it ("Turn on the kitchen lights."), 1 s of exact silence between the parts.
Under `listen --wake-word okay_nabu` only the command is transcribed.

Which espeak-ng voices the packaged micro wake word models hear (`--probe`: peak probability, pymicro-wakeword
2.5.0, espeak-ng 1.51): "Okay nabu." in en-us reaches 0.942/0.987/0.992 at 120/150/175 wpm (cutoff 0.85),
en-us+m3 ≥ 0.989, en-gb-x-rp 0.839 at 120 wpm but ≥ 0.970 faster, the female en-us+f3 stays below (≤ 0.770).
"Hey Jarvis." is heard only from en-us+f3 at 150/175 wpm (0.978/0.977, cutoff 0.97), never from the male
voices (≤ 0.064). So the fixture uses okay_nabu in the voice of the other fixtures (en-us, 150 wpm).

    python tools/make_wake_fixture.py           # rewrite the fixture
    python tools/make_wake_fixture.py --probe   # print the probabilities above
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from make_fixtures import FIXTURES, RATE_HZ, Spec, build, write

SPEC = Spec("wake_okay_nabu", ("Good morning everyone.", "Okay nabu.", "Turn on the kitchen lights."), pause_ms=1000)
WAKE_WORD = "okay_nabu"
COMMAND = SPEC.parts[2]


PROBE_VOICES = ("en-us", "en-us+m3", "en-us+f3", "en-gb-x-rp")
PROBE_RATES_WPM = (120, 150, 175)


def _espeak(text: str, voice: str, rate_wpm: int, workdir: Path) -> np.ndarray:
    raw, wav = workdir / "probe.wav", workdir / "probe16k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE_HZ), "-c", "1", "-b", "16", str(wav)], check=True)
    samples, _rate = sf.read(wav, dtype="int16")
    return np.asarray(samples, dtype=np.int16)


def probe() -> None:
    """Peak probability of the packaged okay_nabu / hey_jarvis models for espeak-ng voices and rates."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

    with tempfile.TemporaryDirectory() as tmp:
        for model, text in ((Model.OKAY_NABU, "Okay nabu."), (Model.HEY_JARVIS, "Hey Jarvis.")):
            for voice in PROBE_VOICES:
                for rate in PROBE_RATES_WPM:
                    speech = _espeak(text, voice, rate, Path(tmp))
                    pcm = np.concatenate([np.zeros(RATE_HZ, np.int16), speech, np.zeros(2 * RATE_HZ, np.int16)])
                    wake, features = MicroWakeWord.from_builtin(model), MicroWakeWordFeatures()
                    probs = [wake.process_streaming_prob(f) for f in features.process_streaming(pcm.tobytes())]
                    peak = max((p for p in probs if p is not None), default=0.0)
                    print(
                        f"{model.value:10} {voice:11} {rate} wpm  peak {peak:.3f}  (cutoff {wake.probability_cutoff})"
                    )


def main() -> int:
    if "--probe" in sys.argv[1:]:
        probe()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        samples, segments = build(SPEC, Path(tmp))
    write(FIXTURES / f"{SPEC.name}.flac", samples)
    meta = {
        "file": f"{SPEC.name}.flac",
        "made_by": "tools/make_wake_fixture.py (espeak-ng en-us, 150 wpm, sox to 16 kHz)",
        "wake_word": WAKE_WORD,
        "parts": list(SPEC.parts),
        "segments": segments,
        "command": COMMAND,
        "samples": len(samples),
    }
    (FIXTURES / "wake.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {SPEC.name}.flac: {(FIXTURES / meta['file']).stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
