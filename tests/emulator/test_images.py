"""UF2 and bootrom validation: one clear ConfigError line per wrong file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from picomic.emulator.uf2 import BOOTROM_B1_SHA256, check_bootrom, image_bytes, read_uf2
from picomic.errors import ConfigError
from tiers import bootrom_path, uf2_path


def test_real_uf2_is_accepted() -> None:
    image = read_uf2(uf2_path())
    assert image.flash_start == 0 and image.blocks > 1000
    offset, data = image_bytes(uf2_path())
    assert offset == 0 and b"MicroPython" in data


def test_bootrom_b1_checksum() -> None:
    assert check_bootrom(bootrom_path()) == BOOTROM_B1_SHA256


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.uf2", "not found"),
        (lambda d: d, "is a folder"),
        (lambda d: _write(d / "notes.uf2", b"hello, this is text\n" * 40), "is a text file"),
        (lambda d: _write(d / "noise.uf2", os.urandom(4096)), "not a UF2 image"),
    ],
)
def test_bad_files(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        read_uf2(path)


def test_rp2350_image_is_refused(tmp_path: Path) -> None:
    data = bytearray(uf2_path().read_bytes())
    for off in range(0, len(data), 512):
        data[off + 28 : off + 32] = (0xE48BFF59).to_bytes(4, "little")
    path = _write(tmp_path / "pico2.uf2", bytes(data))
    with pytest.raises(ConfigError, match=r"RP2350 \(Pico 2\) image; rp2040js emulates only the RP2040"):
        read_uf2(path)


def test_uf2_that_is_not_micropython(tmp_path: Path) -> None:
    data = bytearray(uf2_path().read_bytes())
    for off in range(0, len(data), 512):
        data[off + 32 : off + 508] = bytes(476)
    with pytest.raises(ConfigError, match="not MicroPython"):
        read_uf2(_write(tmp_path / "blank.uf2", bytes(data)))


def test_bad_bootrom(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="16 KiB"):
        check_bootrom(_write(tmp_path / "rom.bin", bytes(100)))
    with pytest.raises(ConfigError, match="lacks"):
        check_bootrom(_write(tmp_path / "rom2.bin", bytes(16384)))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
