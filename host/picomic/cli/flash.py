"""`picomic flash`: install (or `--remove`) the picomic firmware on a MicroPython board, then verify it."""

from __future__ import annotations

import argparse

from picomic.deploy.boardfs import BoardState, inspect, stop_stream
from picomic.deploy.build import build_firmware, known_boards
from picomic.deploy.flash import (
    choose_board,
    describe,
    install,
    make_plan,
    remove,
    remove_steps,
    resolve_port,
    restart,
)

HELP = "install (or --remove) the picomic firmware on a MicroPython board"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", default="auto", help="serial port of the board, or 'auto' (USB 2E8A:0005) [auto]")
    p.add_argument("--serial", metavar="ID", help="choose the board with this unique id when several are attached")
    p.add_argument("--board", choices=known_boards(), help="board profile (pins, LED); default: detected from "
                   "the board's MicroPython, else pico")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the plan (files, sizes, .mpy version, arch) "
                   "and change nothing; works without a board")  # fmt: skip
    p.add_argument("--source", action="store_true", help="copy the firmware as .py instead of compiled .mpy")
    p.add_argument("--remove", action="store_true", help="delete picomic's files so the board boots to a plain REPL")


def run(args: argparse.Namespace) -> int:
    port = resolve_port(args.port, args.serial, args.board, args.dry_run)
    if port is None:  # dry run, nothing attached: plan for a fresh board from the profile's arch
        board = choose_board(args.board, None)
        plan = make_plan(
            build_firmware(board=board, source=args.source), None, "no board attached (plan for a fresh board)", board
        )
        _print(describe(plan, None) + ["dry run: nothing was changed"])
        return 0
    stop_stream(port)
    state = inspect(port)
    if args.remove:
        return _remove(port, state, args.dry_run)
    if args.dry_run:
        board = choose_board(args.board, state)
        plan = make_plan(build_firmware(board=board, source=args.source, sys_mpy=state.sys_mpy), state, port, board)
        _print(describe(plan, state) + restart(port, state) + ["dry run: no file was changed"])
        return 0
    _print([install(port, state, args.board, args.source, say=lambda line: _print([line]))])
    return 0


def _remove(port: str, state: BoardState, dry_run: bool) -> int:
    steps = remove_steps(state)
    lines = [f"target: {port} — MicroPython {state.version}"]
    lines += ["  " + " ".join(step) for step in steps] or ["  nothing of picomic's is on the board"]
    if dry_run:
        _print(lines + restart(port, state) + ["dry run: no file was changed"])
        return 0
    _print(lines)
    _print([remove(port, state, steps)])
    return 0


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line, flush=True)
