"""Speech edges: what the VAD tells speech-to-text, and what STT needs of whoever sends them.

Both `vad` (the sender) and `stt` (the receiver) import this module and never each other, so STT can be
driven by a VadListener, by a test, or by any other `EdgeSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

EdgeKind = Literal["start", "tentative_end", "resume", "end", "progress", "closed"]
"""start: speech confirmed (at its first window); tentative_end: silence began and held `tentative_end_ms`
(at the silence onset); resume: speech came back before the end was confirmed; end: the silence held
`min_silence_ms` (at the onset); progress: the VAD has looked at everything before `sample16` and any edge
there came before this one (after each block: STT measures silence by it, in stream order, so its endpoint
decisions depend on sample positions only); closed: the VAD stopped, no edge will follow."""

DEFAULT_PRE_ROLL_MS = 300
"""Audio before a detected start that STT decodes with the segment (the VAD's default `pre_roll_ms`)."""


@dataclass(frozen=True, slots=True)
class SpeechEdge:
    """What the VAD tells STT. `sample16` is a position on the 16 kHz timeline (stream seconds × 16000)."""

    kind: EdgeKind
    sample16: int


EdgeCallback = Callable[[SpeechEdge], None]


class EdgeSource(Protocol):
    """A sender of speech edges (a VadListener): SttListener registers its `on_vad` with it."""

    @property
    def pre_roll_ms(self) -> int:
        """Audio before each start edge that belongs to the utterance (ms)."""
        ...

    def add_edge_callback(self, callback: EdgeCallback) -> None:
        """Call `callback(edge)` for every edge, in stream order, ending with a `closed` edge."""
        ...

    @property
    def position16(self) -> int:
        """16 kHz samples the source has looked at: no edge will refer to audio long before this."""
        ...
