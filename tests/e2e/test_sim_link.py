"""`picomic sim --link PATH` and the running-board registry: `picomic devices` lists a running simulated board,
and a restarted `picomic sim` re-points the same PATH, so a host configured with `--port PATH` finds it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PICOMIC = [sys.executable, "-m", "picomic.cli"]


def _start(link: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen([*PICOMIC, "sim", "sine:440", "--json", "--link", str(link)], stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    assert ready["event"] == "ready", ready
    return proc, ready


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


def test_link_survives_a_restart_and_devices_lists_the_board(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    link = tmp_path / "pico"
    proc, ready = _start(link, env)
    try:
        assert os.readlink(link) == ready["port"] and os.path.realpath(link) == os.path.realpath(str(ready["port"]))
        listed = subprocess.run([*PICOMIC, "devices", "--json"], capture_output=True, text=True, timeout=60, env=env)
        entries = [json.loads(line) for line in listed.stdout.splitlines()]
        assert any(e.get("kind") == "simulated" and e.get("link") == str(link) for e in entries), listed.stdout
        first = os.readlink(link)
    finally:
        _stop(proc)
    proc, ready = _start(link, env)
    try:
        assert os.readlink(link) == ready["port"] != first  # the same PATH, now at the new board
    finally:
        _stop(proc)
    listed = subprocess.run([*PICOMIC, "devices", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert "simulated" not in listed.stdout  # a stopped board leaves the registry
