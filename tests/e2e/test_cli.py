"""The `picomic` command as a user runs it: real subprocesses, the simulated board, real files and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PICOMIC = [sys.executable, "-m", "picomic.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PICOMIC, *args], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def fixture_text(name: str) -> str:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["file"] == name)
    return str(entry["text"])


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


def test_listen_json_prints_the_transcript_and_a_clean_closing_status() -> None:
    wav = FIXTURES / "utt2_lights.flac"
    proc = run("listen", "--sim", str(wav), "--json", "--fast")
    assert proc.returncode == 0, proc.stderr
    evs = events(proc.stdout)
    assert all("type" in e and "wall" in e for e in evs)
    finals = [e for e in evs if e["type"] == "transcript" and e["final"]]
    assert [words(str(e["text"])) for e in finals] == [words(fixture_text("utt2_lights.flac"))]
    assert any(e["type"] == "device" and e["proto"] == 1 for e in evs)
    assert any(e["type"] == "end" and e["reason"] == "signal_end" for e in evs)
    last = evs[-1]
    assert last["type"] == "status"
    assert last["crc_errors"] == 0 and last["lost_frames"] == 0 and last["frames"] > 300


def test_record_returns_the_input_sample_for_sample(tmp_path: Path) -> None:
    pcm = np.random.default_rng(3).integers(-32768, 32768, 16000 * 2 + 77).astype(np.int16)
    src = tmp_path / "in.wav"
    sf.write(src, pcm, 16000, subtype="PCM_16")
    out = tmp_path / "out.wav"
    proc = run("record", str(out), "--sim", str(src), "--fast")
    assert proc.returncode == 0, proc.stderr
    got, rate = sf.read(out, dtype="int16")
    assert rate == 16000
    assert np.array_equal(got, pcm)


def test_record_raw_pcm_to_stdout(tmp_path: Path) -> None:
    pcm = np.random.default_rng(4).integers(-32768, 32768, 8000).astype(np.int16)
    src = tmp_path / "in.wav"
    sf.write(src, pcm, 16000, subtype="PCM_16")
    proc = subprocess.run(
        [*PICOMIC, "record", "-", "--sim", str(src), "--fast"], capture_output=True, timeout=60, env=ENV, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.frombuffer(proc.stdout, dtype="<i2"), pcm)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["listen", "--port", "auto", "--json"], 3, "no board found"),
        (["listen", "--port", "/dev/ttyACM99"], 3, "/dev/ttyACM99 not found"),
        (["listen", "--sim", "--model", "no-such-model", "--json"], 6, "unknown model 'no-such-model'"),
        (["listen", "--sim", "/nonexistent/speech.wav"], 2, "does not exist"),
        (["listen", "--sim", "--rate", "7000", "--no-stt"], 2, "rate must be 8000..48000"),
        (["record", "out.mp3", "--sim"], 2, "use a .wav or .flac"),
        (["transcribe", "/nonexistent.wav"], 2, "no such file"),
    ],
)
def test_user_errors_are_one_line_with_a_non_zero_exit(args: list[str], code: int, message: str) -> None:
    proc = run(*args, timeout=60)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert err and err[-1].startswith("picomic: ") and message in err[-1]
    assert "Traceback" not in proc.stderr


def test_unreadable_wav_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    proc = run("listen", "--sim", str(bad), "--no-stt")
    assert proc.returncode == 2
    assert proc.stderr.startswith("picomic: ") and "bad.wav" in proc.stderr and "Traceback" not in proc.stderr


def test_ctrl_c_mid_stream_keeps_files_valid(tmp_path: Path) -> None:
    rec, transcript = tmp_path / "rec.wav", tmp_path / "t.jsonl"
    proc = subprocess.Popen(
        [
            *PICOMIC,
            "listen",
            "--sim",
            str(FIXTURES / "utt5_meeting.flac"),
            "--json",
            "--no-stt",
            "--record",
            str(rec),
            "--transcript",
            str(transcript),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # wait until audio flows (real-time pace)
            if '"type":"vad"' in line or time.monotonic() > deadline:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err  # 128 + SIGINT, after a clean shutdown (docs/reliability.md)
    data, rate = sf.read(rec, dtype="int16")  # a valid header: soundfile can read it whole
    assert rate == 16000 and len(data) > 8000
    lines = [json.loads(x) for x in transcript.read_text().splitlines()]
    assert any(e["type"] == "vad" for e in lines)
    assert events(out)[-1]["type"] == "status"


def test_live_view_under_a_terminal_shows_meter_and_transcript() -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: the real command on a real terminal
        os.execve(
            sys.executable,
            [*PICOMIC, "listen", "--sim", str(FIXTURES / "utt1_box.flac"), "--fast"],
            {**ENV, "COLUMNS": "100", "TERM": "xterm"},
        )
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen[-2000:]
    assert "dBFS" in screen and "VAD" in screen and "CRC errors 0" in screen
    assert "\x1b[" in screen  # rich drew it as a live terminal view, not plain lines
    expected = words(fixture_text("utt1_box.flac"))
    assert " ".join(expected[:3]) in " ".join(words(screen))
