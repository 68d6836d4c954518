"""Stage benchmark: what each voice front-end stage does for speech in noise, what it costs, what it delays.

    picomic bench --only stages [--quick]
    PICOMIC_SPEECH_SET=DIR picomic bench --only stages     # another speech set (a folder with manifest.json)

- WER and VAD false starts: every utterance of the speech set (default the paused-speech set, the one issue 19
  names: tests/fixtures/speechset; `PICOMIC_SPEECH_SET=tests/fixtures` for the short fixtures) with 2 s of noise
  before and after it (`noise`: fan-like, babble-like, white; made here, not downloaded) at SNR 20, 10, 5 and
  0 dB, through bus → stages → VAD → STT (`transcribe_pcm`, as fast as possible), with every stage
  configuration of CONFIGS in turn on the same mixture (side by side: a machine-load change hits all alike).
  A false start is a VAD `start` more than FALSE_START_TOLERANCE_S away from every speech span.
- CPU per audio second of each processor alone (thread CPU time over the noisy speech, median of 3), and the
  latency each stage adds on a real-time-paced bus (derived chunk received − raw chunk published, p50).
- End of speech → final at real-time pace (bench/stt.py's `realtime_latencies`), suppression off and on,
  fixture by fixture in turn.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from picomic.bench.noise import NOISES, Utterance, load_speech_set, mix, mixture_length, noise
from picomic.bench.report import Figure, Target, percentile
from picomic.bench.stt import DEFAULT_FIXTURES, load_manifest, realtime_latencies, wer_counts
from picomic.bench.stt_set import SET as PAUSED_SPEECH_SET
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import Event, VadEvent
from picomic.speech.stt import SttSettings, load_model
from picomic.speech.transcribe import transcribe_pcm
from picomic.stages.chain import StageSettings, add_stages, build_processors, speech_stream
from picomic.stages.processors import BLOCK_SAMPLES, Processor

SPEECH_SET_ENV = "PICOMIC_SPEECH_SET"
SNRS_DB = (20, 10, 5, 0)
CONFIGS: tuple[tuple[str, StageSettings], ...] = (
    ("off", StageSettings()),
    ("highpass", StageSettings(highpass_hz=80)),
    ("webrtc", StageSettings(noise_suppression=2)),
    ("webrtc4", StageSettings(noise_suppression=4)),
    ("rnnoise", StageSettings(noise_suppression=1, denoiser="rnnoise")),
    ("agc", StageSettings(noise_suppression=2, auto_gain_dbfs=10)),
)
"""Name → settings. `webrtc` (level 2) is the suppression the targets are about; `agc` is WebRTC level 2 with
auto gain toward −10 dBFS (what a Home Assistant satellite runs)."""
NS = "webrtc"
FALSE_START_TOLERANCE_S = 0.3


def speech_set() -> Path:
    """The speech set: $PICOMIC_SPEECH_SET, or the paused-speech set (tests/fixtures/speechset)."""
    return Path(os.environ.get(SPEECH_SET_ENV) or PAUSED_SPEECH_SET)


# ------------------------------------------------------------------------------------- noisy speech


def transcribe_with(pcm: np.ndarray, settings: StageSettings, model: Any) -> tuple[str, list[int]]:
    """(text, VAD start samples) of `pcm` through fresh stages of `settings`, then VAD and STT."""
    bus = AudioBus()
    stages = add_stages(bus, build_processors(settings))
    starts: list[int] = []

    def on_event(event: Event) -> None:
        if isinstance(event, VadEvent) and event.event == "start":
            starts.append(event.sample)

    for stage in stages:
        stage.start()
    finals = transcribe_pcm(pcm, SttSettings(), model=model, chunk_ms=10, bus=bus, stream=speech_stream(stages),
                            on_event=on_event, name="the noisy mixture")  # fmt: skip
    for stage in stages:
        stage.finish(10.0)
    return " ".join(t.text for t in finals), starts


def false_starts(starts: list[int], spans: tuple[tuple[int, int], ...], rate_hz: int = 16000) -> int:
    tol = int(FALSE_START_TOLERANCE_S * rate_hz)
    return sum(1 for s in starts if not any(a - tol <= s <= b + tol for a, b in spans))


def noisy_speech(quick: bool, model: Any, utterances: list[Utterance]) -> dict[str, Any]:
    """Hypotheses and false starts per (config, noise, SNR), every config on the same mixture in turn."""
    hyps: dict[str, list[str]] = {}
    starts: dict[str, int] = {}
    for i, utt in enumerate(utterances):
        n = mixture_length(utt)
        for kind in NOISES:
            noise_unit = noise(kind, n, seed=100 + i, voices=utterances)
            for snr in SNRS_DB:
                pcm, spans = mix(utt, noise_unit, snr)
                for name, settings in CONFIGS:
                    text, vad_starts = transcribe_with(pcm, settings, model)
                    key = f"{name}|{kind}|{snr}"
                    hyps.setdefault(key, []).append(text)
                    starts[key] = starts.get(key, 0) + false_starts(vad_starts, spans)
    refs = [u.text for u in utterances]
    table = {}
    for key, texts in hyps.items():
        errors, words = wer_counts(refs, texts)
        table[key] = {"errors": errors, "words": words, "false_starts": starts[key], "hyps": texts}
    return table


def _pooled(table: dict[str, Any], name: str, snr: int) -> tuple[float, int]:
    """(WER % over all noises, false starts) of one config at one SNR."""
    rows = [table[f"{name}|{kind}|{snr}"] for kind in NOISES]
    errors, words = sum(r["errors"] for r in rows), sum(r["words"] for r in rows)
    return 100.0 * errors / max(words, 1), sum(r["false_starts"] for r in rows)


# ------------------------------------------------------------------------------ cost and delay per stage


def cpu_per_audio_s(make: Callable[[], list[Processor]], pcm: np.ndarray, repeats: int = 3) -> list[float]:
    """Thread CPU seconds per audio second of the processors alone, block by block, for each of `repeats`."""
    blocks = [pcm[i : i + BLOCK_SAMPLES] for i in range(0, len(pcm) - BLOCK_SAMPLES + 1, BLOCK_SAMPLES)]
    runs = []
    for _ in range(repeats):
        chain = make()
        t0 = time.thread_time()
        for block in blocks:
            for p in chain:
                p.process(block)
        runs.append((time.thread_time() - t0) / (len(blocks) * BLOCK_SAMPLES / 16000))
    return runs


def added_latency_ms(make: Callable[[], list[Processor]], pcm: np.ndarray, seconds: float) -> list[float]:
    """Per derived chunk: received by a listener − its raw chunk published, 10 ms chunks at real-time pace."""
    bus = AudioBus()
    stages = add_stages(bus, make())
    out = bus.subscribe("probe", maxsize=100_000, stream=speech_stream(stages))
    published: dict[int, float] = {}
    received: list[tuple[int, float]] = []

    def probe() -> None:
        while (chunk := out.recv(timeout=5.0)) is not None:
            received.append((chunk.seq, time.monotonic()))

    reader = threading.Thread(target=probe, daemon=True)
    for stage in stages:
        stage.start()
    reader.start()
    t0 = time.monotonic()
    for seq in range(int(seconds * 100)):
        time.sleep(max(0.0, t0 + seq * 0.01 - time.monotonic()))
        samples = np.ascontiguousarray(pcm[seq * BLOCK_SAMPLES : (seq + 1) * BLOCK_SAMPLES])
        samples.flags.writeable = False
        published[seq] = time.monotonic()
        bus.publish(AudioChunk(seq, published[seq] * 1000.0, 16000, samples, stream_sample=seq * BLOCK_SAMPLES))
    bus.close()
    for stage in stages:
        stage.finish(10.0)
    reader.join(10.0)
    return [(t - published[seq]) * 1000.0 for seq, t in received[:-4]]  # the last ones are pushed out by END


STAGE_COSTS: tuple[tuple[str, StageSettings], ...] = (
    ("highpass", StageSettings(highpass_hz=80)),
    ("webrtc", StageSettings(noise_suppression=2)),
    ("rnnoise", StageSettings(noise_suppression=1, denoiser="rnnoise")),
    ("agc", StageSettings(noise_suppression=2, auto_gain_dbfs=10)),
)


def stage_costs(quick: bool, pcm: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, settings in STAGE_COSTS:
        make = lambda settings=settings: build_processors(settings)  # noqa: E731
        out[f"cpu_{name}_ms_per_s"] = [1000.0 * x for x in cpu_per_audio_s(make, pcm)]
        out[f"added_{name}_ms"] = added_latency_ms(make, pcm, 1.5 if quick else 4.0)
    return out


def end_of_speech(quick: bool, model: Any) -> dict[str, Any]:
    """End of speech → final p50 at real-time pace, off / WebRTC / RNNoise, fixture by fixture in turn."""
    files = load_manifest(DEFAULT_FIXTURES)[: 2 if quick else None]
    modes = (("off", None), (NS, dict(CONFIGS)[NS]), ("rnnoise", dict(CONFIGS)["rnnoise"]))
    got: dict[str, list[float]] = {name: [] for name, _ in modes}
    for f in files:
        for name, settings in modes:
            make = None if settings is None else (lambda s=settings: build_processors(s))
            lat, _, _ = realtime_latencies(model, SttSettings(), [f], DEFAULT_FIXTURES, processors=make)
            got[name] += lat
    out: dict[str, Any] = {f"eos_{name}_ms": [round(x, 1) for x in sorted(v)] for name, v in got.items()}
    p50 = {name: percentile(v, 50) for name, v in got.items()}
    out["eos_ns_minus_off_p50_ms"] = p50[NS] - p50["off"]
    out["eos_rnnoise_minus_off_p50_ms"] = p50["rnnoise"] - p50["off"]
    return out


def run(quick: bool) -> dict[str, Any]:
    """Every stage figure as one dict (`quick`: two utterances and shorter timing runs)."""
    folder = speech_set()
    utterances = load_speech_set(folder, limit=2 if quick else None)
    model = load_model(SttSettings())
    table = noisy_speech(quick, model, utterances)
    out: dict[str, Any] = {"speech_set": str(folder), "utterances": [u.name for u in utterances], "table": table}
    for name, _ in CONFIGS:
        for snr in SNRS_DB:
            wer, starts = _pooled(table, name, snr)
            out[f"wer_{name}_{snr}db_pct"], out[f"fs_{name}_{snr}db"] = wer, starts
    for name in (NS, "rnnoise"):
        out[f"{name}_gain_5db_pt"] = out["wer_off_5db_pct"] - out[f"wer_{name}_5db_pct"]
        out[f"{name}_gain_0db_pt"] = out["wer_off_0db_pct"] - out[f"wer_{name}_0db_pct"]
        out[f"{name}_cost_20db_pt"] = out[f"wer_{name}_20db_pct"] - out["wer_off_20db_pct"]
    noisy = mix(utterances[0], noise("fan", mixture_length(utterances[0]), 1, utterances), 10)[0]
    out.update(stage_costs(quick, noisy))
    out.update(end_of_speech(quick, model))
    return out


def figures() -> tuple[Figure, ...]:
    figs: list[Figure] = []
    for snr in SNRS_DB:
        for name, _ in CONFIGS:
            label = f"WER at {snr} dB SNR, {name}" if name == "off" else f"  {name}"
            figs.append(Figure(f"wer_{name}_{snr}db_pct", label, "%", over="exact"))
    for name in (NS, "rnnoise"):
        target = name == NS
        figs += [
            Figure(f"{name}_gain_5db_pt", f"{name}: WER gain at 5 dB (off − on)", "pt",
                   Target(">", 0) if target else None, over="exact"),
            Figure(f"{name}_gain_0db_pt", f"{name}: WER gain at 0 dB (off − on)", "pt",
                   Target(">", 0) if target else None, over="exact"),
            Figure(f"{name}_cost_20db_pt", f"{name}: WER cost at 20 dB (on − off)", "pt",
                   Target("<=", 0.5) if target else None, over="exact"),
        ]  # fmt: skip
    for snr in SNRS_DB:
        for name, _ in CONFIGS:
            label = f"VAD false starts at {snr} dB, {name}" if name == "off" else f"  {name}"
            figs.append(Figure(f"fs_{name}_{snr}db", label, "", over="exact", digits=0))
    for name, _ in STAGE_COSTS:
        figs += [
            Figure(f"cpu_{name}_ms_per_s", f"CPU per audio second, {name}", "ms/s", digits=2),
            Figure(f"added_{name}_ms", f"  added latency p50, {name}", "ms", over="chunks", stat=50,
                   name=f"added_{name}_p50_ms"),
        ]  # fmt: skip
    figs += [
        Figure("eos_off_ms", "end of speech → final p50, no stage", "ms", over="finals", stat=50, digits=0,
               name="eos_off_p50_ms"),
        Figure(f"eos_{NS}_ms", f"  with {NS} suppression", "ms", over="finals", stat=50, digits=0,
               name=f"eos_{NS}_p50_ms"),
        Figure("eos_rnnoise_ms", "  with rnnoise", "ms", over="finals", stat=50, digits=0, name="eos_rnnoise_p50_ms"),
        Figure("eos_ns_minus_off_p50_ms", f"  {NS} − off (p50)", "ms", Target("<=", 50), over="exact", digits=0),
        Figure("eos_rnnoise_minus_off_p50_ms", "  rnnoise − off (p50)", "ms", over="exact", digits=0),
    ]  # fmt: skip
    return tuple(figs)
