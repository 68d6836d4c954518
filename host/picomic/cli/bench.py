"""`picomic bench`: run the benchmark registry (picomic.bench.registry), print the table, write --json/--plot."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from picomic.bench import registry, report
from picomic.bench.registry import Run, entry_names, run_entries, selected
from picomic.errors import ConfigError

HELP = "measure every figure picomic promises (host, device, wire, speech) beside its baseline"
DESCRIPTION = registry.__doc__.splitlines()[0] if registry.__doc__ else None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="shorter runs (every figure still measured), < 3 min")
    p.add_argument("--json", metavar="FILE", type=Path, help="write all figures and the machine info as JSON")
    p.add_argument("--plot", metavar="FILE.png", type=Path, help="latency and throughput plots (needs picomic[plot])")
    p.add_argument("--only", metavar="NAME,...", help=f"run only these entries: {', '.join(entry_names())}")
    p.add_argument("--faults", action="store_true", help="the fault-injection table (same as --only faults)")
    p.add_argument("--soak", action="store_true", help="the one-hour soak (same as --only soak)")


def check_writable(path: Path, what: str) -> None:
    """Fail now, not after minutes of measuring: `path` must be a file we can create or overwrite."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; give a file name")
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror or exc}; choose a writable path") from exc
    if not existed:
        path.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Run the selected entries, print the table, write --json/--plot; 1 when a figure misses its target."""
    only = ",".join(filter(None, [args.only, "faults" if args.faults else "", "soak" if args.soak else ""]))
    entries = selected(only or None)
    json_path: Path | None = args.json
    plot_path: Path | None = args.plot
    if plot_path is not None:
        report.need_matplotlib()
    for path, what in ((json_path, "--json file"), (plot_path, "--plot file")):
        if path is not None:
            check_writable(path, what)
    quiet = bool(getattr(args, "quiet", False))

    def progress(line: str) -> None:
        if not quiet:
            print(f"picomic bench: {line}", file=sys.stderr, flush=True)

    info = report.machine_info()
    load = info["load_avg_1_5_15"]
    if load and info["usable_cores"] and load[0] > 0.5 * info["usable_cores"]:
        progress(f"the machine is busy (load {load[0]} on {info['usable_cores']} cores): expect slower figures")
    t0 = time.perf_counter()
    run = run_entries(entries, args.quick, progress)
    wall_s = round(time.perf_counter() - t0, 1)
    info["load_avg_after"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    loads = f", load {load[0]}→{info['load_avg_after'][0]}" if load and info["load_avg_after"] else ""
    title = (
        f"picomic bench{' --quick' if args.quick else ''} — {info['cpu']}, {info['usable_cores']} cores{loads}, "
        f"Python {info['python']}, {run.started}, {wall_s} s"
    )
    report.print_table(run.results, title)
    fault_table = run.details.get("faults", {}).get("table")
    if fault_table:
        print(fault_table)
    if json_path is not None:
        _write_json(json_path, args.quick, run, wall_s, info)
    if plot_path is not None:
        report.plot(plot_path, run.results, run.details, title)
    for r in run.missed:
        f = r.figure
        target = f.target.text(f.unit, f.digits) if f.target else ""
        print(
            f"picomic bench: MISSED {r.name}: {f.label.strip()} = {r.value:.4g} {f.unit} (target {target})",
            file=sys.stderr,
        )
    return 1 if run.missed else 0


def _write_json(path: Path, quick: bool, run: Run, wall_s: float, info: dict[str, Any]) -> None:
    doc = {
        "picomic_bench": 1,
        "quick": quick,
        "started": run.started,
        "wall_s": wall_s,
        "entries_s": run.seconds,
        "machine": info,
        "figures": [r.to_json() for r in run.results],
        "missed": [r.name for r in run.missed],
        "details": run.details,
    }
    path.write_text(json.dumps(report.json_safe(doc), indent=1, allow_nan=False) + "\n")
