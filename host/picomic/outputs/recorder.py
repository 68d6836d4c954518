"""Sinks: the audio recorder (WAV/FLAC/raw PCM) and the JSON Lines writer.

The recorder is a bus listener on its own thread. Within a segment file time equals stream time: a span the
stream lost (a gap in sequence numbers, an unplug) up to the gap bound (`max_gap_s`, DECISIONS 32) is written as
silence, so a transcript's `start_s` points at the right audio; a longer gap writes nothing and starts a new
segment (its `discontinuity` event says where: `file_s`).
Every path that ends a recording (end of stream, Ctrl-C, an error) closes the file, so its header is final.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, RAW_STREAM, AudioBus, AudioChunk, Listener
from picomic.bus.consumer import ConsumerThread
from picomic.errors import ConfigError
from picomic.outputs.writers import FlacWriter, WavWriter, as_int16, output_error, write_all

_FORMATS = (".wav", ".flac")
_SILENCE_BLOCK = 16000  # samples of zeros written per call when filling a gap
RECORDER_QUEUE_CHUNKS = 6000  # one minute of 10 ms chunks: a recorder must not drop


def check_output_path(path: str) -> Path | None:
    """Validate an output path before anything streams; `-` means stdout (returns None)."""
    if path == "-":
        return None
    p = Path(path)
    if p.suffix.lower() not in _FORMATS:
        raise ConfigError(f"cannot record to {path}: use a .wav or .flac file name, or - for raw PCM on stdout")
    if not p.parent.exists():
        raise ConfigError(f"cannot record to {path}: folder {p.parent} does not exist")
    if p.is_dir():
        raise ConfigError(f"cannot record to {path}: it is a folder")
    existed = p.exists()
    try:  # fail now, not after the board started: can we create or overwrite it?
        with open(p, "ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot record to {path}: {exc.strerror or exc}; choose a writable place") from exc
    if not existed:
        p.unlink(missing_ok=True)
    return p


class AudioFile:
    """An int16 audio file (or raw PCM stream) placed on the stream timeline, gaps filled with silence."""

    def __init__(self, path: str, rate_hz: int, channels: int = 1) -> None:
        self.path = path
        self.rate_hz = rate_hz
        self.channels = channels
        self.samples_written = 0
        self.gap_samples = 0
        self.max_gap_samples = int(DEFAULT_MAX_GAP_S * rate_hz)
        """Longest gap written as silence; a longer one (or a new `AudioChunk.segment`) starts a new segment."""
        self.segments = 1
        """Segments in the file: stream time and file time agree within one (DECISIONS 40)."""
        self._origin: int | None = None
        self._segment = 0
        self._raw: IO[bytes] | None = None
        self._file: WavWriter | FlacWriter | None = None
        target = check_output_path(path)
        if target is None:
            self._raw = sys.stdout.buffer
            return
        writer = FlacWriter if target.suffix.lower() == ".flac" else WavWriter
        try:
            self._file = writer(str(target), rate_hz, channels)
        except (OSError, sf.LibsndfileError) as exc:
            raise ConfigError(f"cannot record to {path}: {getattr(exc, 'strerror', None) or exc}") from exc

    def write_chunk(self, chunk: AudioChunk) -> None:
        """Append a chunk at its stream position; a forward jump up to the gap bound is filled with silence,
        a longer one (or a new segment) continues the file right here."""
        if chunk.sample_rate != self.rate_hz:
            raise ConfigError(f"stream rate changed from {self.rate_hz} to {chunk.sample_rate} Hz mid-recording")
        if self._origin is None:
            self._origin, self._segment = chunk.stream_sample, chunk.segment
        position = chunk.stream_sample - self._origin
        if chunk.segment != self._segment or position - self.samples_written > self.max_gap_samples:
            self._origin += position - self.samples_written  # a new segment: no silence for the gap
            self._segment = chunk.segment
            self.segments += 1
            position = self.samples_written
        samples = chunk.samples
        if position > self.samples_written:
            self._write_silence(position - self.samples_written)
        elif position < self.samples_written:  # overlap: keep what is already written
            samples = samples[self.samples_written - position :]
        if len(samples):
            self._write(samples)

    def _write_silence(self, count: int) -> None:
        self.gap_samples += count
        shape = (_SILENCE_BLOCK, self.channels) if self.channels > 1 else (_SILENCE_BLOCK,)
        block = np.zeros(shape, dtype=np.int16)
        while count > 0:
            part = block[: min(count, _SILENCE_BLOCK)]
            self._write(part)
            count -= len(part)

    def _write(self, samples: np.ndarray[Any, np.dtype[np.int16]]) -> None:
        try:
            if self._file is not None:
                self._file.write(samples)
            elif self._raw is not None:
                self._raw.write(as_int16(samples).astype("<i2", copy=False).tobytes())
        except OSError as exc:  # a full disk, a file-size limit, an I/O error, a closed pipe: one line
            raise output_error(self._name, exc) from exc
        self.samples_written += len(samples)

    @property
    def _name(self) -> str:
        return "stdout" if self.path == "-" else self.path

    def flush(self) -> None:
        """Headers current and raw output flushed (OutputError when that fails)."""
        try:
            if self._file is not None:
                self._file.flush()
            elif self._raw is not None:
                self._raw.flush()
        except OSError as exc:
            raise output_error(self._name, exc) from exc

    def close(self) -> None:
        """Final headers (what reached the disk stays readable); OutputError when the last write fails."""
        file, raw = self._file, self._raw
        self._file = self._raw = None
        try:
            if file is not None:
                file.close()
            elif raw is not None:
                raw.flush()
        except OSError as exc:
            raise output_error(self._name, exc) from exc


class Recorder(ConsumerThread):
    """Bus listener that writes every chunk to an AudioFile on its own thread.

    A write error (a full disk, ...) stops the recording at once, closes the file (readable up to the error)
    and is handed to `on_error` (the pipeline's `fail`, which ends the run) as well as raised by `finish`.
    Gaps up to `max_gap_s` are written as silence; a longer one starts a new segment (DECISIONS 32, 40).
    """

    def __init__(
        self,
        bus: AudioBus,
        path: str,
        rate_hz: int,
        channels: int = 1,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
        stream: str = RAW_STREAM,
    ) -> None:
        self.file = AudioFile(path, rate_hz, channels)
        self.file.max_gap_samples = int(max_gap_s * rate_hz)
        self.error: BaseException | None = None
        self._on_error = on_error
        self._listener: Listener = bus.subscribe("recorder", maxsize=RECORDER_QUEUE_CHUNKS, stream=stream)
        super().__init__("recorder")

    def _run(self) -> None:
        try:
            while (chunk := self._listener.recv()) is not None:
                self.file.write_chunk(chunk)
        except BaseException as exc:  # reported by join(); the file is still closed
            self._failed(exc)
        finally:
            try:
                self.file.close()
            except Exception as exc:
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            if self._on_error is not None:
                self._on_error(exc)

    def finish(self, timeout: float) -> None:
        """Wait until the bus is closed and drained; the file is closed when this returns."""
        self.join(timeout)
        if self.error is not None:
            raise self.error

    @property
    def seconds(self) -> float:
        return self.file.samples_written / self.file.rate_hz


def wall_clock() -> str:
    """ISO 8601 host time with milliseconds, UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def json_line(obj: dict[str, object]) -> str:
    """One event as its JSON Lines text (docs/events.md), `wall` added, without the newline: the `--json`
    line, the JSONL file line and the web view's text message are this one string."""
    return json.dumps({**obj, "wall": wall_clock()}, separators=(",", ":"), default=str)


class JsonlWriter:
    """Writes one JSON object per line and flushes it, so a reader (or a crash) sees whole lines only.

    A file is written a line per `write(2)`; when the disk fills mid-line the file is cut back to the last whole
    line. Any write error is an OutputError (`cannot write NAME: reason`) once; later writes are dropped.
    """

    def __init__(self, target: str | IO[str], name: str | None = None) -> None:
        self.name = name or (target if isinstance(target, str) else "stdout")
        self._fd: int | None = None
        self._file: IO[bytes] | None = None
        self._out: IO[str] | None = None
        if isinstance(target, str):
            try:
                self._file = open(target, "wb", buffering=0)  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise ConfigError(f"cannot write {target}: {exc.strerror}") from exc
            self._fd = self._file.fileno()
        else:
            self._out = target
        self._whole = 0  # bytes of whole lines in the file
        self.failed = False
        self._lock = threading.Lock()

    def write(self, obj: dict[str, object]) -> None:
        line = json_line(obj) + "\n"
        with self._lock:
            if self.failed:
                return
            try:
                self._write_line(line)
            except OSError as exc:
                self.failed = True
                raise output_error(self.name, exc) from exc

    def _write_line(self, line: str) -> None:
        if self._fd is not None:
            data = line.encode("utf-8")
            try:
                write_all(self._fd, data)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._whole)  # no half line at the end
                raise
            self._whole += len(data)
        elif self._out is not None:
            self._out.write(line)
            self._out.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = self._fd = None
            elif self._out is not None and not self.failed:
                try:
                    self._out.flush()
                except OSError as exc:
                    self.failed = True
                    raise output_error(self.name, exc) from exc
