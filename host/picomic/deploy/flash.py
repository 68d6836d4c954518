"""`picomic flash`: put the picomic firmware on a MicroPython board (or take it off again) with mpremote.

Steps: find the board → stop a running stream (STOP) → read its MicroPython version, ``sys.implementation._mpy``
and the files of ours already on it (one ``mpremote exec``: sizes and SHA-256) → build the firmware for that
.mpy version and native arch (:func:`picomic.deploy.build.build_firmware`) → copy only what differs, remove stale
files of ours (one chained ``mpremote fs`` call) → check the hashes again → ``mpremote reset`` (a real board
reboots and re-enumerates; the simulated board restarts its interpreter from its flash folder) → INFO handshake.

The mpremote side (reading the board, copying, resetting) lives in :mod:`picomic.deploy.boardfs`. A user's own
``main.py`` is kept as ``main.py.orig`` and put back by ``--remove``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picomic.deploy.boardfs import (
    BACKUP,
    MPREMOTE_TIMEOUT_S,
    BoardState,
    chain,
    inspect,
    mpremote,
    reboot,
    reset_and_handshake,
)
from picomic.deploy.build import FW_PACKAGE, FirmwareBuild, board_profile, build_firmware, firmware_dir, known_boards
from picomic.errors import ConfigError, DeviceError, LinkError
from picomic.link.ports import find_port, list_boards


@dataclass(frozen=True, slots=True)
class Plan:
    """What `flash` will do: copy (path, size, why), remove, unchanged."""

    target: str
    board: str
    build: FirmwareBuild
    copy: tuple[tuple[str, int, str], ...]
    remove: tuple[str, ...]
    unchanged: tuple[str, ...]
    mkdir: bool
    backup_main: bool

    @property
    def noop(self) -> bool:
        return not (self.copy or self.remove or self.mkdir or self.backup_main)


# ------------------------------------------------------------------------------------------------ planning


def detect_board(machine: str) -> str | None:
    """Board profile name from ``sys.implementation._machine`` (None for a board that is not a Pico)."""
    m = machine.lower()
    if "rp2040" not in m and "rp2350" not in m:
        return None
    two = "rp2350" in m or bool(re.search(r"pico ?2", m))
    wireless = bool(re.search(r"pico ?2? w\b", m))
    return ("pico2" if two else "pico") + ("w" if wireless else "")


def choose_board(requested: str | None, state: BoardState | None) -> str:
    """`--board`, checked against the MCU the board reports; detected when not given; else ``pico``."""
    detected = detect_board(state.machine) if state else None
    if requested is None:
        return detected or "pico"
    if requested not in known_boards():
        raise ConfigError(f"unknown board {requested!r}; known boards: {', '.join(known_boards())}")
    mcu = str(board_profile(requested).get("mcu", "")).lower()
    if state is not None and detected is not None and mcu and mcu not in state.machine.lower():
        raise ConfigError(
            f"--board {requested} is for the {mcu.upper()}, but the board reports {state.machine!r}; "
            f"use --board {detected}"
        )
    return requested


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_plan(build: FirmwareBuild, state: BoardState | None, target: str, board: str) -> Plan:
    """Compare the build with the board: copy what is new or different, remove our files the build lacks."""
    backup = bool(state and state.main_ours is False)
    if backup and state and state.has_backup:
        raise ConfigError(
            f"main.py on the board is not picomic's and {BACKUP} already exists; keep what you need and delete "
            f"the other (mpremote rm :{BACKUP}), then run picomic flash again"
        )
    have = {k: v for k, v in (state.files if state else {}).items() if not (backup and k == "main.py")}
    copy: list[tuple[str, int, str]] = []
    unchanged: list[str] = []
    for rel in build.files:
        local = build.root / rel
        size = local.stat().st_size
        on_board = have.get(rel)
        if on_board is None:
            copy.append((rel, size, "new"))
        elif on_board[1] is None or on_board[0] != size or on_board[1] != sha256_file(local):
            copy.append((rel, size, "changed"))
        else:
            unchanged.append(rel)
    stale = tuple(p for p in sorted(have) if p.startswith(FW_PACKAGE + "/") and p not in build.files)
    mkdir = not (state and state.has_dir)
    return Plan(target, board, build, tuple(copy), stale, tuple(unchanged), mkdir, backup)


def describe(plan: Plan, state: BoardState | None) -> list[str]:
    b = plan.build
    what = f".mpy v{b.mpy_version} for {b.arch}" if b.arch else "source (.py)"
    lines = [f"target: {plan.target}"]
    if state is not None:
        lines.append(f"board: {state.machine} — MicroPython {state.version}, sys.implementation._mpy {state.sys_mpy}")
    lines.append(f"firmware: picomic {firmware_version()} for board profile {plan.board}, {what}")
    lines += [f"  copy    {rel:28} {size:7} B  ({why})" for rel, size, why in plan.copy]
    lines += [f"  remove  {rel}  (stale)" for rel in plan.remove]
    if plan.unchanged:
        lines.append(f"  keep    {len(plan.unchanged)} unchanged file(s): {', '.join(plan.unchanged)}")
    if plan.backup_main:
        lines.append(f"  rename  main.py -> {BACKUP}  (your own main.py is kept; --remove puts it back)")
    total = sum(size for _, size, _ in plan.copy)
    lines.append(f"{len(plan.copy)} file(s), {total} bytes to copy; {len(plan.remove)} to remove")
    return lines


def firmware_version() -> str:
    text = (firmware_dir() / FW_PACKAGE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'VERSION\s*=\s*"([^"]+)"', text)
    return match.group(1) if match else "?"


# -------------------------------------------------------------------------------------------------- acting


def apply(plan: Plan, port: str) -> None:
    """Copy, rename, remove in one chained mpremote call (nothing when the plan is a no-op)."""
    steps: list[list[str]] = []
    if plan.backup_main:
        steps.append(["exec", f"import os; os.rename('main.py', '{BACKUP}')"])
    if plan.mkdir:
        steps.append(["fs", "mkdir", f":{FW_PACKAGE}"])
    steps += [["fs", "cp", str(plan.build.root / rel), f":{rel}"] for rel, _, _ in plan.copy]
    steps += [["fs", "rm", f":{rel}"] for rel in plan.remove]
    if steps:
        mpremote(port, *chain(steps), timeout_s=MPREMOTE_TIMEOUT_S + 2.0 * len(steps))


def remove_steps(state: BoardState) -> list[list[str]]:
    steps = [["fs", "rm", f":{p}"] for p in sorted(state.files) if p.startswith(FW_PACKAGE + "/")]
    if state.has_dir:
        steps.append(["fs", "rmdir", f":{FW_PACKAGE}"])
    if state.main_ours:
        steps.append(["fs", "rm", ":main.py"])
        if state.has_backup:
            steps.append(["exec", f"import os; os.rename('{BACKUP}', 'main.py')"])
    if "board.json" in state.files and (state.main_ours or state.has_dir):
        steps.append(["fs", "rm", ":board.json"])
    return steps


# ----------------------------------------------------------------------------------------------------- CLI


def no_board_error(board: str | None) -> LinkError:
    names = [board] if board in known_boards() else list(known_boards())
    where = "; ".join(_uf2_hint(name) for name in names)
    return LinkError(
        "no MicroPython board found (USB 2E8A:0005) — put MicroPython on it first: hold BOOTSEL while "
        f"plugging it in, copy the UF2 onto the drive that appears ({where}), then run picomic flash again "
        "(`picomic flash --dry-run` shows the plan without a board)"
    )


def _uf2_hint(board: str) -> str:
    profile = board_profile(board)
    return (
        f"{board}: {profile.get('uf2_url', 'micropython.org/download')} onto {profile.get('bootsel_drive', 'RPI-RP2')}"
    )


def verify(port: str, plan: Plan) -> None:
    """Each file of the build is on the board with its size and (where the board can hash) its SHA-256."""
    after = inspect(port)
    bad = []
    for rel in plan.build.files:
        local = plan.build.root / rel
        size, digest = after.files.get(rel, (-1, None))
        if size != local.stat().st_size or digest not in (None, sha256_file(local)):
            bad.append(rel)
    if bad:
        raise DeviceError(f"verification failed for {', '.join(bad)} on {port} — the board's "
                          "filesystem may be full or damaged; run picomic flash again")  # fmt: skip


def restart(port: str, state: BoardState) -> list[str]:
    """Reboot a board whose picomic firmware was stopped to read it (so it runs again); what was done."""
    if not state.main_ours:
        return []
    reboot(port, state.uid)
    return ["the board was rebooted so its firmware runs again"]


def flashed(info: dict[str, object], plan: Plan) -> str:
    """The closing line after flashing; DeviceError when the board does not run what was flashed."""
    want = firmware_version()
    if info.get("fw") != want or info.get("board") != plan.board:
        raise DeviceError(
            f"after flashing, the board reports firmware {info.get('fw')} for {info.get('board')}, expected "
            f"{want} for {plan.board} — check for a boot.py that runs something else, then flash again"
        )
    done = "already up to date" if plan.noop else f"copied {len(plan.copy)} file(s), removed {len(plan.remove)}"
    if plan.backup_main:
        done += f", your main.py is now {BACKUP}"
    return (f"ok: {done}; picomic {want} answers on {plan.target} (board {plan.board}, MicroPython "
            f"{info.get('mpy')}, protocol {info.get('proto')})")  # fmt: skip


def remove(port: str, state: BoardState, steps: list[list[str]]) -> str:
    """Delete picomic's files (`remove_steps`) and reboot; the closing line. DeviceError if files remain."""
    if steps:
        mpremote(port, *chain(steps))
    left = [p for p in inspect(port).files if p.startswith(FW_PACKAGE + "/") or p == "board.json"]
    if left:
        raise DeviceError(
            f"could not remove {', '.join(left)} from the board on {port}; run picomic flash --remove again"
        )
    reboot(port, state.uid)
    restored = " (your main.py is back)" if state.main_ours and state.has_backup else ""
    return f"ok: picomic removed; the board now boots to a plain MicroPython REPL{restored}"


def resolve_port(port: str, serial_number: str | None, board: str | None, dry_run: bool) -> str | None:
    """The board's port; None for a dry run with port `auto` and no board attached."""
    if port != "auto" or serial_number:
        return find_port(port, serial_number)
    boards = list_boards()
    if not boards:
        if dry_run:
            return None
        raise no_board_error(board)
    if len(boards) > 1:
        listing = "; ".join(f"{b['port']} (serial {b.get('serial_number') or '?'})" for b in boards)
        raise LinkError(f"several boards found: {listing} — choose one by port or serial number",
                        settings=("port", "serial_number"))  # fmt: skip
    return str(boards[0]["port"])


def install(
    port: str, state: BoardState, board: str | None = None, source: bool = False, say: Callable[[str], None] = print
) -> str:
    """Flash the firmware onto the board on `port`, read as `state` (plan, copy, verify, reset, handshake);
    the closing line."""
    chosen = choose_board(board, state)
    plan = make_plan(build_firmware(board=chosen, source=source, sys_mpy=state.sys_mpy), state, port, chosen)
    for line in describe(plan, state):
        say(line)
    apply(plan, port)
    if not plan.noop:
        verify(port, plan)
    return flashed(reset_and_handshake(port, state.uid), plan)
