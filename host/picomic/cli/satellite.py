"""`picomic satellite`: the board as a Home Assistant voice satellite (`serve` with `--satellite-port 10700`)."""

from __future__ import annotations

import argparse

from picomic.cli import serve

HELP = "the board as a Home Assistant voice satellite over Wyoming (serve --satellite-port 10700)"
DESCRIPTION = (
    "In Home Assistant: Settings → Devices & services → Add integration → Wyoming Protocol, with this "
    "machine's address and port 10700 (bind it with --host ADDR --allow CIDR). See docs/wyoming.md."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    serve.add_arguments(p)
    p.set_defaults(role="satellite")


def run(args: argparse.Namespace) -> int:
    return serve.run(args)
