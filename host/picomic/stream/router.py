"""FrameRouter: bytes from a board in → AudioChunks on the bus, events and status out. Never touches a port.

Like pyserial's `serial.threaded.Protocol`, the router is fed bytes (`feed`) and knows nothing about where they
came from: the serial transport (picomic.link.source), replays, benchmarks, the fault harness and tests all
drive this one code path. It owns the decoder (sync, CRC, sequence, timeline) and the device-clock mapping;
it publishes audio, turns END/STATUS/INFO frames into events, and keeps PipelineStatus in step with the
decoder's counters.

Gaps are bounded (DECISIONS 32, 40): the router decides, once for every listener, where a gap is filled with
silence and where a new recording segment starts (`AudioChunk.segment`). A gap is silence when it is at most
`max_gap_s` long and the silence so far stays within wall time not covered by audio plus one bound (so a
recording's size stays within wall time × rate × width plus the bound); a longer one starts a new segment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, MAX_GAP_LIMIT_S, AudioBus, AudioChunk
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.bus.text import printable
from picomic.errors import FrameError
from picomic.stream.clock import ClockMapper
from picomic.stream.decoder import DecodedFrame, Decoder
from picomic.stream.protocol import Flags, FrameType

__all__ = ["FrameRouter"]

log = logging.getLogger(__name__)

_OVERRUN = int(Flags.I2S_OVERRUN)  # a plain int: `int & IntFlag` goes through enum code (per-frame path)


def _ignore(event: Event) -> None:
    pass


class FrameRouter:
    """Decodes bytes and routes what they hold. `finished` is set by END (or a lost END noticed from an idle
    PING reply); `on_frame`, when given, sees every decoded frame first (test and fault harnesses)."""

    def __init__(
        self,
        bus: AudioBus,
        status: PipelineStatus,
        emit: Callable[[Event], None] | None = None,
        *,
        frame_ms: int = 10,
        on_frame: Callable[[DecodedFrame], None] | None = None,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
    ) -> None:
        if not 0.0 <= max_gap_s <= MAX_GAP_LIMIT_S:
            raise ValueError(f"max_gap_s must be 0..{MAX_GAP_LIMIT_S:.0f} seconds, got {max_gap_s}")
        self.max_gap_s = max_gap_s
        """Longest gap filled with silence; a longer one starts a new recording segment."""
        self.bus, self.status = bus, status
        self.frame_ms = frame_ms
        """Frame length of the stream (for the duration of frames lost at the end of an epoch)."""
        self.decoder = Decoder()
        self.clock = ClockMapper()
        self.finished = threading.Event()
        self.end: dict[str, object] | None = None
        """The body of the END frame that finished the stream, if one did."""
        self.last_end_ms: float | None = None
        """Host time just after the last sample delivered (None: no audio yet)."""
        self._emit = emit or _ignore
        self._on_frame = on_frame
        self._synced: dict[str, int] = dict.fromkeys(self.decoder.counters(), 0)
        self.segment = 0
        """Recording segment of the last chunk published (+1 at every gap longer than the bound)."""
        self.file_samples = 0
        """Samples a recording of this stream holds so far (audio and bridging silence)."""
        self._silence = 0  # bridging silence in file_samples
        self._next_sample: int | None = None  # stream sample just after the last chunk published
        self._first_ms = 0.0  # host time of the first chunk (the wall-time budget of silence)

    def feed(self, data: bytes, now_ms: float | None = None) -> None:
        """Decode `data` (any chunking) and route its frames; `now_ms`: host arrival time (default: now)."""
        self.route(self.decoder.feed(data), now_ms)

    def route(self, frames: list[DecodedFrame], now_ms: float | None = None) -> None:
        """Publish audio, emit events, update status for one batch of decoded frames."""
        now = time.monotonic() * 1000.0 if now_ms is None else now_ms
        end_us: int | None = None  # device time just after the last sample delivered in this batch
        for f in frames:
            if self._on_frame is not None:
                self._on_frame(f)
            if f.type is FrameType.AUDIO:
                end_us = self._publish(f, now)
            elif f.type is FrameType.END:
                self._end(f, self._body(f) or {})
            elif (body := self._body(f)) is None:
                continue
            elif f.type is FrameType.STATUS:
                self._status_reply(body)
            elif f.type is FrameType.INFO:
                self._emit(DeviceInfo(body))
        self.sync_status()
        if end_us is not None:
            end_ms = self.clock.to_host_ms(end_us)
            self.last_end_ms = end_ms
            self.status.set("audio_lag_ms", now - end_ms)
            self.status.set("clock_drift_ppm", self.clock.drift_ppm)

    def sync_status(self) -> None:
        """Add the decoder's counter changes since the last sync to the pipeline status."""
        now = self.decoder.counters()
        deltas = {k: v - self._synced[k] for k, v in now.items() if v != self._synced[k]}
        if deltas:
            if "crc_errors" in deltas or "resyncs" in deltas:
                log.debug("link errors: +%d CRC, +%d resyncs", deltas.get("crc_errors", 0), deltas.get("resyncs", 0))
            self.status.add_many(deltas)
            self._synced = now

    # ---- one frame -------------------------------------------------------------------------------------
    def _publish(self, f: DecodedFrame, now_ms: float) -> int:
        """Put one audio frame on the bus; returns the device µs just after its last sample."""
        fr = f.frame
        rate = fr.rate_hz
        if f.new_epoch:
            self.clock.reset(keep_drift=True)
        gap, new_segment = self._place_gap(f.stream_sample, rate, now_ms)
        file_s = self.file_samples / rate
        if f.lost_before:
            log.debug("gap: %d frame(s) lost before seq %d (device dropped %d)", f.lost_before, f.seq, fr.dropped)
            lost_s = f.lost_before * fr.sample_count / rate
            self._emit(Discontinuity("gap", f.lost_before, lost_s, f.epoch, file_s, new_segment))
        elif f.jump:
            log.info("the board's sequence jumped %d ahead at seq %d, more than its clock explains", f.jump, f.seq)
            self._emit(Discontinuity("jump", 0, gap / rate, f.epoch, file_s, new_segment))
        elif new_segment:
            self._emit(Discontinuity("epoch" if f.new_epoch else "gap", 0, gap / rate, f.epoch, file_s, True))
        if fr.flags & _OVERRUN:
            log.info("the board flagged an I2S overrun at seq %d: audio was lost before it was captured", f.seq)
        end_us = f.ts_us + fr.sample_count * 1_000_000 // rate
        self.clock.observe(end_us, now_ms)
        host_ms = self.clock.to_host_ms(f.ts_us)
        chunk = AudioChunk(
            f.seq, host_ms, rate, fr.pcm(), f.stream_sample, f.epoch, fr.flags, f.ts_us, segment=self.segment
        )
        self.file_samples += fr.sample_count
        self._next_sample = f.stream_sample + fr.sample_count
        self.bus.publish(chunk)
        return end_us

    def _place_gap(self, sample: int, rate_hz: int, now_ms: float) -> tuple[int, bool]:
        """The gap before the chunk at stream `sample` and whether it starts a new segment (else it is
        bridged with silence, counted in `file_samples`)."""
        if self._next_sample is None:
            self._first_ms = now_ms
            self._next_sample = sample
        gap = sample - self._next_sample
        if gap <= 0:
            return 0, False
        bound = int(self.max_gap_s * rate_hz)
        uncovered = int((now_ms - self._first_ms) * rate_hz / 1000.0) - (self.file_samples - self._silence)
        if gap <= bound and self._silence + gap <= bound + max(0, uncovered):
            self._silence += gap
            self.file_samples += gap
            return gap, False
        self.segment += 1
        return gap, True

    def _body(self, f: DecodedFrame) -> dict[str, object] | None:
        """The typed fields of an INFO/STATUS/END payload, or None (counted, reported) when it is malformed."""
        try:
            return f.frame.json()
        except FrameError as exc:
            self.status.add("bad_replies")
            log.info("refused a %s reply from the board: %s", f.type.name, exc)
            self._emit(ErrorEvent(f"the board sent a malformed {f.type.name} reply: {exc}"))
            return None

    def _status_reply(self, body: dict[str, object]) -> None:
        if not body.get("ok"):
            cmd, error = printable(body.get("cmd", "?")), printable(body.get("error", "?"))
            self._emit(ErrorEvent(f"the board: {cmd} failed: {error}"))
        elif body.get("cmd") == "PING" and body.get("streaming") is False and not self.finished.is_set():
            # the board is idle, so its END frame was lost on the wire: the stream is over all the same
            log.info("the board is idle although no END arrived (lost on the wire): the stream is over")
            self._emit(ErrorEvent("the board stopped streaming; its END frame was lost on the wire"))
            self._emit(StreamEnd("end_lost"))
            self.finished.set()

    def _end(self, f: DecodedFrame, body: dict[str, object]) -> None:
        if f.lost_before:  # frames lost at the tail of the epoch
            gap_s = f.lost_before * self.frame_ms / 1000.0
            self._emit(Discontinuity("gap", f.lost_before, gap_s, f.epoch))
        reason = printable(body.get("reason", "stop"), 32)
        log.info("the board ended the stream: %s (%s)", printable(reason), printable(body))
        self.end = body
        self._emit(StreamEnd(reason))
        self.finished.set()
