"""The web bench entry, shortened: it measures every figure, the reading clients lose nothing, the stalled one
really is backed up (its own queue drops), and the bus drops nothing. (Timed targets are `picomic bench`'s.)"""

from __future__ import annotations

import math

import pytest
from picomic.bench import web
from picomic.bench.registry import ENTRIES


@pytest.mark.slow
def test_web_bench_measures_every_figure() -> None:
    out = web.measure(phase_s=1.0, repeats=1)
    assert out["events_lost"] == 0 and out["bus_dropped"] == 0
    assert out["stalled_client_dropped"] > 0
    assert len(out["clean_ms"]) >= web.CLIENTS * 5 and len(out["stalled_ms"]) >= web.CLIENTS * 5
    assert all(x >= 0 for x in out["clean_ms"])
    assert len(out["p99_change_ms"]) == 1 and math.isfinite(out["p99_change_ms"][0])  # one pair
    assert out["audio_messages_per_client"] > 100  # about 100 a second for the whole run
    entry = next(e for e in ENTRIES if e.name == "web")
    assert {f.key for f in entry.figures} <= set(out)
