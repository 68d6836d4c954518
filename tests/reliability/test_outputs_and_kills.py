"""Full disks, file-size limits, closed pipes and killed processes (issue 15): one line and exit 7 for an output
that cannot be written, a quiet exit 0 for a reader that went away, 130/143 after SIGINT/SIGTERM with every file
final, and after SIGKILL at any moment a WAV that soundfile and `wave` read (at most ~1 s lost), a FLAC that
soundfile reads and JSON Lines that are line-valid. Real subprocesses, every wait bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from relsupport import ENV, PICOMIC, ROOT

RATE = 16000
LIMITED = (
    "import resource, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "from picomic.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def _run(args: list[str], *, fsize: int | None = None, stdout: object = subprocess.PIPE) -> tuple[int, str]:
    cmd = [sys.executable, "-c", LIMITED, str(fsize), *args] if fsize else [*PICOMIC, *args]
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=90, env=ENV, cwd=ROOT,
                       stdin=subprocess.DEVNULL)  # fmt: skip
    return p.returncode, p.stderr


def _one_line(err: str, message: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("picomic")]
    assert len(lines) == 1 and message in lines[0], err


def _lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a half line at the end"
    return [json.loads(x) for x in text.splitlines()]


def _wav_frames(path: Path) -> int:
    with wave.open(str(path)) as wf:
        n = wf.getnframes()
        assert len(wf.readframes(n)) == 2 * n
    assert len(sf.read(path, dtype="int16")[0]) == n
    return n


# ------------------------------------------------------------------------------------------- output errors

RECORD_FAST = ["--sim", "--fast", "--seconds", "8"]
FAST = [*RECORD_FAST, "--no-stt"]


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_record_over_a_file_size_limit_is_one_line_and_the_file_stays_readable(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"r{suffix}"
    code, err = _run(["listen", *FAST, "--json", "--record", str(out)], fsize=100_000)
    assert code == 7, err
    _one_line(err, f"cannot write {out}: File too large")
    data, rate = sf.read(out, dtype="int16")
    assert rate == RATE and len(data) > RATE  # 100 kB: > 3 s of WAV, more of FLAC
    if suffix == ".wav":
        assert _wav_frames(out) == (100_000 - 44) // 2


def test_record_to_stdout_full_limited_and_closed(tmp_path: Path) -> None:
    code, err = _run(["record", "-", *RECORD_FAST], stdout=open("/dev/full", "wb"))  # noqa: SIM115
    assert code == 7, err
    _one_line(err, "cannot write stdout: No space left on device")
    with open(tmp_path / "raw", "wb") as raw:
        code, err = _run(["record", "-", *RECORD_FAST], fsize=50_000, stdout=raw)
    assert code == 7, err
    _one_line(err, "cannot write stdout: File too large")
    assert (tmp_path / "raw").stat().st_size == 50_000
    p = subprocess.run(f"{' '.join(PICOMIC)} record - {' '.join(RECORD_FAST)} | head -c 1000 > /dev/null; "
                       "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True, text=True,
                       timeout=90, env=ENV, cwd=ROOT)  # fmt: skip
    assert p.returncode == 0 and "Traceback" not in p.stderr and "picomic" not in p.stderr, p.stderr


def test_json_and_transcript_to_a_full_device(tmp_path: Path) -> None:
    code, err = _run(["listen", *FAST, "--json"], stdout=open("/dev/full", "w"))  # noqa: SIM115
    assert code == 7, err
    _one_line(err, "cannot write stdout: No space left on device")
    code, err = _run(["listen", *FAST, "--transcript", "/dev/full"], stdout=subprocess.DEVNULL)
    assert code == 7, err
    _one_line(err, "cannot write /dev/full: No space left on device")
    p = subprocess.Popen([*PICOMIC, "listen", *FAST, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ENV, cwd=ROOT)  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().startswith(b"{")
    p.stdout.close()  # the reader went away (`| head -1`)
    _, err_bytes = p.communicate(timeout=60)
    assert p.returncode == 0 and b"Traceback" not in err_bytes, err_bytes


@pytest.fixture(scope="module")
def sim_port() -> Iterator[str]:
    """A `picomic sim` board of its own, so a file-size limit on `listen` does not reach the board's files."""
    proc = subprocess.Popen([*PICOMIC, "sim", "sine:440", "--json"], stdout=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT)  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        yield str(ready["port"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_json_and_transcript_over_a_file_size_limit(tmp_path: Path, sim_port: str) -> None:
    events = tmp_path / "events.jsonl"
    with open(events, "w") as out:
        code, err = _run(["listen", "--port", sim_port, "--no-stt", "--json", "--seconds", "20"], fsize=3000,
                         stdout=out)  # fmt: skip
    assert code == 7, err
    _one_line(err, "cannot write stdout: File too large")
    assert events.stat().st_size <= 3000  # whatever whole lines fitted; the cut line is the stream's
    transcript = tmp_path / "t.jsonl"
    code, err = _run(["listen", "--port", sim_port, "--no-stt", "--transcript", str(transcript), "--seconds", "20"],
                     fsize=300, stdout=subprocess.DEVNULL)  # fmt: skip
    assert code == 7, err
    _one_line(err, f"cannot write {transcript}: File too large")
    assert _lines(transcript) == []  # the device line (> 300 bytes) did not fit: cut back to no half line


# ------------------------------------------------------------------------------------------------- kills


class Listen:
    """`picomic listen --sim ... --json` with its stdout read on a thread (the last status seen)."""

    def __init__(self, tmp: Path, suffix: str, *extra: str) -> None:
        self.record, self.transcript = tmp / f"rec{suffix}", tmp / "t.jsonl"
        args = ["listen", "--sim", "--json", "--record", str(self.record), "--transcript", str(self.transcript)]
        self.proc = subprocess.Popen([*PICOMIC, *args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=ENV, cwd=ROOT)  # fmt: skip
        self.events: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def frames(self) -> int:
        status = [e for e in self.events if e["type"] == "status"]
        return int(status[-1]["frames"]) if status else 0  # type: ignore[call-overload]

    def wait_for(self, ok: object, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ok() and time.monotonic() < deadline:  # type: ignore[operator]
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            time.sleep(0.02)
        assert ok(), self.events[-3:]  # type: ignore[operator]

    def stop(self, signum: int) -> tuple[int, str]:
        """Signal the process and wait for it; stdout stays with the reader thread (communicate() would take
        lines from it), stderr is read once the process is gone."""
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=60)
        finally:
            self.proc.kill()
        self._reader.join(5)
        err = self.proc.stderr.read() if self.proc.stderr is not None else ""
        return self.proc.returncode, err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("after_frames", [0, 150])
def test_sigint_and_sigterm_end_with_128_plus_n_and_final_files(
    tmp_path: Path, signum: int, code: int, after_frames: int
) -> None:
    run = Listen(tmp_path, ".wav", "--no-stt")
    if after_frames:
        run.wait_for(lambda: run.frames() >= after_frames)
    else:
        time.sleep(1.5)  # somewhere in start-up: imports, the simulated board, the handshake
    got, err = run.stop(signum)
    assert got == code, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in err, err
    lines = _lines(run.transcript) if run.transcript.exists() else []
    if after_frames:
        assert run.events[-1]["type"] == "status"
        assert _wav_frames(run.record) >= (after_frames - 20) * 160
        assert lines and lines[0]["type"] == "device"
    elif run.record.exists():
        _wav_frames(run.record)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("after_frames", [0, 60, 250])
def test_sigkill_at_any_moment_leaves_readable_files(tmp_path: Path, suffix: str, after_frames: int) -> None:
    run = Listen(tmp_path, suffix, "--no-stt")
    if after_frames:
        run.wait_for(lambda: run.frames() >= after_frames)
        time.sleep(0.3)
    else:
        time.sleep(1.0)
    frames = run.frames()
    run.stop(signal.SIGKILL)
    _lines(run.transcript) if run.transcript.exists() else None
    if suffix == ".wav" and run.record.exists():
        n = _wav_frames(run.record)
    elif run.record.exists():
        n = len(sf.read(run.record, dtype="int16")[0])
    else:  # killed before the recording began (a slow start-up), or a FLAC one still in its first second
        assert frames == 0 or (suffix == ".flac" and frames < 100), f"{frames} frames arrived and no {suffix} exists"
        n = 0
    want = frames * 160 - RATE - 2 * 4096 - 20 * 160  # header lag ≤ 1 s (+ 2 FLAC frames, the settle, status lag)
    assert n >= want, (n, frames)


def test_kill_during_a_real_transcript(tmp_path: Path) -> None:
    """With the speech model: SIGKILL right after the first final transcript; the transcript file holds it."""
    run = Listen(tmp_path, ".flac")
    run.wait_for(lambda: any(e["type"] == "transcript" and e.get("final") for e in run.events), timeout_s=120)
    run.stop(signal.SIGKILL)
    finals = [e for e in _lines(run.transcript) if e["type"] == "transcript" and e.get("final")]
    assert finals and str(finals[0]["text"]).strip()
    data, rate = sf.read(run.record, dtype="int16")
    assert rate == RATE and len(data) / RATE >= float(finals[0]["end_s"]) - 1.5  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the handshake's I/O errors

GONE_BOARD = r"""
import os, pty, sys, tty, time
master, slave = pty.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
os.close(slave)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        data = os.read(master, 1024)
    except OSError:
        time.sleep(0.05)
        continue
    if b"\x04" in data:
        sys.exit(0)  # Ctrl-D at a MicroPython REPL: the unix port exits, the pty goes away
    os.write(master, b"\r\nMicroPython v1.24.0\r\n>>> ")
"""


def test_a_board_that_goes_away_during_the_handshake_is_one_line() -> None:
    board = subprocess.Popen([sys.executable, "-c", GONE_BOARD], stdout=subprocess.PIPE, text=True)
    try:
        assert board.stdout is not None
        port = board.stdout.readline().strip()
        code, err = _run(["listen", "--port", port, "--no-stt", "--seconds", "5"])
    finally:
        board.kill()
        board.wait(5)
    assert code == 3, err
    _one_line(err, f"lost the board on {port} during the handshake")


def test_empty_file_transcribes_to_nothing_with_a_note(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(empty, [], RATE, subtype="PCM_16")
    p = subprocess.run([*PICOMIC, "transcribe", str(empty), "--json"], capture_output=True, text=True, timeout=60,
                       env=ENV, cwd=ROOT)  # fmt: skip
    assert p.returncode == 0 and p.stdout == "", (p.stdout, p.stderr)
    _one_line(p.stderr, f"no speech found in {empty}")


def test_metrics_port_0_says_where_it_listens() -> None:
    code, err = _run(["listen", "--sim", "--no-stt", "--seconds", "1", "--metrics-port", "0"],
                     stdout=subprocess.DEVNULL)  # fmt: skip
    assert code == 0, err
    line = next(x for x in err.splitlines() if "serving metrics" in x)
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    assert line == f"picomic: serving metrics on http://127.0.0.1:{port}/metrics" and port > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sim", "/tmp"], "signal file /tmp is a folder"),
        (["--port", "/dev/tty"], "/dev/tty is a terminal, not a board's serial port"),
        (["--sim", "sine:1e9"], "sine frequency must be > 0 and below 24000 Hz"),
        (["--sim", "sine:9000"], "sine:9000 is at or above the Nyquist frequency of a 16000 Hz stream"),
    ],
)
def test_smaller_messages(args: list[str], message: str) -> None:
    code, err = _run(["listen", *args, "--no-stt", "--seconds", "1"], stdout=subprocess.DEVNULL)
    assert code in (2, 3), err
    _one_line(err, message)


def test_no_stray_part_file_after_a_flac_run(tmp_path: Path) -> None:
    out = tmp_path / "r.flac"
    code, err = _run(["record", str(out), "--sim", "--fast", "--seconds", "2"])
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["r.flac"] and len(sf.read(out)[0]) > RATE
