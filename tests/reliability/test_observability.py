"""Observability: Prometheus metrics scraped from a running `picomic listen`, and the fault paths' logs."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
import urllib.request

from relsupport import ENV, PICOMIC, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(picomic_\w+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def test_metrics_endpoint_counters_move_while_listening() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*PICOMIC, "listen", "--sim", "sine:440", "--no-stt", "--json", "--seconds", "20", "--metrics-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
    )  # fmt: skip
    try:
        first: dict[str, float] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and first.get("picomic_frames_total", 0) <= 0:
            with contextlib.suppress(OSError):  # not listening yet
                first = _scrape(port)
            time.sleep(0.2)
        time.sleep(1.0)
        second = _scrape(port)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert first.get("picomic_frames_total", 0) > 0, err
    assert second["picomic_frames_total"] > first["picomic_frames_total"] + 50  # ~100 frames/s in real time
    assert second["picomic_bytes_total"] > first["picomic_bytes_total"]
    assert second["picomic_crc_errors_total"] == 0 and second["picomic_lost_frames_total"] == 0
    assert 'picomic_listener_queue_depth{listener="vad"}' in second
    assert proc.returncode == 143, err  # SIGTERM ends it cleanly, with 128 + SIGTERM


def test_unplug_in_the_cli_logs_the_fault_path_and_emits_one_discontinuity() -> None:
    proc = subprocess.run(
        [*PICOMIC, "-v", "listen", "--sim", "sine:440", "--no-stt", "--json", "--seconds", "3.5", "--unplug-at", "1.2"],
        capture_output=True, text=True, timeout=60, env=ENV, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    disc = [e for e in events if e["type"] == "discontinuity"]
    assert [d["reason"] for d in disc] == ["reconnect"], disc
    assert events[-1]["type"] == "status" and events[-1]["reconnects"] == 1
    log = proc.stderr
    assert "INFO picomic.link.source: lost the board" in log, log
    assert "INFO picomic.link.source: reconnected to" in log, log
    assert "Traceback" not in log
