#!/usr/bin/env python3
"""Make the speech fixtures (tests/fixtures/) and the bundled demo sample (host/picomic/data/).

Developer tool: needs `espeak-ng` and `sox` (Debian packages) plus numpy and soundfile. Tests never run it;
they read the committed FLAC files and `tests/fixtures/manifest.json`.

Every file is 16 kHz mono 16-bit FLAC. Speech is synthesised by espeak-ng, resampled by sox, trimmed to its
first/last sample above -54 dBFS and padded with exact digital silence, so the speech edges recorded in the
manifest are known to the sample. Files with `parts` have an internal pause of exact silence between parts.

    python tools/make_fixtures.py            # rewrite everything (deterministic for a given espeak-ng)
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

RATE_HZ = 16000
EDGE_LEVEL = 64  # |sample| above this (-54 dBFS) counts as speech when trimming espeak's output
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DEMO = ROOT / "host" / "picomic" / "data" / "demo_speech.flac"


@dataclass(frozen=True)
class Spec:
    name: str
    parts: tuple[str, ...]
    pause_ms: int = 0
    lead_ms: int = 300
    trail_ms: int = 900


SPECS = (
    Spec("utt1_box", ("She opened the box and found a small wooden key.",)),
    Spec("utt2_lights", ("Please turn on the kitchen lights and open the front door.",)),
    Spec("utt3_coffee", ("I would like a cup of coffee.", "Make it strong and without sugar."), pause_ms=400),
    Spec("utt4_weather", ("The weather today is sunny with a gentle breeze from the west.",)),
    Spec("utt5_meeting", ("Good morning everyone.", "Let us begin the meeting with a short update."), 1200),
    Spec(
        "edges_windows",
        ("Remember to close the windows before you leave the house.",),
        lead_ms=1000,
        trail_ms=1500,
    ),
)
DEMO_SPEC = Spec(
    "demo_speech",
    ("Good morning. This is the tiny microphone on a Raspberry Pi.", "This sample plays when no board is connected."),
    pause_ms=1000,
    lead_ms=400,
    trail_ms=1000,
)


def synth(text: str, workdir: Path) -> np.ndarray:
    """espeak-ng → sox (16 kHz mono 16-bit) → int16 samples trimmed to the speech edges."""
    raw, wav = workdir / "raw.wav", workdir / "16k.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE_HZ), "-c", "1", "-b", "16", str(wav)], check=True)
    samples, rate = sf.read(wav, dtype="int16")
    assert rate == RATE_HZ
    loud = np.nonzero(np.abs(samples.astype(np.int32)) > EDGE_LEVEL)[0]
    return np.asarray(samples[loud[0] : loud[-1] + 1], dtype=np.int16)


def build(spec: Spec, workdir: Path) -> tuple[np.ndarray, list[list[int]]]:
    """The padded file and its speech segments as [first_sample, end_sample) pairs."""
    pieces: list[np.ndarray] = [np.zeros(spec.lead_ms * RATE_HZ // 1000, np.int16)]
    segments: list[list[int]] = []
    pos = len(pieces[0])
    for i, text in enumerate(spec.parts):
        if i:
            gap = np.zeros(spec.pause_ms * RATE_HZ // 1000, np.int16)
            pieces.append(gap)
            pos += len(gap)
        speech = synth(text, workdir)
        pieces.append(speech)
        segments.append([pos, pos + len(speech)])
        pos += len(speech)
    pieces.append(np.zeros(spec.trail_ms * RATE_HZ // 1000, np.int16))
    return np.concatenate(pieces), segments


def write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, RATE_HZ, format="FLAC", subtype="PCM_16")


def main() -> int:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"make_fixtures: {tool} not found; install it (apt-get install {tool})", file=sys.stderr)
            return 1
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SPECS:
            samples, segments = build(spec, Path(tmp))
            write(FIXTURES / f"{spec.name}.flac", samples)
            entries.append(
                {
                    "file": f"{spec.name}.flac",
                    "text": " ".join(spec.parts),
                    "samples": len(samples),
                    "speech_start_sample": segments[0][0],
                    "speech_end_sample": segments[-1][1],
                    "segments": segments,
                    "pause_ms": spec.pause_ms,
                }
            )
        demo, _ = build(DEMO_SPEC, Path(tmp))
        write(DEMO, demo)
    manifest = {
        "sample_rate_hz": RATE_HZ,
        "made_by": "tools/make_fixtures.py (espeak-ng en-us, 150 wpm, sox to 16 kHz)",
        "edges": "speech_*_sample and segments are [first, end) sample indices of the speech, before padding",
        "files": entries,
    }
    text = json.dumps(manifest, indent=2)
    text = re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", text)  # one line per segment
    (FIXTURES / "manifest.json").write_text(text + "\n")
    total = sum(p.stat().st_size for p in FIXTURES.glob("*.flac")) + DEMO.stat().st_size
    print(f"wrote {len(entries)} fixtures + {DEMO.name}: {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
