"""The CPU floor under the firmware in the emulated RP2040: a bare MicroPython loop that polls the I2S and reads
320-byte buffers at 16 kHz/16-bit for 8 s (through `mpremote exec`), and the core's busy share meanwhile (the
harness's stats). With `--pio` the same loop reads picomic's own PIO + DMA capture (picomic_fw.pio_i2s, flashed
first) instead of rp2's machine.I2S. docs/performance.md quotes both beside `picomic bench --only emulated`.

    PICOMIC_RP2_DIR=../shared/rp2 python tools/emu_i2s_floor.py [--pio]
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from picomic.emulator.board import EmulatedBoard
from picomic.emulator.firmware import ensure_firmware

R = os.environ.get("PICOMIC_RP2_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "rp2"))
FLASH = Path(tempfile.mkdtemp()) / "floor.flash"
SCRIPT = """
import select, time
from machine import I2S, Pin
i2s = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.RX, bits=16, format=I2S.MONO, rate=16000, ibuf=20000)
buf = bytearray(320)
p = select.poll()
p.register(i2s, select.POLLIN)
n = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 8000:
    for _ in p.ipoll(100):
        n += i2s.readinto(buf)
i2s.deinit()
print("bytes", n)
"""
PIO_SCRIPT = """
import select, sys, time
from machine import Pin
from picomic_fw.pio_i2s import PioI2S
i2s = PioI2S(0, Pin(16), Pin(18, Pin.IN, Pin.PULL_DOWN), 16000, 16, 1, 20000)
buf = bytearray(320)
p = select.poll()
p.register(sys.stdin, select.POLLIN)
n = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 8000:
    for _ in p.ipoll(10):
        pass
    n += i2s.readinto(buf)
i2s.deinit()
print("bytes", n)
"""
"""The PIO capture's samples arrive one at a time (it polls readable after one): the loop wakes every 10 ms, as
the firmware does by the clock, and reads what came."""


def script(pio: bool) -> str:
    return PIO_SCRIPT if pio else SCRIPT


def main() -> None:
    pio = "--pio" in sys.argv[1:]
    uf2, bootrom = f"{R}/micropython-v1.28.0-RPI_PICO.uf2", f"{R}/rp2040-bootrom-b1.bin"
    with EmulatedBoard(uf2, bootrom, "noise:-30dBFS", flash_path=FLASH, fresh=True) as board:
        out: dict[str, subprocess.CompletedProcess[str]] = {}
        if pio:
            ensure_firmware(board.port)
        command = [sys.executable, "-m", "mpremote", "connect", board.port, "resume", "exec", script(pio)]
        runner = threading.Thread(
            target=lambda: out.update(run=subprocess.run(command, capture_output=True, text=True, timeout=120))
        )
        runner.start()
        time.sleep(4)  # past the I2S start
        before = board.stats()
        time.sleep(8)
        after = board.stats()
        runner.join()
    assert before is not None and after is not None
    busy = after["busy_us"] - before["busy_us"]
    sleep = after["sleep_us"] - before["sleep_us"]
    print(out["run"].stdout.strip(), out["run"].stderr.strip()[-200:], f"busy {100 * busy / (busy + sleep):.1f}%")


if __name__ == "__main__":
    main()
