"""Fixtures for the firmware tests: every test that takes `fw` runs on the source and on the .mpy build."""

from __future__ import annotations

import pytest
from picomic.deploy.build import FirmwareBuild, build_firmware, micropython_exe, micropython_sys_mpy


@pytest.fixture(scope="session", params=["source", "mpy"])
def fw(request: pytest.FixtureRequest) -> FirmwareBuild:
    """The firmware as source and as .mpy built for this interpreter's arch (the simulator's build)."""
    if request.param == "source":
        return build_firmware(source=True)
    return build_firmware(sys_mpy=micropython_sys_mpy(micropython_exe()))
