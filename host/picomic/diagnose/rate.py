"""The sample rate of a capture against a clock, from chunk arrival (or board-clock) times and sample counts.

Transport delays only ever add, so the true timeline runs along the lower convex hull of (audio time, arrival −
audio time); its slope gives the rate to a few ppm over seconds, whatever the USB and scheduler jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MIN_RATE_SPAN_S = 2.0
"""Seconds of audio below which the rate is not estimated (too short for 0.1 %)."""


@dataclass(frozen=True, slots=True)
class RateEstimate:
    rate_hz: float
    ppm: float
    """(measured / nominal - 1) * 1e6, measured against the host's monotonic clock."""
    span_s: float


def estimate_rate(
    arrivals_s: npt.NDArray[np.float64], ends: npt.NDArray[np.int64], nominal_hz: int
) -> RateEstimate | None:
    """Sample rate against the host clock from chunk arrival times. Transport delays only ever add, so the
    true timeline runs along the lower convex hull of (audio time, arrival - audio time); its edge over the
    middle of the capture is the line that minimises the mean delay (as NTP-style clock filters do). None
    when the capture is too short to resolve 0.1 %."""
    x = ends.astype(np.float64) / nominal_hz  # when each chunk would end at the nominal rate, s
    if len(x) < 8 or x[-1] - x[0] < MIN_RATE_SPAN_S:
        return None
    offset = arrivals_s - x  # = x * (nominal/true - 1) + const + delay, delay >= 0
    hull = _lower_hull(x, offset)
    middle = (x[0] + x[-1]) / 2.0
    i1 = next(i for i in hull[1:] if x[i] >= middle)
    i0 = hull[hull.index(i1) - 1]
    slope = float((offset[i1] - offset[i0]) / (x[i1] - x[i0]))
    rate = nominal_hz / (1.0 + slope)
    return RateEstimate(rate_hz=rate, ppm=(rate / nominal_hz - 1.0) * 1e6, span_s=float(arrivals_s[-1] - arrivals_s[0]))


def _lower_hull(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    for k in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[k] - y[a]) - (y[b] - y[a]) * (x[k] - x[a]) > 0:
                break
            hull.pop()
        hull.append(k)
    return hull


# ---------------------------------------------------------------------------------------------- checking
