"""`picomic listen --web` as a user runs it: a WebSocket client beside `--json` sees the same events (the same
lines but for `wall`), every audio chunk, and a clean close; a busy port is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from picomic.web.messages import parse_audio

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PICOMIC = [sys.executable, "-m", "picomic.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


async def _collect(url: str) -> tuple[list[dict[str, Any]], list[bytes], int | None]:
    texts: list[dict[str, Any]] = []
    binaries: list[bytes] = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url.replace("http", "ws", 1) + "ws") as ws:
        while True:
            msg = await ws.receive(timeout=60)
            if msg.type == aiohttp.WSMsgType.TEXT:
                texts.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                binaries.append(msg.data)
            else:
                return texts, binaries, ws.close_code


def _without_wall(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "wall"}


def test_the_websocket_carries_the_json_events_and_the_audio() -> None:
    fixture = FIXTURES / "utt1_box.flac"
    cmd = [*PICOMIC, "listen", "--sim", str(fixture), "--json", "--web", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.fullmatch(r"picomic: web view on (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line
        texts, binaries, close_code = asyncio.run(_collect(match.group(1)))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stdout = [json.loads(x) for x in out.splitlines()]
    picked = ("device", "vad", "transcript", "end")
    assert [_without_wall(e) for e in texts if e["type"] in picked] == [
        _without_wall(e) for e in stdout if e["type"] in picked
    ]
    assert any(e["type"] == "transcript" and e["final"] for e in texts)
    ws_status = [e for e in texts if e["type"] == "status"]
    assert ws_status and set(ws_status[-1]) == set(stdout[-1]) and ws_status[-1]["crc_errors"] == 0
    audio = [parse_audio(b) for b in binaries]
    assert len(audio) >= 400 and all(a.sample_rate == 16000 and len(a.samples) == 160 for a in audio[:-1])
    assert [a.seq for a in audio] == list(range(audio[0].seq, audio[0].seq + len(audio)))  # none dropped
    assert close_code == 1001 and texts[0]["type"] == "hello"


def test_a_busy_web_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [*PICOMIC, "listen", "--sim", "--web", str(port)], capture_output=True, text=True, env=ENV, timeout=60
        )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"cannot serve the web view on 127.0.0.1:{port}" in proc.stderr
    assert "choose another port" in proc.stderr and "(--web PORT / --web-host)" in proc.stderr


def _web_url(proc: subprocess.Popen[str]) -> str:
    """The page's URL from the command's stderr (the lines before it are the command's own)."""
    assert proc.stderr is not None
    for _ in range(20):
        line = proc.stderr.readline()
        match = re.fullmatch(r"picomic: web view on (http://127\.0\.0\.1:\d+/)\n", line)
        if match:
            return match.group(1)
    raise AssertionError("no web view URL on stderr")


def test_serve_and_several_boards_have_the_web_view_too() -> None:
    # serve: the board behind the Wyoming services on the page; listen with two boards: one page, each
    # board's chunks tagged with its board_id
    serve = [*PICOMIC, "serve", "--sim", str(FIXTURES / "utt1_box.flac"), "--mic-port", "0", "--web", "0"]
    two = [*PICOMIC, "listen", "--sim", str(FIXTURES / "utt1_box.flac"), "--sim", str(FIXTURES / "utt2_lights.flac"),
           "--json", "--no-stt", "--web", "0"]  # fmt: skip
    for cmd, boards in ((serve, {""}), (two, {"utt1_box", "utt2_lights"})):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            texts, binaries, _ = asyncio.run(_first_messages(_web_url(proc), len(boards) * 50))
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert {parse_audio(b).board_id for b in binaries} == boards, cmd
        assert any(t["type"] == "device" for t in texts), cmd


async def _first_messages(url: str, chunks: int) -> tuple[list[dict[str, Any]], list[bytes], int | None]:
    texts: list[dict[str, Any]] = []
    binaries: list[bytes] = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url.replace("http", "ws", 1) + "ws") as ws:
        while len(binaries) < chunks:
            msg = await ws.receive(timeout=60)
            if msg.type == aiohttp.WSMsgType.TEXT:
                texts.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                binaries.append(msg.data)
            else:
                break
    return texts, binaries, None


def test_with_a_stage_the_page_shows_its_stream() -> None:
    # issue 19: the web view shows the stream VAD/STT hear (a stage's), and says which in its level messages
    cmd = [*PICOMIC, "listen", "--sim", str(FIXTURES / "utt1_box.flac"), "--json", "--no-stt",
           "--noise-suppression", "2", "--web", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        texts, binaries, _ = asyncio.run(_first_messages(_web_url(proc), 50))
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    levels = [t for t in texts if t["type"] == "level"]
    assert levels and {t["stream"] for t in levels} == {"webrtc"}
    assert {parse_audio(b).sample_rate for b in binaries} == {16000}  # the stage's 16 kHz stream
