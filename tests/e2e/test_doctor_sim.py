"""`picomic doctor --sim` end to end: the real firmware in the simulated board, every microphone fault the
simulator offers, and a healthy board. The scenarios run concurrently (each is ~5 s of real-time streaming)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

SCENARIOS: dict[str, tuple[list[str], set[str], bool]] = {
    # name: (extra arguments, finding codes that must be reported, healthy?)
    "healthy": ([], set(), True),
    "stuck-low": (["--mic-fault", "stuck-low"], {"no_data"}, False),
    "stuck-high": (["--mic-fault", "stuck-high"], {"stuck_high"}, False),
    "wrong-slot": (["--mic-fault", "wrong-slot"], {"wrong_slot"}, False),
    "dc": (["--mic-fault", "dc:0.05"], {"dc_offset"}, False),
    "clip": (["--mic-fault", "clip"], {"clipping"}, False),
    "drift": (["--drift-ppm", "3000"], {"rate_off"}, False),
    "drops": (["--drop-bytes", "2e-4", "--seed", "7"], {"lost_frames", "usb_errors"}, False),
}
UNEXPECTED_OK = {"healthy": set(), "drift": set()}
"""Scenarios that must report nothing but their own findings."""


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, tuple[int, dict[str, object], str]]]:
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "picomic.cli", "doctor", "--sim", "--json", "--seconds", "3", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name, (extra, _, _) in SCENARIOS.items()
    }
    out: dict[str, tuple[int, dict[str, object], str]] = {}
    deadline = time.monotonic() + 120
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            body = json.loads(stdout) if stdout.strip() else {}
            out[name] = (proc.returncode, body, stderr)
        yield out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_doctor_diagnoses(name: str, results: dict[str, tuple[int, dict[str, object], str]]) -> None:
    code, body, stderr = results[name]
    _, expected, healthy = SCENARIOS[name]
    assert body, f"no JSON from doctor ({code}): {stderr}"
    findings = body["findings"]
    assert isinstance(findings, list)
    found = {f["code"] for f in findings}
    assert expected <= found, f"{name}: expected {expected}, got {findings}"
    if name in UNEXPECTED_OK:
        assert found == expected, f"{name}: unexpected findings {findings}"
    assert body["healthy"] is healthy and code == (0 if healthy else 1), (code, findings)
    for f in findings:
        assert f["severity"] in ("error", "warning", "info") and f["message"] and f["fix"]


@pytest.mark.slow
def test_healthy_measurements_are_those_of_an_inmp441(
    results: dict[str, tuple[int, dict[str, object], str]],
) -> None:
    m = results["healthy"][1]["measurements"]
    assert isinstance(m, dict)
    assert m["noise_floor_dbfs"] == pytest.approx(-87.0, abs=3.0)
    assert abs(m["rate_error_ppm"]) < 1000
    assert m["lost_frames"] == 0 and m["crc_errors"] == 0
    assert m["right_rms_dbfs"] <= -200.0 < m["left_rms_dbfs"]
