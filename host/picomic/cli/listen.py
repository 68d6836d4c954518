"""`picomic listen`: stream from a board; live level meter, VAD and transcript, or JSON Lines (the main job)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from picomic.bus.audiobus import RAW_STREAM
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
from picomic.cli.stageopts import add_pipeline_stages, add_stage_arguments, processors
from picomic.cli.voice import add_voice_arguments, check_voice_args, remote_transcriber, voice_stt_settings, wake_gate
from picomic.errors import ConfigError, OutputError
from picomic.outputs.metrics import MetricsServer
from picomic.outputs.recorder import JsonlWriter, Recorder, check_output_path
from picomic.outputs.view import LiveView, Meter, PlainView
from picomic.pipeline import Pipeline, RunResult
from picomic.web import DEFAULT_PORT as DEFAULT_WEB_PORT

if TYPE_CHECKING:
    from picomic.web.live import WebView

HELP = "stream from a board: live level meter, VAD and transcript (the main job)"
TRANSCRIPT_EVENT_TYPES = frozenset({"transcript", "vad", "discontinuity", "device", "end", "error"})


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
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
    out.add_argument("--web", nargs="?", type=tcp_port, const=DEFAULT_WEB_PORT, metavar="PORT",
                     help=f"live web view: waveform, spectrogram, levels, text [{DEFAULT_WEB_PORT}]")  # fmt: skip
    out.add_argument("--web-host", default="127.0.0.1",
                     help="address for --web [127.0.0.1]; any other address requires the printed token")  # fmt: skip


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


def _add_speech_consumers(args: argparse.Namespace, pipeline: Pipeline, stream: str) -> None:
    """VAD and STT as bus listeners (imported lazily: onnxruntime and CTranslate2 take a moment to load)."""
    from picomic.speech.stt import SttListener
    from picomic.speech.vad import VadListener, VadSettings

    stt: SttListener | None = None
    if not args.no_stt:
        settings = voice_stt_settings(args, stt_settings(args, args.partials))
        with speech_flag_advice():
            transcriber = remote_transcriber(args, pipeline, settings)
            stt = SttListener(
                pipeline.bus, settings, pipeline.emit, pipeline.status, transcriber=transcriber, stream=stream
            )
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


def run(args: argparse.Namespace) -> int:
    """Stream, show levels/VAD/transcripts live (or JSON Lines), optionally record; exit 0 at END."""
    if args.record == "-":
        raise ConfigError("listen --record - would mix raw audio into the view on stdout; use picomic record -")
    check_source_args(args)
    check_voice_args(args)
    if args.record:
        check_output_path(args.record)
    chain = processors(args)
    pipeline = Pipeline()
    writers: list[JsonlWriter] = []
    metrics = _start_metrics(args, pipeline)  # a busy port fails before a model loads or a board starts
    web: WebView | None = None
    try:
        web = _start_web(args, pipeline)
        if args.transcript:
            writers.append(JsonlWriter(args.transcript))
            pipeline.add_output(JsonOutput(writers[-1], TRANSCRIPT_EVENT_TYPES))
        speech = add_pipeline_stages(args, pipeline, chain)  # first: stages finish before their listeners
        if args.record:
            rate = args.rate if args.record_stream == RAW_STREAM else 16000  # a stage's stream is 16 kHz
            pipeline.add_consumer(Recorder(pipeline.bus, args.record, rate, 1, on_error=pipeline.fail,
                                           max_gap_s=args.max_gap, stream=args.record_stream))  # fmt: skip
        _add_speech_consumers(args, pipeline, speech)
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


def _start_web(args: argparse.Namespace, pipeline: Pipeline) -> WebView | None:
    if args.web is None:
        return None
    from picomic.web.live import WebView  # aiohttp loads only when asked for
    from picomic.web.server import WebSettings

    view = WebView(WebSettings(host=args.web_host, port=args.web))
    view.attach(pipeline)
    print(f"picomic: web view on {view.url}", file=sys.stderr, flush=True)
    return view
