"""`picomic doctor`: stream a few seconds, then say what is wrong with the microphone, its wiring or the link.

The capture and the checks are picomic.diagnose (pure functions over arrays and counters); this module parses
the arguments and prints the report. Exit 0 healthy, 1 unhealthy (`--strict`: warnings too), 2–5 when the board
cannot be reached at all.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from picomic.cli.common import (
    DEMO_SIGNAL,
    EachValue,
    add_board_lists,
    add_emulator_arguments,
    add_fault_arguments,
    open_board,
    refuse_several_boards,
    start_settings,
)
from picomic.cli.stageopts import add_stage_arguments, processors
from picomic.diagnose.capture import capture, report_json, report_text
from picomic.diagnose.checks import INMP441_NOISE_DBFS, diagnose
from picomic.diagnose.frontend import stage_measurements
from picomic.emulator.board import EmulatedBoard
from picomic.errors import ConfigError

HELP = "check the microphone, its wiring and the USB link; exit 0 when healthy"


def run(args: argparse.Namespace) -> int:
    refuse_several_boards(args, "doctor")
    if not args.seconds > 0:
        raise ConfigError(f"--seconds must be > 0, got {args.seconds}")
    settings = start_settings(args)  # a bad --rate/--frame-ms/--gain fails before a simulated board starts
    chain = processors(args)  # so does a stage that cannot run
    with open_board(args, loop=True) as (port, board):
        cap, info = capture(port, settings, args.seconds, None if args.sim is not None else args.serial)
    board_clock = isinstance(board, EmulatedBoard)
    if board_clock:
        cap = replace(cap, board_clock=True)
    diag = diagnose(cap)
    if chain and len(cap.mono):
        diag.measurements.update(stage_measurements(cap, chain))  # the noise floor before and after the stages
    shown = "emulated Pico" if board_clock else "simulated board" if args.sim is not None else port
    if args.json:
        print(report_json(diag, info, shown, args.strict))
    else:
        for line in report_text(diag, info, shown, args.strict):
            print(line)
    return 0 if diag.healthy(args.strict) else 1


def _floor(text: str) -> float | None:
    if text == "off":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--noise-floor takes dBFS (e.g. -87) or off, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", default="auto", action=EachValue, help="serial port of the board, or 'auto' [auto]")
    p.add_argument("--serial", metavar="ID", help="choose the board with this unique id")
    p.add_argument("--sim", nargs="?", const=DEMO_SIGNAL, metavar="SIGNAL", action=EachValue,
                   help="check a simulated board playing SIGNAL (default: the bundled speech sample, looped, "
                        "over the INMP441 noise floor); combine with --mic-fault to see a diagnosis")  # fmt: skip
    p.add_argument("--seconds", type=float, default=3.0, help="seconds of audio to analyse [3]")
    p.add_argument("--rate", type=int, default=16000, help="sample rate in Hz [16000]")
    p.add_argument("--frame-ms", type=int, default=10, help="frame length in ms [10]")
    p.add_argument("--gain", type=int, default=0, help="digital gain in bits (the noise floor moves with it) [0]")
    p.add_argument("--json", action="store_true", help="one JSON object: verdict, findings, measurements")
    p.add_argument("--strict", action="store_true", help="warnings also make the verdict unhealthy")
    p.add_argument("--noise-floor", type=_floor, default=INMP441_NOISE_DBFS, metavar="DBFS",
                   help="with --sim: the simulated mic's self-noise, dBFS or 'off' [-87: INMP441]")  # fmt: skip
    p.add_argument("--seed", type=int, help="with --sim: seed for the mic noise and wire faults")
    add_stage_arguments(p, streams=False)
    add_fault_arguments(p)
    add_emulator_arguments(p)
    add_board_lists(p)
