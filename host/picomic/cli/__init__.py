"""The `picomic` command: one static table of small command modules (like mpremote), one error path for all.

Each command is a module here owning its arguments (`add_arguments`) and the step from arguments to settings and
on to the library (`run`). This package is the only place that imports argparse or names a command-line flag.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, ModuleType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each ends every command the same way: outputs finalised, then exit status 128 + the signal number."""
_received: list[int] = []


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    """The first stop signal ends a streaming pipeline at its next poll (no exception in the middle of a
    write), or raises KeyboardInterrupt anywhere else (a handshake, a model load, `picomic sim`). Later ones
    are noted and ignored, so the shutdown that finalises the files runs undisturbed (SIGKILL is the way out)."""
    first = not _received
    _received.append(signum)
    running = getattr(sys.modules.get("picomic.cli.common"), "RUNNING", ())
    if any(p.interrupt() for p in running):
        return
    if first:
        raise KeyboardInterrupt


for _signum in STOP_SIGNALS:  # before the command modules load: a signal during their imports counts too
    signal.signal(_signum, _on_stop_signal)

from picomic.cli import bench, devices, doctor, emulator, flash, listen, record, satellite, serve, sim, transcribe  # noqa: E402
from picomic.cli.common import flag_hint  # noqa: E402
from picomic.errors import OutputError, PicomicError  # noqa: E402
from picomic.version import __version__  # noqa: E402

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
    CommandSpec("serve", serve),
    CommandSpec("satellite", satellite),
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


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (docs/reliability.md): 0, an error's code (2 config, 3 link,
    4 frames, 5 device, 6 model, 7 output), or 128 + signal number after SIGINT (130), SIGTERM (143), SIGHUP
    (129) — whatever the moment the signal came."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose, args.quiet)
    func: Command = args.func
    try:
        code = func(args)
    except OutputError as exc:
        code = _output_failed(exc)
    except PicomicError as exc:
        print(f"picomic: {flag_hint(exc)}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BrokenPipeError:
        code = _output_failed(OutputError("cannot write stdout: Broken pipe", errno=errno.EPIPE))
    if _received:
        if code == 0 or code >= 128:
            print(f"picomic: stopped by {signal.Signals(_received[0]).name}", file=sys.stderr)
        return 128 + _received[0]
    return code


def _output_failed(exc: OutputError) -> int:
    """One line and exit 7; a reader that went away (EPIPE on stdout, e.g. `| head`) is a quiet exit 0. stdout
    is pointed at /dev/null so Python's own last flush of the failed stream stays quiet too."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if exc.errno == errno.EPIPE:
        return 0
    print(f"picomic: {exc}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
