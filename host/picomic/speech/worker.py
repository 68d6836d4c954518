"""The decode worker under SttListener: one thread that turns decode jobs into Transcript events.

The worker is one thread that runs decode jobs in order (finals stay in stream order). Jobs are plain
objects whose flags are guarded by the worker's lock. A speculative job starts unconfirmed: the worker keeps
its text until the listener confirms it (the silence held: emit) or cancels it (speech resumed: discard).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.events import ErrorEvent, Event, Transcript
from picomic.bus.status import PipelineStatus
from picomic.speech.decode import DecodeOptions, decode_text

Transcriber = Callable[[np.ndarray], str]
"""16 kHz float32 audio → text: the local model by default, or e.g. a remote Wyoming ASR server."""


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
        self,
        model: Any,
        options: DecodeOptions,
        emit: Callable[[Event], None],
        status: PipelineStatus | None,
        transcriber: Transcriber | None = None,
    ) -> None:
        self._model, self._options, self._emit, self._status = model, options, emit, status
        self._transcribe = transcriber or (lambda audio16: decode_text(self._model, audio16, self._options))
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
            text = self._transcribe(job.audio)
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
