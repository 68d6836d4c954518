"""The pipeline loop: ends on END, flushes consumers in order, reports status first and last, re-raises fatal errors."""

from __future__ import annotations

import threading
import urllib.request

import numpy as np
import pytest
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import Event, StatusEvent, StreamEnd
from picomic.errors import LinkError
from picomic.outputs.metrics import MetricsServer
from picomic.pipeline import Pipeline


class ScriptedSource:
    """Publishes n chunks from a thread, then emits END (or fails)."""

    def __init__(self, pipeline: Pipeline, n: int, fail: bool = False) -> None:
        self.pipeline, self.n, self.fail = pipeline, n, fail
        self.stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for i in range(self.n):
            samples = np.zeros(160, dtype=np.int16)
            samples.flags.writeable = False
            self.pipeline.bus.publish(AudioChunk(i, 0.0, 16000, samples, stream_sample=i * 160))
            self.pipeline.status.add("frames")
        if self.fail:
            self.pipeline.fail(LinkError("board vanished"))
        else:
            self.pipeline.emit(StreamEnd("signal_end"))

    def stop(self) -> None:
        self.stopped = True
        self._thread.join(5)


class Counter:
    def __init__(self, pipeline: Pipeline) -> None:
        self.listener = pipeline.bus.subscribe("counter", maxsize=10_000)
        self.count = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.listener.recv(timeout=5) is not None:
            self.count += 1

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> None:
        self._thread.join(timeout)


class Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def refresh(self) -> None:
        pass


def test_run_ends_at_end_and_consumers_see_everything() -> None:
    p = Pipeline()
    counter, out = Counter(p), Collect()
    p.add_consumer(counter)
    p.add_output(out)
    src = ScriptedSource(p, 500)
    result = p.run(src)
    assert result.reason == "end:signal_end"
    assert src.stopped
    assert counter.count == 500
    statuses = [e for e in out.events if isinstance(e, StatusEvent)]
    assert statuses[0] is out.events[0]
    assert out.events[-1] is statuses[-1] and statuses[-1].fields["frames"] == 500


def test_fatal_error_from_a_thread_is_raised_after_clean_shutdown() -> None:
    p = Pipeline()
    counter = Counter(p)
    p.add_consumer(counter)
    src = ScriptedSource(p, 10, fail=True)
    with pytest.raises(LinkError, match="vanished"):
        p.run(src)
    assert src.stopped and counter.count == 10


def test_seconds_limit() -> None:
    p = Pipeline()

    class Idle:
        def start(self) -> None: ...
        def stop(self) -> None: ...

    assert p.run(Idle(), seconds=0.2).reason == "seconds"


def test_metrics_endpoint_shows_counters_and_listener_stats() -> None:
    p = Pipeline()
    p.bus.subscribe("slow", maxsize=2)
    server = MetricsServer(p.status, "127.0.0.1", 0)
    try:
        src = ScriptedSource(p, 7)
        p.run(src)
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.close()
    assert "picomic_frames_total 7.0" in body
    assert 'picomic_listener_dropped_total{listener="slow"} 5.0' in body
    assert "picomic_delivery_latency_ms_bucket" in body
