"""The 16 kHz audio ring of SttListener: recent audio addressed by timeline position, with capture times."""

from __future__ import annotations

import bisect

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ


class AudioRing:
    """16 kHz float32 audio of the recent stream, addressed by 16 kHz timeline position.

    Invariant: samples [base, end) are held; `anchors` maps positions to host capture times (ms).
    Only the SttListener thread touches it.
    """

    def __init__(self, capacity_samples: int = 30 * TARGET_RATE_HZ) -> None:
        self._buf = np.zeros(capacity_samples, np.float32)
        self._n = 0
        self.base = 0
        self._anchor_pos: list[int] = []
        self._anchor_ms: list[float] = []

    @property
    def end(self) -> int:
        return self.base + self._n

    def reset(self, position: int) -> None:
        self.base, self._n = position, 0
        self._anchor_pos.clear()
        self._anchor_ms.clear()

    def anchor(self, position: int, host_ms: float) -> None:
        """Record that the sample at `position` was captured at host time `host_ms` (positions ascend)."""
        self._anchor_pos.append(position)
        self._anchor_ms.append(host_ms)

    def append(self, audio: np.ndarray) -> None:
        need = self._n + len(audio)
        if need > len(self._buf):
            grown = np.zeros(max(need, 2 * len(self._buf)), np.float32)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : need] = audio
        self._n = need

    def slice(self, start: int, stop: int) -> np.ndarray:
        """A copy of [start, stop) clipped to what is held."""
        a, b = max(start, self.base) - self.base, min(stop, self.end) - self.base
        return self._buf[a:b].copy() if b > a else np.zeros(0, np.float32)

    def trim(self, keep_from: int, slack_samples: int = 2 * TARGET_RATE_HZ) -> None:
        """Forget samples before `keep_from` (lazily: only when more than `slack_samples` would go)."""
        drop = min(keep_from, self.end) - self.base
        if drop <= slack_samples:
            return
        self._buf[: self._n - drop] = self._buf[drop : self._n]
        self._n -= drop
        self.base += drop
        cut = max(0, bisect.bisect_right(self._anchor_pos, self.base) - 1)
        del self._anchor_pos[:cut], self._anchor_ms[:cut]

    def host_ms(self, position: int) -> float | None:
        """Host capture time of the sample at `position` (from the nearest anchor at or before it)."""
        i = bisect.bisect_right(self._anchor_pos, position) - 1
        if i < 0:
            return None
        return self._anchor_ms[i] + (position - self._anchor_pos[i]) * 1000.0 / TARGET_RATE_HZ

    def quietest(self, start: int, stop: int, span_samples: int = 3200) -> int:
        """Position of the quietest `span_samples` stretch in [start, stop) (a clean place to split)."""
        audio = self.slice(start, stop)
        if len(audio) <= span_samples:
            return stop
        energy = np.convolve(audio * audio, np.ones(span_samples, np.float32), mode="valid")
        return max(start, self.base) + int(np.argmin(energy)) + span_samples // 2
