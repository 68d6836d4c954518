"""Root pytest configuration: only the options that must live here (pytest_addoption)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # tiers.py: the optional tiers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--board-port",
        default=os.environ.get("PICOMIC_BOARD_PORT") or None,
        metavar="PORT",
        help="run tests/hil against the real board on PORT (default: $PICOMIC_BOARD_PORT, else the simulated board)",
    )
