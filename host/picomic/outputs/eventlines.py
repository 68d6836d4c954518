"""JSON Lines of the pipeline's events: `listen --json` on stdout and `--transcript FILE.jsonl`.

With several boards every line also carries the board's `board_id` (docs/events.md), right after `type`.
"""

from __future__ import annotations

from picomic.bus.events import Event
from picomic.errors import OutputError
from picomic.outputs.recorder import JsonlWriter

TRANSCRIPT_EVENT_TYPES = frozenset({"transcript", "revision", "vad", "discontinuity", "device", "end", "error"})
"""What a `--transcript` file holds (no status lines)."""


def tagged(event: Event, board_id: str | None) -> dict[str, object]:
    """`event.to_json()`, with `board_id` after `type` when there is one (a board's own fields never set it:
    it is a reserved key, `bus.events.RESERVED_KEYS`)."""
    body = event.to_json()
    if board_id is None:
        return body
    return {"type": body.pop("type"), "board_id": board_id, **body}


class JsonOutput:
    """JSON Lines of every event (or of a subset) to a writer, tagged with `board_id` when given."""

    def __init__(self, writer: JsonlWriter, types: frozenset[str] | None = None, board_id: str | None = None) -> None:
        self._writer = writer
        self._types = types
        self._board_id = board_id

    def on_event(self, event: Event) -> None:
        if self._types is None or event.type in self._types:
            self._writer.write(tagged(event, self._board_id))

    def refresh(self) -> None:
        pass


def close_all(writers: list[JsonlWriter]) -> None:
    """Close every writer; the first one that fails (its last flush) is raised after all are closed."""
    failed: OutputError | None = None
    for writer in writers:
        try:
            writer.close()
        except OutputError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed
