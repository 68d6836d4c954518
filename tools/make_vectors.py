#!/usr/bin/env python3
"""Generate the wire-protocol golden vectors (tests/vectors/*.bin + manifest.json).

The frames are packed by the firmware's own code (picomic_fw.proto.pack, the function the device's ring and
link call) running in the real MicroPython unix port (DECISIONS 25); 24-bit payloads go through the
firmware's INMP441 word conversion (picomic_fw.dsp.process24). This script only describes the frames and
writes what MicroPython produced; it checks each CRC against zlib as a sanity check.

Manifest: {"protocol": 1, "vectors": [{"name", "file", "description", "frames": [{"type", "seq", "ts_us",
"rate_hz", "samples", "length", "dropped", "flags", "payload_hex", "payload_sha256", "crc32"}]}]} -- every
frame carries both payload_hex and payload_sha256 (the max-size vector too). A .bin file is its frames
back to back.

    python tools/make_vectors.py            # (re)write tests/vectors
    python tools/make_vectors.py --check    # exit 1 if the committed vectors differ from the firmware's
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from picomic.deploy.build import micropython_exe  # noqa: E402

OUT_DIR = ROOT / "tests" / "vectors"
AUDIO, INFO, STATUS, END = 1, 2, 3, 4
DEVICE_DROP, I2S_OVERRUN, CLIPPED, FIRST, WIDTH32, STEREO = 1, 2, 4, 8, 16, 32
WRAP = 1 << 30

# Runs inside MicroPython: reads the frame specs, packs each with the firmware, prints one hex frame a line.
_MP_SCRIPT = r"""
import sys, json, binascii
sys.path.insert(0, sys.argv[2])
from picomic_fw import proto, dsp
with open(sys.argv[1]) as f:
    specs = json.load(f)
for s in specs:
    payload = binascii.unhexlify(s["payload_hex"])
    n = len(payload)
    buf = bytearray(proto.OVERHEAD + n)
    proto.init_frame(buf)
    proto.copy_into(buf, proto.HEADER, payload, n)
    if s.get("process24"):
        dsp.process24(buf, proto.HEADER, n, s["gain"])
    size = proto.pack(buf, s["type"], s["seq"], s["ts_us"], s["rate_hz"], s["samples"], n, s["dropped"],
                      s["flags"])
    print(binascii.hexlify(memoryview(buf)[:size]).decode())
"""


def _frame(ftype: int, seq: int, ts: int, payload: bytes, **fields: Any) -> dict[str, Any]:
    # A frame spec; header fields not given are 0.
    spec = {"rate_hz": 0, "samples": 0, "dropped": 0, "flags": 0, **fields}
    return {"type": ftype, "seq": seq, "ts_us": ts, "payload_hex": payload.hex(), **spec}


def _audio(
    seq: int, ts: int, samples: list[int], flags: int = 0, rate: int = 16000, dropped: int = 0, channels: int = 1
) -> dict[str, Any]:
    payload = struct.pack(f"<{len(samples)}h", *samples)
    return _frame(AUDIO, seq, ts, payload, rate_hz=rate, samples=len(samples) // channels, dropped=dropped, flags=flags)


def _words24(
    seq: int, ts: int, words: list[int], flags: int, rate: int = 16000, gain: int = 0, channels: int = 1
) -> dict[str, Any]:
    # Raw INMP441 slot words (sample in bits 31..8, junk low byte); the firmware converts them to int32.
    payload = struct.pack(f"<{len(words)}I", *(w & 0xFFFFFFFF for w in words))
    return _frame(
        AUDIO,
        seq,
        ts,
        payload,
        rate_hz=rate,
        samples=len(words) // channels,
        flags=flags | WIDTH32,
        process24=True,
        gain=gain,
    )


def _json(ftype: int, seq: int, ts: int, body: dict[str, Any]) -> dict[str, Any]:
    return _frame(ftype, seq, ts, json.dumps(body).encode())


_INFO = {
    "fw": "0.1.0",
    "proto": 1,
    "board": "pico",
    "mpy": "1.29.0",
    "uid": "e6614c311b7e5a2f",
    "ticks_bits": 30,
    "mic": "INMP441",
    "defaults": {"rate": 16000, "frame_ms": 10, "gain": 0, "bits": 16, "channels": 1},
    "limits": {
        "rate": [8000, 48000],
        "frame_ms": [5, 64],
        "gain": [0, 8],
        "bits": [16, 24],
        "channels": [1, 2],
        "max_payload": 24576,
        "line": 128,
    },
    "ring_frames": 32,
    "streaming": False,
}

_RAMP = [((i * 7919) % 60000) - 30000 for i in range(16)]  # no full-scale sample (CLIPPED unset)


def vector_specs() -> list[dict[str, Any]]:
    """The vectors: name, description, frame specs (payloads before the firmware packs them)."""
    big = [((i * 2654435761) >> 8) % (1 << 24) << 8 | 0xF8 for i in range(3072 * 2)]
    return [
        {
            "name": "audio16_small",
            "description": "16-bit mono, 8 samples incl. 0, +-1, full scale (CLIPPED), seq 5",
            "frames": [_audio(5, 123456, [0, 1, -1, 32767, -32768, 1000, -1000, 12345], CLIPPED)],
        },
        {
            "name": "seq_wrap",
            "description": "four 16-sample frames whose seq (2^30-2 .. 1) and ts_us "
            "(1 ms apart, 2^30-2500 ..) wrap at 2^30",
            "frames": [_audio((WRAP - 2 + i) % WRAP, (WRAP - 2500 + 1000 * i) % WRAP, _RAMP) for i in range(4)],
        },
        {
            "name": "first",
            "description": "first frame of an epoch: FIRST, seq 0",
            "frames": [_audio(0, 1000, _RAMP[:8], FIRST)],
        },
        {
            "name": "device_drop",
            "description": "seq 10 then seq 15 with DEVICE_DROP, dropped=4 (11..14 lost in the device ring)",
            "frames": [_audio(10, 200000, _RAMP[:8]), _audio(15, 200000 + 5 * 500, _RAMP[:8], DEVICE_DROP, dropped=4)],
        },
        {
            "name": "i2s_overrun",
            "description": "I2S_OVERRUN flagged by the timing check",
            "frames": [_audio(77, 5000000 % WRAP, _RAMP[:8], I2S_OVERRUN)],
        },
        {
            "name": "width32",
            "description": "24-bit mode: WIDTH32 int32 samples made by the firmware from "
            "INMP441 words with junk low bytes 0x00/0xF8/0xC0 (incl. negative and +-full scale, CLIPPED)",
            "frames": [
                _words24(
                    3,
                    4242,
                    [0x00000000, 0x000100F8, 0xFFFFFFC0, 0x7FFFFF00, 0x800000F8, 0x123456C0, 0xEDCBA900, 0x00FFFFF8],
                    CLIPPED,
                )
            ],
        },
        {
            "name": "stereo",
            "description": "diagnostic STEREO: 8 sample frames, left first (left ramp, right silent)",
            "frames": [_audio(9, 9000, [v for s in _RAMP[:8] for v in (s, 0)], STEREO, channels=2)],
        },
        {"name": "info", "description": "INFO reply (JSON)", "frames": [_json(INFO, 0, 777, _INFO)]},
        {
            "name": "status_ok",
            "description": "STATUS ok (PING reply)",
            "frames": [_json(STATUS, 12, 888, {"cmd": "PING", "ok": True})],
        },
        {
            "name": "status_error",
            "description": "STATUS error for a bad START",
            "frames": [_json(STATUS, 0, 999, {"cmd": "START", "ok": False, "error": "rate must be 8000..48000"})],
        },
        {
            "name": "end",
            "description": "END after STOP: seq = audio frames of the epoch",
            "frames": [_json(END, 42, 1234567, {"reason": "stop", "frames": 42, "dropped": 0, "overruns": 0})],
        },
        {
            "name": "session",
            "description": "STATUS ok (START), AUDIO FIRST seq 0, AUDIO seq 1, STATUS ok "
            "(PING, seq = next audio seq), AUDIO seq 2, END (frames 3), STATUS ok (STOP)",
            "frames": [
                _json(STATUS, 0, 100, {"cmd": "START", "ok": True, "rate": 16000, "samples": 16}),
                _audio(0, 1000, _RAMP, FIRST),
                _audio(1, 2000, _RAMP),
                _json(STATUS, 2, 2100, {"cmd": "PING", "ok": True}),
                _audio(2, 3000, _RAMP),
                _json(END, 3, 4000, {"reason": "stop", "frames": 3, "dropped": 0, "overruns": 0}),
                _json(STATUS, 3, 4001, {"cmd": "STOP", "ok": True}),
            ],
        },
        {
            "name": "max_payload",
            "description": "largest payload: 48 kHz, 24-bit stereo, 3072 sample frames = 24576 bytes",
            "frames": [_words24(1, 2, big, STEREO, rate=48000, channels=2)],
        },
    ]


def pack_with_firmware(specs: list[dict[str, Any]], fw_root: Path, timeout_s: float = 60.0) -> list[bytes]:
    """Pack frame specs with the firmware under ``fw_root`` (a source or .mpy build) in real MicroPython."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "specs.json"
        script = Path(tmp) / "pack.py"
        spec_path.write_text(json.dumps(specs))
        script.write_text(_MP_SCRIPT)
        proc = subprocess.run(
            [micropython_exe(), str(script), str(spec_path), str(fw_root)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"micropython failed: {proc.stderr or proc.stdout}")
    frames = [bytes.fromhex(line) for line in proc.stdout.split()]
    if len(frames) != len(specs):
        raise RuntimeError(f"micropython packed {len(frames)} frames for {len(specs)} specs")
    return frames


def generate(fw_root: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """(file name -> bytes, manifest) for every vector, packed by the firmware under ``fw_root``."""
    files: dict[str, bytes] = {}
    manifest: dict[str, Any] = {"protocol": 1, "vectors": []}
    vectors = vector_specs()
    packed = iter(pack_with_firmware([spec for vec in vectors for spec in vec["frames"]], fw_root))
    for vec in vectors:
        frames = [next(packed) for _ in vec["frames"]]
        entries = [_describe(frame) for frame in frames]
        name = f"{vec['name']}.bin"
        files[name] = b"".join(frames)
        manifest["vectors"].append(
            {"name": vec["name"], "file": name, "description": vec["description"], "frames": entries}
        )
    return files, manifest


def _describe(frame: bytes) -> dict[str, Any]:
    ftype, seq, ts, rate, samples, length, dropped, flags = struct.unpack_from("<BIIHHHHB", frame, 3)
    payload = frame[22 : 22 + length]
    (crc,) = struct.unpack_from("<I", frame, 22 + length)
    if crc != zlib.crc32(frame[2 : 22 + length]) or len(frame) != 26 + length:
        raise RuntimeError(f"firmware packed a bad frame: {frame[:32].hex()}")
    return {
        "type": ftype,
        "seq": seq,
        "ts_us": ts,
        "rate_hz": rate,
        "samples": samples,
        "length": length,
        "dropped": dropped,
        "flags": flags,
        "payload_hex": payload.hex(),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "crc32": crc,
    }


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed vectors")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    files, manifest = generate(ROOT / "firmware")
    files["manifest.json"] = manifest_text(manifest).encode()
    if args.check:
        stale = [n for n, data in files.items() if not (args.out / n).is_file() or (args.out / n).read_bytes() != data]
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
