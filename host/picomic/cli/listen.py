"""`picomic listen`: stream from a board; live level meter, VAD and transcript, or JSON Lines (the main job)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from picomic.bus.audiobus import RAW_STREAM
from picomic.cli import listen_boards
from picomic.cli.boards import fill_board_id
from picomic.cli.common import (
    add_source_arguments,
    board_count,
    check_source_args,
    exit_code,
    open_source,
    run_source,
    seconds_arg,
    tcp_port,
)
from picomic.cli.speechopts import add_speech_arguments, speech_flag_advice, stt_settings
from picomic.cli.stageopts import add_pipeline_stages, add_stage_arguments, processors
from picomic.cli.voice import add_voice_arguments, check_voice_args, remote_transcriber, voice_stt_settings, wake_gate
from picomic.cli.webopts import add_web_arguments, start_web
from picomic.errors import ConfigError
from picomic.outputs.eventlines import TRANSCRIPT_EVENT_TYPES, JsonOutput
from picomic.outputs.eventlines import close_all as _close_all
from picomic.outputs.metrics import MetricsServer
from picomic.outputs.recorder import JsonlWriter, Recorder, check_output_path
from picomic.outputs.view import LiveView, Meter, PlainView
from picomic.pipeline import Pipeline, RunResult

if TYPE_CHECKING:
    from picomic.speech.worker import DecodePool
    from picomic.web.live import WebView

HELP = "stream from a board: live level meter, VAD and transcript (the main job)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    listen_boards.add_arguments(p)
    add_speech_arguments(p)
    add_voice_arguments(p)
    add_stage_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON Lines events on stdout instead of the live view")
    out.add_argument("--record", metavar="FILE", help="also record audio to FILE.wav or FILE.flac")
    out.add_argument("--transcript", metavar="FILE", help="also write transcript events to FILE.jsonl")
    out.add_argument("--seconds", type=seconds_arg, help="stop after this many seconds")
    out.add_argument("--metrics-port", type=tcp_port, metavar="N", help="serve Prometheus metrics on 127.0.0.1:N")
    out.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port [127.0.0.1]")
    add_web_arguments(out)


def _add_speech_consumers(
    args: argparse.Namespace,
    pipeline: Pipeline,
    model: Any = None,
    pool: DecodePool | None = None,
    stream: str = RAW_STREAM,
) -> None:
    """VAD and STT as bus listeners on `stream` (imported lazily: onnxruntime and CTranslate2 take a moment to
    load); `model` and `pool`: the model and decode threads several boards share (listen_boards)."""
    from picomic.speech.stt import SttListener
    from picomic.speech.vad import VadListener, VadSettings

    stt: SttListener | None = None
    if not args.no_stt:
        settings = voice_stt_settings(args, stt_settings(args, args.partials))
        with speech_flag_advice():
            transcriber = remote_transcriber(args, pipeline, settings)
            stt = SttListener(
                pipeline.bus, settings, pipeline.emit, pipeline.status,
                transcriber=transcriber, stream=stream, model=model, pool=pool,
            )  # fmt: skip
    if not args.no_vad:
        vad = VadListener(
            pipeline.bus,
            VadSettings(),
            pipeline.emit,
            pipeline.status,
            on_vad=wake_gate(args, pipeline, stt, stream),
            stream=stream,
        )
        pipeline.add_consumer(vad)
    if stt is not None:
        pipeline.add_consumer(stt)


def _add_board_speech(args: argparse.Namespace, pipeline: Pipeline, model: Any, pool: DecodePool | None) -> None:
    """One board's stages, VAD and STT, with the shared model and pool (several boards)."""
    stream = add_pipeline_stages(args, pipeline, processors(args))
    _add_speech_consumers(args, pipeline, model, pool, stream)


def run(args: argparse.Namespace) -> int:
    """Stream, show levels/VAD/transcripts live (or JSON Lines), optionally record; exit 0 at END."""
    if args.record == "-":
        raise ConfigError("listen --record - would mix raw audio into the view on stdout; use picomic record -")
    check_voice_args(args)
    if board_count(args) != 1:
        return listen_boards.run(args, _add_board_speech)
    check_source_args(args)
    fill_board_id(args, "record", "transcript")
    if args.record:
        check_output_path(args.record)
    chain = processors(args)
    pipeline = Pipeline()
    writers: list[JsonlWriter] = []
    metrics = _start_metrics(args, pipeline)  # a busy port fails before a model loads or a board starts
    web: WebView | None = None
    try:
        web = start_web(args, [])  # bound now: a busy port fails before a model loads
        if args.transcript:
            writers.append(JsonlWriter(args.transcript))
            pipeline.add_output(JsonOutput(writers[-1], TRANSCRIPT_EVENT_TYPES))
        speech = add_pipeline_stages(args, pipeline, chain)  # first: stages finish before their listeners
        if web is not None:
            web.attach(pipeline, "", args.meter_stream or speech)  # the stream the meter shows
        if args.record:
            rate = args.rate if args.record_stream == RAW_STREAM else 16000  # a stage's stream is 16 kHz
            pipeline.add_consumer(Recorder(pipeline.bus, args.record, rate, 1, on_error=pipeline.fail,
                                           max_gap_s=args.max_gap, stream=args.record_stream))  # fmt: skip
        _add_speech_consumers(args, pipeline, stream=speech)
        if args.json:
            writers.append(JsonlWriter(sys.stdout))
            pipeline.add_output(JsonOutput(writers[-1]))
            with open_source(args, pipeline) as source:
                result = run_source(args, pipeline, source)
        else:
            result = _run_with_view(args, pipeline, args.meter_stream or speech)
    finally:
        if metrics is not None:
            metrics.close()
        if web is not None:
            web.close()
        _close_all(writers)
    return exit_code(result)


def _run_with_view(args: argparse.Namespace, pipeline: Pipeline, stream: str) -> RunResult:
    meter = Meter(pipeline.bus, stream)
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
