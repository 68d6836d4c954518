"""`picomic listen`: stream from a board; live level meter, VAD and transcript, or JSON Lines (the main job)."""

from __future__ import annotations

import argparse
import sys

from picomic.bus.events import Event
from picomic.cli.common import (
    add_source_arguments,
    add_speech_arguments,
    check_source_args,
    exit_code,
    open_source,
    run_source,
    seconds_arg,
    speech_flag_advice,
    stt_settings,
    tcp_port,
)
from picomic.errors import ConfigError, OutputError
from picomic.outputs.metrics import MetricsServer
from picomic.outputs.recorder import JsonlWriter, Recorder, check_output_path
from picomic.outputs.view import LiveView, Meter, PlainView
from picomic.pipeline import Pipeline, RunResult

HELP = "stream from a board: live level meter, VAD and transcript (the main job)"
TRANSCRIPT_EVENT_TYPES = frozenset({"transcript", "revision", "vad", "discontinuity", "device", "end", "error"})


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    add_speech_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON Lines events on stdout instead of the live view")
    out.add_argument("--record", metavar="FILE", help="also record audio to FILE.wav or FILE.flac")
    out.add_argument("--transcript", metavar="FILE", help="also write transcript events to FILE.jsonl")
    out.add_argument("--seconds", type=seconds_arg, help="stop after this many seconds")
    out.add_argument("--metrics-port", type=tcp_port, metavar="N", help="serve Prometheus metrics on 127.0.0.1:N")
    out.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port [127.0.0.1]")


class JsonOutput:
    """JSON Lines of every event (or of a subset) to a writer."""

    def __init__(self, writer: JsonlWriter, types: frozenset[str] | None = None) -> None:
        self._writer = writer
        self._types = types

    def on_event(self, event: Event) -> None:
        if self._types is None or event.type in self._types:
            self._writer.write(event.to_json())

    def refresh(self) -> None:
        pass


def _add_speech_consumers(args: argparse.Namespace, pipeline: Pipeline) -> None:
    """VAD and STT as bus listeners (imported lazily: onnxruntime and CTranslate2 take a moment to load)."""
    from picomic.speech.stt import SttListener
    from picomic.speech.vad import VadListener, VadSettings

    stt: SttListener | None = None
    if not args.no_stt:
        with speech_flag_advice():
            stt = SttListener(pipeline.bus, stt_settings(args, args.partials), pipeline.emit, pipeline.status)
    if not args.no_vad:
        vad = VadListener(
            pipeline.bus, VadSettings(), pipeline.emit, pipeline.status, on_vad=stt.on_vad if stt else None
        )
        pipeline.add_consumer(vad)
    if stt is not None:
        pipeline.add_consumer(stt)


def run(args: argparse.Namespace) -> int:
    """Stream, show levels/VAD/transcripts live (or JSON Lines), optionally record; exit 0 at END."""
    if args.record == "-":
        raise ConfigError("listen --record - would mix raw audio into the view on stdout; use picomic record -")
    check_source_args(args)
    if args.record:
        check_output_path(args.record)
    pipeline = Pipeline()
    writers: list[JsonlWriter] = []
    metrics = _start_metrics(args, pipeline)  # a busy port fails before a model loads or a board starts
    try:
        if args.transcript:
            writers.append(JsonlWriter(args.transcript))
            pipeline.add_output(JsonOutput(writers[-1], TRANSCRIPT_EVENT_TYPES))
        if args.record:
            pipeline.add_consumer(
                Recorder(pipeline.bus, args.record, args.rate, 1, on_error=pipeline.fail, max_gap_s=args.max_gap)
            )
        _add_speech_consumers(args, pipeline)
        if args.json:
            writers.append(JsonlWriter(sys.stdout))
            pipeline.add_output(JsonOutput(writers[-1]))
            with open_source(args, pipeline) as source:
                result = run_source(args, pipeline, source)
        else:
            result = _run_with_view(args, pipeline)
    finally:
        if metrics is not None:
            metrics.close()
        _close_all(writers)
    return exit_code(result)


def _close_all(writers: list[JsonlWriter]) -> None:
    """Close every writer; the first one that fails (its last flush) is raised after all are closed."""
    failed: OutputError | None = None
    for writer in writers:
        try:
            writer.close()
        except OutputError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


def _run_with_view(args: argparse.Namespace, pipeline: Pipeline) -> RunResult:
    meter = Meter(pipeline.bus)
    pipeline.add_consumer(meter)
    view: LiveView | PlainView = LiveView(meter) if sys.stdout.isatty() else PlainView(meter, sys.stdout)
    pipeline.add_output(view)
    with view, open_source(args, pipeline) as source:
        return run_source(args, pipeline, source)


def _start_metrics(args: argparse.Namespace, pipeline: Pipeline) -> MetricsServer | None:
    if args.metrics_port is None:
        return None
    server = MetricsServer(pipeline.status, args.metrics_host, args.metrics_port)
    print(f"picomic: serving metrics on {server.url}", file=sys.stderr, flush=True)
    return server
