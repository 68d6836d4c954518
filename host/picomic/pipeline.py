"""The pipeline: one source publishing on the bus, the consumers listening, one event loop in the caller's thread.

Threads: the source's reader (decode + publish), one thread per consumer (meter, recorder, VAD, STT) and the
caller's thread, which owns every output (view, JSON Lines, transcript file) so no output needs a lock.
Consumers report through `emit`, which only puts the event on a queue.

Ending: END from the device (or `--seconds`, or Ctrl-C) stops the source, closes the bus, lets each consumer
drain what it has, flushes STT (bounded), closes files and writes a last status event. Nothing captured is lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from picomic.bus.audiobus import AudioBus
from picomic.bus.events import ErrorEvent, Event, StatusEvent, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.errors import OutputError

log = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0
FLUSH_TIMEOUT_S = 30.0


class Source(Protocol):
    """What the pipeline needs from an audio source (SerialSource)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Consumer(Protocol):
    """A bus listener with its own thread; `finish` waits (bounded) until it has handled everything."""

    def start(self) -> None: ...
    def finish(self, timeout: float) -> None: ...


class Output(Protocol):
    """Something in the caller's thread that shows or stores events."""

    def on_event(self, event: Event) -> None: ...
    def refresh(self) -> None: ...


@dataclass
class RunResult:
    """How a pipeline run ended."""

    reason: str
    """`end:<device reason>`, `seconds`, `interrupted` or `error`."""
    seconds: float
    errors: list[str] = field(default_factory=list)


class Pipeline:
    """Wires a source, the bus, consumers and outputs, and runs until the stream ends."""

    def __init__(self, status: PipelineStatus | None = None) -> None:
        self.status = status or PipelineStatus()
        self.bus = AudioBus(self.status)
        self.events: queue.Queue[Event] = queue.Queue()
        self.consumers: list[Consumer] = []
        self.outputs: list[Output] = []
        self._fatal: BaseException | None = None
        self._lock = threading.Lock()
        self._phase = "idle"  # idle → starting → streaming → stopping → done
        self._interrupted = False

    def emit(self, event: Event) -> None:
        """Thread-safe, never blocks: hand an event to the caller's loop."""
        self.events.put(event)

    def fail(self, exc: BaseException) -> None:
        """A thread hit an error that ends the run; the loop re-raises it after a clean shutdown."""
        with self._lock:
            if self._fatal is None:
                self._fatal = exc

    def interrupt(self) -> bool:
        """Ask the run to end as Ctrl-C would; safe from a signal handler (it only sets a flag). True when the
        run takes it (it is streaming: it stops at its next poll, within 50 ms; or it is already shutting down,
        which then goes on undisturbed); False when nothing is streaming yet (the caller raises
        KeyboardInterrupt instead, which the handshake and a model load do stop for)."""
        if self._phase in ("streaming", "stopping"):
            self._interrupted = True
            return True
        return False

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)

    def add_output(self, output: Output) -> None:
        self.outputs.append(output)

    def run(
        self,
        source: Source,
        *,
        seconds: float | None = None,
        tick: Callable[[], None] | None = None,
        elapsed_s: Callable[[], float] | None = None,
    ) -> RunResult:
        """Start everything, loop until END / `seconds` / Ctrl-C, then shut down in order. `elapsed_s` measures
        `seconds` (default: wall time since start; an emulated board's stream time, since it runs slower than
        real time — then bounded at SLOWEST_CLOCK of real time)."""
        for consumer in self.consumers:
            consumer.start()
        started = time.monotonic()
        self._phase = "starting"
        try:
            source.start()
        except BaseException:
            self._shutdown(source, final_status=False)  # nothing streamed: no closing status to report
            raise
        reason = "error"
        try:
            self._phase = "streaming"
            reason = self._loop(started, seconds, tick, elapsed_s)
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            self._shutdown(source)
        if self._fatal is not None:
            raise self._fatal
        return RunResult(reason, time.monotonic() - started)

    def _loop(
        self,
        started: float,
        seconds: float | None,
        tick: Callable[[], None] | None,
        elapsed_s: Callable[[], float] | None,
    ) -> str:
        next_status = started
        while True:
            now = time.monotonic()
            if now >= next_status:
                self._dispatch(StatusEvent(self.status.snapshot()))
                next_status = now + STATUS_EVERY_S
            if seconds is not None and _elapsed(started, now, elapsed_s) >= seconds:
                return "seconds"
            if self._fatal is not None:
                return "error"
            if self._interrupted:
                return "interrupted"
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                event = None
            if event is not None:
                self._dispatch(event)
                if isinstance(event, StreamEnd):
                    return "end:" + event.reason
            if tick is not None:
                tick()
            self._refresh()

    def _dispatch(self, event: Event) -> None:
        for output in list(self.outputs):
            try:
                output.on_event(event)
            except Exception as exc:
                self._output_failed(output, exc)

    def _refresh(self) -> None:
        for output in list(self.outputs):
            try:
                output.refresh()
            except Exception as exc:
                self._output_failed(output, exc)

    def _output_failed(self, output: Output, exc: Exception) -> None:
        """An output that cannot write (a full disk, a closed pipe) is dropped and its error ends the run."""
        self.outputs.remove(output)
        self.fail(output_error(output, exc))

    def _drain_events(self) -> None:
        while True:
            try:
                self._dispatch(self.events.get_nowait())
            except queue.Empty:
                return

    def _shutdown(self, source: Source, final_status: bool = True) -> None:
        self._phase = "stopping"
        try:
            source.stop()
        except Exception as exc:  # stopping must not hide what ended the run
            self._dispatch(ErrorEvent(f"stopping the source: {exc}"))
        self.bus.close()
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        for consumer in self.consumers:
            try:
                consumer.finish(max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                self.fail(exc)
            self._drain_events()
        self._drain_events()
        if final_status:
            self._dispatch(StatusEvent(self.status.snapshot()))
        self._phase = "done"


def output_error(output: object, exc: Exception) -> Exception:
    """What an output's failure is to the user: an OSError becomes the one-line OutputError naming the output."""
    if isinstance(exc, OSError):
        name = getattr(output, "name", "stdout")
        return OutputError(f"cannot write {name}: {exc.strerror or exc}", errno=exc.errno)
    return exc


SLOWEST_CLOCK = 0.25
"""With a stream clock (`elapsed_s`), `seconds` also ends the run after seconds / SLOWEST_CLOCK of wall time."""


def _elapsed(started: float, now: float, elapsed_s: Callable[[], float] | None) -> float:
    if elapsed_s is None:
        return now - started
    return max(elapsed_s(), (now - started) * SLOWEST_CLOCK)
