"""Soak: an hour of audio through the whole pipeline at full speed, watching memory, threads, files, counters.

    simulated board (fast, looped pseudo-random WAV) → pty → SerialSource (decoder) → AudioBus →
    meter + recorder (to /dev/null) + a checker (every sample against the source) — inside Pipeline.run

Pass: RSS growth < 2 MB after a warm-up (the first 20 % of the audio), no thread or file descriptor left
behind once everything stopped (/proc/self/fd and threading.enumerate before and after), counters exact
(frames, lost, bytes), zero corrupted chunks.

    picomic bench --soak                  # one hour of audio (~1 min at ~60–90× real time)
    picomic bench --soak --quick          # 15 minutes of audio

`run(quick) -> dict` is the `picomic bench` entry (FIGURES via `figures()`); tests/reliability runs
`soak(audio_s=…)` with CI lengths and asserts the same checks.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from picomic.bench.faultkit import I16, RATE_HZ, SPF, board, random_pcm, write_wav
from picomic.bench.report import rss_mb
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event
from picomic.link.source import SerialSource, StartSettings
from picomic.outputs.recorder import AudioFile, Recorder
from picomic.outputs.view import Meter
from picomic.pipeline import Pipeline
from picomic.stream.protocol import OVERHEAD

RSS_LIMIT_MB = 2.0
WARMUP_SHARE = 0.2
FULL_AUDIO_S = 3600.0
QUICK_AUDIO_S = 900.0


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class NullAudioFile(AudioFile):
    """The recorder's AudioFile (gap filling, timeline placement, raw PCM writes) aimed at /dev/null."""

    def __init__(self, rate_hz: int) -> None:
        self._devnull: IO[bytes] = open(os.devnull, "wb")  # noqa: SIM115 - closed in close()
        super().__init__("-", rate_hz)
        self._raw = self._devnull

    def close(self) -> None:
        super().close()
        self._devnull.close()


class Checker:
    """A consumer that checks every chunk against the looped source at its stream position."""

    def __init__(self, bus: AudioBus, pcm: I16) -> None:
        self.pcm = pcm
        self.listener = bus.subscribe("checker", maxsize=20_000)
        self.chunks = self.samples = self.corrupted = 0
        self.last_seq = -1
        self.out_of_order = 0
        self._thread = threading.Thread(target=self._run, name="picomic-soak-checker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        n = len(self.pcm)
        while (c := self.listener.recv()) is not None:
            start = c.stream_sample % n
            want = self.pcm[start : start + c.num_samples]
            if len(want) < c.num_samples:
                want = np.take(self.pcm, np.arange(start, start + c.num_samples) % n)
            self.corrupted += not np.array_equal(want, c.samples)
            self.out_of_order += c.seq != self.last_seq + 1
            self.last_seq = c.seq
            self.chunks += 1
            self.samples += c.num_samples


class Sampler:
    """Called from the pipeline's loop: RSS every 0.5 s against the audio seconds delivered so far."""

    def __init__(self, checker: Checker) -> None:
        self.checker = checker
        self.points: list[tuple[float, float]] = []
        self._next = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 0.5
            self.points.append((self.checker.samples / RATE_HZ, rss_mb()))


def _settle_threads(before: set[int], timeout_s: float = 3.0) -> list[str]:
    """Names of threads started since `before` still alive after up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        extra = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            return [t.name for t in extra]
        time.sleep(0.05)


def soak(audio_s: float = FULL_AUDIO_S, *, seed: int = 1, loop_s: float = 10.0) -> dict[str, Any]:
    """Stream `audio_s` seconds through the pipeline at full speed; numbers and checks (see module doc)."""
    threads0 = {t.ident for t in threading.enumerate() if t.ident is not None}
    fds0 = open_fds()
    pcm = random_pcm(loop_s, seed)
    events: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp), pcm)
        with board(str(wav), fast=True, loop=True, duration_s=audio_s, seed=seed) as sim:
            pipeline = Pipeline()
            meter = Meter(pipeline.bus)
            recorder = Recorder(pipeline.bus, "-", RATE_HZ)
            recorder.file = NullAudioFile(RATE_HZ)
            checker = Checker(pipeline.bus, pcm)
            for consumer in (meter, recorder, checker):
                pipeline.add_consumer(consumer)
            pipeline.add_output(_EventTypes(events))
            source = SerialSource(sim.port, settings=StartSettings(rate_hz=RATE_HZ), bus=pipeline.bus,
                                  status=pipeline.status, emit=pipeline.emit, on_fatal=pipeline.fail)  # fmt: skip
            sampler = Sampler(checker)
            result = pipeline.run(source, tick=sampler.tick)
            dec = source.decoder
    wall_s = time.perf_counter() - t0
    leaked_threads = _settle_threads(threads0)
    leaked_fds = sorted(open_fds() - fds0, key=int)
    st = pipeline.status.snapshot()
    return _report(audio_s, wall_s, result.reason, st, dec.counters(), dec.audio_frames, checker, recorder,
                   sampler.points, leaked_threads, leaked_fds, events)  # fmt: skip


class _EventTypes:
    """Keeps the type of every event (discontinuities, errors) for the report."""

    def __init__(self, out: list[str]) -> None:
        self._out = out

    def on_event(self, event: Event) -> None:
        if event.type != "status":
            self._out.append(event.type)

    def refresh(self) -> None:
        pass


def _rss_growth(points: list[tuple[float, float]], audio_s: float) -> tuple[float, float]:
    """(RSS at the end of the warm-up, growth after it) in MB."""
    warm = [rss for a, rss in points if a >= WARMUP_SHARE * audio_s]
    base = warm[0] if warm else math.nan
    return base, (max(warm) - base) if warm else math.nan


def _report(
    audio_s: float,
    wall_s: float,
    reason: str,
    st: dict[str, Any],
    dec: dict[str, int],
    audio_frames: int,
    checker: Checker,
    recorder: Recorder,
    points: list[tuple[float, float]],
    leaked_threads: list[str],
    leaked_fds: list[str],
    events: list[str],
) -> dict[str, Any]:
    want_frames = math.ceil(audio_s * RATE_HZ / SPF)
    base, growth = _rss_growth(points, audio_s)
    audio_bytes = audio_frames * (OVERHEAD + 2 * SPF)
    other_frames = st["frames"] - audio_frames
    checks = {
        "stream ended at the signal's end": reason == "end:signal_end",
        f"RSS growth < {RSS_LIMIT_MB} MB after warm-up": growth < RSS_LIMIT_MB,
        "no thread left behind": not leaked_threads,
        "no file descriptor left behind": not leaked_fds,
        "every frame delivered (END count)": checker.chunks == audio_frames == want_frames,
        "in order, no corrupted chunk": checker.corrupted == 0 and checker.out_of_order == 0,
        "lost/CRC/resyncs/device drops all 0": all(
            st[k] == 0 for k in ("lost_frames", "crc_errors", "resyncs", "device_dropped", "i2s_overruns")
        ),
        "status frames/bytes == decoder's": st["frames"] == dec["frames"] and st["bytes"] == dec["bytes"],
        "bytes == audio frames × 346 + small replies": 0 <= st["bytes"] - audio_bytes <= 200 * max(1, other_frames),
        "recorder wrote every sample, no gap": recorder.file.samples_written
        == checker.samples
        == round(audio_s * RATE_HZ)
        and recorder.file.gap_samples == 0,
        "checker dropped nothing": st["listeners"].get("checker", {"dropped": 0})["dropped"] == 0,
    }
    return {
        "audio_s": audio_s,
        "wall_s": round(wall_s, 1),
        "x_realtime": round(audio_s / wall_s, 1),
        "rss_warm_mb": round(base, 2),
        "rss_end_mb": round(points[-1][1], 2) if points else math.nan,
        "rss_growth_mb": round(growth, 3),
        "rss_points": [(round(a, 1), round(r, 2)) for a, r in points],
        "frames_audio": audio_frames,
        "frames_expected": want_frames,
        "status": {k: v for k, v in st.items() if k != "listeners"},
        "listeners": st["listeners"],
        "leaked_threads": leaked_threads,
        "leaked_fds": leaked_fds,
        "events": sorted(set(events)),
        "checks": checks,
        "failed_checks": [k for k, ok in checks.items() if not ok],
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The `picomic bench` entry: a full hour unless quick (15 minutes of audio)."""
    out = soak(QUICK_AUDIO_S if quick else FULL_AUDIO_S)
    out["failed_count"] = len(out["failed_checks"])
    out["leaks"] = len(out["leaked_threads"]) + len(out["leaked_fds"])
    return out


def figures() -> tuple[Any, ...]:
    from picomic.bench.report import Figure, Target

    return (
        Figure("rss_growth_mb", "soak: RSS growth after warm-up, 1 h of audio through the pipeline", "MB",
               Target("<", RSS_LIMIT_MB), over="exact", digits=2),
        Figure("leaks", "soak: threads + file descriptors left behind", "", Target("==", 0), over="exact", digits=0),
        Figure("failed_count", "soak: failed checks (counters, order, samples)", "", Target("==", 0), over="exact",
               digits=0),
        Figure("x_realtime", "soak: pipeline speed (simulated board, fast mode)", "×", over="exact"),
    )  # fmt: skip
