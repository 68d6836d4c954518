"""The pieces under SttListener: its 16 kHz audio ring, the Whisper decode call and the decode worker.

The worker is one thread that runs decode jobs in order (finals stay in stream order). Jobs are plain
objects whose flags are guarded by the worker's lock. A speculative job starts unconfirmed: the worker keeps
its text until the listener confirms it (the silence held: emit) or cancels it (speech resumed: discard).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.events import ErrorEvent, Event, Transcript
from picomic.bus.status import PipelineStatus

if TYPE_CHECKING:
    from picomic.speech.stt import SttSettings


def decode_options(settings: SttSettings) -> dict[str, Any]:
    """faster-whisper options shared by the streaming path and the batch baseline (same decode)."""
    return {
        "language": settings.language,
        "beam_size": settings.beam_size,
        "temperature": 0.0,
        "condition_on_previous_text": False,  # no context across utterances: no runaway repetition
        "vad_filter": False,  # picomic runs its own VAD
        "without_timestamps": True,
        "no_speech_threshold": settings.no_speech_threshold,
        "log_prob_threshold": settings.log_prob_threshold,
        "compression_ratio_threshold": settings.compression_ratio_threshold,
    }


def decode_text(model: Any, audio16: np.ndarray, settings: SttSettings) -> str:
    """Transcribe 16 kHz float32 audio; segments that look like hallucinations are dropped."""
    segments, _info = model.transcribe(audio16, **decode_options(settings))
    kept: list[str] = []
    for seg in segments:
        silent = seg.no_speech_prob > settings.no_speech_threshold and seg.avg_logprob < settings.log_prob_threshold
        looping = seg.compression_ratio > settings.compression_ratio_threshold
        text = seg.text.strip()
        if not (silent or looping) and any(ch.isalnum() for ch in text):
            kept.append(text)
    return " ".join(kept)


class AudioRing:
    """16 kHz float32 audio of the recent stream, addressed by 16 kHz timeline position.

    Invariant: samples [base, end) are held; `anchors` maps positions to host capture times (ms).
    Only the SttListener thread touches it.
    """

    def __init__(self, capacity_samples: int = 30 * TARGET_RATE_HZ) -> None:
        self._buf = np.zeros(capacity_samples, np.float32)
        self._n = 0
        self.base = 0
        self._anchor_pos: list[int] = []
        self._anchor_ms: list[float] = []

    @property
    def end(self) -> int:
        return self.base + self._n

    def reset(self, position: int) -> None:
        self.base, self._n = position, 0
        self._anchor_pos.clear()
        self._anchor_ms.clear()

    def anchor(self, position: int, host_ms: float) -> None:
        """Record that the sample at `position` was captured at host time `host_ms` (positions ascend)."""
        self._anchor_pos.append(position)
        self._anchor_ms.append(host_ms)

    def append(self, audio: np.ndarray) -> None:
        need = self._n + len(audio)
        if need > len(self._buf):
            grown = np.zeros(max(need, 2 * len(self._buf)), np.float32)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : need] = audio
        self._n = need

    def slice(self, start: int, stop: int) -> np.ndarray:
        """A copy of [start, stop) clipped to what is held."""
        a, b = max(start, self.base) - self.base, min(stop, self.end) - self.base
        return self._buf[a:b].copy() if b > a else np.zeros(0, np.float32)

    def trim(self, keep_from: int, slack_samples: int = 2 * TARGET_RATE_HZ) -> None:
        """Forget samples before `keep_from` (lazily: only when more than `slack_samples` would go)."""
        drop = min(keep_from, self.end) - self.base
        if drop <= slack_samples:
            return
        self._buf[: self._n - drop] = self._buf[drop : self._n]
        self._n -= drop
        self.base += drop
        cut = max(0, bisect.bisect_right(self._anchor_pos, self.base) - 1)
        del self._anchor_pos[:cut], self._anchor_ms[:cut]

    def host_ms(self, position: int) -> float | None:
        """Host capture time of the sample at `position` (from the nearest anchor at or before it)."""
        i = bisect.bisect_right(self._anchor_pos, position) - 1
        if i < 0:
            return None
        return self._anchor_ms[i] + (position - self._anchor_pos[i]) * 1000.0 / TARGET_RATE_HZ

    def quietest(self, start: int, stop: int, span_samples: int = 3200) -> int:
        """Position of the quietest `span_samples` stretch in [start, stop) (a clean place to split)."""
        audio = self.slice(start, stop)
        if len(audio) <= span_samples:
            return stop
        energy = np.convolve(audio * audio, np.ones(span_samples, np.float32), mode="valid")
        return max(start, self.base) + int(np.argmin(energy)) + span_samples // 2


@dataclass(eq=False)
class Job:
    """One decode: a final (possibly speculative, i.e. unconfirmed) or a partial."""

    audio: np.ndarray
    start16: int
    end16: int
    final: bool = True
    voiced_host_ms: float | None = None
    """Host capture time of the last voiced sample (latency reference of a final)."""
    confirmed: bool = True
    cancelled: bool = False
    done: bool = False
    emitted: bool = False
    text: str = ""


class DecodeWorker:
    """A thread that decodes Jobs in order and emits their Transcripts; never blocks its callers."""

    def __init__(
        self, model: Any, settings: SttSettings, emit: Callable[[Event], None], status: PipelineStatus | None
    ) -> None:
        self._model, self._settings, self._emit, self._status = model, settings, emit, status
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._busy: Job | None = None
        self._stopping = False
        self.decodes = 0
        self.discarded = 0
        """Speculative decodes thrown away because speech resumed."""
        self._thread = threading.Thread(target=self._run, name="picomic-stt-decode", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._busy is None and not self._jobs

    def submit(self, job: Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify_all()
            self._publish_backlog()

    def cancel(self, job: Job) -> None:
        with self._cond:
            if not job.cancelled and not job.emitted:
                job.cancelled = True
                self.discarded += 1
            if job in self._jobs:
                self._jobs.remove(job)
            self._publish_backlog()

    def confirm(self, job: Job) -> None:
        """The silence held: emit the speculative job's text now if decoded, else when it is."""
        with self._cond:
            job.confirmed = True
            ready = job.done and not job.cancelled and not job.emitted
            job.emitted = job.emitted or ready
        if ready:
            self._deliver(job)

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._busy is not None or self._jobs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _publish_backlog(self) -> None:
        """stt_backlog_s: seconds of audio queued behind the decode in progress (lock held). 0 while the
        decoder keeps up; it grows when decodes take longer than the speech they transcribe."""
        if self._status is not None:
            queued = sum(len(j.audio) for j in self._jobs if not j.cancelled)
            self._status.set("stt_backlog_s", queued / TARGET_RATE_HZ)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._busy = self._jobs.popleft()
                self._publish_backlog()
            self._decode(job)

    def _decode(self, job: Job) -> None:
        t0 = time.perf_counter()
        try:
            text = decode_text(self._model, job.audio, self._settings)
        except Exception as exc:  # a broken model must not kill the pipeline silently
            text = ""
            self._emit(ErrorEvent(f"speech-to-text decode failed: {exc}"))
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        if self._status is not None:
            self._status.set("inference_time_ms", elapsed_ms)
        with self._cond:
            self.decodes += 1
            job.text, job.done = text, True
            ready = job.confirmed and not job.cancelled and not job.emitted
            job.emitted = job.emitted or ready
            self._busy = None
            self._publish_backlog()
            self._cond.notify_all()
        if ready:
            self._deliver(job)

    def _deliver(self, job: Job) -> None:
        if not job.text:
            return
        latency = None
        if job.final and job.voiced_host_ms is not None:
            latency = time.monotonic() * 1000.0 - job.voiced_host_ms
        self._emit(Transcript(job.text, job.final, job.start16 / TARGET_RATE_HZ, job.end16 / TARGET_RATE_HZ, latency))
