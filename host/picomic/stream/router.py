"""FrameRouter: bytes from a board in → AudioChunks on the bus, events and status out. Never touches a port.

Like pyserial's `serial.threaded.Protocol`, the router is fed bytes (`feed`) and knows nothing about where they
came from: the serial transport (picomic.link.source), replays, benchmarks, the fault harness and tests all
drive this one code path. It owns the decoder (sync, CRC, sequence, timeline) and the device-clock mapping;
it publishes audio, turns END/STATUS/INFO frames into events, and keeps PipelineStatus in step with the
decoder's counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
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
    ) -> None:
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
                self._end(f)
            elif f.type is FrameType.STATUS:
                self._status_reply(f.frame.json())
            elif f.type is FrameType.INFO:
                self._emit(DeviceInfo(f.frame.json()))
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
        if f.lost_before:
            log.debug("gap: %d frame(s) lost before seq %d (device dropped %d)", f.lost_before, f.seq, fr.dropped)
            self._emit(Discontinuity("gap", f.lost_before, f.lost_before * fr.sample_count / rate, f.epoch))
        if fr.flags & _OVERRUN:
            log.info("the board flagged an I2S overrun at seq %d: audio was lost before it was captured", f.seq)
        end_us = f.ts_us + fr.sample_count * 1_000_000 // rate
        self.clock.observe(end_us, now_ms)
        host_ms = self.clock.to_host_ms(f.ts_us)
        chunk = AudioChunk(f.seq, host_ms, rate, fr.pcm(), f.stream_sample, f.epoch, fr.flags, f.ts_us)
        self.bus.publish(chunk)
        return end_us

    def _status_reply(self, body: dict[str, object]) -> None:
        if not body.get("ok"):
            self._emit(ErrorEvent(f"the board: {body.get('cmd', '?')} failed: {body.get('error', '?')}"))
        elif body.get("cmd") == "PING" and body.get("streaming") is False and not self.finished.is_set():
            # the board is idle, so its END frame was lost on the wire: the stream is over all the same
            log.info("the board is idle although no END arrived (lost on the wire): the stream is over")
            self._emit(ErrorEvent("the board stopped streaming; its END frame was lost on the wire"))
            self._emit(StreamEnd("end_lost"))
            self.finished.set()

    def _end(self, f: DecodedFrame) -> None:
        body = f.frame.json()
        if f.lost_before:  # frames lost at the tail of the epoch
            gap_s = f.lost_before * self.frame_ms / 1000.0
            self._emit(Discontinuity("gap", f.lost_before, gap_s, f.epoch))
        log.info("the board ended the stream: %s (%s)", body.get("reason", "stop"), body)
        self.end = body
        self._emit(StreamEnd(str(body.get("reason", "stop"))))
        self.finished.set()
