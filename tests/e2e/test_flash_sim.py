"""`picomic flash` with the real mpremote against the simulated board, whose working directory is its flash
folder: copy what differs, remove stale files, keep a user's main.py, reboot into the new firmware, verify the
handshake; a second run changes nothing; --remove leaves a plain REPL; a dry run touches no file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from picomic.deploy.build import build_firmware, micropython_exe, micropython_sys_mpy
from picomic.link.ports import probe_port

pytestmark = pytest.mark.slow


def flash(port: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "picomic.cli", "flash", "--port", port, *extra],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def expected_files() -> dict[str, bytes]:
    build = build_firmware(sys_mpy=micropython_sys_mpy(micropython_exe()))
    return {rel: (build.root / rel).read_bytes() for rel in build.files}


def test_flash_copies_what_differs_and_reflash_is_a_noop(sim: Callable[..., Any]) -> None:
    board = sim("noise:-70dBFS")
    fl = board.flash_dir
    (fl / "picomic_fw" / "app.mpy").unlink()
    (fl / "picomic_fw" / "old.py").write_text("STALE = 1\n")  # a .py would shadow the .mpy: must go
    (fl / "main.py").write_text("print('my own program')\n")
    (fl / "board.json").write_text('{"board": "pico", "ibuf_ms": 1000}')  # a stale profile on the board
    first = flash(board.port)
    assert first.returncode == 0, first.stderr
    assert "copy    main.py" in first.stdout and "copy    picomic_fw/app.mpy" in first.stdout
    # flashing puts the profile back
    assert "copy    board.json" in first.stdout
    assert "remove  picomic_fw/old.py" in first.stdout and "keep    10 unchanged" in first.stdout
    assert "ok: copied 3 file(s), removed 1, your main.py is now main.py.orig; picomic 0.1.0 answers" in first.stdout
    on_board = {k: v[1] for k, v in snapshot(fl).items()}
    assert on_board.pop("main.py.orig") == b"print('my own program')\n"
    assert on_board == expected_files()
    assert board.reboots == 1  # `mpremote reset` rebooted the board into what was flashed

    before = snapshot(fl)
    second = flash(board.port)
    assert second.returncode == 0, second.stderr
    assert "0 file(s), 0 bytes to copy; 0 to remove" in second.stdout and "already up to date" in second.stdout
    assert snapshot(fl) == before  # not even rewritten (mtimes unchanged)
    assert probe_port(board.port)["firmware"] == "0.1.0"

    gone = flash(board.port, "--remove")
    assert gone.returncode == 0, gone.stderr
    assert "(your main.py is back)" in gone.stdout
    assert {k: v[1] for k, v in snapshot(fl).items()} == {"main.py": b"print('my own program')\n"}


def test_dry_run_touches_no_file_and_remove_restores_a_plain_repl(sim: Callable[..., Any]) -> None:
    board = sim("noise:-70dBFS")
    fl = board.flash_dir
    (fl / "picomic_fw" / "ring.mpy").write_bytes(b"garbage")
    before = snapshot(fl)
    dry = flash(board.port, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "copy    picomic_fw/ring.mpy" in dry.stdout and "(changed)" in dry.stdout
    assert "dry run: no file was changed" in dry.stdout
    assert snapshot(fl) == before

    gone = flash(board.port, "--remove")
    assert gone.returncode == 0, gone.stderr
    assert "plain MicroPython REPL" in gone.stdout
    assert sorted(p.name for p in fl.iterdir()) == []
    assert probe_port(board.port)["firmware"] is None  # the board now answers with a REPL, not picomic

    again = flash(board.port)
    assert again.returncode == 0, again.stderr
    assert "ok: copied 13 file(s)" in again.stdout  # main.py, board.json, 10 modules, _build (the digest)
    assert {k: v[1] for k, v in snapshot(fl).items()} == expected_files()
