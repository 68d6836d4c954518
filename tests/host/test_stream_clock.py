"""ClockMapper against synthetic arrivals: USB jitter, bursts, host stalls, ±100 ppm drift."""

from __future__ import annotations

import random

import pytest
from picomic.stream.clock import ClockMapper

FRAME_US = 10_000


def simulate(
    mapper: ClockMapper, ppm: float, seconds: float, seed: int, offset_ms: float = 5e6, stall_at_s: float = -1
) -> list[tuple[float, float]]:
    """Feed `seconds` of 10 ms frames; return (mapped, true) host capture times of each frame's last sample.

    Device clock runs `ppm` fast: device µs = true host µs × (1 + ppm/1e6). Arrival = capture + 0.3 ms +
    exponential jitter (mean 2 ms), every 37th frame +25 ms, arrivals rounded up to the 1 ms USB frame, and an
    optional 3 s host stall after which the backlog arrives at once."""
    rng = random.Random(seed)
    out = []
    release = 0.0
    for i in range(1, int(seconds * 100) + 1):
        device_us = 123_456_789 + i * FRAME_US
        true_host = offset_ms + (device_us / 1000.0) / (1 + ppm / 1e6)
        arrival = true_host + 0.3 + rng.expovariate(1 / 2.0) + (25.0 if i % 37 == 0 else 0.0)
        arrival = float(int(arrival) + 1)
        if stall_at_s > 0 and stall_at_s <= i / 100 < stall_at_s + 3:
            release = max(release, offset_ms + ((123_456_789 / 1000) + (stall_at_s + 3) * 1000) / (1 + ppm / 1e6))
            arrival = max(arrival, release)
        mapper.observe(device_us, arrival)
        out.append((mapper.to_host_ms(device_us), true_host))
    return out


@pytest.mark.parametrize("ppm", [-100.0, -20.0, 0.0, 35.0, 100.0])
def test_drift_and_offset_converge(ppm: float) -> None:
    mapper = ClockMapper()
    result = simulate(mapper, ppm, seconds=90, seed=int(ppm) + 1000)
    assert abs(mapper.drift_ppm - ppm) < 5, mapper.drift_ppm
    # after convergence the mapping is at most ~2 ms late (min latency + USB rounding) and never early
    tail = [mapped - true for mapped, true in result[-3000:]]
    assert min(tail) > -0.5 and max(tail) < 2.5, (min(tail), max(tail))


def test_host_stall_does_not_bend_the_estimate() -> None:
    mapper = ClockMapper()
    simulate(mapper, 60.0, seconds=90, seed=7, stall_at_s=40)
    assert abs(mapper.drift_ppm - 60.0) < 5


def test_reset_for_new_epoch() -> None:
    mapper = ClockMapper()
    simulate(mapper, 80.0, seconds=30, seed=3)
    assert mapper.windows > 20 and mapper.ready
    mapper.reset(keep_drift=True)
    assert not mapper.ready and mapper.windows == 0 and abs(mapper.drift_ppm - 80.0) < 10
    mapper.observe(1000, 50.0)
    assert mapper.to_host_ms(1000) == 50.0
    mapper.reset()
    assert mapper.drift_ppm == 0.0
    with pytest.raises(ValueError):
        mapper.to_host_ms(0)


def test_lag_and_first_estimate() -> None:
    mapper = ClockMapper()
    mapper.observe(2_000_000, 10_000.0)
    assert mapper.lag_ms(2_000_000, 10_012.0) == pytest.approx(12.0)
    mapper.observe(2_010_000, 10_009.0)  # earlier than the first suggested: the line moves down
    assert mapper.to_host_ms(2_010_000) == pytest.approx(10_009.0)
    assert mapper.to_host_ms(2_000_000) == pytest.approx(9_999.0)


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        ClockMapper(window_s=0)
