"""Turns: utterances apart by short pauses, kept together so a pause inside a sentence loses no context.

A turn opens with an utterance (a *piece*) and stays open while the next piece starts within `gap_samples`
of the last one's end (and the turn spans less than `max_samples`). Every piece is decoded alone, a later one
with the turn's text so far as prompt (`Job.context`), and goes out as a plain final as soon as its silence
ends it. Then, while the turn fits one Whisper window, the whole turn is decoded again and goes out as a
`TranscriptRevision` replacing the turn's earlier finals (docs/events.md). The encoder runs on the audio, not
a 30 s window (`window.py`), so the piece's own decode is the short one and the final is not kept waiting for
the whole turn's. `best_finals` applies revisions to a list of events: what a transcript file holds.

Only the SttListener thread touches a TurnTracker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from picomic.bus.events import Event, Transcript, TranscriptRevision
from picomic.speech.worker import Job


@dataclass(eq=False)
class Turn:
    """One open turn: where it starts and its decode jobs (their texts come from the worker)."""

    turn_id: int
    start16: int
    """The first piece's start edge (16 kHz timeline)."""
    from16: int
    """Where its audio begins (pre-roll included)."""
    last_end16: int | None = None
    """The end edge of its last finished piece; None while the first piece is open."""
    jobs: list[Job] = field(default_factory=list)
    """The finals of its pieces and its revisions, in the order they were queued."""

    @property
    def pieces(self) -> int:
        """Pieces finished so far."""
        return sum(1 for j in self.jobs if not j.revises)


class TurnTracker:
    """Which turn a new piece belongs to, and when a turn is over."""

    def __init__(self, gap_samples: int, max_samples: int) -> None:
        self.gap_samples, self.max_samples = gap_samples, max_samples
        self.current: Turn | None = None
        self._next_id = 0

    def continues(self, start16: int) -> bool:
        """Whether a piece starting at `start16` belongs to the open turn."""
        t = self.current
        return (
            t is not None
            and t.last_end16 is not None
            and start16 - t.last_end16 <= self.gap_samples
            and start16 - t.from16 < self.max_samples
        )

    def open(self, start16: int, from16: int) -> Turn:
        """A new turn (the caller closed the previous one)."""
        self.current = Turn(self._next_id, start16, from16)
        self._next_id += 1
        return self.current

    def add_piece(self, job: Job, end16: int) -> None:
        """A piece's final job (the piece ended at `end16`)."""
        if self.current is not None:
            self.current.jobs.append(job)
            self.current.last_end16 = end16

    def add_revision(self, job: Job) -> None:
        """A whole-turn re-decode: later pieces read its text as their prompt."""
        if self.current is not None:
            self.current.jobs.append(job)

    def due(self, position16: int) -> bool:
        """The pause after the last piece has outgrown the gap (no piece open)."""
        t = self.current
        return t is not None and t.last_end16 is not None and position16 - t.last_end16 > self.gap_samples

    def close(self) -> None:
        """End the open turn (the pause outgrew the gap, the stream ended or restarted)."""
        self.current = None

    @property
    def keep_from(self) -> int | None:
        """Audio the open turn still needs (the ring must not trim it)."""
        return None if self.current is None else self.current.from16


def best_finals(events: Iterable[Event]) -> list[Transcript]:
    """The finals with every revision applied (a revision replaces all earlier finals of its turn), in
    stream order: the best text of a stream, e.g. of the events in a `--transcript` JSONL file."""
    out: list[Transcript] = []
    for event in events:
        if isinstance(event, Transcript) and event.final:
            out.append(event)
        elif isinstance(event, TranscriptRevision):
            out = [t for t in out if t.turn != event.turn]
            out.append(
                Transcript(event.text, True, event.start_s, event.end_s, event.latency_ms, event.turn, event.words)
            )
    return sorted(out, key=lambda t: t.start_s)
