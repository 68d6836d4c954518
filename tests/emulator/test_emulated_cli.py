"""The emulated Pico from the command line: bad images and missing pieces are one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiers import bootrom_path, uf2_path

pytestmark = pytest.mark.emulated


def picomic(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "picomic.cli", *args], capture_output=True, text=True, timeout=timeout)


def _one_line(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picomic: ") and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"hello, this is not a UF2\n" * 40, ("is a text file",)),
        (bytes(range(256)) * 64, ("not a UF2",)),
    ],
)
def test_bad_uf2_is_one_line(tmp_path: Path, content: bytes, words: tuple[str, ...]) -> None:
    bad = tmp_path / "bad.uf2"
    bad.write_bytes(content)
    proc = picomic("record", "-", "--sim", "sine:440", "--emulated", "--uf2", str(bad), "--bootrom",
                   str(bootrom_path()), "--seconds", "1")  # fmt: skip
    _one_line(proc, 2, *words)


def test_rp2350_image_is_refused(tmp_path: Path) -> None:
    data = bytearray(uf2_path().read_bytes())
    for block in range(0, len(data), 512):  # the family id of every block: RP2350-ARM-S
        data[block + 28 : block + 32] = (0xE48BFF59).to_bytes(4, "little")
    image = tmp_path / "pico2.uf2"
    image.write_bytes(bytes(data))
    proc = picomic("sim", "--emulated", "--uf2", str(image), "--bootrom", str(bootrom_path()))
    _one_line(proc, 2, "RP2350")


def test_missing_uf2_path_and_missing_flags(tmp_path: Path) -> None:
    proc = picomic("sim", "--emulated", "--uf2", str(tmp_path / "nope.uf2"), "--bootrom", str(bootrom_path()))
    _one_line(proc, 2, "nope.uf2")
    proc = subprocess.run([sys.executable, "-m", "picomic.cli", "sim", "--emulated"], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    _one_line(proc, 2, "--uf2", "--bootrom")


def test_wire_faults_are_the_unix_port_boards(tmp_path: Path) -> None:
    proc = picomic("record", "-", "--sim", "sine:440", "--emulated", "--uf2", str(uf2_path()), "--bootrom",
                   str(bootrom_path()), "--ber", "1e-4")  # fmt: skip
    _one_line(proc, 2, "--ber", "--emulated")
