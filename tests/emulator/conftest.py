"""Fixtures for the emulated Pico (MicroPython rp2 UF2s in rp2040js): where the images are, and one helper
deciding skip-or-fail when a tier's prerequisites (node, the installed rp2040js, the UF2s) are absent."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from picomic.emulator.board import EmulatedBoard
from picomic.emulator.install import harness
from picomic.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("v1.28.0", "v1.26.1", "v1.24.1")


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is absent — or fail, when PICOMIC_REQUIRE_TIERS=1 (CI must run this tier)."""
    if condition:
        return
    if os.environ.get("PICOMIC_REQUIRE_TIERS") == "1":
        pytest.fail(f"required tier missing: {reason}", pytrace=False)
    pytest.skip(reason)


def rp2_dir() -> Path:
    return Path(os.environ.get("PICOMIC_RP2_DIR") or REPO.parent / "shared" / "rp2")


def uf2_path(version: str = "v1.28.0") -> Path:
    path = rp2_dir() / f"micropython-{version}-RPI_PICO.uf2"
    require(path.is_file(), f"no MicroPython UF2 at {path} (set PICOMIC_RP2_DIR)")
    return path


def bootrom_path() -> Path:
    path = rp2_dir() / "rp2040-bootrom-b1.bin"
    require(path.is_file(), f"no RP2040 bootrom at {path} (set PICOMIC_RP2_DIR)")
    return path


def mpremote() -> str:
    exe = shutil.which("mpremote") or str(Path(os.sys.executable).parent / "mpremote")
    require(Path(exe).exists(), "mpremote is not installed")
    return exe


@pytest.fixture
def emulator_ready() -> None:
    """node and the installed rp2040js are there (`picomic emulator install`)."""
    try:
        harness()
    except ConfigError as exc:
        require(False, str(exc))


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
