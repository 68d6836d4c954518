"""The `picomic` command: one static table of small command modules (like mpremote), one error path for all.

Each command is a module here owning its arguments (`add_arguments`) and the step from arguments to settings and
on to the library (`run`). This package is the only place that imports argparse or names a command-line flag.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, ModuleType

from picomic.cli import bench, devices, doctor, emulator, flash, listen, record, sim, transcribe
from picomic.cli.common import flag_hint
from picomic.errors import PicomicError
from picomic.version import __version__

log = logging.getLogger("picomic")

Command = Callable[[argparse.Namespace], int]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    module: ModuleType
    """Has HELP, add_arguments(parser) and run(args) -> exit status (optional DESCRIPTION)."""


COMMANDS = (
    CommandSpec("listen", listen),
    CommandSpec("record", record),
    CommandSpec("transcribe", transcribe),
    CommandSpec("devices", devices),
    CommandSpec("sim", sim),
    CommandSpec("flash", flash),
    CommandSpec("doctor", doctor),
    CommandSpec("bench", bench),
    CommandSpec("emulator", emulator),
)
"""Every command, in the order `picomic --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picomic",
        description="Raspberry Pi Pico + INMP441 microphone: live levels, VAD and transcripts over USB serial.",
    )
    parser.add_argument("--version", action="version", version=f"picomic {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for spec in COMMANDS:
        p = sub.add_parser(spec.name, help=spec.module.HELP, description=getattr(spec.module, "DESCRIPTION", None))
        spec.module.add_arguments(p)
        p.set_defaults(func=spec.module.run)
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
        print(f"picomic: {flag_hint(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("picomic: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
