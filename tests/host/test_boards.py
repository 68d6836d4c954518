"""BoardSet: several pipelines side by side; events tagged per board in the caller's thread, a board that fails
ends alone, an output that fails ends all, a stop ends all; metrics labelled per board."""

from __future__ import annotations

import threading
import urllib.request

import numpy as np
import pytest
from picomic.boards import Board, BoardSet
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import ErrorEvent, Event, StatusEvent, StreamEnd
from picomic.errors import LinkError, OutputError
from picomic.outputs.metrics import MetricsServer
from picomic.pipeline import Pipeline


class ScriptedSource:
    """Publishes n chunks (optionally forever until stopped), then END or a fatal error."""

    def __init__(self, pipeline: Pipeline, n: int, fail: bool = False, forever: bool = False) -> None:
        self.pipeline, self.n, self.fail, self.forever = pipeline, n, fail, forever
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while (i < self.n or self.forever) and not self.stopping.is_set():
            samples = np.zeros(160, dtype=np.int16)
            samples.flags.writeable = False
            self.pipeline.bus.publish(AudioChunk(i, 0.0, 16000, samples, stream_sample=i * 160))
            self.pipeline.status.add("frames")
            i += 1
            if self.forever:
                self.stopping.wait(0.001)
        if self.fail:
            self.pipeline.fail(LinkError("board vanished"))
        elif not self.forever:
            self.pipeline.emit(StreamEnd("signal_end"))

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(5)


class Collect:
    def __init__(self, fail_on: type | None = None) -> None:
        self.events: list[Event] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def on_event(self, event: Event) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and isinstance(event, self.fail_on):
            raise OSError(28, "No space left on device")
        self.events.append(event)

    def refresh(self) -> None:
        pass


def _board(board_id: str, index: int, out: Collect, **source: object) -> Board:
    pipeline = Pipeline()
    board = Board(board_id, index, pipeline, lambda: pipeline.run(ScriptedSource(pipeline, **source)))  # type: ignore[arg-type]
    board.outputs.append(out)
    return board


def test_each_board_ends_on_its_own_and_its_events_reach_its_outputs_in_the_callers_thread() -> None:
    outs = {"a": Collect(), "b": Collect()}
    boards = [_board("a", 0, outs["a"], n=300), _board("b", 1, outs["b"], n=50)]
    BoardSet(boards).run()
    assert [b.result.reason for b in boards if b.result] == ["end:signal_end", "end:signal_end"]
    for board_id, n in (("a", 300), ("b", 50)):
        statuses = [e for e in outs[board_id].events if isinstance(e, StatusEvent)]
        assert statuses[-1].fields["frames"] == n  # each board's own status, not a sum
        assert outs[board_id].threads == {threading.current_thread().name}


def test_a_failing_board_is_reported_and_the_others_stream_on() -> None:
    outs = {"ok": Collect(), "bad": Collect()}
    boards = [_board("ok", 0, outs["ok"], n=400), _board("bad", 1, outs["bad"], n=5, fail=True)]
    BoardSet(boards).run()
    ok, bad = boards
    assert ok.error is None and ok.result is not None and ok.result.reason == "end:signal_end"
    assert isinstance(bad.error, LinkError)
    assert any(
        isinstance(e, ErrorEvent) and "board bad stopped: board vanished" in e.message for e in outs["bad"].events
    )
    assert not any(isinstance(e, ErrorEvent) for e in outs["ok"].events)
    assert [e for e in outs["ok"].events if isinstance(e, StatusEvent)][-1].fields["frames"] == 400


def test_a_board_that_cannot_start_is_reported_alone() -> None:
    out_ok, out_bad = Collect(), Collect()
    ok = _board("ok", 0, out_ok, n=20)

    def cannot_start() -> None:
        raise LinkError("/dev/ttyACM9 not found")

    bad = Board("bad", 1, Pipeline(), cannot_start)  # type: ignore[arg-type]
    bad.outputs.append(out_bad)
    BoardSet([ok, bad]).run()
    assert ok.result is not None and isinstance(bad.error, LinkError)
    assert [e.message for e in out_bad.events if isinstance(e, ErrorEvent)] == [
        "board bad stopped: /dev/ttyACM9 not found"
    ]


def test_an_output_that_fails_ends_every_board_and_is_raised() -> None:
    endless = [
        _board("a", 0, Collect(fail_on=StatusEvent), n=0, forever=True),
        _board("b", 1, Collect(), n=0, forever=True),
    ]
    with pytest.raises(OutputError, match="No space left"):
        BoardSet(endless).run()
    assert all(b.result is not None and b.result.reason == "interrupted" for b in endless)


def test_interrupt_ends_every_board() -> None:
    boards = [_board(x, i, Collect(), n=0, forever=True) for i, x in enumerate("abc")]
    board_set = BoardSet(boards)
    assert not board_set.interrupt()  # nothing running yet
    threading.Timer(0.5, board_set.interrupt).start()
    board_set.run()
    assert [b.result.reason for b in boards if b.result] == ["interrupted"] * 3


def test_board_ids_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        BoardSet([_board("a", 0, Collect(), n=1), _board("a", 1, Collect(), n=1)])


def test_metrics_of_several_boards_carry_a_board_id_label() -> None:
    boards = [_board("kitchen", 0, Collect(), n=7), _board("hall", 1, Collect(), n=3)]
    boards[0].pipeline.bus.subscribe("slow", maxsize=2)
    server = MetricsServer({b.board_id: b.pipeline.status for b in boards}, "127.0.0.1", 0)
    try:
        BoardSet(boards).run()
        boards[1].pipeline.status.set("inference_time_ms", 420.0)
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.close()
    assert 'picomic_frames_total{board_id="kitchen"} 7.0' in body
    assert 'picomic_frames_total{board_id="hall"} 3.0' in body
    assert 'picomic_listener_dropped_total{board_id="kitchen",listener="slow"} 5.0' in body
    assert 'picomic_inference_time_ms_hist_count{board_id="hall"} 1.0' in body
    assert "picomic_frames_total 7.0" not in body  # no unlabelled series beside the labelled ones
