"""`Stage`: a bus listener on its own thread that runs a Processor and publishes a derived stream on the same bus.

Input: one bus stream (`raw` or another stage's output) through its own bounded listener. A stage that falls
behind drops the oldest chunks like any listener: `dropped` of its listener (`stage-<name>`) and
`input_dropped` of its stream in the status count them, and the derived stream has a gap there (the blocks
that went missing are not invented).

Output: 16 kHz int16 10 ms chunks (`timeline.Block.derived`) at the source's positions. A processor whose
output lags (`delay_samples`) is compensated: block k is published once the processor's output covers it,
so the samples of a derived chunk are the processed samples of exactly the source samples it is placed at.
One derived chunk object goes to every listener of the stream (zero copies per consumer).

Failure: a processor that raises is stopped (an `error` event says so) and the stream goes on with the raw
audio in the same 16 kHz blocks (`Passthrough`), so VAD, STT and recordings on it continue; the status shows
`state: bypassed` and the error. Anything else failing in the stage ends its stream (its listeners then see
the end of stream) and is reported the same way; the pipeline and the other consumers go on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from picomic.audio.pcm import I16
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import RAW_STREAM, AudioBus
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import ErrorEvent, Event
from picomic.bus.status import PipelineStatus
from picomic.stages.processors import BLOCK_SAMPLES, Passthrough, Processor
from picomic.stages.timeline import Block, Reblocker

STAGE_QUEUE_CHUNKS = 500
"""Five seconds of 10 ms chunks: a stage drops only when it falls that far behind."""
DROP_REPORT_EVERY_S = 1.0
"""A stage that keeps dropping says so in an error event at most this often."""
_MAX_FLUSH_BLOCKS = 64  # zero blocks fed at most to push a delayed tail out


class Stage(ConsumerThread):
    """Publishes `processor`'s output of stream `source` as stream `processor.name` on `bus`."""

    def __init__(
        self,
        bus: AudioBus,
        processor: Processor,
        *,
        source: str = RAW_STREAM,
        emit: Callable[[Event], None] | None = None,
        status: PipelineStatus | None = None,
        maxsize: int = STAGE_QUEUE_CHUNKS,
    ) -> None:
        self.name = processor.name
        self.source = source
        self.description = processor.describe()
        self._bus = bus
        self._processor: Processor = processor
        self._emit = emit or (lambda _event: None)
        bus.add_stream(self.name)
        self._inbox = bus.subscribe(f"stage-{self.name}", maxsize, stream=source)
        self._reblocker = Reblocker()
        self._held: deque[tuple[int, Block]] = deque()  # (processor input index, block) awaiting output
        self._out = np.zeros(0, np.int16)
        self._out_base = 0  # processor output index of self._out[0]
        self._fed = 0  # samples fed to the processor since its last reset
        self._lock = threading.Lock()
        self.published = 0
        self.state = "running"
        self.error: str | None = None
        self._cpu_s = 0.0
        self._audio_s = 0.0
        self._drops_reported = 0
        self._drops_reported_at = -DROP_REPORT_EVERY_S
        if status is not None:
            status.register_stream(self.name, self.stats)
        super().__init__(f"stage-{self.name}")

    @property
    def delay_ms(self) -> float:
        """The processor's own output lag, which the stage waits for before publishing a block."""
        return self._processor.delay_samples * 1000.0 / TARGET_RATE_HZ

    def stats(self) -> dict[str, object]:
        """This stream's fields in the status event (`streams.<name>`)."""
        with self._lock:
            cpu = self._cpu_s / self._audio_s if self._audio_s else 0.0
            return {
                "stage": self.description, "source": self.source, "state": self.state, "chunks": self.published,
                "input_dropped": self._inbox.dropped, "delay_ms": round(self.delay_ms, 1),
                "cpu_per_audio_s": round(cpu, 4), "error": self.error,
            }  # fmt: skip

    # -- the stage's thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (chunk := self._inbox.recv()) is not None:
                self._report_drops()
                cut = self._reblocker.feed(chunk)
                if cut.restart:
                    self._close_segment(cut.closing)
                self._feed_all(cut.blocks)
            self._close_segment(self._reblocker.finish())
            self._report_drops(final=True)
            self._set_state("ended" if self.state == "running" else self.state)
        except Exception as exc:  # not the processor's fault: this stream ends, the pipeline goes on
            self._report(f"stage {self.name} stopped: {exc}; its stream ended", "stopped")
            self._bus.unsubscribe(self._inbox)
        finally:
            self._bus.end_stream(self.name)

    def _feed_all(self, blocks: tuple[Block, ...]) -> None:
        for block in blocks:
            self._feed(block)

    def _feed(self, block: Block) -> None:
        self._held.append((self._fed, block))
        self._fed += BLOCK_SAMPLES
        t0 = time.thread_time()
        try:
            out = self._processor.process(block.samples)
        except Exception as exc:
            self._bypass(exc)
            return
        self._account(time.thread_time() - t0)
        if len(out):
            self._out = np.concatenate([self._out, out]) if len(self._out) else out
        self._publish_ready()

    def _publish_ready(self) -> None:
        """Publish every held block whose processed samples the output now holds (in order)."""
        delay = self._processor.delay_samples
        while self._held:
            index, block = self._held[0]
            start = index + delay - self._out_base
            if start + BLOCK_SAMPLES > len(self._out):
                return
            self._held.popleft()
            self._publish(block, self._out[start : start + BLOCK_SAMPLES])
        needed = (self._held[0][0] if self._held else self._fed) + delay - self._out_base
        keep = max(0, min(len(self._out), needed))  # drop the output no block will need again
        self._out, self._out_base = self._out[keep:], self._out_base + keep

    def _publish(self, block: Block, samples: I16) -> None:
        if block.anchor is None:
            return  # inside a bridged gap: processed, never published
        self._bus.publish(block.derived(samples), self.name)
        with self._lock:
            self.published += 1

    def _close_segment(self, closing: tuple[Block, ...]) -> None:
        """Before a discontinuity or the end: push the held blocks out with silence, then reset."""
        self._feed_all(closing)
        zeros = np.zeros(BLOCK_SAMPLES, np.int16)
        for _ in range(_MAX_FLUSH_BLOCKS):
            if not self._held:
                break
            self._feed(Block(self._held[-1][1].position + BLOCK_SAMPLES, zeros, None))
        self._held.clear()
        self._out, self._out_base, self._fed = np.zeros(0, np.int16), 0, 0
        try:
            self._processor.reset()
        except Exception as exc:
            self._bypass(exc)

    def _bypass(self, exc: Exception) -> None:
        """The processor failed: publish what it held as raw audio and carry on without it."""
        self._report(f"stage {self.name} failed ({self.description}): {exc}; its stream carries the raw audio "
                     "from here on", "bypassed")  # fmt: skip
        held, self._held = list(self._held), deque()
        self._processor = Passthrough(self.name)
        self._out, self._out_base, self._fed = np.zeros(0, np.int16), 0, 0
        for _, block in held:
            self._publish(block, block.samples)

    def _report_drops(self, final: bool = False) -> None:
        """An error event when the input dropped chunks since the last one (at most every DROP_REPORT_EVERY_S)."""
        dropped, now = self._inbox.dropped, time.monotonic()
        if dropped > self._drops_reported and (final or now - self._drops_reported_at >= DROP_REPORT_EVERY_S):
            self._emit(ErrorEvent(f"stage {self.name} fell behind: {dropped - self._drops_reported} input chunk(s) "
                                  f"dropped ({dropped} in all); its stream has a gap there"))  # fmt: skip
            self._drops_reported, self._drops_reported_at = dropped, now

    def _report(self, message: str, state: str) -> None:
        with self._lock:
            self.state, self.error = state, message
        self._emit(ErrorEvent(message))

    def _set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    def _account(self, cpu_s: float) -> None:
        with self._lock:
            self._cpu_s += cpu_s
            self._audio_s += BLOCK_SAMPLES / TARGET_RATE_HZ

    def finish(self, timeout: float) -> None:
        """After the source stream ended: wait (bounded) until this stage published all it had; a stage
        still stuck then has its stream ended anyway, so its listeners finish."""
        if not self.join(timeout):
            self._bus.end_stream(self.name)
