"""Voice activity detection: Silero v6 (the ONNX file inside faster-whisper) run as a true stream.

`StreamingVad` feeds 512-sample windows at 16 kHz and carries the model's recurrent state (h, c) and the
64-sample context (the tail of the previous window, which the model sees in front of each window) from one
window to the next, across chunks. faster-whisper's own `SileroVADModel.__call__` starts from zero state on
every call, which suits whole files but not a live stream.

Decisions on top of the probabilities (hysteresis):
- a window with p >= start_threshold opens a candidate segment at that window's first sample;
- the candidate is confirmed (`start`) once it spans min_speech_ms; a candidate whose silence reaches
  min_silence_ms first is dropped (a click, a cough);
- in speech, the first window with p < end_threshold marks the silence onset; once the silence has held
  tentative_end_ms, a `tentative_end` edge at the onset (STT starts its speculative final decode);
- p >= start_threshold before min_silence_ms have passed is a `resume` (the tentative end is void);
- min_silence_ms of silence confirm the `end`, at the silence onset.
Edge positions are the detected edges before any padding (DECISIONS 16), as samples on a 16 kHz timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import RAW_STREAM, AudioBus, AudioChunk
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import ErrorEvent, Event, VadEvent
from picomic.bus.status import PipelineStatus
from picomic.errors import ModelError
from picomic.speech.edges import DEFAULT_PRE_ROLL_MS, EdgeCallback, SpeechEdge
from picomic.speech.frontend import Frontend16k

_CONTEXT_SAMPLES = 64
_STATE_SHAPE = (1, 1, 128)


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Options of the streaming VAD (validated: ValueError says what to change)."""

    start_threshold: float = 0.5
    """Speech probability at or above which speech starts (or resumes)."""
    end_threshold: float = 0.35
    """Speech probability below which silence starts (hysteresis: must be <= start_threshold)."""
    min_speech_ms: int = 250
    """Shorter candidate segments are dropped."""
    min_silence_ms: int = 500
    """Silence needed to confirm the end of a segment (the end-of-speech latency budget starts here)."""
    tentative_end_ms: int = 160
    """Silence that must hold before `tentative_end` is announced (STT then starts its speculative final
    decode); 0: at the first silent window. Short gaps between words stay below it."""
    pre_roll_ms: int = DEFAULT_PRE_ROLL_MS
    """Audio kept before a detected start and given to STT with the segment (padding; edges exclude it)."""
    window_samples: int = 512
    """Silero v6 window at 16 kHz (the only size the model takes)."""
    model_path: str | None = None
    """Silero ONNX file; None: the silero_vad_v6.onnx shipped inside faster-whisper."""

    def __post_init__(self) -> None:
        for name in ("start_threshold", "end_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"VAD {name} must be between 0 and 1 (exclusive), got {value}")
        if self.end_threshold > self.start_threshold:
            raise ValueError(
                f"VAD end_threshold ({self.end_threshold}) must not exceed start_threshold "
                f"({self.start_threshold}); lower end_threshold"
            )
        for name in ("min_speech_ms", "min_silence_ms", "tentative_end_ms", "pre_roll_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"VAD {name} must be >= 0 ms, got {getattr(self, name)}")
        if self.window_samples != 512:
            raise ValueError(
                f"Silero v6 at 16 kHz takes 512-sample windows; set window_samples=512, not {self.window_samples}"
            )


def default_vad_model_path() -> str:
    """The Silero v6 ONNX file inside the installed faster-whisper."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:  # pragma: no cover - faster-whisper is a dependency
        raise ModelError("faster-whisper is not installed; pip install faster-whisper") from exc
    return str(Path(get_assets_path()) / "silero_vad_v6.onnx")


def _load_session(path: str) -> object:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a faster-whisper dependency
        raise ModelError("onnxruntime is missing; pip install onnxruntime") from exc
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load the VAD model {path}: {exc}; reinstall faster-whisper") from exc


class StreamingVad:
    """Silero v6 over a continuous 16 kHz stream, with hysteresis. Not thread-safe (one owner thread)."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self._session = _load_session(self.settings.model_path or default_vad_model_path())
        self.last_probs = np.zeros(0, np.float32)
        """Probabilities of the windows of the last `process` call (diagnostics, tests)."""
        self.reset(0)

    @property
    def position(self) -> int:
        """16 kHz timeline position just after the last sample fed (including a partial window)."""
        return self._window_start + len(self._pending)

    @property
    def decided(self) -> int:
        """16 kHz position up to which every edge is decided: the end of the last complete window, or the start
        of a candidate segment not yet confirmed (its `start` edge, if it comes, will be at that position)."""
        if self._in_speech and not self._confirmed:
            return self._seg_start
        return self._window_start

    def reset(self, position: int = 0) -> None:
        """Forget model state and hysteresis; the next sample fed sits at `position` (16 kHz timeline)."""
        self._h = np.zeros(_STATE_SHAPE, np.float32)
        self._c = np.zeros(_STATE_SHAPE, np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._window_start = position
        self._in_speech = False
        self._confirmed = False
        self._seg_start = 0
        self._silence_start: int | None = None
        self._tentative_sent = False

    def process(self, audio16: np.ndarray) -> list[SpeechEdge]:
        """Feed 16 kHz mono float32 samples; returns the edges decided by the completed windows."""
        win = self.settings.window_samples
        buf = np.concatenate([self._pending, audio16]) if len(self._pending) else audio16
        n = len(buf) // win
        self._pending = np.array(buf[n * win :], dtype=np.float32)
        if n == 0:
            self.last_probs = np.zeros(0, np.float32)
            return []
        windows = np.asarray(buf[: n * win], dtype=np.float32).reshape(n, win)
        contexts = np.empty((n, _CONTEXT_SAMPLES), np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -_CONTEXT_SAMPLES:]
        self._context = windows[-1, -_CONTEXT_SAMPLES:].copy()
        # The batch axis is the time axis: the model carries h/c from row to row within one run.
        probs, self._h, self._c = self._session.run(  # type: ignore[attr-defined]
            None, {"input": np.concatenate([contexts, windows], axis=1), "h": self._h, "c": self._c}
        )
        self.last_probs = np.asarray(probs, np.float32).reshape(-1)
        edges: list[SpeechEdge] = []
        for p in self.last_probs:
            self._step(float(p), edges)
            self._window_start += win
        return edges

    def _step(self, p: float, edges: list[SpeechEdge]) -> None:
        """Hysteresis for one window starting at `self._window_start` with speech probability `p`."""
        s, w = self.settings, self._window_start
        w_end = w + s.window_samples
        if not self._in_speech:
            if p >= s.start_threshold:
                self._in_speech, self._confirmed, self._seg_start, self._silence_start = True, False, w, None
        elif self._silence_start is None:
            if p < s.end_threshold:
                self._silence_start, self._tentative_sent = w, False
        elif p >= s.start_threshold:
            self._silence_start = None
            if self._tentative_sent:
                edges.append(SpeechEdge("resume", w))
        elif (w_end - self._silence_start) * 1000 >= s.min_silence_ms * TARGET_RATE_HZ:
            if self._confirmed:
                edges.append(SpeechEdge("end", self._silence_start))
            self._in_speech = False
        if self._silence_start is not None and self._in_speech and self._confirmed and not self._tentative_sent:
            silent_ms = (w_end - self._silence_start) * 1000 // TARGET_RATE_HZ
            if silent_ms >= s.tentative_end_ms:
                self._tentative_sent = True
                edges.append(SpeechEdge("tentative_end", self._silence_start))
        if (
            self._in_speech
            and not self._confirmed
            and self._silence_start is None
            and (w_end - self._seg_start) * 1000 >= s.min_speech_ms * TARGET_RATE_HZ
        ):
            self._confirmed = True
            edges.append(SpeechEdge("start", self._seg_start))

    def close(self) -> list[SpeechEdge]:
        """End of stream (or a gap): close a confirmed open segment and reset the hysteresis."""
        edges: list[SpeechEdge] = []
        if self._in_speech and self._confirmed:
            end = self._silence_start if self._silence_start is not None else self.position
            edges.append(SpeechEdge("end", end))
        self.reset(self.position)
        return edges


class VadListener(ConsumerThread):
    """A bus listener thread running StreamingVad: emits VadEvents and tells STT about SpeechEdges.

    Edge consumers: `on_vad=` and/or `add_edge_callback()` (e.g. `SttListener.on_vad`). Callbacks run on
    this thread, in stream order, and must be quick (SttListener queues them). It is an `EdgeSource`.
    After the bus closes it closes an open segment and delivers a final `closed` edge.
    """

    def __init__(
        self,
        bus: AudioBus,
        settings: VadSettings | None = None,
        emit: Callable[[Event], None] | None = None,
        status: PipelineStatus | None = None,
        *,
        on_vad: EdgeCallback | None = None,
        name: str = "vad",
        maxsize: int = 1024,
        stream: str = RAW_STREAM,
    ) -> None:
        self.settings = settings or VadSettings()
        self._vad = StreamingVad(self.settings)
        self._emit = emit
        self._status = status
        self._callbacks: list[EdgeCallback] = [] if on_vad is None else [on_vad]
        self._inbox = bus.subscribe(name, maxsize, stream=stream)  # a stage's stream when one is on
        super().__init__(name)
        self._frontend = Frontend16k()
        self._rate_hz = TARGET_RATE_HZ  # the bus rate of the edges being delivered (VadEvent.sample)
        self.error: BaseException | None = None

    @property
    def pre_roll_ms(self) -> int:
        """Audio before each start edge that belongs to the utterance (`settings.pre_roll_ms`)."""
        return self.settings.pre_roll_ms

    @property
    def position16(self) -> int:
        """16 kHz samples processed so far (read from other threads: a plain int, updated per block)."""
        return self._vad.position

    def add_edge_callback(self, callback: EdgeCallback) -> None:
        """Call `callback(edge)` for every speech edge (register before `start`)."""
        self._callbacks.append(callback)

    def _run(self) -> None:
        try:
            while (chunk := self._inbox.recv()) is not None:
                self._on_chunk(chunk)
            tail = self._frontend.flush()
            if len(tail):
                self._deliver(self._vad.process(tail))
            self._deliver(self._vad.close())
        except Exception as exc:  # report, then still release STT below
            self.error = exc
            if self._emit is not None:
                self._emit(ErrorEvent(f"VAD stopped: {exc}"))
        finally:
            for cb in self._callbacks:
                cb(SpeechEdge("closed", self._vad.position))

    def _on_chunk(self, chunk: AudioChunk) -> None:
        step = self._frontend.feed(chunk)
        if step.restart:  # first chunk, a gap, a new epoch or a rate change: close speech, restart there
            if step.tail is not None:
                self._deliver(self._vad.close())
            self._rate_hz = chunk.sample_rate
            self._vad.reset(step.start16)
        for block in step.blocks:
            self._deliver(self._vad.process(block))
            self._deliver([SpeechEdge("progress", self._vad.decided)])

    def _deliver(self, edges: list[SpeechEdge]) -> None:
        for edge in edges:
            if self._emit is not None and edge.kind in ("start", "end"):
                sample = round(edge.sample16 * self._rate_hz / TARGET_RATE_HZ)
                kind: Literal["start", "end"] = "start" if edge.kind == "start" else "end"
                self._emit(VadEvent(kind, edge.sample16 / TARGET_RATE_HZ, sample))
            for cb in self._callbacks:
                cb(edge)
