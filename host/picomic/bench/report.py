"""What `picomic bench` reports: figure specs with targets, their results (median and range), the table, the plot.

A figure's samples are one number per repeated run (value = their median), or, for a distribution figure
(`stat` set: a percentile), the pooled samples of one run (e.g. every final transcript's latency). The range
is always min–max of the samples; `over` says what they are.
"""

from __future__ import annotations

import importlib.metadata
import math
import operator
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from picomic.bench import device
from picomic.errors import ConfigError
from picomic.version import __version__

Op = Literal["<", "<=", "==", ">=", ">"]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}
_SHOWN = {"<": "<", "<=": "≤", "==": "=", ">=": "≥", ">": ">"}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile of `values` (NaN when there are none)."""
    return float(np.percentile(values, q)) if len(values) else math.nan


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), MB."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@dataclass(frozen=True, slots=True)
class Target:
    op: Op
    value: float

    def met(self, value: float) -> bool:
        """NaN (a figure that could not be measured) never meets a target."""
        return not math.isnan(value) and _OPS[self.op](value, self.value)

    def text(self, unit: str, digits: int) -> str:
        return f"{_SHOWN[self.op]} {self.value:,g} {unit}".strip()


@dataclass(frozen=True, slots=True)
class Figure:
    """One number `picomic bench` promises or shows beside a promise (a baseline)."""

    key: str
    """Key of the samples in the entry's result dict."""
    label: str
    unit: str = ""
    target: Target | None = None
    """None: reported for comparison (a baseline, a ratio), no pass/fail."""
    over: str = "runs"
    """What the samples are: `runs` (one per repeated run), `finals`, `exact` (computed, no noise)."""
    stat: float | None = None
    """None: the median of the samples; else this percentile of them (100 = the maximum)."""
    digits: int = 1
    name: str | None = None
    """Name in the report when one key feeds several figures (p50 and p95 of the same samples)."""

    @property
    def id(self) -> str:
        return self.name or self.key


@dataclass(frozen=True, slots=True)
class Result:
    entry: str
    figure: Figure
    samples: tuple[float, ...]
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.entry}.{self.figure.id}"

    @property
    def value(self) -> float:
        s = [x for x in self.samples if not math.isnan(x)]
        if not s or len(s) != len(self.samples):
            return math.nan
        if self.figure.stat is None:
            return float(statistics.median(s))
        return float(np.percentile(s, self.figure.stat))

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else math.nan

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else math.nan

    @property
    def passed(self) -> bool | None:
        return None if self.figure.target is None else self.figure.target.met(self.value)

    def to_json(self) -> dict[str, Any]:
        f = self.figure
        return {
            "name": self.name,
            "label": f.label,
            "unit": f.unit,
            "value": _json_num(self.value),
            "min": _json_num(self.low),
            "max": _json_num(self.high),
            "n": len(self.samples),
            "over": f.over,
            "stat": "median" if f.stat is None else f"p{f.stat:g}",
            "target": None if f.target is None else {"op": f.target.op, "value": f.target.value},
            "target_text": None if f.target is None else f.target.text(f.unit, f.digits),
            "pass": self.passed,
            "samples": [_json_num(x) for x in self.samples],
            "error": self.error,
        }


def results_for(entry: str, figures: Sequence[Figure], data: dict[str, Any] | None, error: str | None) -> list[Result]:
    """Turn an entry's result dict (figure key → number or list of numbers) into Results; a figure the entry
    did not report, or an entry that failed, becomes NaN (a miss when it has a target)."""
    out = []
    for f in figures:
        raw = None if data is None else data.get(f.key)
        if raw is None:
            out.append(Result(entry, f, (math.nan,), error or f"{f.key} not reported"))
            continue
        values = raw if isinstance(raw, list | tuple) else [raw]
        out.append(Result(entry, f, tuple(float(v) for v in values), error))
    return out


def _num(x: float, digits: int) -> str:
    if math.isnan(x):
        return "n/a"
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def _json_num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _row(r: Result) -> tuple[str, str, str, str, str]:
    f = r.figure
    value = f"{_num(r.value, f.digits)} {f.unit}".strip()
    if len(r.samples) > 1 and not math.isnan(r.low):
        rng = f"{_num(r.low, f.digits)}–{_num(r.high, f.digits)} ({len(r.samples)} {f.over})"
    else:
        rng = "exact" if f.over == "exact" else f"— (1 {f.over.rstrip('s')})"
    target = "—" if f.target is None else f.target.text(f.unit, f.digits)
    verdict = {None: "info", True: "pass", False: "FAIL"}[r.passed]
    if r.error and r.passed is not True:
        verdict = f"{verdict} ({r.error.splitlines()[0][:60]})".strip()
    return f.label, value, rng, target, verdict


HEADERS = ("figure", "value (median)", "range (min–max)", "target", "result")


def plain_table(results: Sequence[Result]) -> str:
    """The table as aligned text, a blank line between entries."""
    rows = [_row(r) for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for r, row in zip(results, rows, strict=True):
        if previous is not None and r.entry != previous:
            lines.append("")
        previous = r.entry
        cells = [
            row[0].ljust(widths[0]),
            row[1].rjust(widths[1]),
            *(c.ljust(w) for c, w in zip(row[2:], widths[2:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def print_table(results: Sequence[Result], title: str) -> None:
    """A rich table on a terminal, plain aligned text otherwise."""
    if not sys.stdout.isatty():
        print(title)
        print(plain_table(results))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, h in enumerate(HEADERS):
        table.add_column(h, justify="right" if i == 1 else "left")
    previous = None
    for r in results:
        if previous is not None and r.entry != previous:
            table.add_section()
        previous = r.entry
        label, value, rng, target, verdict = _row(r)
        style = {True: "green", False: "bold red", None: "dim"}[r.passed]
        table.add_row(label, value, rng, target, f"[{style}]{verdict}[/]")
    Console().print(table)


def need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install 'picomic[plot]'") from exc


def _by_name(results: Sequence[Result]) -> dict[str, Result]:
    return {r.name: r for r in results}


def plot(path: Path, results: Sequence[Result], details: dict[str, dict[str, Any]], title: str) -> None:
    """A 2×2 PNG: pty delivery latency, end-of-speech latency, throughput vs listeners, USB budget shares.
    Panels whose entry did not run say so."""
    need_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(title, fontsize=10)
    _plot_pty(axes[0][0], details.get("latency", {}))
    _plot_stt(axes[0][1], details.get("stt", {}))
    _plot_throughput(axes[1][0], _by_name(results))
    _plot_wire(axes[1][1], _by_name(results))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _not_run(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: not run", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _plot_pty(ax: Any, data: dict[str, Any]) -> None:
    lat = data.get("latencies_ms")
    if not lat:
        return _not_run(ax, "pty delivery latency")
    bins = np.logspace(np.log10(max(min(lat), 1e-3)), np.log10(max(lat) * 1.05), 60)
    ax.hist(lat, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xticks([t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if bins[0] <= t <= bins[-1]])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    for q, style in ((50, "-"), (99, "--")):
        v = float(np.percentile(lat, q))
        ax.axvline(v, color="k", linestyle=style, linewidth=1, label=f"p{q} {v:.2f} ms")
    ax.axvline(max(lat), color="tab:red", linestyle=":", linewidth=1, label=f"max {max(lat):.2f} ms")
    ax.set_title(f"Delivery latency, pty bytes → listener wake-up ({len(lat)} frames)")
    ax.set_xlabel("ms (log)")
    ax.set_ylabel("frames")
    ax.legend(fontsize=8)


def _plot_stt(ax: Any, data: dict[str, Any]) -> None:
    groups = [
        (label, data.get(key, {}).get("latencies_ms") or [])
        for label, key in (
            ("speculative (default)", "latency_speculative"),
            ("no speculation", "latency_no_speculative"),
        )
    ]
    if not any(values for _, values in groups):
        return _not_run(ax, "end-of-speech latency")
    rng = np.random.default_rng(0)
    for i, (label, values) in enumerate(groups):
        if not values:
            continue
        x = i + rng.uniform(-0.08, 0.08, len(values))
        ax.scatter(x, values, s=28, alpha=0.8, label=f"{label}: p50 {np.percentile(values, 50):.0f} ms")
        ax.hlines(np.percentile(values, 50), i - 0.25, i + 0.25, color="k")
        ax.hlines(np.percentile(values, 95), i - 0.2, i + 0.2, color="k", linestyles="--")
    if "bare_decode_ms" in data and "min_silence_ms" in data:
        ax.axhline(data["min_silence_ms"], color="grey", linestyle=":", label="silence window")
        floor = data["min_silence_ms"] + data["bare_decode_ms"]
        ax.axhline(floor, color="tab:red", linestyle=":", label=f"silence + bare decode ({floor:.0f} ms)")
    top = max(max(v) for _, v in groups if v)
    ax.set_ylim(0, top * 1.35)
    ax.set_xticks([0, 1], [g[0] for g in groups])
    ax.set_ylabel("end of speech → final transcript, ms")
    ax.set_title("End of speech → final transcript (— p50, -- p95)")
    ax.legend(fontsize=8, loc="upper center", ncol=2)


def _plot_throughput(ax: Any, by: dict[str, Result]) -> None:
    counts = [n for n in (1, 3, 8) if f"host.fps_{n}" in by]
    if not counts:
        return _not_run(ax, "decode + fan-out throughput")
    for prefix, label, color, shift in (
        ("fps", "AudioBus (shared chunk)", "tab:blue", -0.08),
        ("naive_fps", "naive (copy + locked list)", "tab:orange", 0.08),
    ):
        rs = [by[f"host.{prefix}_{n}"] for n in counts]
        med = np.array([r.value for r in rs])
        err = np.array(
            [[m - r.low for m, r in zip(med, rs, strict=True)], [r.high - m for m, r in zip(med, rs, strict=True)]]
        )
        ax.errorbar(np.array(counts) + shift, med, yerr=err, marker="o", capsize=4, color=color, label=label)
    target = by["host.fps_3"].figure.target if "host.fps_3" in by else None
    if target is not None:
        ax.axhline(target.value, color="grey", linestyle=":", label=f"target {target.value:,.0f} frames/s")
    ax.set_xticks(counts)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("listeners")
    ax.set_ylabel("10 ms frames per second (median, min–max)")
    ax.set_title("Decode + fan-out vs listeners (real time = 100 frames/s)")
    ax.legend(fontsize=8)


def _plot_wire(ax: Any, by: dict[str, Result]) -> None:
    streams = [k for k in ("16k_16bit", "16k_24bit", "48k_16bit", "48k_24bit") if f"wire.usb_share_pct_{k}" in by]
    if not streams:
        return _not_run(ax, "USB budget")
    x = np.arange(len(streams))
    bulk = [by[f"wire.usb_share_pct_{k}"].value for k in streams]
    measured = [by[f"wire.measured_share_pct_{k}"].value for k in streams]
    ax.bar(x - 0.2, bulk, 0.4, label="of USB FS bulk, 1.0 MB/s")
    ax.bar(x + 0.2, measured, 0.4, label="of 586 KiB/s measured (Pico 2, MicroPython)")
    ax.axhline(50, color="tab:red", linestyle=":", label="target: ≤ 50 % of measured")
    ax.set_xticks(x, [k.replace("_", " ").replace("k", " kHz") for k in streams])
    ax.set_ylabel("% of budget")
    ax.set_title("Wire: share of the USB CDC budget (mono, 10 ms frames)")
    ax.legend(fontsize=8)


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, OS and the versions that shape the numbers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "micropython": device.micropython_version(),
        "faster_whisper": version("faster-whisper"),
        "ctranslate2": version("ctranslate2"),
        "picomic": __version__,
    }


def json_safe(obj: object) -> object:
    """JSON-safe: NaN/inf → null, numpy scalars/arrays → Python, tuples → lists, anything else → str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):
        return json_safe(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    return str(obj)
