"""What the pieces of the firmware's per-frame work cost on the emulated RP2040, in emulated µs per call (the
chip's own `time.ticks_us`, so the host's load does not matter): MicroPython rp2's own primitives (a Python call,
`select.poll.ipoll(0)`, `poll.modify`, a 64-byte stdout write, `I2S.readinto` of one 10 ms frame at 16 kHz in
ASYNCIO mode) and picomic's (the ring's per-frame bookkeeping, sealing a frame: header + CRC-32, the clip scan,
`Capture.step` of a whole frame with rp2's I2S and with picomic's PIO capture, its `readinto`, `due_us`).
docs/performance.md quotes them beside `picomic bench --only emulated`.

    PICOMIC_RP2_DIR=../shared/rp2 python tools/emu_fw_costs.py
"""

import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from picomic.emulator.board import EmulatedBoard
from picomic.emulator.firmware import ensure_firmware

R = os.environ.get("PICOMIC_RP2_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "rp2"))
SCRIPT = r"""
import select, time, sys
from machine import I2S, Pin
from picomic_fw.ring import FrameRing
from picomic_fw.capture import Capture
from picomic_fw import dsp
t = time.ticks_us
res = []
def meas(name, f, n=20):
    a = t()
    for _ in range(n):
        f()
    res.append((name, round(time.ticks_diff(t(), a) / n, 1)))
def nop():
    pass
meas("python call (empty function)", nop, 100)
meas("time.ticks_us()", t, 100)
r = FrameRing(32, 320, 16000, 2)
def ring():
    s = r.acquire(); r.push(s, 1, 2, 320, 0); r.release(r.pop())
meas("ring acquire+push+pop+release", ring)
meas("seal one 16 kHz frame (header + CRC-32 of 342 B)", lambda: r.seal(0))
buf = r.bufs[0]
meas("clip scan of 160 samples (process16, gain 0)", lambda: dsp.process16(buf, 22, 320, 0))
i2s = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.RX, bits=16, format=I2S.MONO, rate=16000, ibuf=20000)
p = select.poll()
p.register(i2s, select.POLLIN)
p.register(sys.stdin.buffer, select.POLLIN)
for _ in p.ipoll(0):
    pass
def ip0():
    for _ in p.ipoll(0):
        pass
meas("poll.ipoll(0), two objects", ip0, 50)
meas("poll.modify", lambda: p.modify(i2s, select.POLLIN), 50)
mv = memoryview(bytearray(320))
time.sleep_ms(400)
meas("I2S.readinto of 320 B (a 10 ms frame, 16 kHz 16-bit, ASYNCIO)", lambda: i2s.readinto(mv), 10)
cfg = {"rate": 16000, "bits": 16, "channels": 1, "frame_ms": 10, "gain": 0}
cap = Capture(i2s, r, cfg, 20000, t, 125000000, 0)
cap.settle = 0
time.sleep_ms(400)
meas("Capture.step of a whole frame (readinto + scan + bookkeeping)", cap.step, 10)
meas("Capture.due_us", lambda: cap.due_us(t()), 50)
i2s.deinit()
from picomic_fw.pio_i2s import PioI2S
pio = PioI2S(0, Pin(16), Pin(18, Pin.IN, Pin.PULL_DOWN), 16000, 16, 1, 20000)
time.sleep_ms(400)
meas("PioI2S.readinto of 320 B (picomic's PIO + DMA capture)", lambda: pio.readinto(mv), 10)
cap = Capture(pio, r, cfg, 20000, t, 125000000, 0)
cap.settle = 0
time.sleep_ms(400)
meas("Capture.step of a whole frame, PioI2S (readinto + scan + bookkeeping)", cap.step, 10)
pio.deinit()
out = sys.stdout.buffer
junk = b"A" * 64
time.sleep_ms(50)
meas("stdout write of 64 B", lambda: out.write(junk), 4)
print()
print("RESULT", res)
"""


def main() -> None:
    uf2, bootrom = f"{R}/micropython-v1.28.0-RPI_PICO.uf2", f"{R}/rp2040-bootrom-b1.bin"
    flash = Path(tempfile.mkdtemp()) / "costs.flash"
    with EmulatedBoard(uf2, bootrom, "noise:-30dBFS", flash_path=flash, fresh=True) as board:
        ensure_firmware(board.port)
        cmd = [sys.executable, "-m", "mpremote", "connect", board.port, "resume", "exec", SCRIPT]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        sys.exit(f"no result: {run.stdout[-500:]} {run.stderr[-500:]}")
    for name, us in ast.literal_eval(lines[-1][len("RESULT "):]):
        print(f"{us:9.1f} µs  {name}")


if __name__ == "__main__":
    main()
