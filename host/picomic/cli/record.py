"""`picomic record`: audio only (no VAD/STT) to a WAV/FLAC file, or raw PCM on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from picomic.bus.events import Event
from picomic.cli.boards import fill_board_id
from picomic.cli.common import (
    add_source_arguments,
    check_source_args,
    exit_code,
    open_source,
    refuse_several_boards,
    run_source,
    seconds_arg,
)
from picomic.outputs.recorder import Recorder, check_output_path
from picomic.pipeline import Pipeline, RunResult

HELP = "record audio only (no VAD/STT) to a WAV/FLAC file, or - for raw PCM"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="FILE.wav, FILE.flac, or - for s16le PCM on stdout")
    p.add_argument("--seconds", type=seconds_arg, help="stop after this many seconds (default: until END or Ctrl-C)")
    add_source_arguments(p, default_sim="demo")


def run(args: argparse.Namespace) -> int:
    """Record only: WAV/FLAC/raw PCM, a progress line on stderr, exit 0 at END, --seconds or Ctrl-C."""
    refuse_several_boards(args, "record")
    fill_board_id(args, "out")
    check_output_path(args.out)
    check_source_args(args)
    pipeline = Pipeline()
    recorder = Recorder(pipeline.bus, args.out, args.rate, 1, on_error=pipeline.fail, max_gap_s=args.max_gap)
    pipeline.add_consumer(recorder)
    progress = RecordProgress(recorder, args.seconds)
    pipeline.add_output(progress)
    with open_source(args, pipeline) as source:
        result = run_source(args, pipeline, source)
    progress.done(result)
    return exit_code(result)


class RecordProgress:
    """A one-line progress display on stderr (only when stderr is a terminal), errors always."""

    def __init__(self, recorder: Recorder, seconds: float | None) -> None:
        self._recorder = recorder
        self._seconds = seconds
        self._tty = sys.stderr.isatty()

    def on_event(self, event: Event) -> None:
        if event.type in ("error", "discontinuity"):
            print(f"picomic: {json.dumps(event.to_json())}", file=sys.stderr)

    def refresh(self) -> None:
        if not self._tty:
            return
        done = self._recorder.seconds
        if self._seconds:
            width = 30
            fill = int(width * min(1.0, done / self._seconds))
            bar = "█" * fill + "·" * (width - fill)
            print(f"\rrecording {bar} {done:6.1f}/{self._seconds:.1f} s", end="", file=sys.stderr)
        else:
            print(f"\rrecording {done:8.1f} s", end="", file=sys.stderr)

    def done(self, result: RunResult) -> None:
        if self._tty:
            print(file=sys.stderr)
        f = self._recorder.file
        print(
            f"picomic: recorded {self._recorder.seconds:.2f} s to {f.path} "
            f"({f.gap_samples / f.rate_hz:.2f} s of lost audio filled with silence; ended: {result.reason})",
            file=sys.stderr,
        )
