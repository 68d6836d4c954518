"""Speed of the emulated Pico (run by hand): boot to REPL, idle, CPU-bound and 16 kHz I2S."""

# ruff: noqa: E501

import os
import subprocess
import sys
import time

import serial
from picomic.emulator.board import EmulatedBoard

R = os.environ.get("PICOMIC_RP2_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "rp2"))
MP = os.path.join(os.path.dirname(sys.executable), "mpremote")
t0 = time.monotonic()
with EmulatedBoard(
    f"{R}/micropython-v1.28.0-RPI_PICO.uf2",
    f"{R}/rp2040-bootrom-b1.bin",
    "sine:1000",
    fresh=True,
    flash_path=os.path.join(os.environ.get("TMPDIR", "/tmp"), "picomic-measure.flash"),
) as b:
    t_usb = time.monotonic() - t0
    with serial.Serial(b.port, timeout=0.05) as s:
        s.write(b"\r\n")
        buf = b""
        while b">>>" not in buf:
            buf += s.read(100)
    print(f"boot->usb {t_usb:.3f}s, boot->REPL {time.monotonic() - t0:.3f}s (fresh flash, littlefs formats)")
    time.sleep(2)
    a = b.stats()
    time.sleep(3)
    c = b.stats()
    de = c["t_us"] - a["t_us"]
    dw = (c["wall_ms"] - a["wall_ms"]) * 1000
    print(f"idle: emulated/wall {de / dw:.3f}, busy share {(c['busy_us'] - a['busy_us']) / de * 100:.2f}%")
    cpu = 'import time\nt=time.ticks_us()\nx=0\nfor i in range(200000): x+=i\nprint("T",time.ticks_diff(time.ticks_us(),t))'
    a = b.stats()
    r = subprocess.run([MP, "connect", b.port, "exec", cpu], capture_output=True, text=True, timeout=300)
    c = b.stats()
    T = int(r.stdout.split()[1])
    print(
        f"cpu loop: {T} emulated us; speed (emulated us per wall us spent emulating) {(c['t_us'] - a['t_us']) / ((c['run_wall_ms'] - a['run_wall_ms']) * 1000):.3f} wall-loop {T / 1e6 / (c['run_wall_ms'] - a['run_wall_ms']) * 1000:.2f}, busy {(c['busy_us'] - a['busy_us']) / (c['t_us'] - a['t_us']) * 100:.1f}%"
    )
    i2s = """from machine import I2S, Pin
import array, time
a=array.array("i",[0]*2048)
i2s=I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, ibuf=20000)
i2s.readinto(a)
t=time.ticks_us()
for k in range(32): i2s.readinto(a)
print("T",time.ticks_diff(time.ticks_us(),t))
i2s.deinit()"""
    a = b.stats()
    w = time.monotonic()
    r = subprocess.run([MP, "connect", b.port, "exec", i2s], capture_output=True, text=True, timeout=300)
    w = time.monotonic() - w
    c = b.stats()
    T = int(r.stdout.split()[1])
    de = c["t_us"] - a["t_us"]
    dw = (c["wall_ms"] - a["wall_ms"]) * 1000
    print(
        f"i2s 16k: {32 * 2048} samples in {T / 1e6:.3f} s emulated; speed {de / ((c['run_wall_ms'] - a['run_wall_ms']) * 1000):.3f} (wall {w:.2f}s), busy {(c['busy_us'] - a['busy_us']) / de * 100:.1f}%",
        r.stderr[-200:],
    )
