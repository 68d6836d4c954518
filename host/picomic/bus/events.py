"""Events the pipeline emits: frozen messages, each with a JSON Lines form (`to_json()`).

Every event class has a `type` class variable (the JSON `type` field) and `to_json() -> dict`, a fresh dict
that `json.dumps` accepts. The JSON writer adds `wall` (ISO 8601 host time); events do not carry it.
Times `t_s`, `start_s`, `end_s` are seconds on the stream's sample timeline since START (DECISIONS 16).
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, Literal

RESERVED_KEYS = frozenset({"type", "wall", "board_id"})
"""Keys every JSON event sets itself (`board_id` with several boards); a body spliced into an event never
overrides them."""


class _JsonEvent:
    """Base of the event dataclasses: `to_json()` is `type`, then every field in declaration order (the
    events that carry a JSON body, `DeviceInfo` and `StatusEvent`, splice it in instead)."""

    __slots__ = ()
    type: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on each subclass

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type}
        for f in fields(self):
            out[f.name] = getattr(self, f.name)
        return out


@dataclass(frozen=True, slots=True)
class VadEvent(_JsonEvent):
    """A detected speech edge (before padding)."""

    type: ClassVar[str] = "vad"
    event: Literal["start", "end"]
    t_s: float
    """Seconds on the stream timeline since START."""
    sample: int
    """The same edge as a sample index on the stream timeline (at the bus sample rate)."""


@dataclass(frozen=True, slots=True)
class Transcript(_JsonEvent):
    """A partial (`final=False`) or final transcript of one utterance."""

    type: ClassVar[str] = "transcript"
    text: str
    final: bool
    start_s: float
    """Stream-timeline seconds of the utterance start."""
    end_s: float
    """Stream-timeline seconds of the utterance end."""
    latency_ms: float | None
    """Final: host time of emission − host capture time of the last voiced sample; None for partials."""
    turn: int | None = None
    """Finals: the turn (utterances apart by short pauses, docs/events.md) this final belongs to."""
    words: tuple[dict[str, object], ...] | None = None
    """Finals with word timestamps on: {word, start_s, end_s, p} on the stream timeline."""
    stable_chars: int | None = None
    """Partials: the first `stable_chars` characters of `text` stay as they are in every later partial."""

    def to_json(self) -> dict[str, object]:
        out = _JsonEvent.to_json(self)
        for key in ("turn", "words", "stable_chars"):  # absent rather than null: the form older clients know
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True, slots=True)
class TranscriptRevision(_JsonEvent):
    """The best text of a whole turn, decoded as one piece: it replaces every earlier final of the turn."""

    type: ClassVar[str] = "revision"
    text: str
    turn: int
    pieces: int
    """How many utterances of the turn the text covers (2 for the first revision)."""
    start_s: float
    end_s: float
    latency_ms: float | None
    """Emission − host capture time of the last voiced sample of the turn's latest utterance."""
    words: tuple[dict[str, object], ...] | None = None

    def to_json(self) -> dict[str, object]:
        out = _JsonEvent.to_json(self)
        if out["words"] is None:
            del out["words"]
        return out


@dataclass(frozen=True, slots=True)
class DeviceInfo(_JsonEvent):
    """The board's INFO reply (firmware/protocol versions, board, uid, limits...)."""

    type: ClassVar[str] = "device"
    info: dict[str, object] = field(default_factory=dict)
    """INFO's typed, bounded fields (`picomic.stream.devicedata`; unknown ones under `extra`)."""

    def to_json(self) -> dict[str, object]:
        # the board's fields can never set the event's own keys (DECISIONS 33)
        fields = {k: v for k, v in self.info.items() if k not in RESERVED_KEYS}
        return {"type": self.type, **fields}


@dataclass(frozen=True, slots=True)
class Discontinuity(_JsonEvent):
    """The stream timeline jumped: lost frames, a new epoch, an unplug and reconnect."""

    type: ClassVar[str] = "discontinuity"
    reason: str
    """`gap` (seq gap), `jump` (a seq jump the device time does not explain: no loss), `epoch` (a new epoch
    that starts a new recording segment), `unplug` (link lost), `reconnect` (link back)."""
    lost_frames: int
    """Frames missing from the timeline (0 when unknown, for a jump or for a plain new epoch)."""
    gap_s: float
    """Seconds by which the stream timeline advanced without audio."""
    epoch: int
    file_s: float | None = None
    """Seconds into a recording of the stream where the audio after this discontinuity starts (None when
    not known here). Stream time and file time agree within a segment."""
    new_segment: bool = False
    """The gap is longer than the bound (`max_gap_s`): no silence is written for it; a recording's next
    segment starts at `file_s`."""


@dataclass(frozen=True, slots=True)
class StreamEnd(_JsonEvent):
    """The device ended the stream on purpose (END frame: `stop`, `signal_end`, `host_silent`)."""

    type: ClassVar[str] = "end"
    reason: str


@dataclass(frozen=True, slots=True)
class ErrorEvent(_JsonEvent):
    """A one-line problem report (the stream may continue, e.g. during reconnect)."""

    type: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True, slots=True)
class StatusEvent(_JsonEvent):
    """A `PipelineStatus.snapshot()` (DECISIONS 17 field names)."""

    type: ClassVar[str] = "status"
    fields: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        fields = {k: v for k, v in self.fields.items() if k not in RESERVED_KEYS}
        return {"type": self.type, **fields}


@dataclass(frozen=True, slots=True)
class WakeDetection(_JsonEvent):
    """The wake word was heard (a wake-word listener on the bus, `speech.wake`)."""

    type: ClassVar[str] = "detection"
    name: str
    """The wake-word model (its packaged file stem, e.g. `okay_nabu`)."""
    t_s: float
    """Stream-timeline seconds at which the detection fired (the end of the phrase)."""


@dataclass(frozen=True, slots=True)
class RemoteAsrEvent(_JsonEvent):
    """The remote speech server (`--asr-uri`) became unreachable, or reachable again."""

    type: ClassVar[str] = "remote_asr"
    state: Literal["unreachable", "reachable"]
    uri: str
    message: str = ""
    """Why it is unreachable (one line), and what happens to utterances meanwhile."""


Event = (
    VadEvent
    | Transcript
    | TranscriptRevision
    | DeviceInfo
    | Discontinuity
    | StreamEnd
    | ErrorEvent
    | StatusEvent
    | WakeDetection
    | RemoteAsrEvent
)
"""Any event the pipeline emits."""

EVENT_TYPES: tuple[type[Event], ...] = (
    VadEvent,
    Transcript,
    TranscriptRevision,
    DeviceInfo,
    Discontinuity,
    StreamEnd,
    ErrorEvent,
    StatusEvent,
    WakeDetection,
    RemoteAsrEvent,
)
"""Every event class (tests round-trip them all)."""
