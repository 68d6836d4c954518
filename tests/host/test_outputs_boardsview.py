"""The view of several boards: a row per board with its own state, finals tagged with their board, device
strings escaped, plain lines when stdout is not a terminal."""

from __future__ import annotations

import io

import numpy as np
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import DeviceInfo, ErrorEvent, StatusEvent, Transcript, VadEvent
from picomic.outputs.boardsview import BoardsView
from picomic.outputs.view import Meter
from rich.console import Console


def _loud_meter() -> Meter:
    meter = Meter(AudioBus())
    samples = np.full(160, 16384, dtype=np.int16)
    samples.flags.writeable = False
    meter.feed(AudioChunk(0, 0.0, 16000, samples))
    return meter


def _rendered(view: BoardsView) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    console.print(view.render())
    return console.export_text()


def test_live_rows_keep_each_boards_state_apart() -> None:
    view = BoardsView(io.StringIO(), live=False)
    kitchen, hall = view.row("kitchen", _loud_meter()), view.row("hall", None)
    kitchen.on_event(VadEvent("start", 1.0, 16000))
    kitchen.on_event(StatusEvent({"frames": 100, "lost_frames": 0, "crc_errors": 0}))
    hall.on_event(StatusEvent({"frames": 50, "lost_frames": 7, "crc_errors": 2}))
    hall.on_event(Transcript("turn on the lights", True, 0.5, 1.5, 700.0))
    hall.on_event(ErrorEvent("lost the board on /dev/ttyACM1 \x1b[31m— waiting"))
    text = _rendered(view)
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if line.split() and line.split()[0] in ("kitchen", "hall"):
            rows.setdefault(line.split()[0], line)  # the table row, not the finals under it
    assert "● speech" in rows["kitchen"] and "-6.0 dBFS" in rows["kitchen"]
    assert "○ silence" in rows["hall"] and "turn on the lights" in rows["hall"] and "lost 7" in text
    assert "hall [   0.50–   1.50] turn on the lights" in text
    assert "\x1b" not in text and "waiting" in text


def test_plain_lines_are_tagged_with_the_board() -> None:
    out = io.StringIO()
    view = BoardsView(out, live=False, every_s=3600)
    with view:
        row = view.row("utt1_box", None)
        row.on_event(DeviceInfo({"board": "pico", "fw": "0.1.0", "uid": "e661\x07"}))
        row.on_event(Transcript("partial words", False, 0.0, 1.0, None))
        row.on_event(Transcript("She opened the box.", True, 0.38, 3.55, 400.0))
        view.refresh()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("utt1_box board pico, picomic fw 0.1.0, uid e661") and "\x07" not in lines[0]
    assert lines[1] == "utt1_box [   0.38–   3.55] She opened the box."
    assert lines[2].startswith("utt1_box level") and len(lines) == 3  # the closing status line per board
