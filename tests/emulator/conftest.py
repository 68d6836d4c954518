"""Fixtures for the emulated Pico (MicroPython rp2 UF2s in rp2040js): where the images are, and one helper
deciding skip-or-fail when a tier's prerequisites (node, the installed rp2040js, the UF2s) are absent."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from picomic.emulator.board import EmulatedBoard
from tiers import bootrom_path, require, require_emulator, uf2_path


def mpremote() -> str:
    exe = shutil.which("mpremote") or str(Path(os.sys.executable).parent / "mpremote")
    require(Path(exe).exists(), "mpremote is not installed")
    return exe


@pytest.fixture
def emulator_ready() -> None:
    """node and the installed rp2040js are there (`picomic emulator install`)."""
    require_emulator()


@pytest.fixture
def board_factory(emulator_ready: None, tmp_path: Path) -> Iterator[object]:
    """make(signal=None, version=..., **kw) → a started EmulatedBoard on tmp_path/<version>.flash; all stopped."""
    boards: list[EmulatedBoard] = []

    def make(signal: str | None = None, version: str = "v1.28.0", **kw: object) -> EmulatedBoard:
        kw.setdefault("flash_path", tmp_path / f"{version}.flash")
        board = EmulatedBoard(uf2_path(version), bootrom_path(), signal, **kw)  # type: ignore[arg-type]
        boards.append(board)
        board.start()
        return board

    yield make
    for board in boards:
        board.stop()
