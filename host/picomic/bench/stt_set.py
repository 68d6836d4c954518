"""Speech on the harder set (tests/fixtures/speechset, tools/make_speech_set.py): turns, endpointing, guard.

    picomic bench --only stt-set [--quick]

Each file is fed at real-time pace through bus → VAD → STT twice, alternating file by file (a machine-load change
hits both alike): with today's settings (`ours`) and with settings that reproduce the behaviour before turns
(`before`: every utterance ends at 500 ms of silence, no turns, no revisions, no hallucination guard, the VAD's
160 ms tentative end, the encoder on Whisper's full 30 s window). Per run:

- WER of the text a `--transcript` file holds after revisions (`turns.best_finals`, DECISIONS 42) against the
  batch baseline: faster-whisper as it is (the full 30 s window) on each whole sentence (its speech ± 300 ms)
  with the same model and options;
- end of speech → the first final covering it (a segment final or a revision whose end lies within 250 ms of
  the sentence's true last sample), measured from the capture time of that true last sample;
- finals per unpaused sentence; finals with text on the noise-only files; process CPU seconds per
  audio second;
- `transcribe` on the set concatenated to ~3 minutes (file mode) against the real-time runs' text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from picomic.audio.files import read_audio
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bench.report import Figure, Target, percentile
from picomic.bench.stt import DEFAULT_FIXTURES, load_manifest, wer_counts
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event, Transcript, TranscriptRevision
from picomic.bus.status import PipelineStatus
from picomic.speech.batched import transcribe_batched
from picomic.speech.decode import decode_text
from picomic.speech.stt import SttListener, SttSettings, load_model
from picomic.speech.transcribe import feed_chunks, transcribe_file
from picomic.speech.turns import best_finals
from picomic.speech.vad import VadListener, VadSettings

SET = DEFAULT_FIXTURES / "speechset"
COVER_S = 0.25  # a final covers the end of speech when its end lies within this of the true last sample
LONG_FILE_S = 180.0
LE1 = Target("<=", 1)


def before_settings(s: SttSettings) -> tuple[SttSettings, VadSettings]:
    """Settings that reproduce the behaviour before turns and text-driven endpointing (commit fb57b97) and before
    the short encoder window (the full 30 s window)."""
    policy = replace(s.policy, sentence_end_ms=500, open_end_ms=500, turn_gap_ms=0)
    decode = replace(s.decode, guard_no_speech_prob=1.0, guard_background_db=0.0)
    model = replace(s.model, encoder_pad_s=None)
    return replace(s, model=model, policy=policy, decode=decode), VadSettings(tentative_end_ms=160)


@dataclass
class Tally:
    """What one configuration gathered over the files."""

    refs: list[str] = field(default_factory=list)
    hyps: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    per_file_ms: dict[str, list[float]] = field(default_factory=dict)
    uncovered: int = 0
    unpaused_finals: list[int] = field(default_factory=list)
    noise_texts: list[str] = field(default_factory=list)
    cpu_s: float = 0.0
    audio_s: float = 0.0


def run_realtime(
    path: Path, model: Any, settings: SttSettings, vad_settings: VadSettings
) -> tuple[list[Event], list[float], float]:
    """Feed one file at real-time pace; the transcript events, their host emission times, CPU seconds."""
    bus, status = AudioBus(), PipelineStatus()
    events: list[Event] = []
    emitted: list[float] = []
    lock = threading.Lock()

    def emit(event: Event) -> None:
        if isinstance(event, Transcript | TranscriptRevision):
            with lock:
                events.append(event)
                emitted.append(time.monotonic() * 1000.0)

    vad = VadListener(bus, vad_settings, emit, status)
    stt = SttListener(bus, settings, emit, status, vad=vad, model=model)
    pcm = read_audio(path)
    cpu0 = time.process_time()
    vad.start()
    stt.start()
    t0 = time.monotonic() * 1000.0
    feed_chunks(bus, pcm, TARGET_RATE_HZ, chunk_ms=20, realtime=True)
    vad.finish(10.0)
    stt.finish(30.0)
    cpu = time.process_time() - cpu0
    return events, [t - t0 for t in emitted], cpu  # emission times from the first sample's capture


def _latencies(entry: dict[str, Any], events: list[Event], emitted_ms: list[float]) -> tuple[list[float], int]:
    """Per sentence: emission of the first final covering its end − capture of its last sample (pacing from 0)."""
    out, missing = [], 0
    for sentence in entry["sentences"]:
        end_s = sentence["end_sample"] / TARGET_RATE_HZ
        hits = [
            at - end_s * 1000.0
            for e, at in zip(events, emitted_ms, strict=True)
            if (isinstance(e, TranscriptRevision) or (isinstance(e, Transcript) and e.final))
            and abs(e.end_s - end_s) <= COVER_S
            and e.start_s <= end_s
        ]
        if hits:
            out.append(min(hits))
        else:
            missing += 1
    return out, missing


def _tally(tally: Tally, entry: dict[str, Any], events: list[Event], emitted_ms: list[float], cpu_s: float) -> None:
    finals = [e for e in events if isinstance(e, Transcript) and e.final]
    text = " ".join(t.text for t in best_finals(events))
    tally.cpu_s += cpu_s
    tally.audio_s += entry["samples"] / TARGET_RATE_HZ
    if entry["kind"] == "noise":
        tally.noise_texts += [t.text for t in finals]
        return
    tally.refs.append(entry["text"])
    tally.hyps.append(text)
    lat, missing = _latencies(entry, events, emitted_ms)
    tally.latencies_ms += lat
    tally.per_file_ms[entry["file"]] = [round(x, 1) for x in lat]
    tally.uncovered += missing
    if entry["kind"] == "unpaused":  # every piece has one final (a later piece also a revision of its turn)
        tally.unpaused_finals.append(len(finals))


def batch_hyps(model: Any, settings: SttSettings, files: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Each whole sentence (speech ± 300 ms) decoded at once: the references and hypotheses."""
    pad = 300 * TARGET_RATE_HZ // 1000
    refs, hyps = [], []
    for f in files:
        if f["kind"] == "noise":
            continue
        audio = read_audio(SET / f["file"]).astype(np.float32) / 32768.0
        refs.append(f["text"])
        parts = [decode_text(model, audio[max(0, s["start_sample"] - pad) : s["end_sample"] + pad], settings.decode)
                 for s in f["sentences"]]  # fmt: skip
        hyps.append(" ".join(parts))
    return refs, hyps


def long_file(files: list[dict[str, Any]], seconds: float) -> tuple[np.ndarray, list[str]]:
    """The speech files concatenated (repeated) to `seconds`, and the file name of each copy in order. Each copy
    starts on the VAD's window grid, as each file does when run alone, so the file path sees the cuts the
    real-time runs saw: greedy tiny.en changes words when a cut moves by one 32 ms window (u2 off the grid: the
    4 errors of its real-time text gone, the path not the cause)."""
    pieces, names, total = [], [], 0
    speech = [f for f in files if f["kind"] != "noise"]
    window = VadSettings().window_samples
    while total < seconds * TARGET_RATE_HZ:
        for f in speech:
            pcm = read_audio(SET / f["file"])
            pcm = np.concatenate([pcm, np.zeros(-len(pcm) % window, pcm.dtype)])
            pieces.append(pcm)
            names.append(f["file"])
            total += len(pcm)
    return np.concatenate(pieces), names


def _summary(t: Tally) -> dict[str, Any]:
    errors, words = wer_counts(t.refs, t.hyps)
    return {
        "wer_pct": round(100.0 * errors / max(words, 1), 2),
        "errors": errors,
        "words": words,
        "p50_ms": round(percentile(t.latencies_ms, 50), 1),
        "p95_ms": round(percentile(t.latencies_ms, 95), 1),
        "latencies_ms": [round(x, 1) for x in sorted(t.latencies_ms)],
        "per_file_ms": t.per_file_ms,
        "uncovered_sentences": t.uncovered,
        "unpaused_finals": t.unpaused_finals,
        "noise_finals": len(t.noise_texts),
        "noise_texts": t.noise_texts,
        "cpu_per_audio_s": round(t.cpu_s / max(t.audio_s, 1e-9), 4),
        "hyps": t.hyps,
    }


def run(quick: bool = False, settings: SttSettings | None = None) -> dict[str, Any]:
    """All figures of the harder set, ours and before side by side (see the module docstring)."""
    s = settings or SttSettings()
    files = load_manifest(SET)
    if quick:
        files = [f for f in files if f["file"][:2] in ("p1", "p3", "p5", "u1", "s1", "n3")]
    configs = {"ours": (s, VadSettings()), "before": before_settings(s)}
    models = {name: load_model(stt_s) for name, (stt_s, _vad) in configs.items()}
    tallies = {name: Tally() for name in configs}
    for f in files:
        for name, (stt_s, vad_s) in configs.items():
            events, emitted, cpu = run_realtime(SET / f["file"], models[name], stt_s, vad_s)
            _tally(tallies[name], f, events, emitted, cpu)
    out: dict[str, Any] = {name: _summary(t) for name, t in tallies.items()}
    model = models["ours"]
    refs, hyps = batch_hyps(models["before"], s, files)  # faster-whisper as it is: the full window
    errors, words = wer_counts(refs, hyps)
    out["batch"] = {"wer_pct": round(100.0 * errors / max(words, 1), 2), "errors": errors, "words": words, "hyps": hyps}
    speech = [f for f in files if f["kind"] != "noise"]
    realtime = dict(zip([f["file"] for f in speech], tallies["ours"].hyps, strict=True))
    out["long_file"] = _long_file(model, s, files, realtime, 60.0 if quick else LONG_FILE_S)
    return out


def _long_file(
    model: Any, s: SttSettings, files: list[dict[str, Any]], realtime: dict[str, str], seconds: float
) -> dict[str, Any]:
    """`transcribe` (file mode) on the concatenated set vs the real-time runs' text of the same files."""
    import tempfile

    import soundfile as sf

    pcm, names = long_file(files, seconds)
    texts = {f["file"]: f["text"] for f in files}
    ref = " ".join(texts[n] for n in names)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        sf.write(path, pcm, TARGET_RATE_HZ, format="FLAC", subtype="PCM_16")
        t0 = time.perf_counter()
        finals = transcribe_file(path, s, model=model)
        elapsed = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = transcribe_batched(path, s, model=model)
        batched_s = time.perf_counter() - t0
    errors, words = wer_counts([ref], [" ".join(t.text for t in finals)])
    rt_errors, _ = wer_counts([ref], [" ".join(realtime[n] for n in names)])
    b_errors, _ = wer_counts([ref], [" ".join(t.text for t in batched)])
    return {
        "audio_s": round(len(pcm) / TARGET_RATE_HZ, 1),
        "errors": errors,
        "realtime_errors": rt_errors,
        "minus_realtime_words": errors - rt_errors,
        "words": words,
        "wer_pct": round(100.0 * errors / max(words, 1), 2),
        "x_realtime": round(len(pcm) / TARGET_RATE_HZ / elapsed, 1),
        "batched_errors": b_errors,
        "batched_minus_streaming_words": b_errors - errors,
        "batched_x_realtime": round(len(pcm) / TARGET_RATE_HZ / batched_s, 1),
    }


def bench(quick: bool) -> dict[str, Any]:
    """`run` with the figures `figures()` names, flattened for the bench table."""
    out = run(quick=quick)
    ours, before, batch, long = out["ours"], out["before"], out["batch"], out["long_file"]
    extra = [max(0, o - b) for o, b in zip(ours["unpaused_finals"], before["unpaused_finals"], strict=True)]
    out.update(
        set_wer_pct=ours["wer_pct"],
        set_wer_before_pct=before["wer_pct"],
        set_wer_batch_pct=batch["wer_pct"],
        set_wer_over_batch_points=ours["wer_pct"] - batch["wer_pct"],
        set_extra_errors=ours["errors"] - batch["errors"],
        set_ms=ours["latencies_ms"],
        set_before_ms=before["latencies_ms"],
        set_uncovered=ours["uncovered_sentences"],
        set_unpaused_extra_finals=sum(extra),
        set_noise_finals=ours["noise_finals"],
        set_noise_finals_before=before["noise_finals"],
        set_cpu=ours["cpu_per_audio_s"],
        set_cpu_before=before["cpu_per_audio_s"],
        set_cpu_ratio=ours["cpu_per_audio_s"] / max(before["cpu_per_audio_s"], 1e-9),
        set_long_minus_realtime_words=abs(long["minus_realtime_words"]),
        set_long_wer_pct=long["wer_pct"],
        set_long_x_realtime=long["x_realtime"],
        set_batched_minus_streaming_words=long["batched_minus_streaming_words"],
        set_batched_x_realtime=long["batched_x_realtime"],
    )
    return out


def figures() -> tuple[Figure, ...]:
    """The figures of the `stt-set` bench entry."""

    def lat(key: str, label: str, q: int, target: Target | None = None) -> Figure:
        return Figure(key, label, "ms", target, over="finals", stat=q, digits=0, name=f"{key}_p{q}")

    return (
        Figure("set_wer_pct", "paused-speech set: WER after revisions (real time)", "%", over="exact", digits=2),
        Figure("set_wer_batch_pct", "  batch faster-whisper, each whole sentence", "%", over="exact", digits=2),
        Figure("set_wer_before_pct", "  before turns (500 ms rule, fb57b97 behaviour)", "%", over="exact", digits=2),
        Figure("set_wer_over_batch_points", "  streaming − batch, WER", "pt", Target("<=", 0.5), "exact", digits=2),
        Figure("set_extra_errors", "  streaming − batch word errors", "words", over="exact", digits=0),
        lat("set_ms", "end of speech → first final covering it, p50", 50, Target("<=", 450)),
        lat("set_ms", "  end of speech → final, p95", 95, Target("<=", 800)),
        lat("set_before_ms", "  before turns, p50", 50),
        lat("set_before_ms", "  before turns, p95", 95),
        Figure("set_uncovered", "  sentences no final covered", "", Target("==", 0), "exact", digits=0),
        Figure("set_unpaused_extra_finals", "unpaused: finals above before", "", Target("==", 0), "exact", digits=0),
        Figure("set_noise_finals", "noise-only files: finals with text", "", Target("==", 0), "exact", digits=0),
        Figure("set_noise_finals_before", "  before (no guard)", "", over="exact", digits=0),
        Figure("set_cpu", "CPU per audio second (process, VAD + STT)", "core-s/s", over="exact", digits=3),
        Figure("set_cpu_before", "  before turns, same run", "core-s/s", over="exact", digits=3),
        Figure("set_cpu_ratio", "  ours / before", "×", Target("<=", 1.10), "exact", digits=3),
        Figure("set_long_minus_realtime_words", "transcribe − real time, ~3 min", "words", LE1, "exact", digits=0),
        Figure("set_long_wer_pct", "  transcribe WER on the concatenated set", "%", over="exact", digits=2),
        Figure("set_long_x_realtime", "  transcribe speed", "× real time", over="exact", digits=1),
        Figure("set_batched_minus_streaming_words", "--batched − streaming errors", "words", LE1, "exact", digits=0),
        Figure("set_batched_x_realtime", "  transcribe --batched speed", "× real time", over="exact", digits=1),
    )  # fmt: skip
