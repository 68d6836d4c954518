"""`picomic listen` with several boards: `--port A --port B`, `--sim a.wav --sim b.wav`, or `--all`.

One pipeline per board (its own bus, status, meter, recorder, VAD and STT), one speech model and one decode pool
shared by all (the model loads once; the boards' decodes take turns, `picomic.speech.worker.DecodePool`), one
event loop in this thread for every output (`picomic.boards.BoardSet`). Every event, on stdout and in the
transcript files, carries `board_id`; every metric has a `board_id` label; the view shows a row per board.
A board that fails ends alone (reported with its id); the exit status is then that of its error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from picomic.boards import Board, BoardSet
from picomic.cli.boards import BoardSpec, board_source, board_specs, check_per_board_path, per_board_path
from picomic.cli.common import RUNNING, check_source_args, flag_hint, run_source
from picomic.cli.speechopts import speech_flag_advice, stt_settings
from picomic.cli.webopts import web_view
from picomic.errors import PicomicError
from picomic.outputs.boardsview import BoardsView
from picomic.outputs.eventlines import TRANSCRIPT_EVENT_TYPES, JsonOutput, close_all
from picomic.outputs.metrics import MetricsServer
from picomic.outputs.recorder import JsonlWriter, Recorder, check_output_path
from picomic.outputs.view import Meter
from picomic.pipeline import Pipeline, RunResult

SpeechSetup = Callable[[argparse.Namespace, Pipeline, Any, Any], None]
"""listen's `_add_speech_consumers(args, pipeline, model, pool)`: VAD and STT on one board's bus."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument_group("several boards").add_argument(
        "--all",
        action="store_true",
        help="every attached board (as picomic devices lists them, simulated boards included); "
        "with several boards --record/--transcript paths need {board_id}",
    )


def run(args: argparse.Namespace, add_speech: SpeechSetup) -> int:
    """Stream from every board named; exit 0 when each ended cleanly, else the first failed board's status."""
    check_source_args(args)
    check_per_board_path(args.record, "--record")
    check_per_board_path(args.transcript, "--transcript")
    specs = board_specs(args)
    for spec in specs:
        if args.record:
            check_output_path(per_board_path(args.record, spec.board_id) or "")
    writers: list[JsonlWriter] = []
    pipelines = [Pipeline() for _ in specs]
    with contextlib.ExitStack() as stack:
        stack.callback(close_all, writers)
        _start_metrics(args, specs, pipelines, stack)  # a busy port fails before a model loads or a board starts
        model, pool = _shared_speech(args, stack)
        view = BoardsView(sys.stdout, live=sys.stdout.isatty()) if not args.json else None
        stdout = JsonlWriter(sys.stdout) if args.json else None
        if stdout is not None:
            writers.append(stdout)
        boards = [
            _board(args, spec, pipeline, add_speech, (model, pool), view, stdout, writers)
            for spec, pipeline in zip(specs, pipelines, strict=True)
        ]
        stack.enter_context(web_view(args, [(b.pipeline, b.board_id) for b in boards]))
        board_set = BoardSet(boards, shared=[view] if view is not None else [])
        with view or contextlib.nullcontext(), running(board_set):
            board_set.run()
    return report(boards)


def _shared_speech(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[Any, Any]:
    """The model (loaded once) and the decode pool every board's STT shares; (None, None) with --no-stt. With
    a remote speech server (--asr-uri) the local model loads only as its --asr-fallback."""
    if args.no_stt:
        return None, None
    remote_only = getattr(args, "asr_uri", None) is not None and not getattr(args, "asr_fallback", False)
    from picomic.speech.stt import load_model
    from picomic.speech.worker import DecodePool

    model = None
    if not remote_only:
        with speech_flag_advice():
            model = load_model(stt_settings(args, args.partials))
    pool = DecodePool()
    stack.callback(pool.close, 2.0)
    return model, pool


def _board(
    args: argparse.Namespace,
    spec: BoardSpec,
    pipeline: Pipeline,
    add_speech: SpeechSetup,
    speech: tuple[Any, Any],
    view: BoardsView | None,
    stdout: JsonlWriter | None,
    writers: list[JsonlWriter],
) -> Board:
    """One board's consumers on its pipeline (recorder, speech with the shared model and pool, meter) and the
    outputs of its events."""
    board = Board(spec.board_id, spec.index, pipeline, lambda: stream_board(args, spec, pipeline))
    record = per_board_path(args.record, spec.board_id)
    if record:
        pipeline.add_consumer(
            Recorder(pipeline.bus, record, args.rate, 1, on_error=pipeline.fail, max_gap_s=args.max_gap)
        )
    add_speech(args, pipeline, *speech)
    transcript = per_board_path(args.transcript, spec.board_id)
    if transcript:
        writers.append(JsonlWriter(transcript))
        board.outputs.append(JsonOutput(writers[-1], TRANSCRIPT_EVENT_TYPES, spec.board_id))
    if stdout is not None:
        board.outputs.append(JsonOutput(stdout, None, spec.board_id))
    if view is not None:
        meter = Meter(pipeline.bus)
        pipeline.add_consumer(meter)
        board.outputs.append(view.row(spec.board_id, meter))
    return board


def stream_board(args: argparse.Namespace, spec: BoardSpec, pipeline: Pipeline) -> RunResult:
    """One board's stream (in its thread): its source opened, the pipeline run on it, the source closed."""
    with board_source(args, spec, pipeline) as source:
        return run_source(args, pipeline, source)


def _start_metrics(
    args: argparse.Namespace, specs: list[BoardSpec], pipelines: list[Pipeline], stack: contextlib.ExitStack
) -> None:
    if args.metrics_port is None:
        return
    statuses = {spec.board_id: p.status for spec, p in zip(specs, pipelines, strict=True)}
    server = MetricsServer(statuses, args.metrics_host, args.metrics_port)
    stack.callback(server.close)
    print(f"picomic: serving metrics on {server.url}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def running(board_set: BoardSet) -> Iterator[None]:
    """A stop signal ends every board (`picomic.cli` asks what is in RUNNING)."""
    RUNNING.append(board_set)
    try:
        yield
    finally:
        RUNNING.remove(board_set)


def report(boards: list[Board]) -> int:
    """One line per failed board on stderr; the exit status of the first failure (1 for a non-picomic one)."""
    failed = [b for b in boards if b.error is not None or (b.result is not None and b.result.reason == "error")]
    for b in failed:
        why = flag_hint(b.error) if isinstance(b.error, PicomicError) else str(b.error or "stream error")
        print(f"picomic: board {b.board_id}: {why}", file=sys.stderr)
    if not failed:
        return 0
    first = failed[0].error
    return first.exit_code if isinstance(first, PicomicError) else 1
