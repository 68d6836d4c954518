"""What several commands share: argument groups and types, the step from arguments to settings, the source.

The library's errors name settings (`rate_hz`, `frame_ms`, ...); `flag_hint` maps them to this CLI's flags.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, MAX_GAP_LIMIT_S
from picomic.emulator.board import EmulatedBoard
from picomic.emulator.firmware import ensure_firmware
from picomic.errors import ConfigError, PicomicError
from picomic.link.handshake import StartSettings
from picomic.link.source import SerialSource
from picomic.pipeline import Pipeline, RunResult
from picomic.sim.board import SimBoard
from picomic.sim.signals import demo_speech_path

DEMO_SIGNAL = "demo"
"""`--sim` without SIGNAL: the bundled speech sample."""

FLAGS = {
    "rate_hz": "--rate",
    "frame_ms": "--frame-ms",
    "gain": "--gain",
    "bits": "--bits",
    "port": "--port PORT",
    "serial_number": "--serial ID",
    "signal": "--sim SIGNAL",
    "ber": "--ber",
    "drop_bytes": "--drop-bytes",
    "unplug_at": "--unplug-at",
    "overrun_at": "--overrun-at",
    "drift_ppm": "--drift-ppm",
    "noise_floor_dbfs": "--noise-floor",
    "mic_fault": "--mic-fault",
    "loop": "--loop",
    "model": "--model",
    "language": "--language",
    "metrics_port": "--metrics-port",
    "metrics_host": "--metrics-host",
    "web_port": "--web PORT",
    "web_host": "--web-host",
    "highpass_hz": "--highpass",
    "noise_suppression": "--noise-suppression",
    "auto_gain_dbfs": "--auto-gain",
    "denoiser": "--denoiser",
}
"""Library setting name → the flag that sets it (for error advice)."""


class Interruptible(Protocol):
    def interrupt(self) -> bool: ...


RUNNING: list[Interruptible] = []
"""Pipelines (or sets of boards) streaming from a source opened here: a stop signal asks them to end."""


class EachValue(argparse.Action):
    """A repeatable option that keeps its first value in `dest` (what one-board code reads, as before) and
    every value, in order, in `dest` + "s" (`--port A --port B` → args.port == "A", args.ports == ["A", "B"])."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        every = [*(getattr(namespace, self.dest + "s", None) or []), values]
        setattr(namespace, self.dest + "s", every)
        if len(every) == 1:
            setattr(namespace, self.dest, values)


def add_board_lists(p: argparse.ArgumentParser) -> None:
    """The lists `EachValue` fills, empty when the option is not given."""
    p.set_defaults(ports=[], sims=[])


def board_count(args: argparse.Namespace) -> int:
    """How many boards the arguments name (`--port` and `--sim`, each repeatable); `--all`: -1 (not known yet)."""
    if getattr(args, "all", False):
        return -1
    return max(1, len(getattr(args, "ports", [])) + len(getattr(args, "sims", [])))


def refuse_several_boards(args: argparse.Namespace, command: str) -> None:
    """`record` and `doctor` take one board (DECISIONS 44): a second --port/--sim is one clear line."""
    if board_count(args) != 1:
        raise ConfigError(f"{command} takes one board; give one --port or one --sim (listen takes several)")


def flag_hint(exc: PicomicError) -> str:
    """The error's message, with the flags that set the settings it names."""
    flags = [FLAGS[s] for s in exc.settings if s in FLAGS]
    return f"{exc} ({' / '.join(flags)})" if flags else str(exc)


def _number(text: str, kind: type[int] | type[float], what: str) -> float:
    """`text` as `kind`, or the argparse error "not a WHAT: 'text'"."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None


def max_gap_arg(text: str) -> float:
    """argparse type of `--max-gap`: seconds within 0..MAX_GAP_LIMIT_S."""
    value = _number(text, float, "number of seconds")
    if not (math.isfinite(value) and 0 <= value <= MAX_GAP_LIMIT_S):
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_GAP_LIMIT_S:g} seconds, got {text}")
    return value


def seconds_arg(text: str) -> float:
    """argparse type: a duration in seconds, > 0 and finite (so a typo fails before any board starts)."""
    value = _number(text, float, "number of seconds")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def partials_ms(text: str) -> int:
    value = int(_number(text, int, "whole number of milliseconds"))
    if value < 100:
        raise argparse.ArgumentTypeError(f"must be >= 100 ms (omit --partials to turn partials off), got {value}")
    return value


def ms_arg(text: str) -> int:
    """argparse type: whole milliseconds, 0..60000."""
    value = int(_number(text, int, "whole number of milliseconds"))
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be 0..60000 ms, got {value}")
    return value


def tcp_port(text: str) -> int:
    value = int(_number(text, int, "TCP port number"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0..65535; 0 picks a free one)")
    return value


def add_source_arguments(p: argparse.ArgumentParser, *, default_sim: str | None = "demo") -> None:
    src = p.add_argument_group("source (a board on a serial port, or the simulated board)")
    src.add_argument(
        "--port",
        default="auto",
        action=EachValue,
        help="serial port of the board, or 'auto' (USB VID:PID 2E8A:0005) [default: auto]; listen: repeat "
        "for several boards",
    )
    src.add_argument("--serial", metavar="ID", help="choose the board with this unique id when several are attached")
    src.add_argument(
        "--sim",
        nargs="?",
        const=default_sim,
        metavar="SIGNAL",
        action=EachValue,
        help="use a simulated board playing SIGNAL: a WAV/FLAC file, sine:HZ, noise, silence, "
        "or - for s16le PCM on stdin (no SIGNAL: the bundled speech sample); listen: repeat for several boards",
    )
    add_board_lists(p)
    stream = p.add_argument_group("stream settings (sent with START)")
    stream.add_argument("--rate", type=int, default=16000, help="sample rate in Hz, 8000..48000 [16000]")
    stream.add_argument("--frame-ms", type=int, default=0, help="frame length in ms, 5..64 [10; 20 from 44.1 kHz]")
    stream.add_argument("--gain", type=int, default=0, help="digital gain as a left shift in bits, 0..8 [0]")
    stream.add_argument("--bits", type=int, choices=(16, 24), default=16, help="sample width on the wire [16]")
    stream.add_argument("--max-gap", type=max_gap_arg, default=DEFAULT_MAX_GAP_S, metavar="S",
                        help="lost audio up to S seconds becomes silence in recordings and speech; a longer gap "
                        f"starts a new segment [{DEFAULT_MAX_GAP_S:g}]")  # fmt: skip
    add_fault_arguments(p)
    add_emulator_arguments(p)


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `picomic sim` and `picomic listen --sim`."""
    g = parser.add_argument_group("simulated board")
    g.add_argument("--fast", action="store_true", help="no real-time pacing: the I2S delivers as fast as read")
    g.add_argument("--ber", type=float, default=0.0, metavar="R", help="bit-error rate board→host (e.g. 1e-4)")
    g.add_argument("--drop-bytes", type=float, default=0.0, metavar="R", help="probability a byte is lost")
    g.add_argument("--unplug-at", type=float, metavar="S", help="unplug the port S seconds after start")
    g.add_argument("--overrun-at", type=float, metavar="S", help="one I2S buffer overflow at stream second S")
    g.add_argument("--drift-ppm", type=float, default=0.0, metavar="N", help="board crystal error in ppm")
    g.add_argument(
        "--mic-fault", metavar="F", help="stuck-low | stuck-high | wrong-slot | clip | dc:0.05 (DC fraction)"
    )


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """`--emulated`: the simulated board is the real MicroPython rp2 UF2 in rp2040js (picomic.emulator)."""
    g = parser.add_argument_group("emulated Pico (the real MicroPython rp2 firmware in rp2040js)")
    g.add_argument("--emulated", action="store_true", help="run the simulated board as an emulated RP2040 "
                   "with your MicroPython UF2 (first: picomic emulator install)")  # fmt: skip
    g.add_argument("--uf2", metavar="FILE", default=os.environ.get("PICOMIC_UF2"),
                   help="MicroPython UF2 for RPI_PICO (the file you flash on a Pico) [$PICOMIC_UF2]")  # fmt: skip
    g.add_argument("--bootrom", metavar="FILE", default=os.environ.get("PICOMIC_BOOTROM"),
                   help="RP2040 B1 bootrom image, 16 KiB [$PICOMIC_BOOTROM]")  # fmt: skip
    g.add_argument("--fresh", action="store_true", help="start the emulated Pico from a blank flash")


def start_settings(args: argparse.Namespace, **extra: int) -> StartSettings:
    """The START of `--rate`, `--frame-ms`, `--gain` (and `--bits` where the command has it)."""
    bits = getattr(args, "bits", 16)
    try:
        return StartSettings(rate_hz=args.rate, frame_ms=args.frame_ms, gain=args.gain, bits=bits, **extra)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def sim_signal(args: argparse.Namespace, spec: str | None = None) -> str:
    """The `--sim` SIGNAL spec (or `spec`), with `demo` resolved to the bundled speech sample."""
    spec = args.sim if spec is None else spec
    return str(demo_speech_path()) if spec == DEMO_SIGNAL else str(spec)


def sim_board(
    args: argparse.Namespace, signal: str | None = None, on_replug: Callable[[str], None] | None = None
) -> SimBoard:
    """A SimBoard configured from parsed `add_fault_arguments` (+ optional `add_sim_arguments`) options."""
    return SimBoard(
        signal if signal is not None else getattr(args, "signal", None),
        fast=args.fast,
        loop=getattr(args, "loop", False),
        ber=args.ber,
        drop_bytes=args.drop_bytes,
        unplug_at=args.unplug_at,
        overrun_at=args.overrun_at,
        drift_ppm=args.drift_ppm,
        mic_fault=args.mic_fault,
        board=getattr(args, "board", "pico"),
        source=getattr(args, "source", False),
        seed=getattr(args, "seed", None),
        duration_s=getattr(args, "duration", None),
        noise_floor_dbfs=getattr(args, "noise_floor", None),
        on_replug=on_replug,
    )


def emulated_board(
    args: argparse.Namespace, signal: str | None = None, on_replug: Callable[[str], None] | None = None
) -> EmulatedBoard:
    """An EmulatedBoard from `--uf2`/`--bootrom` and the signal options (wire faults are the unix-port
    simulated board's; the emulated cable has none)."""
    for name in ("ber", "drop_bytes", "unplug_at", "overrun_at", "drift_ppm"):
        if getattr(args, name, None):
            raise ConfigError(f"--{name.replace('_', '-')} is a fault of the unix-port simulated board; "
                              "drop --emulated to use it")  # fmt: skip
    if not args.uf2 or not args.bootrom:
        raise ConfigError(
            "--emulated needs --uf2 FILE (MicroPython for RPI_PICO, from micropython.org/download/RPI_PICO) and "
            "--bootrom FILE (the RP2040 B1 bootrom: built from raspberrypi/pico-bootrom; rp2040js's demo has a copy)"
        )
    return EmulatedBoard(
        args.uf2,
        args.bootrom,
        signal if signal is not None else getattr(args, "signal", None),
        mic_fault=args.mic_fault,
        loop=getattr(args, "loop", False),
        duration_s=getattr(args, "duration", None),
        noise_floor_dbfs=getattr(args, "noise_floor", None),
        seed=getattr(args, "seed", None),
        fresh=getattr(args, "fresh", False),
        on_replug=on_replug,
    )


def check_source_args(args: argparse.Namespace) -> None:
    """Validate stream settings and simulator options (signal, faults) before any model loads or board
    starts, so a typo fails in a fraction of a second. Builds the SimBoard object without starting it."""
    start = start_settings(args)
    for spec in getattr(args, "sims", None) or ([args.sim] if args.sim is not None else []):
        if getattr(args, "emulated", False):
            emulated_board(args, signal=sim_signal(args, spec)).signal.check_rate(start.rate_hz)
        else:
            sim_board(args, signal=sim_signal(args, spec)).signal.check_rate(start.rate_hz)


@contextlib.contextmanager
def open_board(args: argparse.Namespace, loop: bool = False) -> Iterator[tuple[str, SimBoard | EmulatedBoard | None]]:
    """(port, board): `--port` and None, or a simulated/emulated board started (and always stopped) here."""
    if args.sim is None:
        yield args.port, None
        return
    if loop:
        args.loop = True  # the reader wants as much as it likes: a short file repeats
    if getattr(args, "emulated", False):
        with emulated_board(args, signal=sim_signal(args)) as emulated:
            ensure_firmware(emulated.port)
            yield emulated.port, emulated
        return
    with sim_board(args, signal=sim_signal(args)) as board:
        yield board.port, board


@contextlib.contextmanager
def board_port(args: argparse.Namespace, loop: bool = False) -> Iterator[str]:
    """The port to use: `--port`, or that of a simulated board started (and always stopped) here."""
    with open_board(args, loop) as (port, _):
        yield port


@contextlib.contextmanager
def open_source(args: argparse.Namespace, pipeline: Pipeline) -> Iterator[SerialSource]:
    """A SerialSource feeding `pipeline`, on `--port`/`--serial` or on a simulated board."""
    settings = start_settings(args)
    RUNNING.append(pipeline)
    try:
        with board_port(args) as port:
            simulated = args.sim is not None
            yield serial_source(args, pipeline, port, None if simulated else args.serial, settings, simulated)
    finally:
        RUNNING.remove(pipeline)


def serial_source(
    args: argparse.Namespace,
    pipeline: Pipeline,
    port: str,
    serial: str | None,
    settings: StartSettings,
    simulated: bool = False,
) -> SerialSource:
    """A SerialSource on `port` (or the board with USB serial number `serial`) feeding `pipeline`. A `simulated`
    board with `--fast` is not real time: its bus is not paced, so the consumers set the pace (`AudioBus`)."""
    pipeline.bus.paced = not (simulated and getattr(args, "fast", False))
    return SerialSource(
        port,
        serial_number=serial,
        settings=settings,
        bus=pipeline.bus,
        status=pipeline.status,
        emit=pipeline.emit,
        on_fatal=pipeline.fail,
        max_gap_s=args.max_gap,
    )


def run_source(args: argparse.Namespace, pipeline: Pipeline, source: SerialSource) -> RunResult:
    """`pipeline.run` for `--seconds`: wall time, or stream time on an emulated board (it runs at ~0.4×)."""
    stream_clock = getattr(args, "emulated", False) and args.sim is not None
    return pipeline.run(source, seconds=args.seconds, elapsed_s=(lambda: source.stream_s) if stream_clock else None)


def exit_code(result: RunResult) -> int:
    """1 when the stream ended with an error, else 0 (a stop signal's 128 + N is set by `picomic.cli.main`)."""
    return 1 if result.reason == "error" else 0
