"""Measure the firmware in the emulated Pico (the real MicroPython rp2 UF2 in rp2040js), per START mode.

Needs the emulator (picomic.emulator, branch `emu`) and a firmware build folder:

    FW=$(PYTHONPATH=host python -c "from picomic.deploy.build import build_firmware as b; print(b(sys_mpy=4870).root)")
    PYTHONPATH=<emu worktree>/host python tools/emu_measure.py --fw $FW [--seconds 4] [--allow-all]

4870 = sys.implementation._mpy of MicroPython 1.28 on an RP2040 (.mpy 6.3, armv6m). The firmware is copied
onto the emulated flash with mpremote, then a soft reset (Ctrl-D at the REPL) runs main.py. For each mode the
script streams `--seconds` of emulated audio (a 1 kHz sine), PINGs the device, STOPs, and reports frames,
sequence gaps, device drops, I2S_OVERRUN flags and the core's busy share (the harness's `stats` events:
emulated time not in WFI/WFE). `--allow-all` replaces the RP2040 row of picomic_fw/chips.py's MODES on the
emulated flash by "everything up to 48 kHz", so modes the firmware refuses can be measured too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import serial
from picomic.emulator.board import EmulatedBoard

MODES = ("rate=16000", "rate=16000 bits=24", "rate=32000", "rate=48000", "rate=48000 bits=24",
         "rate=16000 bits=24 channels=2")  # fmt: skip
R = Path(os.environ.get("PICOMIC_RP2_DIR", "/work/shared/rp2"))
MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def frames(buf: bytearray) -> list[tuple[int, int, int, int, bytes]]:
    """Pop whole frames (type, seq, flags, dropped, payload) off the front of buf (resync on bad bytes)."""
    out = []
    while True:
        i = buf.find(b"\xa5\x5a\x01")
        if i < 0:
            del buf[:-2]
            return out
        del buf[:i]
        if len(buf) < 26:
            return out
        ftype, seq, _ts, _rate, _n, length, dropped, flags, hcheck = struct.unpack_from("<BIIHHHHBB", buf, 3)
        if hcheck != (~sum(buf[2:21])) & 0xFF:
            del buf[:1]
            continue
        if len(buf) < 26 + length:
            return out
        (crc,) = struct.unpack_from("<I", buf, 22 + length)
        if crc != zlib.crc32(buf[2 : 22 + length]):
            del buf[:1]
            continue
        out.append((ftype, seq, flags, dropped, bytes(buf[22 : 22 + length])))
        del buf[: 26 + length]


def command(s: serial.Serial, line: bytes, want_type: int, timeout: float = 20.0) -> dict:
    s.write(line + b"\n")
    buf = bytearray()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        buf += s.read(4096)
        for ftype, _seq, _f, _d, payload in frames(buf):
            if ftype == want_type:
                return json.loads(payload)
    raise TimeoutError(f"no reply to {line!r}")


def stream(board: EmulatedBoard, s: serial.Serial, args: str, seconds: float) -> dict:
    start = command(s, b"START " + args.encode(), 3)
    if not start.get("ok"):
        return {"mode": args, "refused": start.get("error")}
    rate = start["rate"]
    spf = start["samples"]
    want = int(seconds * rate / spf) + int(4096 / spf) + 1
    a = board.stats()
    w0 = time.monotonic()
    buf = bytearray()
    audio = []
    end_info = None
    last_ping = 0.0
    while end_info is None and time.monotonic() - w0 < seconds * 8 + 30:
        now = time.monotonic()
        if now - last_ping > 0.5:
            s.write(b"PING\n" if len(audio) < want else b"STOP\n")
            last_ping = now
        buf += s.read(8192)
        for ftype, seq, flags, dropped, _p in frames(buf):
            if ftype == 1:
                audio.append((seq, flags, dropped))
            elif ftype == 4:
                end_info = json.loads(_p)
    c = board.stats()
    seqs = [x[0] for x in audio]
    gaps = sum((b - a - 1) % (1 << 30) for a, b in zip(seqs, seqs[1:]))
    de = (c["t_us"] - a["t_us"]) if a and c else 0
    return {
        "mode": args, "frames": len(audio), "lost": gaps, "device_dropped": sum(x[2] for x in audio),
        "overrun_flags": sum(1 for x in audio if x[1] & 2), "end": end_info,
        "busy_pct": round((c["busy_us"] - a["busy_us"]) / de * 100, 1) if de else None,
        "emulated_s": round(de / 1e6, 2), "wall_s": round(time.monotonic() - w0, 1),
        "rate_true_hz": start.get("rate_true_hz"), "ibuf": start.get("ibuf"),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fw", required=True, help="a firmware build folder (build_firmware().root)")
    ap.add_argument("--uf2", default=str(R / "micropython-v1.28.0-RPI_PICO.uf2"))
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--allow-all", action="store_true")
    ap.add_argument("--modes", nargs="*", default=list(MODES))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fw = Path(tmp) / "fw"
        shutil.copytree(args.fw, fw)
        if args.allow_all:
            for name in ("chips.mpy", "chips.py"):
                (fw / "picomic_fw" / name).unlink(missing_ok=True)
            src = (Path(__file__).resolve().parents[1] / "firmware" / "picomic_fw" / "chips.py").read_text()
            src = src.replace('"RP2040": ((16, 1, 48000), (24, 1, 32000), (16, 2, 32000), (24, 2, 16000))',
                              '"RP2040": ((16, 1, 48000), (24, 1, 48000), (16, 2, 48000), (24, 2, 48000))')
            (fw / "picomic_fw" / "chips.py").write_text(src)
        with EmulatedBoard(args.uf2, R / "rp2040-bootrom-b1.bin", "sine:1000", fresh=True,
                           flash_path=Path(tmp) / "pico.flash") as board:  # fmt: skip
            cp = [MPREMOTE, "connect", board.port, "fs", "mkdir", ":picomic_fw"]
            subprocess.run(cp, capture_output=True, timeout=120, check=False)
            files = [str(p.relative_to(fw)) for p in sorted(fw.rglob("*")) if p.is_file()]
            for rel in files:
                r = subprocess.run([MPREMOTE, "connect", board.port, "fs", "cp", str(fw / rel), ":" + rel],
                                   capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
                if r.returncode:
                    print("copy failed", rel, r.stderr, file=sys.stderr)
                    return 1
            with serial.Serial(board.port, timeout=0.05) as s:
                s.write(b"\r\x03\x03\x02\x04")  # friendly REPL, Ctrl-D: soft reset runs main.py
                time.sleep(2)
                s.reset_input_buffer()
                info = command(s, b"INFO", 2)
                print(json.dumps({"info": {k: info.get(k) for k in ("fw", "mpy", "chip", "clk_hz", "rate_true_hz",
                                                                    "pio_div_round")}}), flush=True)  # fmt: skip
                for mode in args.modes:
                    print(json.dumps(stream(board, s, mode, args.seconds)), flush=True)
                    time.sleep(0.5)
                    s.reset_input_buffer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
