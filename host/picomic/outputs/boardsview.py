"""The view of several boards at once: one row per board (level, VAD, link, health, its last words), then the
latest finals of every board, each tagged with its board id.

`BoardsView` is shared; `row(board_id)` is the output that takes that board's events (every call comes from
the pipeline's caller thread, `picomic.boards.BoardSet`). With a terminal it renders with rich (`live=True`);
otherwise it prints, per board, its device line and its finals as they come (`kitchen [  0.30–  2.10] text`)
and a status line per board every few seconds.
"""

from __future__ import annotations

import time
from collections import deque
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from picomic.bus.events import DeviceInfo, Event, Transcript
from picomic.bus.text import printable
from picomic.outputs.view import Meter, MeterReading, ViewState, health_line, status_line

FINALS_SHOWN = 12


class BoardRow:
    """The output of one board's events: updates its state, reports finals and device lines to the view."""

    def __init__(self, view: BoardsView, board_id: str, meter: Meter | None) -> None:
        self.board_id = board_id
        self.state = ViewState()
        self.meter = meter
        self._view = view

    def reading(self) -> MeterReading:
        return self.meter.reading() if self.meter is not None else MeterReading()

    def on_event(self, event: Event) -> None:
        self.state.on_event(event)
        if isinstance(event, Transcript) and event.final:
            self._view.final(self.board_id, event)
        elif isinstance(event, DeviceInfo):
            self._view.device(self.board_id, self.state.board)

    def refresh(self) -> None:
        pass


class BoardsView:
    """Every board's row and the latest finals: rich Live on a terminal, lines otherwise."""

    def __init__(self, out: IO[str], live: bool, every_s: float = 5.0, console: Console | None = None) -> None:
        self.rows: dict[str, BoardRow] = {}
        self.finals: deque[tuple[str, Transcript]] = deque(maxlen=FINALS_SHOWN)
        self._out = out
        self._every_s = every_s
        self._last = time.monotonic()
        self._live = Live(console=console or Console(), refresh_per_second=10) if live else None

    def row(self, board_id: str, meter: Meter | None) -> BoardRow:
        self.rows[board_id] = BoardRow(self, board_id, meter)
        return self.rows[board_id]

    def __enter__(self) -> BoardsView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._live is not None:
            self.refresh()
            self._live.__exit__(None, None, None)
        elif exc_type is None:
            self._print_status()

    def final(self, board_id: str, event: Transcript) -> None:
        self.finals.append((board_id, event))
        if self._live is None:
            self._line(f"{board_id} [{event.start_s:7.2f}–{event.end_s:7.2f}] {printable(event.text, 2000)}")

    def device(self, board_id: str, line: str) -> None:
        if self._live is None:
            self._line(f"{board_id} {line}")

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
        elif time.monotonic() - self._last >= self._every_s:
            self._print_status()

    def render(self) -> Group:
        table = Table(show_edge=False, pad_edge=False, expand=True)
        table.add_column("board", no_wrap=True, style="bold")
        table.add_column("level", no_wrap=True)
        table.add_column("VAD", no_wrap=True)
        table.add_column("link", overflow="fold", ratio=1)
        table.add_column("last words", overflow="fold", ratio=1)
        for board_id, row in self.rows.items():
            s = row.state
            vad = Text("● speech", style="bold green") if s.speaking else Text("○ silence", style="dim")
            words = s.partial or (s.finals[-1].text if s.finals else "")
            link = Text(link_cell(s))
            if s.message:
                link.append("\n" + s.message, style="yellow")
            table.add_row(board_id, level_cell(row.reading()), vad, link, Text(words))
        lines: list[Table | Text] = [table, Text("")]
        for board_id, t in self.finals:
            line = Text(f"{board_id} ", style="bold") + Text(f"[{t.start_s:7.2f}–{t.end_s:7.2f}] ", "cyan")
            line.append(t.text)
            lines.append(line)
        return Group(*lines)

    def _print_status(self) -> None:
        self._last = time.monotonic()
        for board_id, row in self.rows.items():
            reading = row.reading()
            self._line(
                f"{board_id} level {reading.rms_dbfs:6.1f} dBFS  {status_line(row.state, reading)}  "
                f"{health_line(row.state)}"
            )

    def _line(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()


LEVEL_CELLS = 12


def level_cell(reading: MeterReading) -> Text:
    """A short dBFS bar (-60..0) for a row: `███████·····  -23.1 dBFS CLIP`."""
    fill = int(round(LEVEL_CELLS * max(0.0, reading.rms_dbfs + 60.0) / 60.0))
    bar = Text("█" * fill + "·" * (LEVEL_CELLS - fill), style="green")
    bar.append(f" {reading.rms_dbfs:6.1f} dBFS")
    bar.append(" CLIP" if reading.clipping else "", style="bold red")
    return bar


def link_cell(state: ViewState) -> str:
    """Frames/s, lag and what went wrong, in a few words."""
    s = state.status
    problems = [
        f"{name} {s.get(key, 0)}"
        for key, name in (("lost_frames", "lost"), ("crc_errors", "CRC"), ("device_dropped", "device drops"),
                          ("i2s_overruns", "overruns"), ("reconnects", "reconnects"))
        if s.get(key, 0)
    ]  # fmt: skip
    lag = float(s.get("audio_lag_ms", 0.0))
    return f"{state.frames_per_s:.0f} fps, lag {lag:.0f} ms, " + (", ".join(problems) or "no loss")
