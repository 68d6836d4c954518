"""The live view: level meter, link health, VAD state and transcripts.

`Meter` listens to every chunk (it is cheap: one RMS and one peak per chunk) so a clip in a chunk the screen
never showed still lights the clip indicator. `LiveView` renders with rich when stdout is a terminal;
`PlainView` prints one line per final transcript and a status line every few seconds otherwise.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from picomic.bus.audiobus import RAW_STREAM, AudioBus, AudioChunk
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import DeviceInfo, ErrorEvent, StatusEvent, Transcript, TranscriptRevision, VadEvent
from picomic.bus.text import printable

SPL_AT_0_DBFS = 120.0  # INMP441: -26 dBFS at 94 dB SPL
FLOOR_DBFS = -100.0
PEAK_HOLD_S = 1.5
CLIP_HOLD_S = 2.0
METER_WIDTH = 30


def dbfs(value: float, full_scale: float) -> float:
    """Level in dBFS of an amplitude, floored at FLOOR_DBFS."""
    if value <= 0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(value / full_scale))


@dataclass
class MeterReading:
    rms_dbfs: float = FLOOR_DBFS
    peak_dbfs: float = FLOOR_DBFS
    peak_hold_dbfs: float = FLOOR_DBFS
    clipping: bool = False
    rate_hz: int = 0
    channels: int = 1
    stream: str = RAW_STREAM
    """The bus stream the meter reads (`raw`, or a stage's)."""

    @property
    def rms_db_spl(self) -> float:
        return self.rms_dbfs + SPL_AT_0_DBFS


class Meter(ConsumerThread):
    """Level meter fed by every chunk from its own bus listener thread."""

    def __init__(self, bus: AudioBus, stream: str = RAW_STREAM, name: str = "meter") -> None:
        self._listener = bus.subscribe(name, maxsize=64, stream=stream, backpressure=False)  # the latest only
        self._lock = threading.Lock()
        self._reading = MeterReading(stream=stream)
        self._peak_at = 0.0
        self._clip_at = -CLIP_HOLD_S
        super().__init__(name)

    def _run(self) -> None:
        while (chunk := self._listener.recv()) is not None:
            self.feed(chunk)

    def feed(self, chunk: AudioChunk) -> None:
        samples = chunk.samples
        # the chunk's shared float32 (full scale 1.0), computed once for every listener (VAD and STT use it too)
        scaled = chunk.float32()
        clip_level = 1.0 - (1.0 / 32768.0 if samples.dtype == np.int16 else 1.0 / 8388608.0)  # one LSB below
        peak = float(np.max(np.abs(scaled))) if len(samples) else 0.0
        rms = float(np.sqrt(np.mean(scaled * scaled))) if len(samples) else 0.0
        now = time.monotonic()
        with self._lock:
            r = self._reading
            r.rms_dbfs = dbfs(rms, 1.0)
            r.peak_dbfs = dbfs(peak, 1.0)
            r.rate_hz = chunk.sample_rate
            r.channels = 1 if samples.ndim == 1 else samples.shape[1]
            if r.peak_dbfs >= r.peak_hold_dbfs or now - self._peak_at > PEAK_HOLD_S:
                r.peak_hold_dbfs = r.peak_dbfs
                self._peak_at = now
            if peak >= clip_level:
                self._clip_at = now
            r.clipping = now - self._clip_at < CLIP_HOLD_S

    def reading(self) -> MeterReading:
        with self._lock:
            r = self._reading
            return MeterReading(r.rms_dbfs, r.peak_dbfs, r.peak_hold_dbfs, r.clipping, r.rate_hz, r.channels, r.stream)


@dataclass
class ViewState:
    """What the view shows, updated from the pipeline's event loop (one thread)."""

    speaking: bool = False
    partial: str = ""
    finals: deque[Transcript] = field(default_factory=lambda: deque(maxlen=12))
    status: dict[str, Any] = field(default_factory=dict)
    frames_per_s: float = 0.0
    message: str = ""
    """The last problem reported (an error event), escaped for the terminal."""
    board: str = ""
    """The board line from its INFO reply, escaped for the terminal (DECISIONS 33)."""
    _status_at: float | None = None
    _frames_at: int = 0

    def on_event(self, event: object) -> None:
        if isinstance(event, StatusEvent):
            self._on_status(event.fields)
        elif isinstance(event, VadEvent):
            self.speaking = event.event == "start"
        elif isinstance(event, DeviceInfo):
            self.board = board_line(event.info)
        elif isinstance(event, ErrorEvent):
            self.message = printable(event.message, 300)
        elif isinstance(event, Transcript):
            if event.final:
                self.finals.append(event)
                self.partial = ""
            else:
                self.partial = event.text
        elif isinstance(event, TranscriptRevision):  # the turn's lines give way to its best text
            kept = [t for t in self.finals if t.turn != event.turn]
            self.finals.clear()
            self.finals.extend([*kept, Transcript(event.text, True, event.start_s, event.end_s, None, event.turn)])

    def _on_status(self, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        frames = int(fields.get("frames", 0))
        if self._status_at is not None and now > self._status_at:
            self.frames_per_s = (frames - self._frames_at) / (now - self._status_at)
        self._status_at, self._frames_at = now, frames
        self.status = fields


def board_line(info: dict[str, object]) -> str:
    """`board pico, picomic fw 0.1.0, MicroPython 1.24.0, uid e661…`: every field escaped and cut."""
    fields = (("board", "board"), ("fw", "picomic fw"), ("mpy", "MicroPython"), ("uid", "uid"))
    return ", ".join(f"{label} {printable(info[key], 64)}" for key, label in fields if key in info)


def meter_bar(reading: MeterReading) -> Text:
    """A dBFS bar from -60 to 0 with the peak-hold mark and a clip indicator."""
    span = 60.0
    fill = int(round(METER_WIDTH * max(0.0, reading.rms_dbfs + span) / span))
    hold = int(round((METER_WIDTH - 1) * max(0.0, reading.peak_hold_dbfs + span) / span))
    cells = ["█" if i < fill else "·" for i in range(METER_WIDTH)]
    cells[min(hold, METER_WIDTH - 1)] = "|"
    bar = Text("".join(cells[: METER_WIDTH * 3 // 4]), style="green")
    bar.append("".join(cells[METER_WIDTH * 3 // 4 :]), style="yellow")
    bar.append(f" {reading.rms_dbfs:5.1f} dBFS {reading.rms_db_spl:5.1f} dB SPL pk {reading.peak_hold_dbfs:5.1f}")
    bar.append(" CLIP" if reading.clipping else "     ", style="bold red")
    return bar


def _level_label(reading: MeterReading) -> str:
    """`level`, or `level (webrtc)` when the meter reads a stage's stream."""
    return "level" if reading.stream == RAW_STREAM else f"level ({reading.stream})"


def status_line(state: ViewState, reading: MeterReading) -> str:
    s = state.status
    return (
        f"{reading.rate_hz} Hz  {state.frames_per_s:4.0f} frames/s  lag {float(s.get('audio_lag_ms', 0.0)):5.1f} ms  "
        f"drift {float(s.get('clock_drift_ppm', 0.0)):+5.1f} ppm"
    )


def health_line(state: ViewState) -> str:
    s = state.status
    return (
        f"CRC errors {s.get('crc_errors', 0)}  lost {s.get('lost_frames', 0)}  "
        f"device drops {s.get('device_dropped', 0)}  overruns {s.get('i2s_overruns', 0)}  "
        f"reconnects {s.get('reconnects', 0)}  duplicates {s.get('duplicates', 0)}"
    )


def render(state: ViewState, reading: MeterReading) -> Group:
    top = Table.grid(padding=(0, 1))
    top.add_row(Text(_level_label(reading), style="bold"), meter_bar(reading))
    vad = Text("● speech", style="bold green") if state.speaking else Text("○ silence", style="dim")
    top.add_row(Text("VAD", style="bold"), vad)
    top.add_row(Text("link", style="bold"), Text(status_line(state, reading)))
    top.add_row(Text("", style="bold"), Text(health_line(state)))
    if state.board:
        top.add_row(Text("board", style="bold"), Text(state.board))
    lines: list[Table | Text] = [top, Text("")]
    for t in state.finals:
        lines.append(Text(f"[{t.start_s:7.2f}–{t.end_s:7.2f}] ", style="cyan") + Text(t.text))
    if state.partial:
        lines.append(Text("… " + state.partial, style="italic dim"))
    if state.message:
        lines.append(Text(state.message, style="yellow"))
    return Group(*lines)


class LiveView:
    """rich Live rendering at a few frames per second from the event loop's thread."""

    def __init__(self, meter: Meter | None, console: Console | None = None) -> None:
        self.state = ViewState()
        self._meter = meter
        self._live = Live(console=console or Console(), refresh_per_second=10, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self._live.__exit__(None, None, None)

    def on_event(self, event: object) -> None:
        self.state.on_event(event)

    def refresh(self) -> None:
        reading = self._meter.reading() if self._meter else MeterReading()
        self._live.update(render(self.state, reading))


class PlainView:
    """Line output for pipes and logs: finals as they come, a status line every `every_s` seconds."""

    def __init__(self, meter: Meter | None, out: IO[str], every_s: float = 5.0) -> None:
        self.state = ViewState()
        self._meter = meter
        self._out = out
        self._every_s = every_s
        self._last = time.monotonic()

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self._print_status()

    def on_event(self, event: object) -> None:
        self.state.on_event(event)
        if isinstance(event, Transcript) and event.final:
            self._out.write(f"[{event.start_s:7.2f}–{event.end_s:7.2f}] {printable(event.text, 2000)}\n")
            self._out.flush()
        elif isinstance(event, TranscriptRevision):  # the turn's best text, replacing its lines above
            self._out.write(f"[{event.start_s:7.2f}–{event.end_s:7.2f}] (revised) {printable(event.text, 2000)}\n")
            self._out.flush()
        elif isinstance(event, DeviceInfo):
            self._out.write(f"{self.state.board}\n")
            self._out.flush()

    def refresh(self) -> None:
        if time.monotonic() - self._last >= self._every_s:
            self._print_status()

    def _print_status(self) -> None:
        self._last = time.monotonic()
        reading = self._meter.reading() if self._meter else MeterReading()
        self._out.write(
            f"{_level_label(reading)} {reading.rms_dbfs:6.1f} dBFS  {status_line(self.state, reading)}  "
            f"{health_line(self.state)}\n"
        )
        self._out.flush()
