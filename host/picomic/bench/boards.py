"""Several boards at once with local speech-to-text: how many simulated boards one host serves.

    picomic bench --only boards [--quick]

For each N in BOARD_COUNTS, N simulated boards (the real firmware in MicroPython, real-time pacing, the real
20,000 B I2S buffer, each on its own pty) stream at once through the multi-board path (`picomic.boards.BoardSet`:
a pipeline, a VAD and an STT listener per board; one tiny.en model and one `DecodePool` shared by all). Each
board plays speech fixtures one after another with 1.5 s of silence between them, in its own order and after its
own lead-in, as independent talkers would (so utterances do not all end at the same instant).
Per N: the finals' end-of-speech latency (p50/p95 over every board's finals; `latency_ms`, DECISIONS 16),
bus drops (listener queue overflow summed over the boards), link loss (lost frames + device drops + I2S
overruns), the word error rate of every board's text, and CPU: this process (decode, VAD, the host side) and
the simulated boards' processes, each per board in % of one core. `max_boards_ok` is the largest N for which
that N and every smaller one had p95 ≤ P95_LIMIT_MS and 0 bus drops.
"""

from __future__ import annotations

import functools
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from picomic.audio.files import read_audio
from picomic.bench.report import Figure, Target, percentile
from picomic.bench.stt import DEFAULT_FIXTURES, load_manifest, wer_counts
from picomic.boards import Board, BoardSet
from picomic.bus.events import Event, Transcript
from picomic.link.source import SerialSource
from picomic.pipeline import Pipeline, RunResult
from picomic.sim.board import SimBoard
from picomic.speech.stt import SttListener, SttSettings, load_model
from picomic.speech.vad import VadListener, VadSettings
from picomic.speech.worker import DecodePool

BOARD_COUNTS = (1, 2, 4, 6, 8)
P95_LIMIT_MS = 1500.0
GAP_S = 1.5
RATE_HZ = 16000
_SPEECH = ("utt1_box.flac", "utt2_lights.flac", "utt3_coffee.flac", "utt4_weather.flac")


class _Finals:
    """A board's output: its final transcripts."""

    def __init__(self) -> None:
        self.finals: list[Transcript] = []

    def on_event(self, event: Event) -> None:
        if isinstance(event, Transcript) and event.final:
            self.finals.append(event)

    def refresh(self) -> None:
        pass


def board_signal(index: int, utterances: int, folder: Path, fixtures: Path = DEFAULT_FIXTURES) -> tuple[Path, str]:
    """Board `index`'s WAV (its lead-in, then `utterances` fixtures from its own starting point, GAP_S apart)
    and the text it speaks."""
    texts = {f["file"]: f["text"] for f in load_manifest(fixtures)}
    lead_in = np.zeros(int(RATE_HZ * (0.5 + 0.37 * (index % 4))), np.int16)
    parts, spoken = [lead_in], []
    for j in range(utterances):
        name = _SPEECH[(index + j) % len(_SPEECH)]
        parts += [read_audio(fixtures / name), np.zeros(int(GAP_S * RATE_HZ), np.int16)]
        spoken.append(texts[name])
    path = folder / f"board{index}.wav"
    sf.write(path, np.concatenate(parts), RATE_HZ, subtype="PCM_16")
    return path, " ".join(spoken)


def _stream(signal: Path, pipeline: Pipeline) -> RunResult:
    with SimBoard(str(signal), seed=1) as board:
        source = SerialSource(
            board.port, bus=pipeline.bus, status=pipeline.status, emit=pipeline.emit, on_fatal=pipeline.fail
        )
        return pipeline.run(source)


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_boards(n: int, model: Any, utterances: int, settings: SttSettings | None = None) -> dict[str, Any]:
    """N boards at once; their latencies, drops, loss, WER and CPU (see the module docstring)."""
    s = settings or SttSettings()
    pool = DecodePool()
    with tempfile.TemporaryDirectory(prefix="picomic-bench-boards-") as tmp:
        signals = [board_signal(i, utterances, Path(tmp)) for i in range(n)]
        boards, outs = [], []
        decodes_ms: list[float] = []  # every decode's duration, all boards (list.append is atomic)
        for i, (signal, _) in enumerate(signals):
            pipeline = Pipeline()
            pipeline.status.add_observer(lambda name, v: decodes_ms.append(v) if name == "inference_time_ms" else None)
            stt = SttListener(pipeline.bus, s, pipeline.emit, pipeline.status, model=model, pool=pool)
            vad = VadListener(pipeline.bus, VadSettings(), pipeline.emit, pipeline.status, on_vad=stt.on_vad)
            pipeline.add_consumer(vad)
            pipeline.add_consumer(stt)
            outs.append(_Finals())
            boards.append(Board(f"b{i}", i, pipeline, functools.partial(_stream, signal, pipeline), [outs[-1]]))
        cpu0, kids0, wall0 = time.process_time(), _children_cpu_s(), time.perf_counter()
        BoardSet(boards).run()
        wall = time.perf_counter() - wall0
        cpu, kids = time.process_time() - cpu0, _children_cpu_s() - kids0
    pool.close(2.0)
    out = _summary(n, boards, outs, [text for _, text in signals], wall, cpu, kids)
    out.update(decodes=len(decodes_ms), decode_p50_ms=round(percentile(decodes_ms, 50), 1))
    return out


def _summary(
    n: int, boards: list[Board], outs: list[_Finals], texts: list[str], wall: float, cpu: float, kids: float
) -> dict[str, Any]:
    lat = sorted(t.latency_ms for o in outs for t in o.finals if t.latency_ms is not None)
    snaps = [b.pipeline.status.snapshot() for b in boards]
    hyps = [" ".join(t.text for t in o.finals) for o in outs]
    errors, words = wer_counts(texts, hyps)
    return {
        "boards": n,
        "finals": len(lat),
        "latencies_ms": [round(x, 1) for x in lat],
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "bus_drops": sum(int(str(x["dropped_chunks"])) for x in snaps),
        "link_loss": sum(int(str(x[k])) for x in snaps for k in ("lost_frames", "device_dropped", "i2s_overruns")),
        "wer_pct": round(100.0 * errors / max(words, 1), 2),
        "word_errors": errors,
        "texts": hyps,
        "failed_boards": [b.board_id for b in boards if b.error is not None],
        "wall_s": round(wall, 1),
        "host_cpu_per_board_pct": round(100.0 * cpu / wall / n, 1),
        "sim_cpu_per_board_pct": round(100.0 * kids / wall / n, 1),
    }


def passes(row: dict[str, Any]) -> bool:
    return bool(row["finals"]) and row["p95_ms"] <= P95_LIMIT_MS and row["bus_drops"] == 0 and not row["failed_boards"]


def run(quick: bool = False, counts: tuple[int, ...] = BOARD_COUNTS) -> dict[str, Any]:
    """Every N in `counts` (quick: 2 utterances per board instead of 4), one after the other."""
    model = load_model(SttSettings())
    out: dict[str, Any] = {"p95_limit_ms": P95_LIMIT_MS, "rows": []}
    best, monotone = 0, True
    for n in counts:
        row = run_boards(n, model, 2 if quick else 4)
        out["rows"].append(row)
        out[f"lat_ms_{n}"] = row["latencies_ms"] or [float("nan")]
        keys = ("bus_drops", "link_loss", "wer_pct", "host_cpu_per_board_pct", "sim_cpu_per_board_pct", "decode_p50_ms")
        for key in keys:
            out[f"{key}_{n}"] = row[key]
        monotone = monotone and passes(row)
        best = n if monotone else best
    out["max_boards_ok"] = best
    return out


def figures(counts: tuple[int, ...] = BOARD_COUNTS) -> tuple[Figure, ...]:
    figs = [
        Figure("max_boards_ok", f"most boards at once with final p95 ≤ {P95_LIMIT_MS:,.0f} ms, 0 bus drops", "",
               Target(">=", 4), over="exact", digits=0),
    ]  # fmt: skip
    for n in counts:
        lat = f"lat_ms_{n}"
        figs += [
            Figure(lat, f"{n} boards: end of speech → final, p50", "ms", over="finals", stat=50, digits=0,
                   name=f"p50_ms_{n}"),
            Figure(lat, f"  {n} boards: end of speech → final, p95", "ms", over="finals", stat=95, digits=0,
                   name=f"p95_ms_{n}"),
            Figure(f"bus_drops_{n}", f"  {n} boards: bus drops (all boards)", "chunks", over="exact", digits=0),
            Figure(f"link_loss_{n}", f"  {n} boards: lost + device-dropped + overrun frames", "frames",
                   over="exact", digits=0),
            Figure(f"wer_pct_{n}", f"  {n} boards: WER of every board's text", "%", over="exact"),
            Figure(f"decode_p50_ms_{n}", f"  {n} boards: one decode, p50", "ms", over="exact", digits=0),
            Figure(f"host_cpu_per_board_pct_{n}", f"  {n} boards: host CPU per board (this process)", "% core",
                   over="exact"),
            Figure(f"sim_cpu_per_board_pct_{n}", f"  {n} boards: simulated board CPU per board", "% core",
                   over="exact"),
        ]  # fmt: skip
    return tuple(figs)
