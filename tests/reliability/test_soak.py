"""Soak, CI length: 30 minutes of audio through the whole pipeline at full speed (~20 s), the same checks as
the one-hour benchmark (python -m picomic.bench.soak): RSS, threads, file descriptors, exact counters."""

from __future__ import annotations

from picomic.bench import soak


def test_soak_30_minutes_of_audio_through_the_pipeline() -> None:
    out = soak.soak(1800.0)
    assert not out["failed_checks"], {k: out[k] for k in ("failed_checks", "leaked_threads", "leaked_fds", "status")}
    assert out["rss_growth_mb"] < 2.0
    assert out["frames_audio"] == 180_000 and out["status"]["lost_frames"] == 0
    assert out["x_realtime"] > 10  # full speed, not paced
