"""The command functions behind `picomic listen|record|transcribe|devices|sim` (the table lives in cli.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from picomic.sim import board as sim
from picomic.speech.models import EnglishOnlyModelError
from picomic.errors import ConfigError, ModelError
from picomic.bus.events import Event, Transcript
from picomic.outputs.metrics import MetricsServer
from picomic.pipeline import Pipeline, RunResult
from picomic.link.source import SerialSource, StartSettings, list_boards
from picomic.outputs.recorder import JsonlWriter, Recorder, check_output_path
from picomic.outputs.view import LiveView, Meter, PlainView

DEMO_SIGNAL = "demo"
TRANSCRIPT_EVENT_TYPES = frozenset({"transcript", "vad", "discontinuity", "device", "end", "error"})

add_fault_arguments = sim.add_fault_arguments
add_sim_arguments = sim.add_sim_arguments
cmd_sim = sim.sim_command


def demo_signal_path() -> Path:
    """The bundled speech sample the simulated board plays when no SIGNAL is given."""
    return Path(__file__).resolve().parents[1] / "data" / "demo_speech.flac"


def _sim_signal(args: argparse.Namespace) -> str:
    """The `--sim` SIGNAL spec, with `demo` resolved to the bundled speech sample."""
    return str(demo_signal_path()) if args.sim == DEMO_SIGNAL else str(args.sim)


def start_settings(args: argparse.Namespace) -> StartSettings:
    try:
        return StartSettings(rate_hz=args.rate, frame_ms=args.frame_ms, gain=args.gain, bits=args.bits)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def check_source_args(args: argparse.Namespace) -> None:
    """Validate stream settings and simulator options (signal, faults) before any model loads or board
    starts, so a typo fails in a fraction of a second. Builds the SimBoard object without starting it."""
    start_settings(args)
    if args.sim is not None:
        sim.sim_from_args(args, signal=_sim_signal(args))


@contextlib.contextmanager
def open_source(args: argparse.Namespace, pipeline: Pipeline) -> Iterator[SerialSource]:
    """A SerialSource on the given port, or on a simulated board started (and always stopped) here."""
    settings = start_settings(args)
    if args.sim is None:
        yield _serial_source(args.port, args.serial, settings, pipeline)
        return
    with sim.sim_from_args(args, signal=_sim_signal(args)) as board:
        yield _serial_source(board.port, None, settings, pipeline)


def _serial_source(port: str, serial: str | None, settings: StartSettings, pipeline: Pipeline) -> SerialSource:
    return SerialSource(
        port,
        serial_number=serial,
        start=settings,
        bus=pipeline.bus,
        status=pipeline.status,
        emit=pipeline.emit,
        on_fatal=pipeline.fail,
    )


class JsonOutput:
    """JSON Lines of every event (or of a subset) to a writer."""

    def __init__(self, writer: JsonlWriter, types: frozenset[str] | None = None) -> None:
        self._writer = writer
        self._types = types

    def on_event(self, event: Event) -> None:
        if self._types is None or event.type in self._types:
            self._writer.write(event.to_json())

    def refresh(self) -> None:
        pass


@contextlib.contextmanager
def _speech_flag_advice() -> Iterator[None]:
    """Speech errors in the words of this command's flags."""
    try:
        yield
    except EnglishOnlyModelError as exc:
        raise ModelError(
            f"--language {exc.language} needs a multilingual model, and {exc.model_name} is English-only: "
            "use e.g. --model tiny or --model small (downloaded once from the Hugging Face hub)"
        ) from exc


def _add_speech_consumers(args: argparse.Namespace, pipeline: Pipeline) -> None:
    """VAD and STT as bus listeners (imported lazily: onnxruntime and CTranslate2 take a moment to load)."""
    from picomic.speech.decode import DecodeOptions
    from picomic.speech.models import ModelSettings
    from picomic.speech.stt import StreamingPolicy, SttListener, SttSettings
    from picomic.speech.vad import VadListener, VadSettings

    stt: SttListener | None = None
    if not args.no_stt:
        settings = SttSettings(
            model=ModelSettings(name_or_path=args.model),
            decode=DecodeOptions(language=args.language),
            policy=StreamingPolicy(partials_interval_ms=args.partials, use_vad=not args.no_vad),
        )
        with _speech_flag_advice():
            stt = SttListener(pipeline.bus, settings, pipeline.emit, pipeline.status)
    if not args.no_vad:
        vad = VadListener(
            pipeline.bus, VadSettings(), pipeline.emit, pipeline.status, on_vad=stt.on_vad if stt else None
        )
        pipeline.add_consumer(vad)
    if stt is not None:
        pipeline.add_consumer(stt)


def cmd_listen(args: argparse.Namespace) -> int:
    """Stream, show levels/VAD/transcripts live (or JSON Lines), optionally record; exit 0 at END."""
    if args.record == "-":
        raise ConfigError("listen --record - would mix raw audio into the view on stdout; use picomic record -")
    check_source_args(args)
    if args.record:
        check_output_path(args.record)
    pipeline = Pipeline()
    writers: list[JsonlWriter] = []
    metrics = _start_metrics(args, pipeline)  # a busy port fails before a model loads or a board starts
    try:
        if args.transcript:
            writers.append(JsonlWriter(args.transcript))
            pipeline.add_output(JsonOutput(writers[-1], TRANSCRIPT_EVENT_TYPES))
        if args.record:
            pipeline.add_consumer(Recorder(pipeline.bus, args.record, args.rate, 1))
        _add_speech_consumers(args, pipeline)
        if args.json:
            writers.append(JsonlWriter(sys.stdout))
            pipeline.add_output(JsonOutput(writers[-1]))
            with open_source(args, pipeline) as source:
                result = pipeline.run(source, seconds=args.seconds)
        else:
            result = _run_with_view(args, pipeline)
    finally:
        for writer in writers:
            writer.close()
        if metrics is not None:
            metrics.close()
    return _exit_code(result)


def _run_with_view(args: argparse.Namespace, pipeline: Pipeline) -> RunResult:
    meter = Meter(pipeline.bus)
    pipeline.add_consumer(meter)
    view: LiveView | PlainView = LiveView(meter) if sys.stdout.isatty() else PlainView(meter, sys.stdout)
    pipeline.add_output(view)
    with view, open_source(args, pipeline) as source:
        return pipeline.run(source, seconds=args.seconds)


def _start_metrics(args: argparse.Namespace, pipeline: Pipeline) -> MetricsServer | None:
    if args.metrics_port is None:
        return None
    return MetricsServer(pipeline.status, args.metrics_host, args.metrics_port)


def _exit_code(result: RunResult) -> int:
    return 1 if result.reason == "error" else 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record only: WAV/FLAC/raw PCM, a progress line on stderr, exit 0 at END, --seconds or Ctrl-C."""
    check_output_path(args.out)
    check_source_args(args)
    pipeline = Pipeline()
    recorder = Recorder(pipeline.bus, args.out, args.rate, 1)
    pipeline.add_consumer(recorder)
    progress = RecordProgress(recorder, args.seconds)
    pipeline.add_output(progress)
    with open_source(args, pipeline) as source:
        result = pipeline.run(source, seconds=args.seconds)
    progress.done(result)
    return _exit_code(result)


class RecordProgress:
    """A one-line progress display on stderr (only when stderr is a terminal), errors always."""

    def __init__(self, recorder: Recorder, seconds: float | None) -> None:
        self._recorder = recorder
        self._seconds = seconds
        self._tty = sys.stderr.isatty()

    def on_event(self, event: Event) -> None:
        if event.type in ("error", "discontinuity"):
            print(f"picomic: {json.dumps(event.to_json())}", file=sys.stderr)

    def refresh(self) -> None:
        if not self._tty:
            return
        done = self._recorder.seconds
        if self._seconds:
            width = 30
            fill = int(width * min(1.0, done / self._seconds))
            bar = "█" * fill + "·" * (width - fill)
            print(f"\rrecording {bar} {done:6.1f}/{self._seconds:.1f} s", end="", file=sys.stderr)
        else:
            print(f"\rrecording {done:8.1f} s", end="", file=sys.stderr)

    def done(self, result: RunResult) -> None:
        if self._tty:
            print(file=sys.stderr)
        f = self._recorder.file
        print(
            f"picomic: recorded {self._recorder.seconds:.2f} s to {f.path} "
            f"({f.gap_samples / f.rate_hz:.2f} s of lost audio filled with silence; ended: {result.reason})",
            file=sys.stderr,
        )


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe a file through the same VAD and STT as the live path."""
    from picomic.speech.decode import DecodeOptions
    from picomic.speech.models import ModelSettings
    from picomic.speech.stt import StreamingPolicy, SttSettings
    from picomic.speech.transcribe import transcribe_file

    path = Path(args.file)
    if not path.is_file():
        why = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        raise ConfigError(f"cannot read {args.file}: {why}; give a WAV/FLAC file")
    settings = SttSettings(
        model=ModelSettings(name_or_path=args.model),
        decode=DecodeOptions(language=args.language),
        policy=StreamingPolicy(partials_interval_ms=None, use_vad=not args.no_vad),
    )
    writer = JsonlWriter(sys.stdout) if args.json else None
    with _speech_flag_advice():
        found = transcribe_file(args.file, settings)
    for t in found:
        _print_transcript(t, writer)
    return 0


def _print_transcript(t: Transcript, writer: JsonlWriter | None) -> None:
    if writer is not None:
        writer.write(t.to_json())
    else:
        print(f"[{t.start_s:7.2f}–{t.end_s:7.2f}] {t.text}")


def cmd_devices(args: argparse.Namespace) -> int:
    """List attached boards with their firmware, or say how to get picomic firmware on them."""
    boards = list_boards(probe=True)
    if args.json:
        for b in boards:
            print(json.dumps(b))
        return 0
    if not boards:
        print("no board found: plug in a Pico running MicroPython (see README: Flashing), or use --sim")
        return 0
    for b in boards:
        fw = b.get("firmware") or "no picomic firmware — run picomic flash"
        print(f"{b['port']}  serial {b.get('serial_number') or '?'}  {fw}")
    return 0


def add_extra_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """flash, doctor and bench register themselves here."""
    from picomic.bench import registry
    from picomic.deploy import flash
    from picomic.diagnose import capture

    for module in (flash, capture, registry):
        module.register(sub)
