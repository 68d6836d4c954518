"""`picomic emulator install`: rp2040js (pinned in picomic's lock file) into the user's cache, with npm."""

from __future__ import annotations

import argparse

from picomic.emulator.install import install

HELP = "set up the emulated Pico: `picomic emulator install` puts rp2040js into your cache (needs Node.js + npm)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("install",), help="install: npm ci --ignore-scripts from picomic's lock file")


def run(args: argparse.Namespace) -> int:
    print(f"picomic emulator: rp2040js installed in {install()}")
    return 0
