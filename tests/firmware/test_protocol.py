"""Frame packing against the golden vectors, CRC-32 against zlib, header layout (firmware in MicroPython)."""

from __future__ import annotations

import hashlib
import json
import random
import zlib
from pathlib import Path

from fwhelpers import VECTORS, load_tool, parse_frames, run_mp
from picomic.deploy.build import FirmwareBuild


def test_golden_vectors_match_firmware_packing(fw: FirmwareBuild) -> None:
    mv = load_tool("make_vectors")
    files, manifest = mv.generate(fw.root)
    for name, data in files.items():
        assert (VECTORS / name).read_bytes() == data, f"{name} differs from what the firmware packs now"
    assert (VECTORS / "manifest.json").read_text() == mv.manifest_text(manifest)


def test_manifest_describes_its_bin_files() -> None:
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    assert manifest["protocol"] == 1
    names = {v["name"] for v in manifest["vectors"]}
    assert {
        "audio16_small",
        "seq_wrap",
        "device_drop",
        "i2s_overrun",
        "first",
        "width32",
        "stereo",
        "info",
        "status_ok",
        "status_error",
        "end",
        "max_payload",
    } <= names
    for vec in manifest["vectors"]:
        frames = parse_frames((VECTORS / vec["file"]).read_bytes())
        assert len(frames) == len(vec["frames"])
        for got, want in zip(frames, vec["frames"], strict=False):
            assert bytes.fromhex(want["payload_hex"]) == got.payload
            assert hashlib.sha256(got.payload).hexdigest() == want["payload_sha256"]
            for key in ("type", "seq", "ts_us", "rate_hz", "samples", "length", "dropped", "flags"):
                assert getattr(got, key) == want[key], (vec["name"], key)
    big = next(v for v in manifest["vectors"] if v["name"] == "max_payload")
    assert big["frames"][0]["length"] == 24576


def test_crc32_matches_zlib_on_random_data(fw: FirmwareBuild, tmp_path: Path) -> None:
    rng = random.Random(1234)
    blobs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (0, 1, 2, 3, 4, 5, 31, 255, 1000, 24602)]
    blobs += [bytes([0xFF]) * 64, bytes(64)]
    data = tmp_path / "blobs.bin"
    data.write_bytes(b"".join(len(b).to_bytes(4, "little") + b for b in blobs))
    out = run_mp(
        fw,
        """
from picomic_fw import proto
import struct
with open(sys.argv[1], "rb") as f:
    raw = f.read()
i = 0
while i < len(raw):
    n = struct.unpack_from("<I", raw, i)[0]
    print(proto.crc32(raw[i + 4:i + 4 + n]))
    i += 4 + n
""",
        args=(str(data),),
    )
    assert [int(x) for x in out.split()] == [zlib.crc32(b) for b in blobs]


def test_packed_header_layout(fw: FirmwareBuild) -> None:
    out = run_mp(
        fw,
        """
from picomic_fw import proto
import binascii
buf = bytearray(proto.OVERHEAD + 4)
proto.init_frame(buf)
buf[22:26] = b"\\x01\\x02\\x03\\x04"
size = proto.pack(buf, proto.T_AUDIO, 0x3FFFFFFF, 0x3FFFFFFE, 48000, 2, 4, 65535, 0x3F)
print(size, binascii.hexlify(buf).decode())
""",
    )
    size, hexdata = out.split()
    raw = bytes.fromhex(hexdata)
    assert int(size) == 30 == len(raw)
    assert raw[:4] == bytes([0xA5, 0x5A, 1, 1])
    assert raw[4:8] == (2**30 - 1).to_bytes(4, "little") and raw[8:12] == (2**30 - 2).to_bytes(4, "little")
    assert raw[12:14] == (48000).to_bytes(2, "little") and raw[14:16] == b"\x02\x00"
    assert raw[16:18] == b"\x04\x00" and raw[18:20] == b"\xff\xff" and raw[20] == 0x3F
    assert raw[21] == (~sum(raw[2:21])) & 0xFF
    assert raw[26:30] == zlib.crc32(raw[2:26]).to_bytes(4, "little")
