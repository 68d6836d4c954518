"""The wake word on the bus: `WakeListener` (a stage, DECISIONS 35) and `WakeGate` (only what follows it is heard).

`WakeListener` is a bus listener thread: it runs a `wakeword.WakeDetector` over its own 16 kHz front end and
emits a `WakeDetection` event per detection, telling its callbacks the 16 kHz timeline position.

`WakeGate` sits between the VAD and STT (`VadListener(on_vad=gate.on_vad)`, `WakeGate(stt.on_vad)`): it
passes on the speech edges of the next utterance after a detection only (DECISIONS 45), when it starts within
`timeout_s` (8 s). When the detection fires inside an open utterance (the command follows the phrase without
a pause), the utterance's rest from the detection on is that next utterance if it lasts `min_command_ms`;
otherwise (the phrase said alone) the gate waits for the following one. Positions decide, not arrival order:
the gate holds each VAD edge until the wake listener has heard up to it (`heard`), so a wake thread that lags
the VAD (a loaded machine, a file read faster than real time) still finds the command it woke for.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from picomic.audio.pcm import float_to_i16
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import RAW_STREAM, AudioBus
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import ErrorEvent, Event, WakeDetection
from picomic.speech.edges import EdgeCallback, SpeechEdge
from picomic.speech.frontend import Frontend16k
from picomic.speech.wakeword import WakeDetector

DEFAULT_WAKE_TIMEOUT_S = 8.0
MIN_COMMAND_MS = 400
HEARD_ALL = sys.maxsize
"""What the wake listener reports as heard once it has stopped: nothing it could still detect is pending."""


class WakeListener(ConsumerThread):
    """A bus listener thread running one wake-word model; `on_detection(sample16)` callbacks on its thread."""

    def __init__(
        self,
        bus: AudioBus,
        model: str,
        emit: Callable[[Event], None] | None = None,
        *,
        name: str = "wake",
        maxsize: int = 1024,
        stream: str = RAW_STREAM,
    ) -> None:
        self.detector = WakeDetector(model)
        self._emit = emit
        self._callbacks: list[Callable[[int], None]] = []
        self._progress: list[Callable[[int], None]] = []
        self._inbox = bus.subscribe(name, maxsize, stream=stream)  # a stage's stream when one is on
        self._frontend = Frontend16k()
        self._origin16 = 0  # 16 kHz timeline position of the detector's first sample
        self.detections: list[int] = []
        """16 kHz timeline positions of every detection so far."""
        self.error: BaseException | None = None
        super().__init__(name)

    def add_detection_callback(self, callback: Callable[[int], None]) -> None:
        """Call `callback(sample16)` on every detection (register before `start`)."""
        self._callbacks.append(callback)

    def add_progress_callback(self, callback: Callable[[int], None]) -> None:
        """Call `callback(sample16)` with how far the detector has heard after every block it ran (after that
        block's detection callbacks), and with `HEARD_ALL` when the listener stops (register before `start`)."""
        self._progress.append(callback)

    def _run(self) -> None:
        try:
            while (chunk := self._inbox.recv()) is not None:
                step = self._frontend.feed(chunk)
                if step.restart:
                    self.detector.reset()
                    self._origin16 = step.start16
                for block in step.blocks:
                    self._feed(block)
                    self._report(self._position)
        except Exception as exc:
            self.error = exc
            if self._emit is not None:
                self._emit(ErrorEvent(f"wake word stopped: {exc}"))
        finally:
            self._report(HEARD_ALL)

    @property
    def _position(self) -> int:
        """16 kHz timeline position up to which the detector has heard."""
        return self._origin16 + self.detector.fed_bytes // 2

    def _report(self, heard16: int) -> None:
        for callback in self._progress:
            callback(heard16)

    def _feed(self, block16: np.ndarray) -> None:
        if not len(block16) or not self.detector.feed(float_to_i16(block16).tobytes()):
            return
        at = self._position
        self.detections.append(at)
        if self._emit is not None:
            self._emit(WakeDetection(self.detector.name, at / TARGET_RATE_HZ))
        for callback in self._callbacks:
            callback(at)


class WakeGate:
    """Speech edges in (from the VAD), the edges of the utterance after a wake word out (to STT). Thread-safe:
    `on_vad` comes from the VAD thread, `on_detection` and `heard` from the wake listener's. An edge is routed
    once the wake listener has heard its position, so every detection before it is known; `forward` is called
    under the gate's lock, in stream order, and must not block (STT's `on_vad` only queues)."""

    def __init__(
        self, forward: EdgeCallback, timeout_s: float = DEFAULT_WAKE_TIMEOUT_S, min_command_ms: int = MIN_COMMAND_MS
    ) -> None:
        self._forward = forward
        self._timeout = int(timeout_s * TARGET_RATE_HZ)
        self._min_command = min_command_ms * TARGET_RATE_HZ // 1000
        self._lock = threading.Lock()
        self._armed: int | None = None  # a detection waiting for the next utterance to start
        self._pending: int | None = None  # a detection inside the open utterance, not yet passed on
        self._open: int | None = None  # start of the utterance the VAD has open (passed on or not)
        self._passing = False  # the edges of the open utterance go to STT
        self._held: deque[SpeechEdge] = deque()  # VAD edges the wake listener has not heard up to yet
        self._heard = 0  # 16 kHz position the wake listener has heard up to
        self._detections: deque[int] = deque()  # detections not yet reached by the routed edges

    def on_detection(self, sample16: int) -> None:
        with self._lock:
            self._detections.append(sample16)

    def heard(self, sample16: int) -> None:
        """The wake listener has run its detector up to `sample16` (`HEARD_ALL`: it has stopped)."""
        with self._lock:
            self._heard = max(self._heard, sample16)
            self._release()

    def on_vad(self, edge: SpeechEdge) -> None:
        with self._lock:
            self._held.append(edge)
            self._release()

    def _release(self) -> None:
        """Route the held edges the wake listener has heard past (lock held), with the detections before each
        applied first. `closed` waits for the listener to stop: a detection may still lie in the tail."""
        while self._held:
            edge = self._held[0]
            if (HEARD_ALL if edge.kind == "closed" else edge.sample16) > self._heard:
                break
            self._held.popleft()
            while self._detections and (self._detections[0] <= edge.sample16 or edge.kind == "closed"):
                self._detect(self._detections.popleft())
            for e in self._route(edge):
                self._forward(e)

    def _detect(self, sample16: int) -> None:
        if self._passing:
            return
        if self._open is not None:
            self._pending = sample16
        else:
            self._armed = sample16

    def _route(self, edge: SpeechEdge) -> list[SpeechEdge]:
        """The edges to pass on for `edge` (lock held). `progress` (how far the VAD has heard) and `closed` always
        go through: they open nothing."""
        if edge.kind in ("closed", "progress"):
            return [edge]
        if edge.kind == "start":
            return self._start(edge)
        if self._passing:
            if edge.kind == "end":
                self._passing, self._open = False, None
            return [edge]
        if self._pending is not None and edge.kind in ("tentative_end", "end"):
            return self._settle_pending(edge)
        if edge.kind == "end":
            self._open = None
        return []

    def _start(self, edge: SpeechEdge) -> list[SpeechEdge]:
        self._open = edge.sample16
        armed, self._armed = self._armed, None
        if armed is None:
            return []
        if edge.sample16 - armed > self._timeout:
            return []  # too late: the wake word has expired
        self._passing = True
        return [edge]

    def _settle_pending(self, edge: SpeechEdge) -> list[SpeechEdge]:
        """A detection inside the open utterance: pass on its rest if long enough, else wait for the next."""
        pending = self._pending
        assert pending is not None
        if edge.sample16 - pending >= self._min_command:
            self._pending = None
            self._passing = edge.kind != "end"
            if edge.kind == "end":
                self._open = None
            return [SpeechEdge("start", pending), edge]
        if edge.kind == "end":
            self._pending, self._open, self._armed = None, None, pending
        return []
