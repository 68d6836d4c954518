"""Bounds on what a Wyoming peer may send, and the reader that enforces them before reading (DECISIONS 34, 45).

The `wyoming` package frames events (a JSON header line, then `data_length` bytes of JSON and
`payload_length` bytes of payload) and reads whatever lengths the header announces. `BoundedReader` is the
asyncio `StreamReader` under every picomic connection: it caps the header line (the StreamReader limit) and
refuses a header whose data or payload length exceeds `Limits` before a byte of them is read, so a peer that
announces 2 GB costs nothing. `read_event` wraps `wyoming.event.async_read_event` over it and tells a clean end
of stream (None) from a violation (`ProtocolViolation`, whose `kind` names the counter it goes to).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from wyoming.event import Event, async_read_event


@dataclass(frozen=True, slots=True)
class Limits:
    """What one Wyoming connection may cost (validated: ValueError names the setting)."""

    max_clients: int = 16
    """Connections served at once per service; more are closed at once (counted as `rejected_full`)."""
    max_line_bytes: int = 16 * 1024
    """An event's JSON header line."""
    max_data_bytes: int = 64 * 1024
    """An event's extra JSON data (`data_length`)."""
    max_payload_bytes: int = 1024 * 1024
    """An event's binary payload (`payload_length`): 32 s of 16 kHz 16-bit audio in one chunk."""
    max_audio_s: float = 60.0
    """Audio one transcription (or wake-word request) may send."""
    client_queue_chunks: int = 200
    """Mic chunks queued for one client (2 s of 10 ms frames); a slow client loses the oldest (counted)."""
    write_timeout_s: float = 5.0
    """A client that takes longer than this to accept one event (it stopped reading) is disconnected."""
    idle_timeout_s: float = 60.0
    """A client of a request service (ASR, wake) that sends nothing for this long is disconnected, so idle
    connections cannot hold every `max_clients` slot. Mic and satellite clients only listen: exempt."""

    def __post_init__(self) -> None:
        for name in ("max_clients", "max_line_bytes", "max_data_bytes", "max_payload_bytes", "client_queue_chunks"):
            if getattr(self, name) < 1:
                raise ValueError(f"Wyoming {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_audio_s", "write_timeout_s", "idle_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Wyoming {name} must be > 0 s, got {getattr(self, name)}")


class ProtocolViolation(Exception):
    """A peer sent something that is not a Wyoming event within the limits; `kind` is `malformed` or
    `too_large`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class BoundedReader(asyncio.StreamReader):
    """A StreamReader that refuses over-long event headers, data and payloads before reading them."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limit=limits.max_line_bytes)
        self.limits = limits
        self.last_line = b""
        """The header line last read (empty at end of stream): tells a malformed event from the end."""

    async def readline(self) -> bytes:
        self.last_line = b"?"  # stays so when the line overruns the limit (the StreamReader raises ValueError)
        line = await super().readline()
        self.last_line = line
        if line:
            self._check_header(line)
        return line

    def _check_header(self, line: bytes) -> None:
        try:
            header = json.loads(line)
        except ValueError:
            return  # not JSON: the wyoming reader rejects it, `read_event` reports it as malformed
        if not isinstance(header, dict):
            raise ProtocolViolation("malformed", "an event header must be a JSON object")
        for key, limit in (
            ("data_length", self.limits.max_data_bytes),
            ("payload_length", self.limits.max_payload_bytes),
        ):
            value = header.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ProtocolViolation("malformed", f"{key} must be a byte count, got {value!r}")
            if value > limit:
                raise ProtocolViolation("too_large", f"{key} {value} exceeds the limit of {limit} bytes")


async def read_event(reader: BoundedReader) -> Event | None:
    """The next event; None at a clean end of stream; ProtocolViolation for anything else."""
    try:
        event = await async_read_event(reader)
    except ProtocolViolation:
        raise
    except asyncio.IncompleteReadError as exc:
        raise ProtocolViolation("malformed", "the connection closed inside an event") from exc
    except Exception as exc:  # the wyoming reader lets KeyError/TypeError/AttributeError of odd headers through
        raise ProtocolViolation("malformed", f"not a Wyoming event ({type(exc).__name__})") from exc
    if event is None:
        if reader.last_line:
            raise ProtocolViolation("malformed", "not a Wyoming event (bad JSON or an over-long header line)")
        return None
    if not isinstance(event.type, str) or not isinstance(event.data, dict):
        raise ProtocolViolation("malformed", "an event needs a string type and an object of data")
    return event
