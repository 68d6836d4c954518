"""`picomic bench`: every figure picomic promises, beside its baseline, medians and ranges, in one process.

The registry, `ENTRIES`, is a list of named entries: a function `run(quick) -> dict` and the figures it
reports (a figure's key in that dict maps to a number or a list of per-run numbers). Later issues add
entries here; an entry with `default=False` runs only when named (`--only NAME`, or its own flag such as
the reliability issue's `--faults`). Everything runs in this one process, one entry after the other, so
ratios (ours vs a baseline) see the same machine state: each benchmark alternates ours and the baseline.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picomic.bench import (
    boards,
    device,
    emulated,
    faults,
    host,
    remote_asr,
    report,
    sim,
    soak,
    stages,
    stt,
    stt_set,
    web,
    wire,
)
from picomic.bench.report import Figure, Result, Target
from picomic.errors import ConfigError, PicomicError

RunFn = Callable[[bool], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    help: str
    run: RunFn
    figures: tuple[Figure, ...]
    default: bool = True
    """False: runs only when asked for by name (`--only`) or by its own flag."""


# --------------------------------------------------------------------------------------- entry functions


def _wire(quick: bool) -> dict[str, Any]:
    return wire.run(quick)


def _device(quick: bool) -> dict[str, Any]:
    return device.run(quick)


def _copies(quick: bool) -> dict[str, Any]:
    out = host.copies_per_chunk(frames=200, listeners=8)
    return {"copies_per_chunk": out["copies_per_chunk_after_decode"], **out}


def _throughput(quick: bool) -> dict[str, Any]:
    frames, repeats = (5000, 7) if quick else (20_000, 9)
    secs = host.throughput_samples(frames, repeats)
    audio_s = frames * host.SAMPLES / host.RATE_HZ
    out: dict[str, Any] = {"frames": frames, "repeats": repeats, "seconds": secs}
    out["decode_fps"] = [frames / s for s in secs["decode"]]
    for n in host.LISTENER_COUNTS:
        ours, naive = secs[f"bus_{n}"], secs[f"naive_{n}"]
        out[f"fps_{n}"] = [frames / s for s in ours]
        out[f"x_realtime_{n}"] = [audio_s / s for s in ours]
        out[f"naive_fps_{n}"] = [frames / s for s in naive]
        out[f"speedup_{n}"] = [b / a for a, b in zip(ours, naive, strict=True)]  # per run: same machine state
    return out


def _latency(quick: bool) -> dict[str, Any]:
    frames, repeats = (300, 3) if quick else (1000, 5)
    runs = [host.pty_latencies(frames) for _ in range(repeats)]
    pooled = sorted(x for r in runs for x in r)
    return {
        "frames": frames,
        "repeats": repeats,
        "delivered": [len(r) for r in runs],
        "delivered_pct": [100.0 * len(r) / frames for r in runs],
        "p50_ms": [report.percentile(r, 50) for r in runs],
        "p99_ms": [report.percentile(r, 99) for r in runs],
        "max_ms": [max(r, default=math.nan) for r in runs],
        "latencies_ms": [round(x, 4) for x in pooled],
    }


def _rss(quick: bool) -> dict[str, Any]:
    return host.rss_growth(audio_s=3600.0)  # a full hour of audio even when quick: ~5 s at full speed


def _stt(quick: bool) -> dict[str, Any]:
    out = stt.run(quick=quick, latency_fixtures=4 if quick else None)
    spec, nospec = out["latency_speculative"], out["latency_no_speculative"]
    ws, wsim, wb = out["wer_streaming"], out["wer_sim"], out["wer_batch"]
    out.update(
        spec_ms=spec["latencies_ms"],
        nospec_ms=nospec["latencies_ms"],
        spec_gain_p50_ms=nospec["p50_ms"] - spec["p50_ms"],
        wer_streaming_pct=100.0 * ws["wer"],
        wer_batch_pct=100.0 * wb["wer"],
        wer_extra_errors=ws["errors"] - wb["errors"],
        wer_sim_pct=100.0 * wsim["wer"],
        wer_sim_over_batch_points=100.0 * (wsim["wer"] - wb["wer"]),
    )
    return out


# ------------------------------------------------------------------------------------------- registry


def _host_figures() -> tuple[Figure, ...]:
    figs = [Figure("decode_fps", "decode only (no listeners)", "frames/s", digits=0)]
    for n in host.LISTENER_COUNTS:
        target = Target(">=", 50_000) if n == 3 else None
        figs += [
            Figure(f"fps_{n}", f"decode + fan-out, {n} listener(s)", "frames/s", target, digits=0),
            Figure(f"x_realtime_{n}", f"  × real time, {n} listener(s)", "×", Target(">=", 100), digits=0),
            Figure(f"naive_fps_{n}", f"  naive baseline (copy + locked list), {n}", "frames/s", digits=0),
            Figure(f"speedup_{n}", f"  AudioBus speed-up over naive, {n}", "×", digits=2),
        ]
    return tuple(figs)


def _wire_figures() -> tuple[Figure, ...]:
    figs = []
    for rate, bits in wire.STREAMS:
        k, name = wire.key(rate, bits), f"{rate // 1000} kHz {bits}-bit"
        figs += [
            Figure(f"overhead_pct_{k}", f"wire overhead, {name}", "%", Target("<=", 8.0), over="exact", digits=2),
            Figure(f"usb_share_pct_{k}", f"  share of USB FS bulk 1.0 MB/s, {name}", "%", over="exact"),
            Figure(
                f"measured_share_pct_{k}", f"  share of 586 KiB/s measured, {name}", "%", Target("<=", 50.0), "exact"
            ),
        ]
    return tuple(figs)


def _stt_latency(kind: str, label: str, q: int, target: Target | None = None) -> Figure:
    return Figure(f"{kind}_ms", label, "ms", target, over="finals", stat=q, digits=0, name=f"{kind}_p{q}_ms")


_LOOP_US_MAX = 500.0  # 5 % of a 10 ms frame on the unix port
ENTRIES: list[Entry] = [
    Entry("wire", "wire overhead and USB CDC budget shares (exact, from the protocol)", _wire, _wire_figures()),
    Entry(
        "device",
        "firmware under the real MicroPython unix port (.mpy build)",
        _device,
        (
            Figure(
                "alloc_bytes_per_frame", "device heap bytes allocated per frame (mem_alloc Δ)", "B", Target("==", 0)
            ),
            Figure(
                "heap_lock_failed_frames", "device frames that allocated under heap_lock", "", Target("==", 0), digits=0
            ),
            *(
                Figure(
                    f"loop_us_{device._key(c)}",
                    f"device loop per 10 ms frame, {device._key(c)}",
                    "µs",
                    Target("<", _LOOP_US_MAX),
                )
                for c in device.CONFIGS
            ),
            Figure(
                "ram_at_start_bytes",
                "device RAM allocated at START (16 kHz 16-bit)",
                "B",
                Target("<=", 24576),
                digits=0,
            ),
            Figure("wire_bytes_per_frame", "device bytes written per frame (1 PING reply/s incl.)", "B", digits=2),
        ),
    ),
    Entry(
        "copies",
        "copies per chunk after decode, by buffer identity (8 listeners)",
        _copies,
        (Figure("copies_per_chunk", "copies per chunk after decode (8 listeners)", "", Target("==", 0), digits=0),),
    ),
    Entry("host", "decode + fan-out to 1/3/8 listeners vs the naive baseline", _throughput, _host_figures()),
    Entry(
        "latency",
        "pty → listener delivery latency at real-time pace",
        _latency,
        (
            Figure("p50_ms", "delivery latency p50, pty → listener", "ms", Target("<=", 2.0), digits=3),
            Figure("p99_ms", "delivery latency p99", "ms", Target("<=", 10.0), digits=3),
            Figure("max_ms", "delivery latency max", "ms", stat=100, digits=3),
            Figure("delivered_pct", "frames delivered", "%", Target("==", 100)),
        ),
    ),
    Entry(
        "rss",
        "RSS growth over one hour of audio at full speed",
        _rss,
        (Figure("rss_growth_mb", "RSS growth over 1 h of audio", "MB", Target("<", 2.0), digits=2),),
    ),
    Entry(
        "sim",
        "simulated board: start-up to first audio frame, fast-mode throughput",
        sim.run,
        (
            Figure(
                "start_fast_ms", "simulated board start → first audio, fast mode", "ms", Target("<", 1000), digits=0
            ),
            Figure(
                "start_realtime_ms",
                "  start → first audio, real time (incl. 256 ms mic settle)",
                "ms",
                Target("<", 1500),
                digits=0,
            ),
            Figure("fast_x_realtime", "  fast mode through pty + decoder, 16 kHz", "×", Target(">=", 10), digits=0),
        ),
    ),
    Entry(
        "stt",
        "end-of-speech → final latency, decode time, streaming vs batch WER",
        _stt,
        (
            _stt_latency("spec", "end of speech → final, speculative, p50", 50),
            _stt_latency("spec", "  end of speech → final, speculative, p95", 95, Target("<=", 1200)),
            _stt_latency("nospec", "  baseline without speculation, p50", 50),
            _stt_latency("nospec", "  baseline without speculation, p95", 95),
            Figure("spec_gain_p50_ms", "  speculation saves (p50)", "ms", Target(">", 0), over="exact", digits=0),
            Figure("bare_decode_runs_ms", "bare decode of one utterance", "ms", Target("<=", 800), digits=0),
            Figure("wer_streaming_pct", "WER streaming (bus → VAD → STT)", "%", Target("<=", 10.0)),
            Figure("wer_batch_pct", "  WER batch faster-whisper, same fixtures", "%"),
            Figure("wer_sim_pct", "WER through the simulated board (pty → decoder → bus → VAD → STT)", "%"),
            Figure("wer_sim_over_batch_points", "  simulated path − batch, WER points", "pt", Target("<=", 1.0)),
            Figure("wer_extra_errors", "  streaming − batch word errors", "words", Target("<=", 2), digits=0),
        ),
    ),
    Entry("web", "the web view: 20 WebSocket clients at real time, with and without a stalled one", web.run,
          web.figures()),  # fmt: skip
    Entry(
        "boards",
        "N simulated boards at once with local STT: most boards with final p95 <= 1.5 s and 0 bus drops",
        boards.run,
        boards.figures(),
    ),
    Entry(
        "stt-set",
        "harder speech set: turns and revisions vs before, batch WER, latency, noise, CPU, long file",
        stt_set.bench,
        stt_set.figures(),
    ),
    Entry(
        "faults",
        "loss and recovery under injected faults (the fault table)",
        faults.run,
        faults.figures(),
        default=False,
    ),
    Entry(
        "soak",
        "one hour of audio through the whole pipeline: RSS, leaks, counters",
        soak.run,
        soak.figures(),
        default=False,
    ),
    Entry(
        "stages",
        "voice front-end stages: WER and VAD false starts in noise, CPU, added latency ($PICOMIC_SPEECH_SET)",
        stages.run,
        stages.figures(),
        default=False,
    ),
    Entry(
        "emulated",
        "the firmware on the real MicroPython rp2 port in the emulated Pico, per START mode (60 emulated s each)",
        emulated.run,
        emulated.figures(),
        default=False,
    ),
    Entry(
        "remote_asr",
        "one board's host CPU with --asr-uri to wyoming-faster-whisper on this machine, beside local STT",
        remote_asr.run,
        remote_asr.figures(),
        default=False,
    ),
]


def entry_names() -> list[str]:
    return [e.name for e in ENTRIES]


# ----------------------------------------------------------------------------------------------- command


def selected(only: str | None) -> list[Entry]:
    """The entries named in `only` (comma-separated), or the default set."""
    if not only:
        return [e for e in ENTRIES if e.default]
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in entry_names()]
    if unknown or not names:
        raise ConfigError(
            f"unknown bench entry {', '.join(unknown) or repr(only)}; choose from {', '.join(entry_names())}"
        )
    return [e for e in ENTRIES if e.name in names]


@dataclass
class Run:
    """One bench run: what ran, its figures and the raw details (for --json and --plot)."""

    quick: bool
    results: list[Result] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.datetime.now().astimezone().isoformat(timespec="seconds"))

    @property
    def missed(self) -> list[Result]:
        return [r for r in self.results if r.passed is False]


def run_entries(entries: list[Entry], quick: bool, progress: Callable[[str], None] = lambda s: None) -> Run:
    """Run `entries` in order in this process; an entry failing with a PicomicError is reported, not fatal."""
    run = Run(quick)
    for i, e in enumerate(entries, 1):
        progress(f"[{i}/{len(entries)}] {e.name}: {e.help} ...")
        t0 = time.perf_counter()
        data: dict[str, Any] | None = None
        error = None
        try:
            data = e.run(quick)
        except PicomicError as exc:
            error = f"{type(exc).__name__}: {exc}"
            progress(f"      {e.name} failed: {error}")
        run.seconds[e.name] = round(time.perf_counter() - t0, 2)
        run.details[e.name] = data if data is not None else {"error": error}
        run.results += report.results_for(e.name, e.figures, data, error)
        progress(f"      {e.name} done in {run.seconds[e.name]:.1f} s")
    return run
