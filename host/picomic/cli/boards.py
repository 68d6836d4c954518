"""Which boards a run takes (several `--port`s, several `--sim`s, `--all`), each with its board id, and how one
board's source is opened. Used by `listen` with several boards; a per-board service (Wyoming) uses the same.

Board ids (docs/events.md, "Several boards"), stable across runs and unique within one:
- a simulated board started here (`--sim SIGNAL`): the signal's name (`kitchen` for kitchen.wav, `sine-440`,
  `noise`, `demo` for the bundled sample, `stdin` for -);
- a port: its USB serial number when the OS knows one (a real Pico's is its machine.unique_id, INFO's `uid`);
  for a board `picomic sim --link PATH` registered, the link's name (`sim-<pid>` without a link); otherwise
  the port's file name (`ttyACM0`).
Characters other than letters, digits, `.`, `_` and `-` become `-`; a repeated id gets `-2`, `-3`, ...
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from picomic.cli.common import emulated_board, serial_source, sim_board, sim_signal, start_settings
from picomic.emulator.firmware import ensure_firmware
from picomic.errors import ConfigError, LinkError
from picomic.link.ports import board_ports, find_port, serial_of_port
from picomic.link.source import SerialSource
from picomic.pipeline import Pipeline
from picomic.sim.registry import running

BOARD_ID_FIELD = "{board_id}"
"""What a per-board output path must hold when there are several boards (DECISIONS 44)."""
MAX_BOARDS = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class BoardSpec:
    """One board of a run: its id, its place, and either a port to open or a signal to simulate."""

    board_id: str
    index: int
    """From 0, in the order the boards were given (a base port + index for per-board services)."""
    port: str | None = None
    signal: str | None = None
    """A `--sim` SIGNAL: a simulated (or, with --emulated, emulated) board started for this run."""


def safe_id(text: str) -> str:
    """`text` as a board id: letters, digits, `.`, `_`, `-` (at most 48), never empty."""
    return _UNSAFE.sub("-", text).strip("-.")[:48] or "board"


def sim_id(spec: str) -> str:
    """The id of a simulated board playing `spec`: the file's name, else the spec itself."""
    if spec == "-":
        return "stdin"
    path = Path(spec)
    if spec != "demo" and (path.suffix or path.exists()):
        return safe_id(path.stem)
    return safe_id(spec.replace(":", "-"))


def port_id(port: str) -> str:
    """The id of the board on `port`: its USB serial number, a registered simulated board's link name, or the
    port's file name."""
    serial = serial_of_port(port)
    if serial:
        return safe_id(serial)
    real = os.path.realpath(port)
    for entry in running():
        paths = [str(entry[k]) for k in ("port", "link") if entry.get(k)]
        if real in {os.path.realpath(p) for p in paths}:
            return _registered_id(entry)
    return safe_id(Path(port).name)


def _registered_id(entry: dict[str, object]) -> str:
    link = entry.get("link")
    return safe_id(Path(str(link)).name) if link else f"sim-{entry.get('pid')}"


def unique(ids: list[str]) -> list[str]:
    """`ids` with repeats numbered: a, a → a, a-2."""
    seen: dict[str, int] = {}
    out = []
    for board_id in ids:
        n = seen[board_id] = seen.get(board_id, 0) + 1
        candidate = board_id if n == 1 else f"{board_id}-{n}"
        while candidate in out:
            n += 1
            candidate = f"{board_id}-{n}"
        out.append(candidate)
    return out


def every_attached_board() -> list[tuple[str, str]]:
    """`--all`: (port, id) of every board `picomic devices` lists: USB boards, then registered simulated
    boards (by their stable link when they have one)."""
    found = [(str(p.device), safe_id(p.serial_number or Path(str(p.device)).name)) for p in board_ports()]
    for entry in running():
        found.append((str(entry.get("link") or entry["port"]), _registered_id(entry)))
    return found


def board_specs(args: argparse.Namespace) -> list[BoardSpec]:
    """The boards the arguments name, in order (ports, then simulated boards), ids made unique."""
    if getattr(args, "all", False):
        if args.ports or args.sims or args.serial:
            raise ConfigError("--all takes every attached board; drop --port/--sim/--serial, or list the boards")
        ports = every_attached_board()
        if not ports:
            raise LinkError("--all found no board: plug one in or start one with picomic sim --link PATH")
        named: list[tuple[str | None, str | None, str]] = [(port, None, board_id) for port, board_id in ports]
    else:
        if args.serial and len(args.ports) + len(args.sims) > 1:
            raise ConfigError("--serial chooses one board; with several boards give each one's --port")
        if args.sims.count("-") > 1:
            raise ConfigError("only one simulated board can read stdin (--sim -)")
        real = [os.path.realpath(port) for port in args.ports]
        if len(set(real)) != len(real):
            raise ConfigError("the same --port is given twice: each board once")
        named = [(port, None, port_id(port)) for port in args.ports]
        named += [(None, spec, sim_id(spec)) for spec in args.sims]
    if len(named) > MAX_BOARDS:
        raise ConfigError(f"at most {MAX_BOARDS} boards at once, got {len(named)}")
    ids = unique([board_id for _, _, board_id in named])
    return [BoardSpec(i, n, port, signal) for n, ((port, signal, _), i) in enumerate(zip(named, ids, strict=True))]


def one_board_id(args: argparse.Namespace) -> str:
    """The id of the one board the arguments name (`--sim`, `--port`, `--serial`, or the only one attached)."""
    if args.sim is not None:
        return sim_id(args.sim)
    if args.port == "auto" and args.serial:
        return safe_id(args.serial)
    return port_id(find_port(args.port, args.serial))


def fill_board_id(args: argparse.Namespace, *names: str) -> None:
    """With one board, `{board_id}` in the paths `names` (e.g. "record") is that board's id, as with several."""
    for name in names:
        path = getattr(args, name, None)
        if path is not None and BOARD_ID_FIELD in path:
            setattr(args, name, per_board_path(path, one_board_id(args)))


def per_board_path(template: str | None, board_id: str) -> str | None:
    """A per-board output path: `{board_id}` in `template` replaced (other braces stay as they are)."""
    return None if template is None else template.replace(BOARD_ID_FIELD, board_id)


def check_per_board_path(template: str | None, flag: str) -> None:
    """With several boards each needs its own file: `template` must hold `{board_id}`."""
    if template is not None and BOARD_ID_FIELD not in template:
        raise ConfigError(
            f"with several boards {flag} needs {BOARD_ID_FIELD} in its path, e.g. {flag} "
            f"{_example(template)}, so that each board gets its own file"
        )


def _example(template: str) -> str:
    path = Path(template)
    return str(path.with_name(f"{path.stem}-{BOARD_ID_FIELD}{path.suffix}"))


@contextlib.contextmanager
def board_source(args: argparse.Namespace, spec: BoardSpec, pipeline: Pipeline) -> Iterator[SerialSource]:
    """A SerialSource feeding `pipeline` from `spec`'s port, or from its simulated/emulated board started (and
    always stopped) here; the stream settings and faults of the arguments apply to every board."""
    settings = start_settings(args)
    if spec.signal is None:
        yield serial_source(args, pipeline, spec.port or "auto", None, settings)
        return
    signal = sim_signal(args, spec.signal)
    if getattr(args, "emulated", False):
        emulated = emulated_board(args, signal=signal)
        flash = emulated.flash_path  # each emulated Pico keeps a flash of its own (flashed once, then kept)
        emulated.flash_path = flash.with_name(f"{flash.stem}-{spec.board_id}{flash.suffix}")
        with emulated:
            ensure_firmware(emulated.port)
            yield serial_source(args, pipeline, emulated.port, None, settings, simulated=True)
        return
    with sim_board(args, signal=signal) as board:
        yield serial_source(args, pipeline, board.port, None, settings, simulated=True)
