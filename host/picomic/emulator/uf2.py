"""Validating what the emulated Pico runs: a MicroPython UF2 for the RP2040, and the RP2040 bootrom.

One clear ConfigError line for each way a user can hand over the wrong file: a missing path, a folder, a text
file, random bytes, an RP2350 (Pico 2) image, a UF2 that is not MicroPython, a bootrom of the wrong size or
without the flash functions the harness replaces.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from picomic.errors import ConfigError

BLOCK = 512
MAGIC_START0, MAGIC_START1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
FLAG_NOT_MAIN_FLASH, FLAG_FAMILY_ID = 0x0000_0001, 0x0000_2000
FAMILY_RP2040 = 0xE48BFF56
FAMILIES_RP2350 = frozenset({0xE48BFF57, 0xE48BFF58, 0xE48BFF59, 0xE48BFF5A, 0xE48BFF5B})
FLASH_BASE, FLASH_MAX = 0x1000_0000, 16 * 1024 * 1024
BOOTROM_SIZE = 16 * 1024
BOOTROM_B1_SHA256 = "90b31e108faedfa6bbcfcc33ba05dac61e645108cfbbdc385f8dafc71fde44ae"
"""SHA-256 of the RP2040 B1 mask ROM (raspberrypi/pico-bootrom, revision B1)."""
ROM_FUNCTIONS = ("RE", "RP", "IF", "EX", "FC", "CX")
"""Flash functions the harness replaces through the ROM function table (docs/emulator.md, gap 3)."""


@dataclass(frozen=True, slots=True)
class Uf2Image:
    """A validated RP2040 MicroPython UF2."""

    path: Path
    sha256: str
    blocks: int
    flash_start: int
    """Lowest flash offset written."""
    flash_end: int
    """One past the highest flash offset written."""


def read_uf2(path: str | Path) -> Uf2Image:
    """Validate `path` as a MicroPython UF2 for the RP2040 (ConfigError otherwise)."""
    p = Path(path)
    data = _read_file(p, "UF2")
    start, image = _assemble(p, data)
    if b"MicroPython" not in image:
        raise ConfigError(f"{p} is an RP2040 UF2 but not MicroPython firmware (no 'MicroPython' in its image)")
    return Uf2Image(p, hashlib.sha256(data).hexdigest(), len(data) // BLOCK, start, start + len(image))


def image_bytes(path: str | Path) -> tuple[int, bytes]:
    """(flash offset, bytes) the UF2 writes: its blocks laid out from the lowest offset, gaps 0xFF."""
    p = Path(path)
    return _assemble(p, _read_file(p, "UF2"))


def _read_file(p: Path, what: str) -> bytes:
    if not p.exists():
        raise ConfigError(f"{what} file not found: {p}")
    if p.is_dir():
        raise ConfigError(f"{p} is a folder, not a {what} file")
    return p.read_bytes()


def _assemble(p: Path, data: bytes) -> tuple[int, bytes]:
    if not data:
        raise ConfigError(f"{p} is empty, not a UF2 image")
    if not _looks_uf2(data):
        kind = "a text file" if _is_text(data) else "not a UF2 image (no UF2 block magic)"
        raise ConfigError(f"{p} is {kind}; give a MicroPython .uf2 for RPI_PICO")
    if len(data) % BLOCK:
        raise ConfigError(f"{p} is a truncated UF2 ({len(data)} bytes is not a multiple of {BLOCK})")
    blocks = [_block(p, data[i : i + BLOCK], i // BLOCK) for i in range(0, len(data), BLOCK)]
    main = [(addr - FLASH_BASE, payload) for addr, payload in blocks if addr >= 0]
    if not main:
        raise ConfigError(f"{p} has no blocks for the RP2040 flash")
    lo = min(off for off, _ in main)
    hi = max(off + len(payload) for off, payload in main)
    image = bytearray(b"\xff" * (hi - lo))
    for off, payload in main:
        image[off - lo : off - lo + len(payload)] = payload
    return lo, bytes(image)


def _block(p: Path, block: bytes, index: int) -> tuple[int, bytes]:
    """(target address, payload) of one block; address -1 for a block not meant for main flash."""
    m0, m1, flags, addr, size, number, total, family = struct.unpack_from("<8I", block)
    (m_end,) = struct.unpack_from("<I", block, BLOCK - 4)
    if (m0, m1, m_end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
        raise ConfigError(f"{p}: UF2 block {index} has bad magic (corrupt or truncated file)")
    if number >= total or size > 476:
        raise ConfigError(f"{p}: UF2 block {index} is malformed (block {number} of {total}, {size} bytes)")
    if flags & FLAG_FAMILY_ID and family in FAMILIES_RP2350:
        raise ConfigError(f"{p} is an RP2350 (Pico 2) image; rp2040js emulates only the RP2040 (use an RPI_PICO UF2)")
    if flags & FLAG_FAMILY_ID and family != FAMILY_RP2040:
        raise ConfigError(f"{p} is a UF2 for family 0x{family:08x}, not the RP2040 (0x{FAMILY_RP2040:08x})")
    if flags & FLAG_NOT_MAIN_FLASH:
        return -1, b""
    if not (addr >= FLASH_BASE and addr + size <= FLASH_BASE + FLASH_MAX):
        raise ConfigError(f"{p}: UF2 block {index} targets 0x{addr:08x}, outside the RP2040 flash (0x10000000..)")
    return addr, block[32 : 32 + size]


def _looks_uf2(data: bytes) -> bool:
    return len(data) >= 8 and struct.unpack_from("<2I", data) == (MAGIC_START0, MAGIC_START1)


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(b >= 0x20 or b in b"\t\r\n\f" for b in head)


def check_bootrom(path: str | Path) -> str:
    """Validate an RP2040 bootrom (16 KiB; B1 by checksum, or any whose ROM function table has the flash
    functions the harness needs). Returns its SHA-256."""
    p = Path(path)
    data = _read_file(p, "bootrom")
    if len(data) != BOOTROM_SIZE:
        raise ConfigError(f"{p} is {len(data)} bytes; an RP2040 bootrom is {BOOTROM_SIZE} (16 KiB)")
    digest = hashlib.sha256(data).hexdigest()
    if digest == BOOTROM_B1_SHA256:
        return digest
    missing = [code for code in ROM_FUNCTIONS if code not in rom_functions(data)]
    if missing:
        raise ConfigError(f"{p} is not an RP2040 bootrom: its ROM function table lacks {', '.join(missing)}")
    return digest


def rom_functions(rom: bytes) -> dict[str, int]:
    """The ROM function table (16-bit pointer at 0x14): two-letter code → function address."""
    table: dict[str, int] = {}
    ptr = struct.unpack_from("<H", rom, 0x14)[0]
    while ptr + 4 <= len(rom):
        code, addr = struct.unpack_from("<2H", rom, ptr)
        if not code:
            break
        table[chr(code & 0xFF) + chr(code >> 8)] = addr & ~1
        ptr += 4
    return table
