"""`picomic bench`: the registry covers every promised figure, cheap entries measure what they claim,
the command's option errors come before any measuring, and a missed target is a non-zero exit."""

from __future__ import annotations

import argparse
import errno
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from picomic.bench import device, report, wire
from picomic.bench import registry as bench
from picomic.bench.report import Figure, Target
from picomic.cli import bench as bench_cli
from picomic.errors import ConfigError, DeviceError

# Every figure issue 10 names, as `entry.figure` (speech figures are measured by tests/host/test_speech_stt*).
ISSUE_FIGURES = {
    *(f"host.{k}_{n}" for k in ("fps", "x_realtime", "naive_fps", "speedup") for n in (1, 3, 8)),
    "latency.p50_ms",
    "latency.p99_ms",
    "latency.max_ms",
    "copies.copies_per_chunk",
    "device.alloc_bytes_per_frame",
    "device.heap_lock_failed_frames",
    "device.loop_us_16k_16bit",
    "device.ram_at_start_bytes",
    "wire.overhead_pct_16k_16bit",
    *(f"wire.{k}_{s}" for k in ("usb_share_pct", "measured_share_pct") for s in ("16k_16bit", "48k_24bit")),
    *(f"wire.{k}_{s}" for k in ("usb_share_pct", "measured_share_pct") for s in ("16k_24bit", "48k_16bit")),
    "stt.spec_p50_ms",
    "stt.spec_p95_ms",
    "stt.nospec_p50_ms",
    "stt.nospec_p95_ms",
    "stt.bare_decode_runs_ms",
    "stt.wer_streaming_pct",
    "stt.wer_batch_pct",
    "rss.rss_growth_mb",
}  # fmt: skip


def _names() -> list[str]:
    return [f"{e.name}.{f.id}" for e in bench.ENTRIES for f in e.figures]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="picomic")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("bench")
    bench_cli.add_arguments(p)
    p.set_defaults(func=bench_cli.run)
    return parser.parse_args(["bench", *argv])


def _entry(name: str) -> bench.Entry:
    return next(e for e in bench.ENTRIES if e.name == name)


def test_registry_lists_every_figure_of_the_issue() -> None:
    names = _names()
    assert len(names) == len(set(names)), "figure names must be unique"
    assert set(names) >= ISSUE_FIGURES, sorted(ISSUE_FIGURES - set(names))
    promises = {"copies.copies_per_chunk", "device.alloc_bytes_per_frame", "rss.rss_growth_mb", "host.fps_3"}
    targets = {f"{e.name}.{f.id}": f.target for e in bench.ENTRIES for f in e.figures}
    assert all(targets[p] is not None for p in promises)
    opt_in = {e.name for e in bench.ENTRIES if not e.default}
    assert opt_in == {"faults", "soak", "emulated", "remote_asr", "stages"}  # long or needing a server: only when asked
    assert [e.name for e in bench.selected(None)] == [e.name for e in bench.ENTRIES if e.default]
    args = _parse("--quick", "--only", "wire,device", "--json", "x.json")
    assert args.func is bench_cli.run and args.quick and args.only == "wire,device"
    assert _parse("--faults").faults and _parse("--soak").soak


def test_wire_overhead_and_budget_shares_are_exact() -> None:
    out = wire.run()
    assert out["overhead_pct_16k_16bit"] == pytest.approx(100 * 26 / (26 + 320))
    assert out["overhead_pct_48k_24bit"] == pytest.approx(100 * 26 / (26 + 1920))
    # 48 kHz 24-bit: 100 frames/s × (1920 + 26) B against 1.0 MB/s and 586 KiB/s
    assert out["usb_share_pct_48k_24bit"] == pytest.approx(100 * 194_600 / 1_000_000)
    assert out["measured_share_pct_48k_24bit"] == pytest.approx(100 * 194_600 / (586 * 1024))
    run = bench.run_entries([_entry("wire")], quick=True)
    assert not run.missed and all(r.passed is not False for r in run.results)


def test_device_tiny_run_allocates_nothing_per_frame() -> None:
    out = device.run(quick=True, frames=300, repeats=1)
    assert out["alloc_bytes_per_frame"] == [0.0]
    assert out["heap_lock_failed_frames"] == [0.0] and out["heap_lock_effective"] is True
    assert out["streaming"] is True
    assert 10_000 < out["ram_at_start_bytes"][0] < 24 * 1024  # the 32-frame ring of 346 B frames and more
    assert all(0 < out[f"loop_us_{device._key(c)}"][0] < 5000 for c in device.CONFIGS)
    assert 346 <= out["wire_bytes_per_frame"][0] < 347  # 26 + 320, plus one PING reply per 100 frames
    rows = {r["start"]: r for r in out["rows"]}
    assert rows["rate=48000 bits=24"]["payload_bytes"] == 1920


def test_device_measurement_sees_an_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same script with one list allocated per step: both the count and the heap_lock proof must show it.
    monkeypatch.setattr(device, "_SCRIPT", device._SCRIPT.replace("a.stream_step()\n", "a.stream_step(); junk = [0]\n"))
    (row,) = device.measure(mpy=True, frames=200, configs=(device.DEFAULT_CONFIG,))
    assert row["alloc_bytes_per_frame"] >= 16
    assert row["heap_lock_failed_frames"] == 200


def test_device_measurement_failure_is_a_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_SCRIPT", "raise ValueError('boom')\n")
    with pytest.raises(DeviceError, match="boom"):
        device.measure(frames=10, configs=(device.DEFAULT_CONFIG,))


def test_only_wire_writes_json_with_machine_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert bench_cli.run(_parse("--quick", "--only", "wire", "--json", str(out))) == 0
    doc = json.loads(out.read_text())
    assert {"cpu", "cores", "python", "numpy", "micropython"} <= set(doc["machine"])
    assert doc["machine"]["micropython"].startswith(("MicroPython", "3."))
    assert doc["quick"] is True and doc["missed"] == []
    figures = {f["name"]: f for f in doc["figures"]}
    assert figures["wire.overhead_pct_16k_16bit"]["pass"] is True
    assert figures["wire.overhead_pct_16k_16bit"]["value"] == pytest.approx(100 * 26 / 346)
    table = capsys.readouterr().out
    assert "wire overhead, 16 kHz 16-bit" in table and "7.51 %" in table and "FAIL" not in table


@pytest.mark.parametrize("case", ["directory", "no-parent", "eacces"])
def test_unwritable_json_path_fails_before_running(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "run_entries", lambda *a, **k: pytest.fail("ran before checking --json"))
    target = {"directory": tmp_path, "no-parent": tmp_path / "missing" / "b.json", "eacces": tmp_path / "b.json"}[case]
    if case == "eacces":  # CI runs as root: inject the errno instead of chmod
        real_open = Path.open

        def deny(self: Path, *a: Any, **k: Any) -> Any:
            if self == target:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_open(self, *a, **k)

        monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ConfigError, match="--json file"):
        bench_cli.run(_parse("--only", "wire", "--json", str(target)))
    assert not (tmp_path / "b.json").exists()


def test_unknown_entry_and_missing_matplotlib_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown bench entry nope; choose from wire, device"):
        bench_cli.run(_parse("--only", "wire,nope"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    monkeypatch.setattr(bench, "run_entries", lambda *a, **k: pytest.fail("ran before checking --plot"))
    with pytest.raises(ConfigError, match=r"pip install 'picomic\[plot\]'"):
        bench_cli.run(_parse("--only", "wire", "--plot", str(tmp_path / "p.png")))


def _failing(quick: bool) -> dict[str, Any]:
    raise DeviceError("no board today")


def test_missed_target_and_failed_entry_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    over = (Figure("ms", "t", "ms", Target("<=", 2)),)
    entries = [
        bench.Entry("slow", "a figure over its target", lambda q: {"ms": [3.0, 5.0, 4.0]}, over),
        bench.Entry("broken", "an entry that fails", _failing, (Figure("x", "x", "", Target("==", 0)),)),
    ]
    monkeypatch.setattr(bench, "ENTRIES", entries)
    out = tmp_path / "b.json"
    assert bench_cli.run(_parse("--json", str(out))) == 1
    err = capsys.readouterr().err
    assert "MISSED slow.ms" in err and "MISSED broken.x" in err and "no board today" in err
    doc = json.loads(out.read_text())
    figs = {f["name"]: f for f in doc["figures"]}
    assert figs["slow.ms"]["value"] == 4.0 and figs["slow.ms"]["min"] == 3.0 and figs["slow.ms"]["pass"] is False
    assert figs["broken.x"]["value"] is None and "DeviceError" in figs["broken.x"]["error"]


def test_percentile_figures_and_plain_table() -> None:
    spec = Figure("ms", "latency p95", "ms", Target("<=", 100), over="finals", stat=95, name="p95")
    (r,) = report.results_for("stt", [spec], {"ms": [10.0, 20.0, 30.0, 40.0, 1000.0]}, None)
    assert r.name == "stt.p95" and r.value > 100 and r.passed is False and (r.low, r.high) == (10.0, 1000.0)
    (nan,) = report.results_for("x", [Figure("y", "y", target=Target(">", 0))], {}, None)
    assert math.isnan(nan.value) and nan.passed is False
    text = report.plain_table([r, nan])
    assert "10.0–1,000.0 (5 finals)" in text and "FAIL" in text and "≤ 100 ms" in text


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--plot is the optional extra picomic[plot]")
    run = bench.run_entries([_entry("wire")], quick=True)
    details = {
        "latency": {"latencies_ms": [0.3, 0.4, 0.5, 2.0]},
        "stt": {"latency_speculative": {"latencies_ms": [600.0, 700.0]}, "min_silence_ms": 500, "bare_decode_ms": 450},
    }
    path = tmp_path / "bench.png"
    report.plot(path, run.results, details, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
