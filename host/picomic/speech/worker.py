"""The decode worker under SttListener: one thread that turns decode jobs into Transcript events.

The worker is one thread that runs decode jobs in order (finals stay in stream order). Jobs are plain
objects whose flags are guarded by the worker's lock. A speculative job starts unconfirmed: the worker keeps
its text until the listener confirms it (the silence held: emit) or cancels it (speech resumed: discard).
A job of a later piece of a turn reads the texts of the turn's earlier pieces as its prompt (`context`: they
were queued before it, so they are decoded by then); a revision job (`revises` > 0) re-decodes a whole turn
and emits the piece's own words (`textalign.tail_after`) as a final, then the whole text as a revision.
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
from picomic.bus.events import ErrorEvent, Event, Transcript, TranscriptRevision
from picomic.bus.status import PipelineStatus
from picomic.speech.decode import Decoded, DecodeOptions, decode
from picomic.speech.stable import PartialStabilizer
from picomic.speech.textalign import tail_after


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
    """Earlier finals of the same turn: their texts are this decode's prompt (a revision's: what it revises)."""
    revises: int = 0
    """> 0: a whole-turn re-decode, emitted as a TranscriptRevision replacing this many finals."""
    piece_start16: int = 0
    """A revision's own piece: where it starts (its new words also go out as a plain final from here)."""
    audio_from16: int = 0
    """Timeline position of `audio[0]` (word timestamps are placed from it)."""
    stabilizer: PartialStabilizer | None = None
    """Partials: the utterance's committed words."""
    decoded: Decoded | None = None


class DecodeWorker:
    """A thread that decodes Jobs in order and emits their Transcripts; never blocks its callers."""

    def __init__(
        self, model: Any, options: DecodeOptions, emit: Callable[[Event], None], status: PipelineStatus | None
    ) -> None:
        self._model, self._options, self._emit, self._status = model, options, emit, status
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
        context = None if job.revises else _context_text(job.context)
        try:
            decoded = decode(self._model, job.audio, self._options, context)
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
        start_s, end_s = job.start16 / TARGET_RATE_HZ, job.end16 / TARGET_RATE_HZ
        words = _words(job)
        if job.revises and job.turn is not None:
            piece = tail_after(_context_text(job.context) or "", job.text)  # this piece's words, for plain readers
            if piece:
                self._emit(Transcript(piece, True, job.piece_start16 / TARGET_RATE_HZ, end_s, latency, job.turn))
            self._emit(TranscriptRevision(job.text, job.turn, job.revises + 1, start_s, end_s, latency, words))
        elif job.stabilizer is not None:
            text, stable = job.stabilizer.update(job.text)
            self._emit(Transcript(text, False, start_s, end_s, None, stable_chars=stable))
        else:
            self._emit(Transcript(job.text, job.final, start_s, end_s, latency, job.turn if job.final else None, words))


def _context_text(jobs: tuple[Job, ...]) -> str | None:
    """The turn's text before a piece: the last revision (a whole-turn text) and the finals after it."""
    texts: list[str] = []
    for j in jobs:
        texts = [j.text] if j.revises else [*texts, j.text]
    return " ".join(t for t in texts if t) or None


def _words(job: Job) -> tuple[dict[str, object], ...] | None:
    """The final's words on the stream timeline (None without word timestamps)."""
    if not job.final or job.decoded is None or not job.decoded.words:
        return None
    offset_s = job.audio_from16 / TARGET_RATE_HZ
    return tuple(w.to_json(offset_s) for w in job.decoded.words)
