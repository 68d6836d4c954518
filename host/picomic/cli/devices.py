"""`picomic devices`: the attached boards and their firmware."""

from __future__ import annotations

import argparse
import json

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
    for b in boards:
        fw = b.get("firmware") or "no picomic firmware — run picomic flash"
        print(f"{b['port']}  serial {b.get('serial_number') or '?'}  {fw}")
    for s in simulated:
        link = f" (link {s['link']})" if s.get("link") else ""
        print(f"{s['port']}  {s['kind']} board, pid {s['pid']}, signal {s.get('signal') or '-'}{link}")
    return 0
