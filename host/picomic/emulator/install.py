"""Finding Node.js and installing the pinned rp2040js into the user's cache (`npm ci --ignore-scripts`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from picomic.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent / "rp2040js"
"""The packaged harness: package.json + package-lock.json (rp2040js pinned) + pico.mjs."""
HARNESS = PACKAGE_DIR / "pico.mjs"
MIN_NODE = 18
_NODE_HINT = "install Node.js >= 18 (e.g. `apt-get install nodejs`, or from nodejs.org)"
_INSTALL_HINT = "the emulated Pico needs rp2040js: run `picomic emulator install` (npm ci into your cache)"


@dataclass(frozen=True, slots=True)
class Harness:
    """What runs the emulated Pico: the node executable, pico.mjs and the node_modules holding rp2040js."""

    node: str
    script: Path
    modules: Path


def rp2040js_version() -> str:
    """The exact rp2040js version the lock file pins."""
    lock = json.loads((PACKAGE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/rp2040js"]["version"])


def cache_root() -> Path:
    """$XDG_CACHE_HOME/picomic, else ~/.cache/picomic."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "picomic"


def install_dir() -> Path:
    return cache_root() / f"rp2040js-{rp2040js_version()}"


def find_node() -> str:
    """The `node` executable (>= 18), or a ConfigError saying how to get it."""
    node = shutil.which("node")
    if node is None:
        raise ConfigError(f"the emulated Pico needs Node.js and `node` is not on PATH: {_NODE_HINT}")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    match = re.match(r"v(\d+)", out.strip())
    if match is None or int(match.group(1)) < MIN_NODE:
        raise ConfigError(
            f"the emulated Pico needs Node.js >= {MIN_NODE}, found {out.strip() or 'unknown'}: {_NODE_HINT}"
        )
    return node


def install(target: Path | None = None) -> Path:
    """Copy package.json + lock into the install dir and run `npm ci --ignore-scripts` there; returns it."""
    find_node()
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(f"installing rp2040js needs `npm`, which is not on PATH: {_NODE_HINT}")
    dest = target if target is not None else install_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PACKAGE_DIR / name, dest / name)
    proc = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise ConfigError(f"`npm ci` for rp2040js failed in {dest}: {tail or 'no output'}")
    return dest


def harness(modules_root: Path | None = None) -> Harness:
    """(node, pico.mjs, node_modules) ready to run, or ConfigError naming `picomic emulator install`."""
    node = find_node()
    root = modules_root if modules_root is not None else install_dir()
    modules = root / "node_modules"
    package = modules / "rp2040js" / "package.json"
    if not package.is_file():
        raise ConfigError(_INSTALL_HINT)
    installed = json.loads(package.read_text(encoding="utf-8")).get("version")
    if installed != rp2040js_version():
        raise ConfigError(f"{modules} holds rp2040js {installed}, not {rp2040js_version()}: {_INSTALL_HINT}")
    return Harness(node, HARNESS, modules)
