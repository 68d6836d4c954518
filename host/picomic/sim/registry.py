"""Running simulated and emulated boards, so `picomic devices` lists them beside USB boards (DECISIONS 38), and
the stable `--link PATH` a host can keep pointing at across restarts of `picomic sim`.

Each running `picomic sim` writes one JSON file, `<pid>.json`, under `$XDG_RUNTIME_DIR/picomic/` (a private
folder in the temp dir when that is unset); an entry whose process is gone is ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def registry_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = Path(base) / "picomic" if base else Path(tempfile.gettempdir()) / f"picomic-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def registered(kind: str, port: str, signal: str | None, link: str | None = None) -> Iterator[Path]:
    """Register this process's board for as long as the block runs (and point `link` at its port)."""
    entry = registry_dir() / f"{os.getpid()}.json"
    entry.write_text(json.dumps({"kind": kind, "port": port, "signal": signal, "link": link, "pid": os.getpid()}))
    if link is not None:
        point_link(Path(link), port)
    try:
        yield entry
    finally:
        entry.unlink(missing_ok=True)


def point_link(link: Path, port: str) -> None:
    """Make `link` a symlink to `port`, atomically (a host opening `link` never sees it missing)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(port, tmp)
    os.replace(tmp, link)


def running() -> list[dict[str, object]]:
    """The boards registered by live `picomic sim` processes."""
    out = []
    for path in sorted(registry_dir().glob("*.json")):
        try:
            entry = json.loads(path.read_text())
            os.kill(int(entry["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
