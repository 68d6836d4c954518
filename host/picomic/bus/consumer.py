"""A bus consumer served by one thread of its own: the pipeline's consumer protocol (start, then finish)."""

from __future__ import annotations

import threading


class ConsumerThread:
    """A bus consumer served by one daemon thread (the pipeline's consumer protocol: start, then finish).

    Subclasses implement `_run()`: receive from their listener until it returns None (bus closed and
    drained), then flush. `finish(timeout)` waits, bounded, for that to happen."""

    def __init__(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=f"picomic-{name}", daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to finish (after the bus closed); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def finish(self, timeout: float) -> None:
        """After the bus closed: wait (bounded) until everything queued has been handled."""
        self.join(timeout)
