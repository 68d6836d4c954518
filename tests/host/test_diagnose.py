"""The doctor's checks on synthetic numpy arrays and counters, its report, and its CLI errors (no board)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from picomic.diagnose import checks as dg
from picomic.diagnose.capture import report_json, report_text

RATE = 16000
PINS = {"sck": 16, "ws": 17, "sd": 18}


def noise(dbfs: float, n: int = RATE * 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 32768.0 * 10 ** (dbfs / 20.0), n)
    return np.clip(np.floor(x), -32768, 32767).astype(np.int16)


def codes(findings: list[dg.Finding]) -> list[str]:
    return [f.code for f in findings]


# ------------------------------------------------------------------------------------------- levels


def test_noise_floor_of_inmp441_self_noise_is_measured_within_1_db() -> None:
    lv = dg.measure_levels(noise(-87.0), RATE)
    assert lv.floor_dbfs == pytest.approx(-87.0, abs=1.0)
    assert lv.constant is None and lv.clip_fraction == 0.0


def test_noise_floor_ignores_speech_bursts_and_dc() -> None:
    quiet = noise(-85.0)
    loud = noise(-20.0, seed=2)
    x = np.concatenate([quiet[:8000], loud[:16000], quiet[8000:16000]]) + np.int16(300)  # ~0.9 % DC
    lv = dg.measure_levels(x.astype(np.int16), RATE)
    assert lv.floor_dbfs == pytest.approx(-85.0, abs=1.5)
    assert lv.mean_fs == pytest.approx(300 / 32768 + lv.mean_fs - 300 / 32768)
    assert lv.rms_dbfs > -30


def test_empty_capture_has_no_samples() -> None:
    lv = dg.measure_levels(np.zeros(0, np.int16), RATE)
    assert lv.samples == 0 and dg.check_signal(lv) == []


# ------------------------------------------------------------------------------------------- signal


@pytest.mark.parametrize(("value", "code"), [(0, "no_data"), (-1, "stuck_high"), (1234, "constant")])
def test_constant_signals_are_errors_naming_the_pins(value: int, code: str) -> None:
    lv = dg.measure_levels(np.full(RATE, value, np.int16), RATE)
    found = dg.check_signal(lv, pins=PINS)
    assert codes(found) == [code]
    assert found[0].severity == "error"
    assert "GP18" in found[0].fix


def test_healthy_quiet_room_has_no_findings() -> None:
    assert dg.check_signal(dg.measure_levels(noise(-80.0), RATE)) == []


def test_loud_floor_is_a_warning_and_gain_moves_the_expectation() -> None:
    lv = dg.measure_levels(noise(-55.0), RATE)
    assert [(f.code, f.severity) for f in dg.check_signal(lv)] == [("noise_high", "warning")]
    assert dg.check_signal(lv, gain_bits=5) == []  # -87 + 30 dB: within 20 dB


def test_nearly_dead_line_is_noise_low() -> None:
    x = np.zeros(RATE * 2, np.int16)
    x[::997] = 1  # a few stray bits, not a microphone
    found = dg.check_signal(dg.measure_levels(x, RATE))
    assert codes(found) == ["noise_low"] and found[0].severity == "error"


@pytest.mark.parametrize(("dc", "severity"), [(0.005, None), (0.015, "warning"), (0.05, "error")])
def test_dc_offset_thresholds(dc: float, severity: str | None) -> None:
    x = (noise(-80.0).astype(np.int32) + round(dc * 32768)).astype(np.int16)
    found = [f for f in dg.check_signal(dg.measure_levels(x, RATE)) if f.code == "dc_offset"]
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_clipping_is_an_error_above_one_percent() -> None:
    x = noise(-80.0)
    x[: len(x) // 20] = 32767  # 5 %
    found = dg.check_signal(dg.measure_levels(x, RATE))
    assert ("clipping", "error") in [(f.code, f.severity) for f in found]


# -------------------------------------------------------------------------------------------- slots


def test_wrong_slot_only_when_the_right_channel_alone_is_alive() -> None:
    alive = dg.measure_levels(noise(-80.0), RATE)
    dead = dg.measure_levels(np.zeros(RATE, np.int16), RATE)
    assert codes(dg.check_slots(dead, alive)) == ["wrong_slot"]
    assert dg.check_slots(alive, dead) == []
    assert dg.check_slots(dead, dead) == []
    assert dg.check_slots(alive, alive) == []


# --------------------------------------------------------------------------------------------- rate


def arrivals(true_rate: float, seconds: float, frame: int = 160, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Chunk arrival times for a device running at `true_rate`, with non-negative random transport delays
    (and batches: several frames arriving together)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * true_rate / frame)
    ends = np.arange(1, n + 1, dtype=np.int64) * frame
    t = 100.0 + ends / true_rate + rng.exponential(0.002, n)
    t = np.maximum.accumulate(t)  # frames arrive in order
    return t, ends


@pytest.mark.parametrize("ppm", [0.0, 400.0, -700.0, 2000.0, -5000.0])
def test_rate_estimate_within_100_ppm_from_3_seconds(ppm: float) -> None:
    t, ends = arrivals(RATE * (1 + ppm / 1e6), 3.0)
    est = dg.estimate_rate(t, ends, RATE)
    assert est is not None
    assert est.ppm == pytest.approx(ppm, abs=100.0)
    assert [f.code for f in dg.check_rate(est, RATE)] == (["rate_off"] if abs(ppm) > 1000 else [])


def test_rate_needs_two_seconds() -> None:
    t, ends = arrivals(RATE, 1.0)
    assert dg.estimate_rate(t, ends, RATE) is None
    assert codes(dg.check_rate(None, RATE)) == ["rate_unmeasured"]


def test_timeline_reveals_audio_lost_inside_the_board() -> None:
    ends = np.arange(1, 301, dtype=np.int64) * 160
    device_ms = (ends - 160) / 16.0
    assert dg.audio_missing_ms(device_ms, ends, RATE) == pytest.approx(0.0)
    device_ms[150:] += 100.0  # the board's clock ran 100 ms with no samples delivered
    missing = dg.audio_missing_ms(device_ms, ends, RATE)
    assert missing == pytest.approx(100.0)
    assert codes(dg.check_timeline(missing, 0)) == ["audio_missing"]
    assert dg.check_timeline(missing, 1) == []  # the board flagged it: reported as i2s_overrun instead


# --------------------------------------------------------------------------------------------- link


def test_link_counters() -> None:
    assert dg.check_link({"frames": 300}) == []
    found = dg.check_link({"i2s_overruns": 2, "lost_frames": 3, "device_dropped": 3, "crc_errors": 1,
                           "resyncs": 1, "reconnects": 1}, "no data for 3 s")  # fmt: skip
    assert codes(found) == ["link_lost", "i2s_overrun", "lost_frames", "usb_errors", "reconnect"]
    assert "ring was full" in found[2].message
    assert "USB link" in dg.check_link({"lost_frames": 1})[0].message


# -------------------------------------------------------------------------------------------- diagnose


def capture(mono: np.ndarray, stereo: np.ndarray | None = None, **counters: float) -> dg.Capture:
    t, ends = arrivals(RATE, len(mono) / RATE)
    return dg.Capture(RATE, mono, t, ends, stereo, counters, pins=PINS, device_ms=(ends - 160) / 16.0)


def test_diagnose_healthy_and_strict() -> None:
    diag = dg.diagnose(capture(noise(-80.0, RATE * 3), np.column_stack([noise(-80.0), np.zeros(RATE * 2, np.int16)])))
    assert diag.findings == () and diag.healthy() and diag.healthy(strict=True)
    loud = dg.diagnose(capture(noise(-50.0, RATE * 3)))
    assert codes(list(loud.findings)) == ["noise_high"]
    assert loud.healthy() and not loud.healthy(strict=True)


def test_diagnose_wrong_slot_replaces_no_data() -> None:
    zeros = np.zeros(RATE * 3, np.int16)
    stereo = np.column_stack([np.zeros(RATE, np.int16), noise(-60.0, RATE)])
    diag = dg.diagnose(capture(zeros, stereo))
    assert codes(list(diag.findings)) == ["wrong_slot"] and not diag.healthy()
    assert codes(list(dg.diagnose(capture(zeros, np.zeros((RATE, 2), np.int16))).findings)) == ["no_data"]


def test_diagnose_overrun_hides_the_skewed_rate() -> None:
    cap = capture(noise(-80.0, RATE * 3), i2s_overruns=1)
    cap = dg.Capture(cap.rate_hz, cap.mono, cap.arrivals_s, cap.ends * 97 // 100, None, cap.counters)
    assert codes(list(dg.diagnose(cap).findings)) == ["i2s_overrun"]


def test_diagnose_no_audio() -> None:
    cap = dg.Capture(RATE, np.zeros(0, np.int16), np.zeros(0), np.zeros(0, np.int64), None, {})
    assert codes(list(dg.diagnose(cap).findings)) == ["no_audio"]


def test_reports() -> None:
    diag = dg.diagnose(capture(np.full(RATE * 3, -1, np.int16)))
    info = {"board": "pico", "fw": "0.1.0", "mpy": "1.24.0"}
    body = json.loads(report_json(diag, info, "/dev/ttyACM0", strict=False))
    assert body["verdict"] == "unhealthy" and body["findings"][0]["code"] == "stuck_high"
    assert body["measurements"]["peak"] == 1
    text = "\n".join(report_text(diag, info, "/dev/ttyACM0", strict=False))
    assert "ERROR" in text and "fix:" in text and text.endswith("verdict: unhealthy (1 error(s), 0 warning(s))")


# --------------------------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "picomic.cli", *args], capture_output=True, text=True, timeout=60)


def test_cli_missing_port_is_one_clear_line() -> None:
    proc = run_cli("doctor", "--port", "/dev/ttyACM99")
    assert proc.returncode == 3
    assert proc.stderr.startswith("picomic: /dev/ttyACM99 not found") and "Traceback" not in proc.stderr


def test_cli_bad_seconds() -> None:
    proc = run_cli("doctor", "--port", "/dev/ttyACM99", "--seconds", "0")
    assert proc.returncode == 2 and "--seconds must be > 0" in proc.stderr
