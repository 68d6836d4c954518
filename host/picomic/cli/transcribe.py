"""`picomic transcribe`: an audio file through the same VAD and STT as the live path."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from picomic.bus.events import Transcript
from picomic.cli.speechopts import add_speech_arguments, speech_flag_advice, stt_settings
from picomic.errors import ConfigError
from picomic.outputs.recorder import JsonlWriter

if TYPE_CHECKING:
    from picomic.speech.transcribe import Progress

HELP = "transcribe an audio file through the same VAD and STT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="WAV/FLAC (any rate, mixed down to mono)")
    p.add_argument("--json", action="store_true", help="JSON Lines transcript events")
    p.add_argument("--batched", nargs="?", type=batch_size_arg, const=8, metavar="N",
                   help="decode N turns per encoder run with faster-whisper's batched pipeline (faster; the "
                   "same cuts as the streaming path) [8]")  # fmt: skip
    add_speech_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Transcribe a file through the same VAD and STT as the live path; exit 0 also when it holds no speech
    (an empty or silent file: nothing on stdout, `picomic: no speech found in FILE` on stderr)."""
    from picomic.speech.transcribe import transcribe_file

    path = Path(args.file)
    if not path.is_file():
        why = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        raise ConfigError(f"cannot read {args.file}: {why}; give a WAV/FLAC file")
    writer = JsonlWriter(sys.stdout) if args.json else None
    with speech_flag_advice():
        if args.batched:
            from picomic.speech.batched import transcribe_batched

            found = transcribe_batched(args.file, stt_settings(args, None), batch_size=args.batched)
        else:
            with progress_bar(not args.json and sys.stderr.isatty(), path.name) as on_progress:
                found = transcribe_file(args.file, stt_settings(args, None), on_progress=on_progress)
    for t in found:
        _print_transcript(t, writer)
    if writer is not None:
        writer.close()
    if not found:  # stdout stays empty (no transcript events); the note is for the person reading stderr
        print(f"picomic: no speech found in {args.file}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def progress_bar(show: bool, name: str) -> Iterator[Progress | None]:
    """A rich progress bar with the time left on stderr while a file is transcribed, when `show` (stderr is a
    terminal and the output is not JSON: DECISIONS 47); None (nothing shown) otherwise."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"transcribing {name}", total=None)

        def update(done_s: float, total_s: float) -> None:
            bar.update(task, completed=done_s, total=total_s)

        yield update


def batch_size_arg(text: str) -> int:
    """argparse type of `--batched`: 1..64 turns per batch."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be 1..64, got {value}")
    return value


def _print_transcript(t: Transcript, writer: JsonlWriter | None) -> None:
    if writer is not None:
        writer.write(t.to_json())
    else:
        print(f"[{t.start_s:7.2f}–{t.end_s:7.2f}] {t.text}")
