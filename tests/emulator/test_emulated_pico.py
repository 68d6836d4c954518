"""The emulated Pico: the real MicroPython rp2 UF2 in rp2040js, seen by the host like a board on a port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import serial
import soundfile as sf
from picomic.emulator.board import EmulatedBoard
from picomic.sim.mic import MicOptions, mic_words, settle_words
from picomic.sim.signals import parse_signal
from tiers import VERSIONS

from .conftest import mpremote

pytestmark = [pytest.mark.emulated, pytest.mark.slow]
Make = Callable[..., EmulatedBoard]
N_SAMPLES = 8192
I2S_SCRIPT = """
from machine import I2S, Pin
import array, binascii
a = array.array("i", [0] * {n})
i2s = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, ibuf=20000)
mv = memoryview(a)
got = 0
while got < {n} * 4:
    got += i2s.readinto(mv[got // 4:])
i2s.deinit()
print("D", binascii.hexlify(a).decode())
"""


PIO_SCRIPT = """
{module}
import binascii
from machine import Pin
a = bytearray({n} * {width})
mic = PioI2S(0, Pin(16), Pin(18, Pin.IN, Pin.PULL_DOWN), 16000, {bits}, {channels}, 4000, laps=1)
mv = memoryview(a)
got = 0
while got < len(a):
    got += mic.readinto(mv[got:])
mic.deinit()
print("D", binascii.hexlify(a).decode())
"""
PIO_SOURCE = Path(__file__).resolve().parents[2] / "firmware" / "picomic_fw" / "pio_i2s.py"


def run_mpremote(port: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([mpremote(), "connect", port, *args], capture_output=True, text=True, timeout=timeout)


def repl_prompt(port: str, timeout: float = 10.0) -> bytes:
    with serial.Serial(port, timeout=0.2) as link:
        link.write(b"\r\n")
        seen = b""
        deadline = time.monotonic() + timeout
        while b">>>" not in seen and time.monotonic() < deadline:
            seen += link.read(256)
    return seen


@pytest.mark.parametrize("version", VERSIONS)
def test_boots_to_repl(board_factory: Make, version: str) -> None:
    board = board_factory(version=version)
    assert b">>>" in repl_prompt(board.port)
    out = run_mpremote(board.port, "exec", "print(1+1)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_filesystem_persists(board_factory: Make, tmp_path: Path) -> None:
    flash = tmp_path / "persist.flash"
    board = board_factory(flash_path=flash, fresh=True)
    src = tmp_path / "x.txt"
    src.write_text("persisted through the flash file\n")
    out = run_mpremote(board.port, "fs", "cp", str(src), ":x.txt")
    assert out.returncode == 0, out.stderr
    board.stop()
    again = board_factory(flash_path=flash)
    out = run_mpremote(again.port, "exec", "print(open('x.txt').read(), end='')")
    assert out.stdout == "persisted through the flash file\n", out.stderr


def test_machine_reset_replugs(board_factory: Make) -> None:
    events: list[dict[str, object]] = []
    board = board_factory(on_event=events.append)
    run_mpremote(board.port, "exec", "import machine; machine.reset()")  # the port vanishes under mpremote
    deadline = time.monotonic() + 20
    while not any(e.get("event") == "reset" for e in events) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {"event": "reset", "cause": "software"} in events
    assert board.wait_port(20)
    assert board.reboots == 1
    assert Path(board.port).resolve() == Path(board.tty)
    assert b">>>" in repl_prompt(board.port)


def test_watchdog_expiry_resets(board_factory: Make) -> None:
    events: list[dict[str, object]] = []
    board = board_factory(on_event=events.append)
    run_mpremote(board.port, "exec", "from machine import WDT; w = WDT(timeout=300)")
    deadline = time.monotonic() + 20
    while board.reboots < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {"event": "reset", "cause": "watchdog"} in events
    assert board.wait_port(20)
    out = run_mpremote(board.port, "exec", "import machine; print(machine.reset_cause() == machine.WDT_RESET)")
    assert out.stdout.strip() == "True", out.stderr


def read_samples(board: EmulatedBoard) -> np.ndarray:
    out = run_mpremote(board.port, "exec", I2S_SCRIPT.format(n=N_SAMPLES), timeout=180)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("D "))
    return np.frombuffer(bytes.fromhex(line[2:]), "<i4")


def align(got: np.ndarray, expected: np.ndarray, max_lead: int = 16) -> int:
    """Leading zeros the mic drives while it measures the clock rate (those frames are clocked, so the signal
    keeps its place: frame i of the clock is word i of the stream); the rest must match exactly."""
    for lead in range(max_lead):
        if np.array_equal(got[lead:], expected[lead : len(got)]) and not got[:lead].any():
            return lead
    raise AssertionError(f"samples do not match the signal (first {got[:6]}, expected {expected[:6]})")


def test_i2s_is_bit_exact(board_factory: Make) -> None:
    board = board_factory("sine:1000", seed=7)
    got = read_samples(board)
    pcm = parse_signal("sine:1000", seed=7).render(16000, 0, N_SAMPLES)
    left, _ = mic_words(pcm, 4096, MicOptions(seed=7))
    lead = align(got, np.concatenate([settle_words(0, 4096), left]))
    assert lead <= 4
    assert len(got) - lead - 4096 > 4000  # thousands of signal samples compared, not just the settle


@pytest.mark.parametrize(("bits", "channels"), [(32, 1), (16, 2)])
def test_pio_capture_is_bit_exact_across_dma_re_arms(board_factory: Make, bits: int, channels: int) -> None:
    """picomic's own capture (pio_i2s: PIO program + a DMA channel re-armed by a control channel) with a 2 KiB
    ring and one lap per DMA run, so it is re-armed every 512 sample frames: every sample arrives, in order,
    as rp2's I2S would give it (16-bit: the slot's top half; 32-bit: the word, its low byte zero)."""
    board = board_factory("sine:1000", seed=7)
    width = 4 if bits == 32 else 2
    script = PIO_SCRIPT.format(module=PIO_SOURCE.read_text(), n=N_SAMPLES * channels, bits=bits, channels=channels,
                               width=width)  # fmt: skip
    out = run_mpremote(board.port, "exec", script, timeout=180)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("D "))
    got = np.frombuffer(bytes.fromhex(line[2:]), "<i4" if bits == 32 else "<i2").reshape(-1, channels)
    pcm = parse_signal("sine:1000", seed=7).render(16000, 0, N_SAMPLES)
    words = [np.concatenate([settle_words(0, 4096), w]) for w in mic_words(pcm, 4096, MicOptions(seed=7))]
    want = [w & ~0xFF if bits == 32 else (w >> 16).astype(np.int16) for w in words]
    lead = align(got[:, 0], want[0])
    assert lead <= 4 and len(got) - lead - 4096 > 3000
    if channels == 2:  # the right slot after the settle (what a mono mic leaves there)
        assert np.array_equal(got[lead + 4096 :, 1], want[1][4096 : len(got) - lead])


def test_i2s_stuck_high(board_factory: Make) -> None:
    board = board_factory("sine:1000", mic_fault="stuck-high")
    got = read_samples(board)
    assert (got[4096 + 16 :] == -1).all()


def test_stats_idle_core_sleeps(board_factory: Make) -> None:
    board = board_factory()
    time.sleep(1.5)
    first = board.stats()
    time.sleep(1.0)
    second = board.stats()
    assert first is not None and second is not None
    busy = second["busy_us"] - first["busy_us"]
    slept = second["sleep_us"] - first["sleep_us"]
    assert busy >= 0 and slept > 0
    assert busy / (busy + slept) < 0.5


def test_killed_node_is_an_unplug(board_factory: Make) -> None:
    board = board_factory()
    assert board.process is not None
    with serial.Serial(board.port, timeout=0.2) as link:
        os.kill(board.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        with pytest.raises(serial.SerialException):  # noqa: PT012 - the read loop is the point
            while time.monotonic() < deadline:
                link.read(64)
            raise AssertionError("the host never saw the unplug")
    assert board.process.gone.wait(5)
    assert board.died == -signal.SIGKILL
    assert not board.wait_port(1.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_flash_then_stream_on_each_release(board_factory: Make, version: str, tmp_path: Path) -> None:
    """The smoke test per MicroPython release: `picomic flash` through mpremote completes (its reset and the
    handshake at the end included), and the firmware streams the emulated microphone exactly."""
    board = board_factory("sine:440", version=version, fresh=True)
    flash = subprocess.run([sys.executable, "-m", "picomic.cli", "flash", "--port", board.port],
                           capture_output=True, text=True, timeout=180)  # fmt: skip
    assert flash.returncode == 0, flash.stderr
    assert "answers on" in flash.stdout and f"MicroPython {version[1:]}" in flash.stdout, flash.stdout
    out = tmp_path / "sine.wav"
    record = subprocess.run([sys.executable, "-m", "picomic.cli", "record", str(out), "--port", board.port,
                             "--seconds", "6"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert record.returncode == 0, record.stderr
    got, rate = sf.read(out, dtype="int16")
    want = parse_signal("sine:440").render(16000, 0, len(got))
    assert rate == 16000 and len(got) >= 8000 and np.array_equal(got, want)
