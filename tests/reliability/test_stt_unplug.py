"""Speech-to-text resumes after an unplug: the real model, the real CLI, a replug between two utterances."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
from relsupport import ENV, PICOMIC, ROOT

FIXTURES = ROOT / "tests" / "fixtures"


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


def test_transcripts_continue_after_unplug_and_replug(tmp_path: Path) -> None:
    first, rate = sf.read(FIXTURES / "utt1_box.flac", dtype="int16")
    second, _ = sf.read(FIXTURES / "utt4_weather.flac", dtype="int16")
    wav = tmp_path / "two.wav"
    sf.write(wav, np.concatenate([first, np.zeros(int(1.6 * rate), np.int16), second]), rate, subtype="PCM_16")
    unplug_at = 0.3 + len(first) / rate + 0.5  # board start → settle → first utterance → into the pause
    rec = tmp_path / "rec.wav"
    proc = subprocess.run(
        [*PICOMIC, "listen", "--sim", str(wav), "--json", "--unplug-at", f"{unplug_at:.2f}", "--record", str(rec)],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    disc = [e for e in events if e["type"] == "discontinuity"]
    assert [d["reason"] for d in disc] == ["reconnect"], disc
    after = types.index("discontinuity")
    finals = [e for e in events[after:] if e["type"] == "transcript" and e["final"]]
    expected = _words("The weather today is sunny with a gentle breeze from the west.")
    heard = [w for f in finals for w in _words(str(f["text"]))]
    assert len(set(heard) & set(expected)) >= 0.7 * len(set(expected)), (finals, proc.stderr[-2000:])
    assert events[-1]["type"] == "status" and events[-1]["reconnects"] == 1
    data, _ = sf.read(rec, dtype="int16")  # the recording spans the unplug: file time = stream time
    assert len(data) / rate > (len(first) + len(second)) / rate + 1.6
