"""The audio bus: one producer publishes AudioChunks, many listeners receive the same objects.

Zero copies: `AudioChunk.samples` is a read-only `np.frombuffer` view over the decoded frame's bytes and every
listener receives that very array (DECISIONS 13). `float32()` is computed at most once per chunk and shared.

Invariant of each Listener queue: a deque of at most `maxsize` chunks, guarded by the listener's own lock.
The publisher appends on the right; consumers pop on the left (`recv`) or take the rightmost and clear
(`drain_to_latest`). When full, `publish` drops the oldest chunk and counts it in `dropped`: it never waits.

Named streams: the source publishes `RAW_STREAM`; a stage (picomic.stages) declares a derived stream
(`add_stream`) and publishes on it; a listener subscribes to one stream by name (default `RAW_STREAM`).
`close()` ends the raw stream; a derived stream ends when its producer calls `end_stream` (so it can publish
what its own queue still holds), which listeners of it see as the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from picomic.audio.pcm import to_float32
from picomic.bus.status import PipelineStatus

_F32_LOCK = threading.Lock()

DEFAULT_MAX_GAP_S = 5.0
"""Gaps up to this long become silence on the timeline, in recordings and in VAD/STT bridging; a longer one
is a discontinuity: a new segment, an event, no samples (DECISIONS 32)."""
MAX_GAP_LIMIT_S = 3600.0
RAW_STREAM = "raw"
"""The stream the source publishes: the device's audio as decoded."""
STUCK_S = 5.0
"""An unpaced bus waits this long for a consumer to make room before it drops instead (`AudioBus`)."""


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """One frame of audio on the bus (shared, immutable; compare by identity)."""

    seq: int
    """Unwrapped audio sequence number within the epoch."""
    ts_ms: float
    """Host monotonic time (`time.monotonic() * 1000`) at which the first sample was captured."""
    sample_rate: int
    """Hz, the device rate."""
    samples: np.ndarray
    """Read-only int16 `(n,)` mono or `(n, 2)` stereo (int32 holding 24-bit samples in 24-bit mode)."""
    stream_sample: int = 0
    """Index of the first sample on the stream timeline since START (gaps advance it)."""
    epoch: int = 0
    """Epoch number (each START begins a new one; the first is 0 or 1 depending on the source)."""
    flags: int = 0
    """protocol.Flags of the frame."""
    device_us: int = 0
    """The board's own clock (µs, unwrapped) at the first sample: an emulated board's rates are checked
    against it, since its clock runs slower than the host's."""
    segment: int = 0
    """Recording segment: it changes where the stream jumped by more than the gap bound (`max_gap_s`), so a
    recording or the speech front end continues without filling the gap (DECISIONS 32)."""
    _f32: np.ndarray | None = field(default=None, init=False, repr=False)

    def float32(self) -> np.ndarray:
        """Samples scaled to [-1, 1) as float32 (`audio.pcm.to_float32`, same shape): computed once per
        chunk, cached, read-only, shared."""
        cached = self._f32
        if cached is not None:
            return cached
        with _F32_LOCK:
            cached = self._f32
            if cached is None:
                cached = to_float32(self.samples)
                cached.flags.writeable = False
                object.__setattr__(self, "_f32", cached)
        return cached

    @property
    def num_samples(self) -> int:
        """Sample frames (per channel) in this chunk."""
        return int(self.samples.shape[0])

    @property
    def start_s(self) -> float:
        """Stream-timeline seconds of the first sample."""
        return self.stream_sample / self.sample_rate

    @property
    def end_s(self) -> float:
        """Stream-timeline seconds just after the last sample."""
        return (self.stream_sample + self.num_samples) / self.sample_rate

    @property
    def duration_ms(self) -> float:
        return self.num_samples * 1000.0 / self.sample_rate


class Listener:
    """A bounded, drop-oldest queue of chunks for one consumer. Create with `AudioBus.subscribe`."""

    def __init__(self, name: str, maxsize: int, stream: str = RAW_STREAM, backpressure: bool = True) -> None:
        if maxsize < 1:
            raise ValueError(f"listener {name!r}: maxsize must be >= 1, got {maxsize}")
        self.backpressure = backpressure
        """On a bus that is not paced, `publish` waits for this listener to have room (False: a view or a network
        client that keeps only the latest, which must never slow the pipeline)."""
        self._name = name
        self._stream = stream
        self._maxsize = maxsize
        self._queue: deque[AudioChunk] = deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._dropped = 0
        self._skipped = 0
        self._ended = False  # bus closed or listener unsubscribed: no more chunks will arrive
        self._woken = False  # `wake` was called: the next wait in `recv` returns at once

    @property
    def name(self) -> str:
        return self._name

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def stream(self) -> str:
        """The bus stream this listener receives (`RAW_STREAM` or a stage's derived stream)."""
        return self._stream

    @property
    def dropped(self) -> int:
        """Chunks lost to queue overflow (exact)."""
        return self._dropped

    @property
    def skipped(self) -> int:
        """Chunks passed over by `drain_to_latest` (not loss)."""
        return self._skipped

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """True when no chunk will come again: the bus closed (or unsubscribed) and the queue is empty."""
        return self._ended and not self._queue

    def _put(self, chunk: AudioChunk) -> None:
        """Publisher side: append, dropping the oldest when full. Never blocks beyond the short lock."""
        with self._lock:
            if self._ended:
                return
            queue = self._queue
            if len(queue) >= self._maxsize:
                queue.popleft()
                self._dropped += 1
            queue.append(chunk)
            if self._waiters:
                self._cond.notify()
            if self._async_waiters:
                self._wake_async()

    def _end(self) -> None:
        with self._lock:
            self._ended = True
            self._cond.notify_all()
            self._wake_async()

    def _wake_async(self) -> None:
        """Wake every asyncio waiter (lock held). They re-check the queue themselves."""
        for loop, fut in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed; its waiter is gone
                loop.call_soon_threadsafe(_set_done, fut)
        self._async_waiters.clear()

    def wake(self) -> None:
        """Make a `recv` that waits (or the next one) return None now, as on a timeout: the consumer has other
        work (e.g. STT a VAD edge). Any thread."""
        with self._lock:
            self._woken = True
            self._cond.notify_all()

    def recv(self, timeout: float | None = None) -> AudioChunk | None:
        """The oldest queued chunk; waits up to `timeout` s (None: forever). None on timeout, `wake` or closed."""
        with self._lock:
            if not self._queue and not self._ended:
                deadline = None if timeout is None else time.monotonic() + timeout
                self._waiters += 1
                try:
                    while not self._queue and not self._ended and not self._woken:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            return None
                        self._cond.wait(remaining)
                finally:
                    self._waiters -= 1
            self._woken = False
            return self._queue.popleft() if self._queue else None

    async def recv_async(self) -> AudioChunk | None:
        """Like `recv()` without a timeout, for asyncio; never blocks the event loop, safe to cancel
        (a cancelled call loses no chunk). Use `asyncio.wait_for` for a timeout."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._queue:
                    return self._queue.popleft()
                if self._ended:
                    return None
                fut: asyncio.Future[None] = loop.create_future()
                entry = (loop, fut)
                self._async_waiters.append(entry)
            try:
                await fut
            finally:
                with self._lock:
                    if entry in self._async_waiters:
                        self._async_waiters.remove(entry)

    def drain_to_latest(self) -> AudioChunk | None:
        """The newest queued chunk, discarding older ones (counted in `skipped`); None if empty. No wait."""
        with self._lock:
            queue = self._queue
            if not queue:
                return None
            self._skipped += len(queue) - 1
            latest = queue[-1]
            queue.clear()
            return latest

    def __repr__(self) -> str:
        return (
            f"Listener({self._name!r}, depth={len(self._queue)}/{self._maxsize}, "
            f"dropped={self._dropped}, skipped={self._skipped})"
        )


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class AudioBus:
    """Fan-out of AudioChunks to listeners, per named stream. `publish` copies nothing and, on a paced bus (a
    live source), never blocks: a full queue drops its oldest. A source that is not real time (a file, a
    simulated board with `--fast`) sets `paced = False`: then `publish` first waits while a listener with
    `backpressure` has its queue more than half full, so the consumers set the pace and none drops. A consumer
    that leaves no room for `STUCK_S` is stuck: the bus goes back to pacing (dropping) for the rest of the run."""

    def __init__(self, status: PipelineStatus | None = None, paced: bool = True) -> None:
        self.paced = paced
        self._status = status
        self._lock = threading.Lock()
        # stream → its listeners; the dict and tuples are replaced, never mutated: publish reads them lock-free
        self._streams: dict[str, tuple[Listener, ...]] = {RAW_STREAM: ()}
        self._derived: set[str] = set()  # declared by a producer: open until end_stream
        self._ended: set[str] = set()
        self._closed = False

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """Every listener, of every stream."""
        return tuple(lis for group in self._streams.values() for lis in group)

    @property
    def streams(self) -> tuple[str, ...]:
        """The stream names: `RAW_STREAM` first, then the derived streams in the order they were added."""
        return tuple(self._streams)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_stream(self, stream: str) -> None:
        """Declare a derived stream; its producer publishes on it and ends it with `end_stream`."""
        with self._lock:
            if stream in self._streams:
                raise ValueError(f"the bus already has a stream named {stream!r}; choose another name")
            self._derived.add(stream)
            self._streams = {**self._streams, stream: ()}

    def subscribe(
        self, name: str, maxsize: int = 256, stream: str = RAW_STREAM, *, backpressure: bool = True
    ) -> Listener:
        """A new listener that receives every chunk published on `stream` from now on (ValueError if `name`
        is taken or `stream` does not exist). `backpressure=False`: never waited for (`Listener.backpressure`)."""
        listener = Listener(name, maxsize, stream, backpressure)
        with self._lock:
            if any(lis.name == name for lis in self.listeners):
                raise ValueError(f"a bus listener named {name!r} already exists; choose another name")
            if stream not in self._streams:
                raise ValueError(f"no bus stream {stream!r}; the streams are {', '.join(self._streams)}")
            if stream in self._ended:
                listener._end()
            else:
                self._streams = {**self._streams, stream: (*self._streams[stream], listener)}
        if self._status is not None:
            self._status.register_listener(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        """Stop delivering to `listener` (safe at run time); it returns what is queued, then None."""
        with self._lock:
            group = self._streams.get(listener.stream, ())
            if listener in group:
                self._streams = {**self._streams, listener.stream: tuple(lis for lis in group if lis is not listener)}
        listener._end()
        if self._status is not None:
            self._status.unregister_listener(listener)

    def publish(self, chunk: AudioChunk, stream: str = RAW_STREAM) -> None:
        """Give `chunk` to every listener of `stream` (the same object). Paced: never blocks, full queues drop
        their oldest; not paced: first waits for room (see the class). After the stream ended chunks are
        discarded."""
        listeners = self._streams.get(stream, ())
        if not self.paced:
            self._wait_for_room(listeners)
        for listener in listeners:
            listener._put(chunk)

    def _wait_for_room(self, listeners: tuple[Listener, ...]) -> None:
        deadline = time.monotonic() + STUCK_S
        while any(lis.backpressure and lis.queue_depth > lis.maxsize // 2 for lis in listeners):
            if time.monotonic() > deadline:
                self.paced = True  # a stuck consumer must not stall the source: drop, as live
                return
            time.sleep(0.002)

    def end_stream(self, stream: str) -> None:
        """End of one stream: its listeners drain what is queued, then `recv` returns None. Idempotent."""
        with self._lock:
            if stream not in self._streams:
                return
            self._ended.add(stream)
            listeners = self._streams[stream]
            self._streams = {**self._streams, stream: ()}
        for listener in listeners:
            listener._end()

    def close(self) -> None:
        """End of the source's stream (and of every stream no producer declared): listeners drain what is
        queued, then `recv` returns None. Derived streams end when their producers call `end_stream`."""
        self._closed = True
        for stream in self.streams:
            if stream not in self._derived:
                self.end_stream(stream)
