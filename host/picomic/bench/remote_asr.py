"""Bench `remote_asr`: the host-side CPU of one board's `listen` with `--asr-uri` to a Wyoming speech server on
the same machine (the real `wyoming-faster-whisper`, tiny.en, 1 CPU thread), beside local STT.

A simulated board (`picomic sim`, a process of its own so its CPU is not counted) plays three speech fixtures
(utt1, utt2, utt4 with 2 s of silence between them: 19.4 s) in real time; `picomic listen --port ... --json`
runs with the local model and with `--asr-uri`, alternating run by run. Reported per run: CPU seconds
(user + system, from wait4) of the listen process per second of audio, the server's, and the finals.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from picomic.bench.report import Figure, Target
from picomic.errors import ConfigError
from picomic.speech.models import default_model_path

PICOMIC = [sys.executable, "-m", "picomic.cli"]
FIXTURE_NAMES = ("utt1_box.flac", "utt2_lights.flac", "utt4_weather.flac")


def _fixtures() -> Path:
    for base in (Path(__file__).resolve().parents[3] / "tests" / "fixtures", Path(__file__).parents[1] / "_fixtures"):
        if (base / FIXTURE_NAMES[0]).is_file():
            return base
    raise ConfigError("the speech fixtures are not installed (tests/fixtures)")


def _signal(tmp: Path) -> tuple[Path, float]:
    gap = np.zeros(32000, np.int16)
    fixtures = _fixtures()
    pcm = np.concatenate([p for n in FIXTURE_NAMES for p in (sf.read(fixtures / n, dtype="int16")[0], gap)])
    path = tmp / "three.wav"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return path, len(pcm) / 16000


def _server_exe() -> str:
    exe = os.environ.get("PICOMIC_WYOMING_FASTER_WHISPER") or shutil.which("wyoming-faster-whisper")
    beside = Path(sys.executable).parent / "wyoming-faster-whisper"
    exe = exe or (str(beside) if beside.is_file() else None)
    if exe is None:
        raise ConfigError("the remote_asr bench needs wyoming-faster-whisper: pip install wyoming-faster-whisper")
    return exe


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listen(signal: Path, extra: list[str]) -> tuple[float, int]:
    """CPU seconds of one listen run (the board in its own process) and the finals it printed."""
    sim = subprocess.Popen([*PICOMIC, "sim", str(signal)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().strip()
        cmd = [*PICOMIC, "listen", "--port", port, "--json", *extra]
        listen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert listen.stdout is not None
        out = listen.stdout.read()
        _, status, usage = os.wait4(listen.pid, 0)
        listen.returncode = os.waitstatus_to_exitcode(status)
    finally:
        sim.terminate()
        sim.wait(30)
    finals = sum(1 for line in out.splitlines() if '"final":true' in line.replace(" ", ""))
    return usage.ru_utime + usage.ru_stime, finals


def _start_server(tmp: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [_server_exe(), "--uri", f"tcp://127.0.0.1:{port}", "--model", default_model_path(),
            "--data-dir", tmp, "--local-files-only", "--language", "en", "--stt-library", "faster-whisper",
            "--cpu-threads", "1"]  # fmt: skip
    server = subprocess.Popen(argv, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise ConfigError("wyoming-faster-whisper did not start listening within 120 s")


def run(quick: bool) -> dict[str, Any]:
    runs = 1 if quick else 3
    out: dict[str, Any] = {"local_cpu": [], "remote_cpu": [], "server_cpu": [], "finals_local": [], "finals_remote": []}
    with tempfile.TemporaryDirectory() as tmp:
        signal, audio_s = _signal(Path(tmp))
        server, port = _start_server(tmp)
        try:
            for _ in range(runs):
                cpu, finals = _listen(signal, [])
                out["local_cpu"].append(cpu / audio_s)
                out["finals_local"].append(finals)
                before = _cpu_s(server.pid)
                cpu, finals = _listen(signal, ["--asr-uri", f"tcp://127.0.0.1:{port}"])
                out["remote_cpu"].append(cpu / audio_s)
                out["server_cpu"].append((_cpu_s(server.pid) - before) / audio_s)
                out["finals_remote"].append(finals)
        finally:
            server.terminate()
            server.wait(30)
    out["remote_over_local"] = [r / x for r, x in zip(out["remote_cpu"], out["local_cpu"], strict=True)]
    out["audio_s"] = audio_s
    return out


def figures() -> tuple[Figure, ...]:
    return (
        Figure(
            "remote_cpu", "listen --asr-uri, host CPU per board (CPU-s per audio s)", "", Target("<", 0.2), digits=3
        ),
        Figure("local_cpu", "  listen with local tiny.en, same audio (incl. model load)", "", digits=3),
        Figure("remote_over_local", "  remote / local", "×", digits=2),
        Figure("server_cpu", "  wyoming-faster-whisper on the same utterances", "", digits=3),
        Figure("finals_remote", "  finals back from the server (of 3)", "", Target("==", 3), digits=0),
    )
