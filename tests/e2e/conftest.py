"""Fixtures for the simulated-board suites: every board is stopped, every wait is bounded."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from picomic.deploy.build import fakes_dir, micropython_exe, sim_dir
from picomic.sim.board import SimBoard
from picomic.sim.mic import MicOptions
from picomic.sim.relay import SignalServer
from picomic.sim.signals import parse_signal


@pytest.fixture
def sim() -> Iterator[Any]:
    """sim(signal, **options) -> a started SimBoard, stopped at teardown whatever happens."""
    boards: list[SimBoard] = []

    def make(signal: str | None, **kw: Any) -> SimBoard:
        kw.setdefault("seed", 1)
        board = SimBoard(signal, **kw)
        boards.append(board)
        board.start()
        return board

    yield make
    for b in boards:
        b.stop()
        assert b.proc is None or b.proc.poll() is not None


@pytest.fixture
def wav16(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """2 s of full-range pseudo-random 16-bit mono at 16 kHz (every bit matters)."""
    pcm = np.random.default_rng(7).integers(-32768, 32768, 32000).astype(np.int16)
    path = tmp_path / "rand16k.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    return path, pcm


@dataclass
class MpRun:
    returncode: int
    out: str
    err: str

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.startswith(("{", "["))]


@pytest.fixture
def run_mp(tmp_path: Path) -> Iterator[Any]:
    """run_mp(script, signal=..., **cfg) runs `script` in real MicroPython with the simulated machine/time
    modules and a signal server, like the simulated board does."""
    servers: list[SignalServer] = []

    def run(
        script: str, signal: str | None = "silence", mic: MicOptions | None = None, timeout: float = 30, **cfg: Any
    ) -> MpRun:
        sock = str(tmp_path / f"i2s{len(servers)}.sock")
        server = SignalServer(sock, parse_signal(signal, seed=3), mic or MicOptions())
        servers.append(server)
        server.start()
        conf = {"socket": sock, "fast": True, **cfg}
        (tmp_path / "sim.json").write_text(json.dumps(conf))
        (tmp_path / "t.py").write_text(script)
        env = dict(os.environ, MICROPYPATH=f"{sim_dir()}:{fakes_dir()}:.frozen", PICOMIC_SIM=str(tmp_path / "sim.json"))
        proc = subprocess.run(
            [micropython_exe(), "t.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )
        return MpRun(proc.returncode, proc.stdout, proc.stderr)

    yield run
    for s in servers:
        s.close()
