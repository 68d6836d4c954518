"""PipelineStatus: exact counters from many threads, DECISIONS 17 names, listener reporting."""

from __future__ import annotations

import json
import threading

import pytest
from picomic.bus.audiobus import AudioBus
from picomic.bus.status import PipelineStatus

DECISIONS_17 = {
    "frames", "bytes", "crc_errors", "resyncs", "lost_frames", "device_dropped", "i2s_overruns",
    "reconnects", "epochs", "audio_lag_ms", "clock_drift_ppm", "inference_time_ms", "stt_backlog_s",
    "dropped_chunks", "listeners",
    "duplicates", "bad_replies",  # DECISIONS 39 and 33
}  # fmt: skip


def test_snapshot_has_exactly_the_decided_fields() -> None:
    snap = PipelineStatus().snapshot()
    assert set(snap) == DECISIONS_17
    json.dumps(snap)


def test_unknown_names_are_rejected() -> None:
    status = PipelineStatus()
    with pytest.raises(ValueError, match="frames"):
        status.add("frame")
    with pytest.raises(ValueError, match="audio_lag_ms"):
        status.set("lag", 1.0)
    with pytest.raises(ValueError):
        status.set("frames", 1.0)  # a counter is not a gauge
    with pytest.raises(ValueError):
        status.add_many({"frames": 1, "nope": 2})
    assert status.frames == 0


def test_concurrent_adds_are_exact() -> None:
    status = PipelineStatus()

    def work() -> None:
        for _ in range(5000):
            status.add("frames")
            status.add_many({"bytes": 3, "crc_errors": 0})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert status.frames == 20000
    assert status.snapshot()["bytes"] == 60000


def test_gauges() -> None:
    status = PipelineStatus()
    status.set("audio_lag_ms", 12.5)
    status.set("clock_drift_ppm", -3)
    snap = status.snapshot()
    assert snap["audio_lag_ms"] == 12.5
    assert snap["clock_drift_ppm"] == -3.0


def test_listeners_reported_and_drops_never_fall() -> None:
    import numpy as np
    from picomic.bus.audiobus import AudioChunk

    status = PipelineStatus()
    bus = AudioBus(status)
    slow = bus.subscribe("slow", maxsize=2)
    fast = bus.subscribe("fast", maxsize=100)
    samples = np.zeros(160, np.int16)
    for seq in range(5):
        bus.publish(AudioChunk(seq, 0.0, 16000, samples))
    fast.drain_to_latest()
    snap = status.snapshot()
    assert snap["listeners"] == {
        "slow": {"queue_depth": 2, "dropped": 3, "skipped": 0, "stream": "raw"},
        "fast": {"queue_depth": 0, "dropped": 0, "skipped": 4, "stream": "raw"},
    }
    assert snap["dropped_chunks"] == 3 == status.dropped_chunks
    bus.unsubscribe(slow)
    snap = status.snapshot()
    assert set(snap["listeners"]) == {"fast"}  # type: ignore[arg-type]
    assert snap["dropped_chunks"] == 3
