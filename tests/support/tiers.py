"""The optional test tiers (DECISIONS 36): the emulated Pico needs node, the installed rp2040js and the UF2s in
../shared/rp2 (or $PICOMIC_RP2_DIR); the browser tests need Debian's chromium and playwright. Absent, their tests
skip with the reason — or fail under PICOMIC_REQUIRE_TIERS=1, which is how CI runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from picomic.emulator.install import harness
from picomic.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("v1.28.0", "v1.26.1", "v1.24.1")
"""The MicroPython releases in ../shared/rp2; the first runs the full HIL suite, the others a smoke test."""


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is absent — or fail, when PICOMIC_REQUIRE_TIERS=1 (CI must run this tier)."""
    if condition:
        return
    if os.environ.get("PICOMIC_REQUIRE_TIERS") == "1":
        pytest.fail(f"required tier missing: {reason}", pytrace=False)
    pytest.skip(reason)


def rp2_dir() -> Path:
    return Path(os.environ.get("PICOMIC_RP2_DIR") or REPO.parent / "shared" / "rp2")


def uf2_path(version: str = VERSIONS[0]) -> Path:
    path = rp2_dir() / f"micropython-{version}-RPI_PICO.uf2"
    require(path.is_file(), f"no MicroPython UF2 at {path} (set PICOMIC_RP2_DIR)")
    return path


def bootrom_path() -> Path:
    path = rp2_dir() / "rp2040-bootrom-b1.bin"
    require(path.is_file(), f"no RP2040 bootrom at {path} (set PICOMIC_RP2_DIR)")
    return path


def require_emulator() -> None:
    """node and the installed rp2040js are there (`picomic emulator install`)."""
    try:
        harness()
    except ConfigError as exc:
        require(False, str(exc))


CHROMIUM = Path(os.environ.get("PICOMIC_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Debian's chromium (or $PICOMIC_CHROMIUM), offline: no first-run, update, sync or background traffic."""


def require_chromium() -> Path:
    """Debian's chromium (`apt-get install chromium`) and playwright's Python package (the test extra); never
    `playwright install` (it would download a browser)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[test]')")
    require(CHROMIUM.is_file(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM
