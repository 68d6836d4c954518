"""What the HIL tests know about their target (shared by conftest.py and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

from picomic.sim.board import SimBoard


@dataclass
class Target:
    port: str
    sim: SimBoard | None
    """The simulated board, or None for a real one."""

    @property
    def real(self) -> bool:
        return self.sim is None
