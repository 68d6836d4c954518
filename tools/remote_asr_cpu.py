#!/usr/bin/env python3
"""Host-side CPU of `listen` per board: local STT vs `--asr-uri` to wyoming-faster-whisper on the same machine.

A simulated board (`picomic sim`, a process of its own so its CPU is not counted) plays three speech fixtures
(utt1, utt2, utt4, 2 s of silence between them: 19.6 s) in real time; `picomic listen --port ... --json` runs
once with the local tiny.en model and once with `--asr-uri` to a real `wyoming-faster-whisper` (tiny.en,
1 CPU thread) started here. Reported: CPU seconds (user + system, from wait4) of the listen process per
second of audio, and the server's, run after run, alternating, as medians.

    HF_HUB_OFFLINE=1 python tools/remote_asr_cpu.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PICOMIC = [sys.executable, "-m", "picomic.cli"]


def _signal(tmp: Path) -> tuple[Path, float]:
    gap = np.zeros(32000, np.int16)
    names = ("utt1_box.flac", "utt2_lights.flac", "utt4_weather.flac")
    pcm = np.concatenate([p for n in names for p in (sf.read(FIXTURES / n, dtype="int16")[0], gap)])
    path = tmp / "three.wav"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return path, len(pcm) / 16000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listen(signal: Path, extra: list[str]) -> tuple[float, int]:
    """CPU seconds of one listen run (the board in its own process) and the finals it printed."""
    sim = subprocess.Popen([*PICOMIC, "sim", str(signal)], stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().strip()
        listen = subprocess.Popen([*PICOMIC, "listen", "--port", port, "--json", *extra], stdout=subprocess.PIPE,
                                  text=True)  # fmt: skip
        assert listen.stdout is not None
        out = listen.stdout.read()
        _, status, usage = os.wait4(listen.pid, 0)
        listen.returncode = os.waitstatus_to_exitcode(status)
    finally:
        sim.terminate()
        sim.wait(30)
    finals = sum(1 for line in out.splitlines() if '"final":true' in line.replace(" ", ""))
    return usage.ru_utime + usage.ru_stime, finals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("wyoming-faster-whisper") or str(Path(sys.executable).parent / "wyoming-faster-whisper")
    from picomic.speech.models import default_model_path

    with tempfile.TemporaryDirectory() as tmp:
        signal, audio_s = _signal(Path(tmp))
        port = _free_port()
        server = subprocess.Popen([exe, "--uri", f"tcp://127.0.0.1:{port}", "--model", default_model_path(),
                                   "--data-dir", tmp, "--local-files-only", "--language", "en",
                                   "--stt-library", "faster-whisper", "--cpu-threads", "1"],
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            results: dict[str, list[float]] = {"local": [], "remote": [], "server": []}
            for _ in range(args.runs):
                cpu, finals = _listen(signal, [])
                results["local"].append(cpu / audio_s)
                before = _cpu_s(server.pid)
                cpu, rfinals = _listen(signal, ["--asr-uri", f"tcp://127.0.0.1:{port}"])
                results["remote"].append(cpu / audio_s)
                results["server"].append((_cpu_s(server.pid) - before) / audio_s)
                print(f"run: local {finals} finals, remote {rfinals} finals", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(30)
    report = {k: {"median_cpu_s_per_audio_s": statistics.median(v), "runs": v} for k, v in results.items()}
    report["remote_over_local"] = statistics.median(
        r / loc for r, loc in zip(results["remote"], results["local"], strict=True)
    )
    print(json.dumps({"audio_s": audio_s, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
