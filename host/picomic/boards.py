"""Several boards at once: one Pipeline per board (its own source, bus, status and consumers), side by side.

Threads: each board runs its Pipeline in a thread of its own (`picomic-board-<id>`), which opens the board's
source, streams and shuts down exactly as a one-board run does. Every event a board's pipeline dispatches is
handed, tagged with the board's id, to the caller's thread, which owns every output (JSON Lines on stdout, the
live view, the per-board files), so no output needs a lock. What the boards share (one speech model and one
decode pool, `picomic.speech.worker.DecodePool`) is set up by the caller.

Ending: a board ends alone: END from its device, `seconds`, or an error (it could not start, or its source or
one of its consumers failed). Its error is reported as an `error` event with its id and the other boards
stream on. The run ends when every board has ended; a stop signal (`interrupt`) ends every board, each shutting
down in order; an output that fails ends every board too, and its error is raised once all have shut down.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from picomic.bus.events import ErrorEvent, Event
from picomic.pipeline import Output, Pipeline, RunResult, output_error

POLL_S = 0.05
JOIN_TIMEOUT_S = 60.0
"""A board's thread is given this long to shut down after the run ends (its pipeline bounds each step)."""


class Refreshing(Protocol):
    """What is refreshed beside the boards' outputs (a view whose rows are those outputs)."""

    def refresh(self) -> None: ...


@dataclass(eq=False)
class Board:
    """One board of a run: its id, its own pipeline, how it streams, and the outputs its events go to."""

    board_id: str
    """Stable and unique within the run (docs/events.md: "Several boards")."""
    index: int
    """Its place in the run, from 0 (services that count ports up from a base port add it)."""
    pipeline: Pipeline
    stream: Callable[[], RunResult]
    """Opens the board's source and runs `pipeline` on it until the stream ends (in the board's thread)."""
    outputs: list[Output] = field(default_factory=list)
    """Outputs for this board's events, called in the caller's thread."""
    result: RunResult | None = None
    error: BaseException | None = None
    """What ended the board, when it failed."""


class _Forward:
    """The only output of a board's pipeline: each event goes, tagged, to the caller's thread."""

    def __init__(self, board_id: str, into: queue.Queue[tuple[str, Event]]) -> None:
        self._board_id, self._into = board_id, into

    def on_event(self, event: Event) -> None:
        self._into.put((self._board_id, event))

    def refresh(self) -> None:
        pass


class BoardSet:
    """Runs several boards, each in its own thread, and their outputs in the caller's thread."""

    def __init__(self, boards: Sequence[Board], shared: Sequence[Refreshing] = ()) -> None:
        ids = [b.board_id for b in boards]
        if len(set(ids)) != len(ids):
            raise ValueError(f"board ids must be unique within a run, got {ids}")
        self.boards = list(boards)
        self._shared = list(shared)  # outputs refreshed with the others (a view whose rows are board outputs)
        self._events: queue.Queue[tuple[str, Event]] = queue.Queue()
        self._by_id = {b.board_id: b for b in self.boards}
        self._stopping = False
        self._running = False
        self._output_failure: Exception | None = None
        for board in self.boards:
            board.pipeline.add_output(_Forward(board.board_id, self._events))

    def interrupt(self) -> bool:
        """Ask every board to end as Ctrl-C would; safe from a signal handler (it sets flags). True while the
        run is on (boards still starting are asked again at each poll until they take it)."""
        if not self._running:
            return False
        self._stopping = True
        for board in self.boards:
            board.pipeline.interrupt()
        return True

    def run(self) -> list[Board]:
        """Stream from every board until each has ended; the boards, with their `result` or `error`."""
        threads = [
            threading.Thread(target=self._serve, args=(b,), name=f"picomic-board-{b.board_id}", daemon=True)
            for b in self.boards
        ]
        self._running = True
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                if self._stopping:
                    self.interrupt()
                self._pump(POLL_S)
        finally:
            self.interrupt()
            for thread in threads:
                thread.join(JOIN_TIMEOUT_S)
            self._running = False
            self._pump(0.0)
        if self._output_failure is not None:
            raise self._output_failure
        return self.boards

    def _serve(self, board: Board) -> None:
        """A board's thread: stream; a failure is that board's alone (reported, the others go on)."""
        try:
            board.result = board.stream()
        except Exception as exc:
            board.error = exc
            self._events.put((board.board_id, ErrorEvent(f"board {board.board_id} stopped: {exc}")))

    def _pump(self, timeout: float) -> None:
        """Dispatch what the boards sent (waiting up to `timeout` for the first), then refresh every output."""
        try:
            item: tuple[str, Event] | None = self._events.get(timeout=timeout) if timeout else None
        except queue.Empty:
            item = None
        while True:
            if item is not None:
                self._dispatch(*item)
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
        for board in self.boards:
            for output in list(board.outputs):
                self._call(board.outputs, output, lambda o: o.refresh())
        for shared in list(self._shared):
            self._call(self._shared, shared, lambda o: o.refresh())

    def _dispatch(self, board_id: str, event: Event) -> None:
        board = self._by_id[board_id]
        for output in list(board.outputs):
            self._call(board.outputs, output, lambda o: o.on_event(event))

    def _call(self, owner: list[Any], output: Any, action: Callable[[Any], None]) -> None:
        """An output that cannot write is dropped and ends the run (every board), as in a one-board run."""
        try:
            action(output)
        except Exception as exc:
            owner.remove(output)
            if self._output_failure is None:
                self._output_failure = output_error(output, exc)
            self._stopping = True
