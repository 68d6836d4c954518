"""Several boards at once, as a user runs them: `picomic listen` with two or three real simulated boards (the
real firmware in MicroPython, each on its own pty), distinct signals and files per board."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from picomic.bench.stt import wer_counts

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PICOMIC = [sys.executable, "-m", "picomic.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
SPEECH = ("utt1_box", "utt2_lights", "utt4_weather")


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PICOMIC, *args], capture_output=True, text=True, timeout=timeout, env=env or ENV, cwd=ROOT)


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_board(evs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in evs:
        out.setdefault(e["board_id"], []).append(e)
    return out


def fixture_text(stem: str) -> str:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    return str(next(e for e in manifest["files"] if e["file"] == f"{stem}.flac")["text"])


def finals_text(evs: list[dict[str, Any]]) -> str:
    return " ".join(str(e["text"]) for e in evs if e["type"] == "transcript" and e["final"])


def write_pcm(path: Path, seed: int, samples: int) -> np.ndarray:
    pcm = np.random.default_rng(seed).integers(-32768, 32768, samples).astype(np.int16)
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return pcm


def test_three_boards_each_transcript_lands_on_its_own_board(tmp_path: Path) -> None:
    sims = [arg for stem in SPEECH for arg in ("--sim", str(FIXTURES / f"{stem}.flac"))]
    proc = run("listen", *sims, "--json", "--fast", "--transcript", str(tmp_path / "t-{board_id}.jsonl"))
    assert proc.returncode == 0, proc.stderr
    evs = events(proc.stdout)
    assert all("board_id" in e and "wall" in e for e in evs)
    boards = by_board(evs)
    assert set(boards) == set(SPEECH)  # the id of a simulated board is its signal's name
    for stem in SPEECH:
        mine = boards[stem]
        assert [e["type"] for e in mine].count("device") == 1 and mine[-1]["type"] == "status"
        assert any(e["type"] == "end" and e["reason"] == "signal_end" for e in mine)
        assert mine[-1]["lost_frames"] == 0 and mine[-1]["crc_errors"] == 0 and mine[-1]["frames"] > 300
        errors, words = wer_counts([fixture_text(stem)], [finals_text(mine)])
        assert errors <= 1 and words >= 9, (stem, finals_text(mine))
        filed = events((tmp_path / f"t-{stem}.jsonl").read_text())
        assert {e["board_id"] for e in filed} == {stem} and finals_text(filed) == finals_text(mine)
        assert "status" not in {e["type"] for e in filed}


def test_each_boards_recording_is_bit_exact(tmp_path: Path) -> None:
    pcms = {name: write_pcm(tmp_path / f"{name}.wav", seed, n) for seed, (name, n) in enumerate(
        [("kitchen", 16000 * 2 + 77), ("hall", 16000 + 5), ("garage", 16000 * 3 - 160)]
    )}  # fmt: skip
    sims = [arg for name in pcms for arg in ("--sim", str(tmp_path / f"{name}.wav"))]
    rec = str(tmp_path / "rec-{board_id}.flac")
    proc = run("listen", *sims, "--no-stt", "--no-vad", "--fast", "--json", "--record", rec)
    assert proc.returncode == 0, proc.stderr
    for name, pcm in pcms.items():
        got, rate = sf.read(tmp_path / f"rec-{name}.flac", dtype="int16")
        assert rate == 16000 and np.array_equal(got, pcm), name


def test_one_board_fills_board_id_in_its_paths_and_its_lines_stay_as_they_were(tmp_path: Path) -> None:
    pcm = write_pcm(tmp_path / "porch.wav", 9, 8000)
    files = ["--record", str(tmp_path / "rec-{board_id}.wav"), "--transcript", str(tmp_path / "t-{board_id}.jsonl")]
    proc = run("listen", "--sim", str(tmp_path / "porch.wav"), "--no-stt", "--no-vad", "--fast", "--json", *files)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(sf.read(tmp_path / "rec-porch.wav", dtype="int16")[0], pcm)
    lines = events(proc.stdout) + events((tmp_path / "t-porch.jsonl").read_text())
    assert lines and not any("board_id" in e for e in lines)


def test_a_board_that_ends_leaves_the_others_streaming(tmp_path: Path) -> None:
    write_pcm(tmp_path / "short.wav", 1, 16000)  # 1 s, at real-time pace
    write_pcm(tmp_path / "long.wav", 2, 16000 * 4)
    proc = run("listen", "--sim", str(tmp_path / "short.wav"), "--sim", str(tmp_path / "long.wav"),
               "--no-stt", "--no-vad", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    evs = events(proc.stdout)
    short_end = next(i for i, e in enumerate(evs) if e["board_id"] == "short" and e["type"] == "end")
    later = [e["frames"] for e in evs[short_end:] if e["board_id"] == "long" and e["type"] == "status"]
    assert len(later) >= 3 and later == sorted(later) and later[-1] - later[0] >= 200, later
    assert later[-1] >= 395 and by_board(evs)["long"][-1]["lost_frames"] == 0


class Listen:
    """`picomic listen ... --json` with stdout read on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*PICOMIC, "listen", "--json", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def frames(self, board_id: str) -> int:
        status = [e for e in list(self.events) if e["type"] == "status" and e["board_id"] == board_id]
        return int(status[-1]["frames"]) if status else 0

    def wait_for(self, ok: Any, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ok() and time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            time.sleep(0.05)
        assert ok(), self.events[-3:]

    def finish(self, signum: int | None = None, timeout_s: float = 60.0) -> tuple[int, str]:
        if signum is not None:
            self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            self.proc.kill()
        self._reader.join(5)
        return self.proc.returncode, self.proc.stderr.read() if self.proc.stderr is not None else ""


def test_a_killed_board_is_reported_with_its_id_and_the_others_stream_on(sim: Any, tmp_path: Path) -> None:
    ports = {}
    for name in ("kitchen", "hall"):  # stable names for the boards' ports, as udev's by-id links are
        board = sim("sine:440" if name == "kitchen" else "sine:880", duration_s=30)
        (tmp_path / name).symlink_to(board.port)
        ports[name] = board
    run = Listen("--port", str(tmp_path / "kitchen"), "--port", str(tmp_path / "hall"),
                 "--no-stt", "--no-vad", "--seconds", "9", "--metrics-port", "0")  # fmt: skip
    assert run.proc.stderr is not None
    url = run.proc.stderr.readline().rsplit(" ", 1)[-1].strip()
    run.wait_for(lambda: run.frames("kitchen") > 50 and run.frames("hall") > 50)
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'picomic_frames_total{board_id="kitchen"}' in body and 'picomic_frames_total{board_id="hall"}' in body
    ports["kitchen"].proc.kill()  # the board's MicroPython process dies mid-stream
    hall_at_kill = run.frames("hall")
    code, err = run.finish()
    assert code == 0, err
    boards = by_board(run.events)
    assert any(e["type"] == "error" and "lost the board" in e["message"] for e in boards["kitchen"]), boards["kitchen"]
    assert not any(e["type"] == "error" for e in boards["hall"])
    assert boards["hall"][-1]["type"] == "status" and boards["hall"][-1]["frames"] - hall_at_kill >= 300
    assert boards["hall"][-1]["lost_frames"] == 0 and boards["kitchen"][-1]["type"] == "status"


def test_stop_signal_ends_every_board_with_its_closing_status(tmp_path: Path) -> None:
    run = Listen("--sim", "sine:440", "--sim", "sine:660", "--no-stt", "--no-vad")
    run.wait_for(lambda: run.frames("sine-440") > 30 and run.frames("sine-660") > 30)
    code, err = run.finish(signal.SIGINT)
    assert code == 130 and "Traceback" not in err, err
    last = {e["board_id"]: e for e in run.events}
    assert set(last) == {"sine-440", "sine-660"} and all(e["type"] == "status" for e in last.values())


def test_all_takes_every_registered_simulated_board(tmp_path: Path) -> None:
    env = {**ENV, "XDG_RUNTIME_DIR": str(tmp_path)}  # only this test's boards are registered there
    sims = []
    try:
        for name, hz in (("kitchen", "440"), ("hall", "880")):
            argv = [*PICOMIC, "sim", f"sine:{hz}", "--duration", "2", "--link", str(tmp_path / name)]
            sims.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env))
            assert sims[-1].stdout is not None and sims[-1].stdout.readline().strip()  # its port: it is up
        proc = run("listen", "--all", "--no-stt", "--no-vad", "--json", env=env)
    finally:
        for p in sims:
            p.send_signal(signal.SIGINT)
            p.wait(30)
    assert proc.returncode == 0, proc.stderr
    boards = by_board(events(proc.stdout))
    assert set(boards) == {"kitchen", "hall"}  # a registered board's id is its link's name
    for mine in boards.values():
        assert any(e["type"] == "end" and e["reason"] == "signal_end" for e in mine)
        assert 190 <= mine[-1]["frames"] <= 215, mine[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["listen", "--sim", "--sim", "--record", "x.wav"], "with several boards --record needs {board_id}"),
        (["listen", "--sim", "--sim", "--transcript", "t.jsonl"], "with several boards --transcript needs {board_id}"),
        (["listen", "--all", "--sim"], "--all takes every attached board"),
        (["listen", "--sim", "-", "--sim", "-"], "only one simulated board can read stdin"),
        (["listen", "--port", "/dev/ttyACM0", "--port", "/dev/ttyACM1", "--serial", "ab"], "--serial chooses one"),
        (["listen", "--port", "/dev/ttyACM0", "--port", "/dev/ttyACM0"], "the same --port is given twice"),
        (["record", "x.wav", "--sim", "--sim"], "record takes one board"),
        (["doctor", "--sim", "--port", "/dev/ttyACM0"], "doctor takes one board"),
    ],
)
def test_what_several_boards_cannot_do_is_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_the_speech_model_loads_once_for_every_board(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import picomic.speech.stt as stt
    from picomic.cli import main

    loads: list[object] = []
    real = stt.load_model

    def counted(*a: Any, **kw: Any) -> Any:
        loads.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(stt, "load_model", counted)
    sims = [arg for stem in SPEECH[:2] for arg in ("--sim", str(FIXTURES / f"{stem}.flac"))]
    assert main(["listen", *sims, "--json", "--fast"]) == 0
    finals = [e for e in events(capsys.readouterr().out) if e["type"] == "transcript" and e["final"]]
    assert {e["board_id"] for e in finals} == set(SPEECH[:2]) and len(loads) == 1
