"""The decode worker under SttListener: it turns decode jobs into Transcript events.

A worker runs its jobs in order (finals stay in stream order) on the threads of a `DecodePool`: its own
one-thread pool, or one pool shared by the workers of several boards (the model loaded once). A shared pool
is fair: a worker whose next job is a final goes before one whose next job is a partial; among finals, the one
whose speech ended first goes first (the longest-waiting listener: first to stop talking, first served);
otherwise workers take turns (round robin); a worker never has two jobs in flight. Jobs are plain objects
whose flags are guarded by the pool's lock. A speculative job starts unconfirmed: the worker keeps its text
until the listener confirms it (the silence held: emit) or cancels it (speech resumed: discard).
A job of a later piece of a turn reads the turn's text so far as its prompt (`context`: its earlier jobs were
queued before it, so they are decoded by then); a revision job (`revises` > 0) re-decodes a whole turn and
emits its text as a revision.
With a `transcriber` (a remote speech server) jobs are texts from it instead of decodes of the model.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.events import ErrorEvent, Event, Transcript, TranscriptRevision
from picomic.bus.status import PipelineStatus
from picomic.speech.decode import Decoded, DecodeOptions, decode
from picomic.speech.foreground import ForegroundLevel, level_dbfs
from picomic.speech.stable import PartialStabilizer

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
    turn: int | None = None
    context: tuple[Job, ...] = ()
    """Earlier jobs of the same turn (finals and revisions): their text is this decode's prompt."""
    revises: int = 0
    """> 0: a whole-turn re-decode of this many pieces, emitted as a TranscriptRevision replacing their finals."""
    audio_from16: int = 0
    """Timeline position of `audio[0]` (word timestamps are placed from it)."""
    stabilizer: PartialStabilizer | None = None
    """Partials: the utterance's committed words."""
    decoded: Decoded | None = None


class DecodePool:
    """Threads that run the jobs of one or more DecodeWorkers, fairly (see the module docstring)."""

    def __init__(self, threads: int = 1) -> None:
        if not 1 <= threads <= 16:
            raise ValueError(f"decode threads must be 1..16, got {threads}")
        self.cond = threading.Condition()
        self._turns: deque[DecodeWorker] = deque()  # workers with a job waiting and none in flight, in turn order
        self._stopping = False
        self._in_flight = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"picomic-stt-decode-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def ready(self, worker: DecodeWorker) -> None:
        """`worker` may have a job to run (lock held): it joins the back of the turn order."""
        if worker.runnable and worker not in self._turns:
            self._turns.append(worker)
            self.cond.notify_all()

    @property
    def quiet(self) -> bool:
        """No job runs and none waits, of any worker (lock held)."""
        return self._in_flight == 0 and not any(w.runnable for w in self._turns)

    def leave(self, worker: DecodeWorker) -> None:
        """`worker` takes no more turns (lock held)."""
        if worker in self._turns:
            self._turns.remove(worker)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop once the queued jobs are done; wait up to `timeout_s` for the threads."""
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _next(self) -> tuple[DecodeWorker, Job] | None:
        """The next job (lock held): the final whose speech ended first (ties: turn order), else the first
        worker in turn."""
        self._turns = deque(w for w in self._turns if w.runnable)
        if not self._turns:
            return None
        finals = [w for w in self._turns if w.next_is_final]
        worker = min(finals, key=lambda w: w.next_speech_end_ms) if finals else self._turns[0]
        self._turns.remove(worker)
        return worker, worker.take()

    def _run(self) -> None:
        while True:
            with self.cond:
                picked = self._next()
                while picked is None and not self._stopping:
                    self.cond.wait()
                    picked = self._next()
                if picked is None:
                    return
                self._in_flight += 1
            worker, job = picked
            try:
                worker.run(job)
            finally:
                with self.cond:
                    self._in_flight -= 1
                    self.cond.notify_all()


class DecodeWorker:
    """Decodes one listener's Jobs in order and emits their Transcripts; never blocks its callers.

    `pool`: a DecodePool shared with other workers (other boards); None: a one-thread pool of its own."""

    def __init__(
        self,
        model: Any,
        options: DecodeOptions,
        emit: Callable[[Event], None],
        status: PipelineStatus | None,
        transcriber: Transcriber | None = None,
        *,
        pool: DecodePool | None = None,
    ) -> None:
        self._model, self._options, self._emit, self._status = model, options, emit, status
        self._transcriber = transcriber
        self._own_pool = pool is None
        self._pool = pool if pool is not None else DecodePool()
        self._cond = self._pool.cond
        self._jobs: deque[Job] = deque()
        self._busy: Job | None = None
        self._closed = False
        self.decodes = 0
        self.discarded = 0
        """Speculative decodes thrown away because speech resumed."""
        self._foreground = ForegroundLevel(options.guard_background_db)  # guarded by the pool's lock

    @property
    def idle(self) -> bool:
        """Nothing of this worker's waits or runs, nor (in a shared pool) any other worker's: the moment for a
        partial, which must not make another board's final wait."""
        with self._cond:
            return self._busy is None and not self._jobs and self._pool.quiet

    @property
    def runnable(self) -> bool:
        """A job waits and none is in flight (pool lock held)."""
        return self._busy is None and bool(self._jobs) and not self._closed

    @property
    def next_is_final(self) -> bool:
        """The next job is a final (pool lock held)."""
        return bool(self._jobs) and self._jobs[0].final

    @property
    def next_speech_end_ms(self) -> float:
        """Host time at which the speech of the next job ended (pool lock held; unknown: last in line)."""
        end = self._jobs[0].voiced_host_ms if self._jobs else None
        return math.inf if end is None else end

    def run(self, job: Job) -> None:
        """Decode `job` (a pool thread, lock not held), emit it if confirmed, and take the next turn."""
        self._decode(job)

    def take(self) -> Job:
        """The next job, now in flight (pool lock held; the pool calls this when it is `runnable`)."""
        job = self._busy = self._jobs.popleft()
        self._publish_backlog()
        return job

    def submit(self, job: Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._pool.ready(self)
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

    def result(self, job: Job) -> str | None:
        """The job's text once decoded (None before)."""
        with self._cond:
            return job.text if job.done else None

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
        """Its own pool: stop once the queued jobs are done (waiting up to `timeout_s`). A shared pool: wait up
        to `timeout_s` for this worker's jobs, then drop what is left; the pool serves the others on."""
        if self._own_pool:
            self._pool.close(timeout_s)
            return
        self.wait_idle(timeout_s)
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._pool.leave(self)
            self._publish_backlog()

    def _publish_backlog(self) -> None:
        """stt_backlog_s: seconds of audio queued behind the decode in progress (lock held). 0 while the
        decoder keeps up; it grows when decodes take longer than the speech they transcribe."""
        if self._status is not None:
            queued = sum(len(j.audio) for j in self._jobs if not j.cancelled)
            self._status.set("stt_backlog_s", queued / TARGET_RATE_HZ)

    def _decode(self, job: Job) -> None:
        t0 = time.perf_counter()
        context = context_text(job.context)
        with self._cond:
            background = self._foreground.is_background(level_dbfs(job.audio), job.start16)
        try:
            if self._transcriber is not None:
                decoded = Decoded(self._transcriber(job.audio))
            else:
                decoded = decode(self._model, job.audio, self._options, context, background)
        except Exception as exc:  # a broken model must not kill the pipeline silently
            decoded = Decoded("")
            self._emit(ErrorEvent(f"speech-to-text decode failed: {exc}"))
        text = decoded.text
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        if self._status is not None:
            self._status.set("inference_time_ms", elapsed_ms)
        with self._cond:
            self.decodes += 1
            job.text, job.decoded, job.done = text, decoded, True
            ready = job.confirmed and not job.cancelled and not job.emitted
            job.emitted = job.emitted or ready
            self._busy = None
            self._pool.ready(self)
            self._publish_backlog()
            self._cond.notify_all()
        if ready:
            self._deliver(job)

    def _deliver(self, job: Job) -> None:
        if not job.text:
            return
        if job.final:
            with self._cond:
                self._foreground.heard(level_dbfs(job.audio), job.end16)
        latency = None
        if job.final and job.voiced_host_ms is not None:
            latency = time.monotonic() * 1000.0 - job.voiced_host_ms
        start_s, end_s = job.start16 / TARGET_RATE_HZ, job.end16 / TARGET_RATE_HZ
        words = _words(job)
        if job.revises and job.turn is not None:
            self._emit(TranscriptRevision(job.text, job.turn, job.revises, start_s, end_s, latency, words))
        elif job.stabilizer is not None:
            text, stable = job.stabilizer.update(job.text)
            self._emit(Transcript(text, False, start_s, end_s, None, stable_chars=stable))
        else:
            self._emit(Transcript(job.text, job.final, start_s, end_s, latency, job.turn if job.final else None, words))


def context_text(jobs: tuple[Job, ...]) -> str | None:
    """The turn's text before a piece: the last revision with text (a whole-turn text) and the finals after it."""
    texts: list[str] = []
    for j in jobs:
        if not j.revises:
            texts.append(j.text)
        elif j.text:
            texts = [j.text]
    return " ".join(t for t in texts if t) or None


def _words(job: Job) -> tuple[dict[str, object], ...] | None:
    """The final's words on the stream timeline (None without word timestamps)."""
    if not job.final or job.decoded is None or not job.decoded.words:
        return None
    offset_s = job.audio_from16 / TARGET_RATE_HZ
    return tuple(w.to_json(offset_s) for w in job.decoded.words)
