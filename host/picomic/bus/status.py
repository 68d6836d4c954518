"""PipelineStatus: thread-safe counters and gauges of the whole pipeline (DECISIONS 17 names).

Writers call `add()` (counters) and `set()` (gauges) from any thread; every field is also a plain attribute
that any thread may read (a single int/float read is atomic in CPython). `snapshot()` returns a consistent
copy: the JSON `status` event body and the source of the Prometheus metrics (`picomic_<name>`, counters with
`_total`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

COUNTERS: tuple[str, ...] = (
    "frames",
    "bytes",
    "crc_errors",
    "resyncs",
    "lost_frames",
    "device_dropped",
    "i2s_overruns",
    "reconnects",
    "epochs",
    "duplicates",
    "bad_replies",
)
"""Monotonic counters (Prometheus `picomic_<name>_total`)."""

GAUGES: tuple[str, ...] = ("audio_lag_ms", "clock_drift_ppm", "inference_time_ms", "stt_backlog_s")
"""Gauges: last measured values."""


class ListenerStats(Protocol):
    """What the status needs from a bus listener (implemented by `bus.Listener`)."""

    @property
    def name(self) -> str: ...
    @property
    def queue_depth(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def stream(self) -> str: ...


class PipelineStatus:
    """Counters and gauges shared by the source, the bus and the consumers."""

    frames: int
    """Valid frames decoded (all types)."""
    bytes: int
    """Bytes read from the link."""
    crc_errors: int
    """Frames whose CRC32 failed (never delivered)."""
    resyncs: int
    """Times the decoder lost sync and had to search for the next sync marker."""
    lost_frames: int
    """Audio frames missing from the sequence (gaps, tail losses before END)."""
    device_dropped: int
    """Frames the device reported dropping (ring full): why some frames are lost, not added to lost_frames."""
    i2s_overruns: int
    """Frames flagged I2S_OVERRUN by the device's timing check."""
    reconnects: int
    """Times the link was reopened after an unplug."""
    epochs: int
    """STARTs seen (first frames of an epoch)."""
    duplicates: int
    """Audio frames dropped as duplicate, late or replayed (seq behind or equal to the last, no FIRST flag)."""
    bad_replies: int
    """INFO/STATUS/END payloads the host refused (not UTF-8 JSON, not an object, too deep or too large)."""
    audio_lag_ms: float
    """Host now − host-clock capture time of the last sample delivered, ms."""
    clock_drift_ppm: float
    """Device clock rate relative to the host clock, parts per million (+ = device runs fast)."""
    inference_time_ms: float
    """Duration of the last model run (VAD or STT), ms."""
    stt_backlog_s: float
    """Seconds of audio waiting for speech-to-text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        for name in COUNTERS:
            setattr(self, name, 0)
        for name in GAUGES:
            setattr(self, name, 0.0)
        self._listeners: dict[str, ListenerStats] = {}
        self._retired_dropped = 0
        self._observers: tuple[Callable[[str, float], None], ...] = ()
        self._streams: dict[str, Callable[[], dict[str, object]]] = {}

    def add(self, name: str, n: int = 1) -> None:
        """Add `n` to counter `name` (ValueError for a name that is not a counter)."""
        if name not in _COUNTER_SET:
            raise ValueError(f"unknown status counter {name!r}; counters are: {', '.join(COUNTERS)}")
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_many(self, deltas: dict[str, int]) -> None:
        """Add several counters at once (one lock round trip)."""
        bad = [k for k in deltas if k not in _COUNTER_SET]
        if bad:
            raise ValueError(f"unknown status counter(s) {bad}; counters are: {', '.join(COUNTERS)}")
        with self._lock:
            for name, n in deltas.items():
                if n:
                    setattr(self, name, getattr(self, name) + n)

    def set(self, name: str, value: float) -> None:
        """Set gauge `name` (ValueError for a name that is not a gauge)."""
        if name not in _GAUGE_SET:
            raise ValueError(f"unknown status gauge {name!r}; gauges are: {', '.join(GAUGES)}")
        with self._lock:
            setattr(self, name, float(value))
        for observer in self._observers:
            observer(name, float(value))

    def add_observer(self, observer: Callable[[str, float], None]) -> None:
        """Call `observer(name, value)` on every gauge update (e.g. a latency histogram); it must be fast."""
        with self._lock:
            self._observers = (*self._observers, observer)

    def register_listener(self, listener: ListenerStats) -> None:
        """Report this listener in `listeners` and `dropped_chunks` (the bus calls this on subscribe)."""
        with self._lock:
            self._listeners[listener.name] = listener

    def unregister_listener(self, listener: ListenerStats) -> None:
        """Stop reporting a listener; its drops stay counted in `dropped_chunks` (a counter never falls)."""
        with self._lock:
            if self._listeners.get(listener.name) is listener:
                del self._listeners[listener.name]
                self._retired_dropped += listener.dropped

    def register_stream(self, stream: str, stats: Callable[[], dict[str, object]]) -> None:
        """Report a derived bus stream under `streams` (a stage calls this): `stats()` gives its fields."""
        with self._lock:
            self._streams[stream] = stats

    @property
    def dropped_chunks(self) -> int:
        """Chunks lost to listener queue overflow, summed over all listeners (also unsubscribed ones)."""
        with self._lock:
            return self._retired_dropped + sum(lis.dropped for lis in self._listeners.values())

    def snapshot(self) -> dict[str, object]:
        """A consistent copy of every field: the JSON `status` event body."""
        with self._lock:
            out: dict[str, object] = {name: getattr(self, name) for name in COUNTERS}
            out.update({name: getattr(self, name) for name in GAUGES})
            listeners: dict[str, dict[str, object]] = {
                name: {"queue_depth": lis.queue_depth, "dropped": lis.dropped, "skipped": lis.skipped,
                       "stream": lis.stream}
                for name, lis in self._listeners.items()
            }  # fmt: skip
            out["dropped_chunks"] = self._retired_dropped + sum(lis.dropped for lis in self._listeners.values())
            out["listeners"] = listeners
            streams = dict(self._streams)
        if streams:
            out["streams"] = {name: stats() for name, stats in streams.items()}
        return out


_COUNTER_SET = frozenset(COUNTERS)
_GAUGE_SET = frozenset(GAUGES)
