"""Several emulated Picos at once: `--emulated` switches every `--sim` (DECISIONS 44); each board streams its own
microphone exactly, into its own `{board_id}` recording, with its own flash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.sim.signals import parse_signal
from tiers import bootrom_path, require_emulator, uf2_path

pytestmark = pytest.mark.emulated


def test_emulated_switches_every_sim_and_each_board_records_exactly(tmp_path: Path) -> None:
    require_emulator()
    rec = str(tmp_path / "rec-{board_id}.wav")
    proc = subprocess.run(
        [sys.executable, "-m", "picomic.cli", "listen", "--sim", "sine:440", "--sim", "sine:880", "--emulated",
         "--uf2", str(uf2_path()), "--bootrom", str(bootrom_path()), "--no-stt", "--no-vad", "--json",
         "--seconds", "2", "--record", rec],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    evs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    devices = {e["board_id"]: e for e in evs if e["type"] == "device"}
    assert set(devices) == {"sine-440", "sine-880"}
    for board_id, spec in (("sine-440", "sine:440"), ("sine-880", "sine:880")):
        got, rate = sf.read(tmp_path / f"rec-{board_id}.wav", dtype="int16")
        want = parse_signal(spec).render(16000, 0, len(got))
        assert rate == 16000 and len(got) >= 8000 and np.array_equal(got, want), (board_id, len(got))
