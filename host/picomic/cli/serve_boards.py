"""`picomic serve` with several boards (`--sim a --sim b`, `--port A --port B`, `--all`): one pipeline per board
with its own mic and satellite services, their ports counting up from the base ports (board 0 on the port given,
board 1 on the next, ...; 0 stays "a free port"), and one ASR and one wake-word service for all (they hear their
clients' audio, not a board's). Zeroconf names get the board id from the second board on (DECISIONS 44)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from picomic.boards import Board, BoardSet
from picomic.cli.boards import BoardSpec, board_specs
from picomic.cli.listen_boards import report, running, stream_board
from picomic.cli.speechopts import speech_flag_advice
from picomic.cli.webopts import web_view
from picomic.outputs.eventlines import JsonOutput
from picomic.outputs.metrics import MetricsServer, ServiceCollector
from picomic.outputs.recorder import JsonlWriter
from picomic.pipeline import Output, Pipeline

if TYPE_CHECKING:
    from picomic.wyoming.app import ServeOptions
    from picomic.wyoming.runner import ServiceRunner

def board_options(opts: ServeOptions, spec: BoardSpec) -> ServeOptions:
    """`opts` for board `spec`: its mic/satellite ports the base + its index, the shared services on board 0 only."""
    mic, satellite = _offset(opts.mic_port, spec.index), _offset(opts.satellite_port, spec.index)
    if spec.index == 0:
        return replace(opts, mic_port=mic, satellite_port=satellite)
    name = f"{opts.zeroconf_name}-{spec.board_id}" if opts.zeroconf_name is not None else None
    return replace(opts, mic_port=mic, satellite_port=satellite, asr_port=None, wake_port=None, zeroconf_name=name)


def _offset(port: int | None, index: int) -> int | None:
    return port if port is None or port == 0 else port + index


def serve_boards(args: argparse.Namespace, opts: ServeOptions, error_output: Callable[[], Output]) -> int:
    """Serve every board the arguments name until each has ended (or a stop signal); the first failure's status."""
    from picomic.wyoming.app import build_services

    specs = board_specs(args)
    pipelines = [Pipeline() for _ in specs]
    with speech_flag_advice():
        runners = [
            build_services(board_options(opts, spec), p.bus, p.emit, board_id=spec.board_id)
            for spec, p in zip(specs, pipelines, strict=True)
        ]
    writer = JsonlWriter(sys.stdout) if args.json else None
    boards = [_board(args, spec, p, writer, error_output) for spec, p in zip(specs, pipelines, strict=True)]
    with contextlib.ExitStack() as stack:
        if writer is not None:
            stack.callback(writer.close)
        for spec, runner in zip(specs, runners, strict=True):
            stack.callback(stop_services, runner, spec.board_id)
            start_services(runner, spec.board_id)
        _start_metrics(args, specs, pipelines, runners, stack)
        stack.enter_context(web_view(args, [(b.pipeline, b.board_id) for b in boards]))
        board_set = BoardSet(boards)
        with running(board_set):
            board_set.run()
    return report(boards)


def _board(
    args: argparse.Namespace,
    spec: BoardSpec,
    pipeline: Pipeline,
    writer: JsonlWriter | None,
    error_output: Callable[[], Output],
) -> Board:
    board = Board(spec.board_id, spec.index, pipeline, lambda: stream_board(args, spec, pipeline))
    board.outputs.append(JsonOutput(writer, None, spec.board_id) if writer is not None else error_output())
    return board


def start_services(runner: ServiceRunner, board_id: str = "") -> None:
    """Bind the runner's services and say where, one stderr line each (`of BOARD` with several boards)."""
    runner.start()
    of = f" of {board_id}" if board_id else ""
    for service in runner.services:
        print(f"picomic: Wyoming {service.name}{of} on {service.uri}", file=sys.stderr, flush=True)


def stop_services(runner: ServiceRunner, board_id: str = "") -> None:
    """Stop the runner's services and print their counters, one stderr line each."""
    runner.stop()
    of = f" of {board_id}" if board_id else ""
    for name, stats in runner.snapshot().items():
        line = " ".join(f"{k}={v}" for k, v in stats.items())
        print(f"picomic: Wyoming {name}{of}: {line}", file=sys.stderr)


def _start_metrics(
    args: argparse.Namespace,
    specs: list[BoardSpec],
    pipelines: list[Pipeline],
    runners: list[ServiceRunner],
    stack: contextlib.ExitStack,
) -> None:
    if args.metrics_port is None:
        return
    statuses = {spec.board_id: p.status for spec, p in zip(specs, pipelines, strict=True)}
    server = MetricsServer(statuses, args.metrics_host, args.metrics_port)
    stack.callback(server.close)

    def snapshot() -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for spec, runner in zip(specs, runners, strict=True):
            out.update({f"{name}:{spec.board_id}": stats for name, stats in runner.snapshot().items()})
        return out

    server.registry.register(ServiceCollector("wyoming", snapshot))
    print(f"picomic: serving metrics on {server.url}", file=sys.stderr, flush=True)
