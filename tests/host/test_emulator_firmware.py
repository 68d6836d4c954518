"""ensure_firmware's check: a board runs this host's firmware only when both its version and its INFO `build`
(the digest of the firmware sources and the board profile) match; a flash with older sources of the same
version is flashed again."""

from __future__ import annotations

from picomic.deploy.build import build_firmware, firmware_digest
from picomic.deploy.flash import firmware_version
from picomic.emulator.firmware import runs_this_firmware


def test_version_and_sources_must_both_match() -> None:
    here = {"firmware": firmware_version(), "info": {"fw": firmware_version(), "build": firmware_digest()}}
    assert runs_this_firmware(here)
    assert not runs_this_firmware({**here, "info": {"build": "0" * 16}})  # same version, other sources
    assert not runs_this_firmware({**here, "info": {}})  # a firmware from before the digest
    assert not runs_this_firmware({**here, "firmware": "0.0.1"})
    assert not runs_this_firmware({"firmware": None, "error": "no answer"})
    assert firmware_digest("pico") != firmware_digest("pico2")  # the profile is part of it


def test_every_build_carries_the_digest() -> None:
    for build in (build_firmware(source=True), build_firmware(arch="armv6m")):
        assert any(f.startswith("picomic_fw/_build.") for f in build.files), build.files
    text = (build_firmware(source=True).root / "picomic_fw" / "_build.py").read_text()
    assert text == f'DIGEST = "{firmware_digest()}"\n'
