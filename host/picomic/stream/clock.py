"""ClockMapper: device microseconds → host monotonic milliseconds, with an online drift estimate.

A frame can arrive late (USB scheduling, a busy host, a read that waited) but never before its last sample was
captured. So `host_arrival − device_time` is a noisy signal whose *lower envelope* is the true clock offset
plus the minimum transport latency. The mapper keeps the minimum of that difference per window of device
time (1 s by default), fits a line through the window minima by least squares (its slope is the drift),
drops windows far above the line (host stalls) and refits, then lowers the line until no observation lies
below it. Feed it the device time of the *last* sample of a frame (the moment the frame was complete);
mapped times are then late by the minimum transport latency only (about 1 ms over USB, constant).
"""

from __future__ import annotations

from collections import deque

_MIN_OUTLIER_MS = 2.0


class ClockMapper:
    """Online device→host clock mapping for one epoch (call `reset()` when the device clock restarts)."""

    def __init__(self, window_s: float = 1.0, max_windows: int = 300, min_windows: int = 5) -> None:
        if window_s <= 0 or max_windows < 2 or min_windows < 2:
            raise ValueError("ClockMapper: window_s must be > 0, max_windows and min_windows >= 2")
        self._window_ms = window_s * 1000.0
        self._min_windows = min_windows
        self._minima: deque[tuple[float, float]] = deque(maxlen=max_windows)
        self._slope = 0.0  # d(host − device)/d(device), dimensionless
        self.reset()

    def reset(self, keep_drift: bool = False) -> None:
        """Forget every observation (new epoch: the device timestamps restarted). With `keep_drift` the
        drift estimate survives as the starting slope (same crystal, e.g. after a reconnect)."""
        self._x0: float | None = None  # device ms of the first observation: origin of x
        self._host0 = 0.0
        self._minima.clear()
        self._win_start = 0.0
        self._win_min: tuple[float, float] | None = None  # (x, d) of the current window's minimum
        self._intercept = 0.0  # d at x = 0 of the lower-envelope line
        self._fitted = False
        if not keep_drift:
            self._slope = 0.0
        self.observations = 0

    @property
    def ready(self) -> bool:
        """At least one observation: `to_host_ms` gives an estimate."""
        return self._x0 is not None

    @property
    def drift_ppm(self) -> float:
        """Device clock rate relative to the host's, ppm (+ = the device clock runs fast)."""
        rate = 1.0 + self._slope
        return (1.0 / rate - 1.0) * 1e6 if rate > 1e-6 else float("inf")

    @property
    def windows(self) -> int:
        """Completed windows in the fit."""
        return len(self._minima)

    def observe(self, device_us: int, host_ms: float) -> None:
        """A frame whose last sample was captured at `device_us` (unwrapped) arrived at `host_ms`."""
        if self._x0 is None:
            self._x0 = device_us / 1000.0
            self._host0 = host_ms
            self._intercept = 0.0
        self.observations += 1
        x = device_us / 1000.0 - self._x0
        d = host_ms - self._host0 - x
        line = self._intercept + self._slope * x
        if d < line or self.observations == 1:
            self._intercept -= line - d  # capture never follows arrival: lower the line to this point
        win = self._win_min
        if win is None:
            self._win_start = x
            self._win_min = (x, d)
        elif x - self._win_start >= self._window_ms:
            self._minima.append(win)
            self._win_start = x
            self._win_min = (x, d)
            if len(self._minima) >= self._min_windows:
                self._fit()
        elif d < win[1]:
            self._win_min = (x, d)

    def _fit(self) -> None:
        points = list(self._minima)
        slope, intercept = _least_squares(points)
        residuals = [d - (intercept + slope * x) for x, d in points]
        spread = sorted(abs(r) for r in residuals)[len(residuals) // 2]
        limit = max(_MIN_OUTLIER_MS, 4.0 * spread)
        kept = [p for p, r in zip(points, residuals, strict=True) if r <= limit]
        if len(kept) >= self._min_windows and len(kept) < len(points):
            slope, intercept = _least_squares(kept)
        if self._win_min is not None:
            kept.append(self._win_min)
        self._slope = slope
        self._intercept = intercept - max(0.0, max((intercept + slope * x) - d for x, d in kept))
        self._fitted = True

    def to_host_ms(self, device_us: int) -> float:
        """Host monotonic ms at which the device captured at `device_us` (ValueError before any frame)."""
        if self._x0 is None:
            raise ValueError("ClockMapper has no observation yet")
        x = device_us / 1000.0 - self._x0
        return self._host0 + x + self._intercept + self._slope * x

    def lag_ms(self, device_us: int, now_ms: float) -> float:
        """Host `now_ms` minus the mapped capture time of `device_us` (audio lag of that sample)."""
        return now_ms - self.to_host_ms(device_us)


def _least_squares(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through `points` (x spread must be > 0)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(d for _, d in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx <= 0:
        return 0.0, my
    sxy = sum((x - mx) * (d - my) for x, d in points)
    slope = sxy / sxx
    return slope, my - slope * mx
