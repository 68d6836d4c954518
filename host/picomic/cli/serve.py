"""`picomic serve`: Wyoming services for Home Assistant and other voice stacks (picomic.wyoming).

The board's mic service (`--mic-port`), an ASR service (`--asr-port`), a wake-word service (`--wake-port`) and
the satellite role (`--satellite-port`; `picomic satellite` is serve with it on 10700). A service runs when its
port is given (0: a free one). A board is streamed only when the mic or the satellite serves it. Settings also
come from `--config FILE.toml` (the flags without `--`; a flag given wins). See docs/wyoming.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from picomic.bus.events import ErrorEvent, Event
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
from picomic.cli.config import apply_config, settable_actions
from picomic.cli.serve_boards import serve_boards, start_services, stop_services
from picomic.cli.speechopts import speech_flag_advice
from picomic.cli.voice import require_wyoming
from picomic.cli.webopts import add_web_arguments, web_view
from picomic.errors import ConfigError
from picomic.outputs.eventlines import JsonOutput
from picomic.outputs.metrics import MetricsServer, ServiceCollector
from picomic.outputs.recorder import JsonlWriter
from picomic.pipeline import Pipeline

if TYPE_CHECKING:
    from picomic.wyoming.app import ServeOptions

HELP = "serve the board (and picomic's speech-to-text, wake word) over Wyoming, for Home Assistant"
DESCRIPTION = __doc__
SATELLITE_PORT = 10700
_ACTIONS: dict[str, argparse.Action] = {}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    w = p.add_argument_group("Wyoming services (each runs when its port is given; 0 picks a free port)")
    w.add_argument("--config", metavar="FILE", help="TOML file with these settings (flags without --)")
    w.add_argument("--mic-port", type=tcp_port, metavar="N", help="the board's audio (16 kHz 16-bit mono)")
    w.add_argument("--asr-port", type=tcp_port, metavar="N", help="speech-to-text (picomic's VAD + Whisper)")
    w.add_argument("--wake-port", type=tcp_port, metavar="N", help="wake-word detection (--wake-word)")
    w.add_argument("--satellite-port", type=tcp_port, metavar="N", help="the satellite Home Assistant adds")
    w.add_argument("--wake-word", default="okay_nabu", metavar="NAME", help="wake-word model [okay_nabu]")
    w.add_argument("--satellite-mode", choices=("wake", "always"), default="wake",
                   help="stream after the local wake word, or always (Home Assistant's wake word) [wake]")  # fmt: skip
    w.add_argument("--area", help="the satellite's area in Home Assistant")
    w.add_argument("--model", help="faster-whisper model of the ASR service [tiny.en, offline]")
    w.add_argument("--language", help="language code for multilingual models")
    n = p.add_argument_group("network")
    n.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1]")
    n.add_argument("--allow", action="append", metavar="CIDR",
                   help="client network allowed to connect (repeatable; needed unless --host is loopback)")  # fmt: skip
    n.add_argument("--zeroconf", metavar="NAME", help="announce the services as _wyoming._tcp (NAME-mic, ...)")
    n.add_argument("--max-clients", type=int, default=16, metavar="N", help="connections per service [16]")
    n.add_argument("--max-payload", type=int, default=1024 * 1024, metavar="BYTES",
                   help="largest event payload a client may send [1048576]")  # fmt: skip
    n.add_argument("--max-audio", type=seconds_arg, default=60.0, metavar="S",
                   help="longest audio of one ASR request [60]")  # fmt: skip
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON Lines events on stdout")
    out.add_argument("--seconds", type=seconds_arg, help="stop after this many seconds")
    out.add_argument("--metrics-port", type=tcp_port, metavar="N",
                     help="Prometheus metrics (board and service counters) on --metrics-host:N")  # fmt: skip
    out.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port [127.0.0.1]")
    add_web_arguments(out)
    _ACTIONS.update(settable_actions(p))


def run(args: argparse.Namespace) -> int:
    """Bind the services, stream the board when a service needs it, serve until END / --seconds / a signal."""
    require_wyoming()
    from picomic.wyoming.app import build_services

    if args.config:
        apply_config(args, _ACTIONS, args.config)
    if getattr(args, "role", None) == "satellite" and args.satellite_port is None:
        args.satellite_port = SATELLITE_PORT
    if all(getattr(args, f"{s}_port") is None for s in ("mic", "asr", "wake", "satellite")):
        raise ConfigError("nothing to serve: give --mic-port, --asr-port, --wake-port or --satellite-port")
    streams = args.mic_port is not None or args.satellite_port is not None
    if streams:
        check_source_args(args)
        if board_count(args) != 1:
            return serve_boards(args, _options(args), _ErrorLines)
    pipeline = Pipeline()
    with speech_flag_advice():
        runner = build_services(_options(args), pipeline.bus, pipeline.emit, board_id=_board_id(args))
    writer = JsonlWriter(sys.stdout) if args.json else None
    pipeline.add_output(JsonOutput(writer) if writer else _ErrorLines())
    metrics = None
    try:
        start_services(runner)
        metrics = _start_metrics(args, pipeline, runner.snapshot)
        if not streams:
            return _serve_without_board(args)
        with web_view(args, [(pipeline, "")]), open_source(args, pipeline) as source:
            return exit_code(run_source(args, pipeline, source))
    finally:
        if metrics is not None:
            metrics.close()
        stop_services(runner)
        if writer is not None:
            writer.close()


def _options(args: argparse.Namespace) -> ServeOptions:
    from picomic.wyoming.app import options

    return options(
        ports={s: getattr(args, f"{s}_port") for s in ("mic", "asr", "wake", "satellite")},
        host=args.host,
        allow=args.allow,
        wake_word=args.wake_word,
        satellite_mode=args.satellite_mode,
        area=args.area,
        model=args.model,
        language=args.language,
        max_clients=args.max_clients,
        max_payload_bytes=args.max_payload,
        max_audio_s=args.max_audio,
        zeroconf_name=args.zeroconf,
    )


def _start_metrics(
    args: argparse.Namespace, pipeline: Pipeline, snapshot: Callable[[], dict[str, dict[str, int]]]
) -> MetricsServer | None:
    if args.metrics_port is None:
        return None
    metrics = MetricsServer(pipeline.status, args.metrics_host, args.metrics_port)
    metrics.registry.register(ServiceCollector("wyoming", snapshot))
    print(f"picomic: serving metrics on {metrics.url}", file=sys.stderr, flush=True)
    return metrics


def _serve_without_board(args: argparse.Namespace) -> int:
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.1)  # Ctrl-C / SIGTERM raise KeyboardInterrupt here (picomic.cli's handler)
    return 0


def _board_id(args: argparse.Namespace) -> str:
    if args.sim is not None:
        return "sim"
    return str(args.serial or args.port).rsplit("/", 1)[-1]


class _ErrorLines:
    """Without --json: errors as `picomic: ...` lines on stderr."""

    def on_event(self, event: Event) -> None:
        if isinstance(event, ErrorEvent):
            print(f"picomic: {event.message}", file=sys.stderr, flush=True)

    def refresh(self) -> None:
        pass
