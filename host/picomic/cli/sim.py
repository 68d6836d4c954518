"""`picomic sim`: a simulated board on a pseudo-terminal until Ctrl-C or its signal's end; prints its port."""

from __future__ import annotations

import argparse
import json
import sys

from picomic.cli.common import add_emulator_arguments, add_fault_arguments, emulated_board, sim_board
from picomic.emulator.firmware import ensure_firmware
from picomic.errors import DeviceError
from picomic.sim.board import SimBoard
from picomic.sim.registry import registered

HELP = "run a simulated board on a pseudo-terminal (prints its port)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "signal", nargs="?", metavar="SIGNAL", help="WAV/FLAC path, sine:440[:-20dBFS], noise[:-40dBFS], silence, -"
    )
    parser.add_argument("--loop", action="store_true", help="repeat a file signal forever")
    parser.add_argument("--duration", type=float, metavar="S", help="end the signal after S seconds")
    parser.add_argument("--noise-floor", type=float, metavar="DBFS", help="add mic self-noise (INMP441: -87)")
    parser.add_argument("--seed", type=int, help="seed for noise and wire faults (default: random)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per event instead of text")
    parser.add_argument("--link", metavar="PATH", help="keep a symlink at PATH pointing at the board's port "
                        "(re-pointed by the next picomic sim, so a host on PATH reconnects)")  # fmt: skip
    parser.add_argument("--board", default="pico", help="board profile (default pico)")
    parser.add_argument("--source", action="store_true", help="run the firmware from .py instead of .mpy")
    add_fault_arguments(parser)
    add_emulator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """`picomic sim`: run a simulated board until Ctrl-C or the signal's end (exit 0)."""
    as_json = bool(getattr(args, "json", False))

    def say(event: str, board: SimBoard, path: str) -> None:
        if as_json:
            print(json.dumps({"event": event, "port": board.port, "tty": path, "pid": board.pid}), flush=True)
        elif event == "replug":
            print(f"picomic sim: replugged, {board.port} -> {path}", file=sys.stderr, flush=True)

    if args.emulated:
        return _run_emulated(args, as_json)
    board = sim_board(args, on_replug=lambda path: say("replug", board, path))
    board.start()
    try:
        with registered("simulated", board.port, args.signal, args.link):
            if as_json:
                say("ready", board, board.tty)
            else:
                print(board.port, flush=True)
                print(f"picomic sim: board pid {board.pid} on {board.tty}; Ctrl-C stops it", file=sys.stderr)
            return _run_until_end(board, as_json)
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


def _run_until_end(board: SimBoard, as_json: bool) -> int:
    while True:
        if board.wait_signal_end(0.2):
            board.drain(timeout=3.0)
            if as_json:
                print(json.dumps({"event": "signal_end"}), flush=True)
            return 0
        code = board.exited
        if code is not None:
            tail = board.log().strip().splitlines()[-3:]
            raise DeviceError(f"the simulated board exited with status {code}: {' | '.join(tail) or 'no output'}")


def _run_emulated(args: argparse.Namespace, as_json: bool) -> int:
    """`picomic sim --emulated`: the emulated Pico with picomic's firmware flashed (once per UF2), until Ctrl-C
    or until its emulator process dies (reported as an error)."""

    def replugged(path: str) -> None:
        if as_json:
            print(json.dumps({"event": "replug", "port": board.port, "tty": path}), flush=True)
        else:
            print(f"picomic sim: the emulated Pico re-enumerated, {board.port} -> {path}", file=sys.stderr)

    board = emulated_board(args, on_replug=replugged)
    with board:
        if ensure_firmware(board.port, getattr(args, "board", None)) and not as_json:
            print("picomic sim: flashed picomic onto the emulated Pico", file=sys.stderr)
        try:
            with registered("emulated", board.port, args.signal, args.link):
                if as_json:
                    print(json.dumps({"event": "ready", "port": board.port, "tty": board.tty}), flush=True)
                else:
                    print(board.port, flush=True)
                    print(f"picomic sim: emulated Pico on {board.tty}; Ctrl-C stops it", file=sys.stderr)
                while board.died is None:
                    board.wait_signal_end(0.2)
        except KeyboardInterrupt:
            return 0
    raise DeviceError(f"the emulated Pico's emulator exited with status {board.died}: {board.log()[-300:]}")
