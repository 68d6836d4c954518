"""What the HIL tests know about their target (shared by conftest.py and the tests): a real board, the unix-port
simulated board or the emulated Pico (DECISIONS 29: tests/hil runs on all three)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from picomic.emulator.board import EmulatedBoard
from picomic.sim.board import SimBoard

MakeBoard = Callable[..., str]
"""make(signal, mic_fault=None) → the port of another board of the target's kind, playing `signal`."""


@dataclass
class Target:
    port: str
    board: SimBoard | EmulatedBoard | None
    """The simulated or emulated board, or None for a real one."""

    @property
    def real(self) -> bool:
        return self.board is None

    @property
    def kind(self) -> str:
        if isinstance(self.board, EmulatedBoard):
            return "emulated"
        return "sim" if isinstance(self.board, SimBoard) else "real"

    @property
    def sim(self) -> SimBoard | None:
        return self.board if isinstance(self.board, SimBoard) else None

    @property
    def reboots(self) -> int:
        """Resets of a simulated or emulated board so far (0 for a real one: it cannot tell)."""
        return self.board.reboots if self.board is not None else 0
