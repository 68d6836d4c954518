"""Hardware-in-the-loop target: the real board given by `--board-port PORT` (or $PICOMIC_BOARD_PORT), else
the simulated board in real time (so CI runs the same suite). Long figures (the 60 s stream) run at full
length on a real board or with PICOMIC_HIL_LONG=1; CI runs a shortened stream asserting the same properties
(DECISIONS 27)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hil_support import Target
from picomic.errors import PicomicError
from picomic.link.ports import open_port
from picomic.sim.board import SimBoard

SIM_SIGNAL = "noise:-80dBFS"
"""A quiet room (about 40 dB SPL) over the INMP441's own -87 dBFS noise: what a healthy real mic hears."""
SHORT_STREAM_S = 8.0
LONG_STREAM_S = 60.0


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    port = request.config.getoption("--board-port")
    if port:
        try:
            open_port(port).close()  # a missing, busy or forbidden port: one clear message, not N failures
        except PicomicError as exc:
            pytest.fail(f"--board-port {port}: {exc}", pytrace=False)
        yield Target(port, None)
        return
    board = SimBoard(SIM_SIGNAL, noise_floor_dbfs=-87.0, seed=11)
    board.start()
    try:
        yield Target(board.port, board)
    finally:
        board.stop()
        assert board.proc is None or board.proc.poll() is not None, "the simulated board outlived the suite"


@pytest.fixture(scope="session")
def stream_seconds(target: Target) -> float:
    """60 s on a real board or with PICOMIC_HIL_LONG=1, else the CI length."""
    return LONG_STREAM_S if target.real or os.environ.get("PICOMIC_HIL_LONG") == "1" else SHORT_STREAM_S
