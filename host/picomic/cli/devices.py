"""`picomic devices`: the attached boards and their firmware."""

from __future__ import annotations

import argparse
import json

from picomic.bus.text import printable
from picomic.link.ports import list_boards
from picomic.sim.registry import running

HELP = "list attached boards and their firmware"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per board")


def run(args: argparse.Namespace) -> int:
    """List attached boards with their firmware, or say how to get picomic firmware on them."""
    boards = list_boards(probe=True)
    simulated = running()
    if args.json:
        for b in boards + simulated:
            print(json.dumps(b))
        return 0
    if not boards and not simulated:
        print("no board found: plug in a Pico running MicroPython (see README: Flashing), or use --sim")
        return 0
    for b in boards:  # the serial number and the firmware version come from the board: escaped (DECISIONS 33)
        fw = printable(b["firmware"], 32) if b.get("firmware") else "no picomic firmware — run picomic flash"
        print(f"{printable(b['port'])}  serial {printable(b.get('serial_number') or '?', 64)}  {fw}")
    for s in simulated:
        link = f" (link {s['link']})" if s.get("link") else ""
        print(f"{s['port']}  {s['kind']} board, pid {s['pid']}, signal {s.get('signal') or '-'}{link}")
    return 0
