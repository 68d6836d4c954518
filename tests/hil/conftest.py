"""Hardware-in-the-loop targets: the real board given by `--board-port PORT` (or $PICOMIC_BOARD_PORT); otherwise
the unix-port simulated board in real time and the emulated Pico (MicroPython v1.28.0 in rp2040js, flashed
with picomic through mpremote), so CI runs the same suite on both. Long figures (the 60 s stream) run at full
length on a real board or with PICOMIC_HIL_LONG=1; CI runs a shortened stream asserting the same properties
(DECISIONS 27)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hil_support import MakeBoard, Target
from picomic.emulator.board import EmulatedBoard
from picomic.emulator.firmware import ensure_firmware, wait_firmware
from picomic.errors import PicomicError
from picomic.link.ports import open_port
from picomic.sim.board import SimBoard
from tiers import bootrom_path, require_emulator, uf2_path

SIM_SIGNAL = "noise:-80dBFS"
"""A quiet room (about 40 dB SPL) over the INMP441's own -87 dBFS noise: what a healthy real mic hears."""
SHORT_STREAM_S = 8.0
LONG_STREAM_S = 60.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tier" in metafunc.fixturenames:
        real = metafunc.config.getoption("--board-port")
        tiers = ["real"] if real else ["sim", pytest.param("emulated", marks=pytest.mark.emulated)]
        metafunc.parametrize("tier", tiers, scope="session")


@pytest.fixture(scope="session")
def emulated_flash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flash image of the emulated Pico with picomic on it (flashed once, through mpremote)."""
    require_emulator()
    path = tmp_path_factory.mktemp("emulated") / "pico.flash"
    with EmulatedBoard(uf2_path(), bootrom_path(), "silence", flash_path=path, fresh=True) as board:
        ensure_firmware(board.port)
    return path


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tier: str) -> Iterator[Target]:
    if tier == "real":
        port = request.config.getoption("--board-port")
        try:
            open_port(port).close()  # a missing, busy or forbidden port: one clear message, not N failures
        except PicomicError as exc:
            pytest.fail(f"--board-port {port}: {exc}", pytrace=False)
        yield Target(port, None)
        return
    board: SimBoard | EmulatedBoard
    if tier == "emulated":
        flash = request.getfixturevalue("emulated_flash")
        board = EmulatedBoard(uf2_path(), bootrom_path(), SIM_SIGNAL, noise_floor_dbfs=-87.0, seed=11,
                              flash_path=flash)  # fmt: skip
    else:
        board = SimBoard(SIM_SIGNAL, noise_floor_dbfs=-87.0, seed=11)
    board.start()
    if isinstance(board, EmulatedBoard):
        assert wait_firmware(board.port), f"the emulated Pico did not answer with picomic: {board.log()[-300:]}"
    try:
        yield Target(board.port, board)
    finally:
        board.stop()
        if isinstance(board, SimBoard):
            assert board.proc is None or board.proc.poll() is not None, "the simulated board outlived the suite"


@pytest.fixture
def make_board(target: Target, tmp_path: Path) -> Iterator[MakeBoard]:
    """make(signal, mic_fault=None) → the port of another board of the target's kind (picomic flashed), playing
    `signal`; skips on a real board (its microphone is what it is)."""
    boards: list[SimBoard | EmulatedBoard] = []

    def make(signal: str, mic_fault: str | None = None) -> str:
        board: SimBoard | EmulatedBoard
        if isinstance(target.board, EmulatedBoard):
            flash = tmp_path / f"b{len(boards)}.flash"
            shutil.copyfile(target.board.flash_path, flash)
            board = EmulatedBoard(uf2_path(), bootrom_path(), signal, mic_fault=mic_fault, seed=5, flash_path=flash)
        else:
            board = SimBoard(signal, mic_fault=mic_fault, seed=5)
        boards.append(board)
        board.start()
        if isinstance(board, EmulatedBoard):
            assert wait_firmware(board.port), f"the emulated Pico did not answer with picomic: {board.log()[-300:]}"
        return board.port

    if target.real:
        pytest.skip("a real board's microphone cannot be swapped for a signal or a fault")
    yield make
    for board in boards:
        board.stop()


@pytest.fixture(scope="session")
def stream_seconds(target: Target) -> float:
    """60 s on a real board or with PICOMIC_HIL_LONG=1, else the CI length."""
    return LONG_STREAM_S if target.real or os.environ.get("PICOMIC_HIL_LONG") == "1" else SHORT_STREAM_S
