"""Speech-to-text: faster-whisper behind a bus listener, driven by the VAD's speech edges.

`SttListener` keeps its own 16 kHz ring of recent audio (pre-roll included). An `EdgeSource` (the VAD)
tells it where speech starts and ends (`edges.SpeechEdge`, on a 16 kHz timeline); it cuts each utterance
out of the ring and hands it to a decode worker thread, so neither the bus nor the VAD ever waits for Whisper.

End-of-speech latency is silence window + decode (the encoder runs on the audio plus a pad, `window.py`: ~0.2 s
for a short sentence with tiny.en on 2 cores). With `speculative=True` the final decode starts when the silence
has lasted `end_pad_ms` — long before `min_silence_ms` confirms the end — and its text is emitted the moment the
end is confirmed, or discarded if speech resumes. Without a VAD (`use_vad=False`) it transcribes fixed windows
of `window_s`.

Endpointing (with a VAD that sends `progress` edges): the utterance ends once the silence has lasted
`sentence_end_ms` if the speculative text ends a sentence (terminal punctuation), else after `open_end_ms`
(the bounded wait); the VAD's own `end` then only marks its segment. Pieces apart by at most `turn_gap_ms`
form a turn (`turns.py`): a later piece is decoded with the turn's text as prompt (its final, as fast as any),
then the whole turn is re-decoded and emitted as a revision of the turn.

Settings: `SttSettings` composes what to load (`models.ModelSettings`), how to decode (`decode.DecodeOptions`,
handed to faster-whisper unchanged) and when to decode (`StreamingPolicy`).

Several boards: their listeners share one loaded model (`model=`) and one `worker.DecodePool` (`pool=`), whose
decode thread serves the boards in turns.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import RAW_STREAM, AudioBus, AudioChunk
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import ErrorEvent, Event
from picomic.bus.status import PipelineStatus
from picomic.speech.decode import DecodeOptions
from picomic.speech.edges import DEFAULT_PRE_ROLL_MS, EdgeSource, SpeechEdge
from picomic.speech.endpoint import ends_sentence
from picomic.speech.frontend import Frontend16k
from picomic.speech.models import EnglishOnlyModelError, ModelSettings, load_whisper
from picomic.speech.ring import AudioRing
from picomic.speech.stable import PartialStabilizer
from picomic.speech.turns import TurnTracker
from picomic.speech.worker import DecodeWorker, Job, Transcriber

if TYPE_CHECKING:
    from picomic.speech.worker import DecodePool

__all__ = ["StreamingPolicy", "SttListener", "SttSettings", "load_model"]
_MS = TARGET_RATE_HZ // 1000  # 16 kHz samples per ms
_WINDOW = 28 * TARGET_RATE_HZ  # the most audio one decode is given (Whisper sees 30 s)


@dataclass(frozen=True, slots=True)
class StreamingPolicy:
    """When SttListener decodes what (validated: ValueError names the setting and its value)."""

    partials_interval_ms: int | None = None
    """Partial transcripts of the open utterance this often (only while the decoder idles); None: off."""
    max_utterance_s: float = 25.0
    """Longer utterances are split at their quietest 0.2 s in the last 3 s (Whisper sees ≤ 30 s)."""
    speculative: bool = True
    """Start the final decode at the first silence; keep it if the end is confirmed."""
    end_pad_ms: int = 150
    """Audio after the detected end given to the decoder; the speculative decode starts once it exists."""
    use_vad: bool = True
    """Follow VAD speech edges (from `vad=` or `on_vad`); False: transcribe fixed windows."""
    window_s: float = 5.0
    """Without a VAD: length of the fixed windows transcribed one after the other."""
    ring_s: float = 10.0
    """Audio kept while idle (must exceed the VAD's lag + pre-roll + min_speech)."""
    flush_timeout_s: float = 15.0
    """End of stream: how long to wait for the VAD and the pending decodes."""
    sentence_end_ms: int = 384
    """Silence that ends an utterance whose speculative text ends a sentence (. ? !). The VAD measures silence in
    32 ms windows: 384 ms is twelve, one above the longest comma pause on the harder set (352 ms, u1)."""
    open_end_ms: int = 1000
    """Silence that ends any utterance (the bounded wait when the text does not end a sentence)."""
    turn_gap_ms: int = 1500
    """Pauses up to this keep a turn open (later pieces decoded with its text; a revision at its end); 0: off."""

    def __post_init__(self) -> None:
        if self.partials_interval_ms is not None and self.partials_interval_ms < 100:
            raise ValueError(f"partials_interval_ms must be >= 100 (or None: off), got {self.partials_interval_ms}")
        if not 1.0 <= self.max_utterance_s <= 28.0:
            raise ValueError(f"max_utterance_s must be 1..28 s (Whisper sees 30 s), got {self.max_utterance_s}")
        if not 1.0 <= self.window_s <= 28.0:
            raise ValueError(f"window_s must be 1..28 s, got {self.window_s}")
        for name in ("end_pad_ms", "ring_s", "flush_timeout_s", "turn_gap_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"STT {name} must be >= 0, got {getattr(self, name)}")
        if not self.end_pad_ms <= self.sentence_end_ms <= self.open_end_ms <= 5000:
            raise ValueError(
                f"STT needs end_pad_ms <= sentence_end_ms <= open_end_ms <= 5000, got {self.end_pad_ms}, "
                f"{self.sentence_end_ms}, {self.open_end_ms}"
            )


@dataclass(frozen=True, slots=True)
class SttSettings:
    """Everything speech-to-text takes: the model to load, the decode options and the streaming policy."""

    model: ModelSettings = field(default_factory=ModelSettings)
    """Which Whisper model, on which device, with which compute type."""
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    """faster-whisper decode options (language, beam size, hallucination thresholds), passed through."""
    policy: StreamingPolicy = field(default_factory=StreamingPolicy)
    """When to decode: partials, long-utterance splits, speculation, fixed windows, flushing."""


def load_model(settings: SttSettings | None = None) -> Any:
    """The faster_whisper.WhisperModel of `settings.model` (ModelError with the fix if impossible); the
    decode language must suit it (EnglishOnlyModelError)."""
    s = settings or SttSettings()
    model = load_whisper(s.model)
    language = s.decode.language
    if language not in (None, "en") and not model.model.is_multilingual:
        raise EnglishOnlyModelError(language, s.model.display_name)
    return model


class SttListener(ConsumerThread):
    """A bus listener thread producing Transcript events (finals, optional partials).

    Speech edges come from `vad=` (an EdgeSource such as a VadListener; this registers `on_vad` with it)
    or from whoever calls `on_vad`. With `settings.policy.use_vad=False` and no `vad` it transcribes fixed
    windows. `transcriber` (16 kHz float32 → text) replaces the local model, e.g. a remote Wyoming server
    (`picomic.wyoming.remote.RemoteAsr`); then no model is loaded. Construct before publishing starts;
    `start()`; after `bus.close()`, `finish()`/`join()` return once the open utterance is finalized and
    pending decodes are emitted (bounded by `settings.policy.flush_timeout_s`).
    """

    def __init__(
        self,
        bus: AudioBus,
        settings: SttSettings | None = None,
        emit: Callable[[Event], None] | None = None,
        status: PipelineStatus | None = None,
        *,
        vad: EdgeSource | None = None,
        model: Any = None,
        transcriber: Transcriber | None = None,
        name: str = "stt",
        maxsize: int = 1024,
        stream: str = RAW_STREAM,
        pool: DecodePool | None = None,
    ) -> None:
        self.settings = s = settings or SttSettings()
        self._policy = s.policy
        self._emit: Callable[[Event], None] = emit or (lambda _event: None)
        self._model = model if model is not None or transcriber is not None else load_model(s)
        self._uses_vad = vad is not None or s.policy.use_vad
        self._pre_roll = 0
        self._edges: deque[SpeechEdge] = deque()
        if self._uses_vad:
            self._pre_roll = (vad.pre_roll_ms if vad is not None else DEFAULT_PRE_ROLL_MS) * _MS
        self._vad = vad
        if vad is not None:
            vad.add_edge_callback(self.on_vad)
        self._inbox = bus.subscribe(name, maxsize, stream=stream)  # a stage's stream when one is on
        self.worker = DecodeWorker(self._model, s.decode, self._emit, status, transcriber, pool=pool)
        self._ring = AudioRing()
        self._frontend = Frontend16k()
        self._utt: int | None = None  # 16 kHz start of the open utterance (VAD edge, before pre-roll)
        self._utt_from = 0  # where its audio begins (pre-roll included; later parts after a split)
        self._spec: Job | None = None
        self._onset: int | None = None  # silence onset of the open utterance (its tentative end)
        self._progress = False  # the VAD sends progress edges: STT decides the endpoint itself
        self._seen16 = 0  # the last progress edge: how far the VAD's decisions have been applied
        self._turns = TurnTracker(s.policy.turn_gap_ms * _MS, int(s.policy.max_utterance_s * TARGET_RATE_HZ))
        self._stabilizer = PartialStabilizer()
        self._vad_closed = not self._uses_vad
        self._last_partial_ms = 0.0
        self.error: BaseException | None = None
        super().__init__(name)

    def on_vad(self, edge: SpeechEdge) -> None:
        """A VAD speech edge (any thread, stream order, must end with a `closed` edge). Never blocks; wakes the
        listener thread, which applies it at once rather than with the next chunk."""
        self._edges.append(edge)
        self._inbox.wake()

    # -- listener thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                chunk = self._inbox.recv(timeout=0.05)
                if chunk is not None:
                    self._on_chunk(chunk)
                elif self._inbox.closed:
                    break
                self._handle_edges(at_eos=False)
                self._periodic()
            self._finish()
        except Exception as exc:
            self.error = exc
            self._emit(ErrorEvent(f"speech-to-text stopped: {exc}"))
        finally:
            self.worker.close(timeout_s=1.0)

    def _on_chunk(self, chunk: AudioChunk) -> None:
        step = self._frontend.feed(chunk)
        if step.restart:  # first chunk, a gap, a new epoch or a rate change: finalize open speech, restart
            if step.tail is not None:
                self._ring.append(step.tail)
                if self._utt is not None:
                    self._final(self._ring.end if self._onset is None else self._onset)
            self._turns.close()
            self._ring.reset(step.start16)
            self._utt_from = self._ring.base
        self._ring.anchor(step.start16, chunk.ts_ms)
        for block in step.blocks:  # short gaps come bridged with silence: the utterance goes on
            self._ring.append(block)

    def _handle_edges(self, at_eos: bool) -> None:
        """Apply queued VAD edges in order, each once the ring holds the audio it refers to."""
        pad = self._policy.end_pad_ms * _MS
        while self._edges:
            edge = self._edges[0]
            needs = edge.sample16 + (pad if edge.kind in ("tentative_end", "end") else 0)
            if edge.kind == "closed" and not at_eos:
                return
            if not at_eos and needs > self._ring.end:
                return
            if edge.kind == "progress" and self._awaits_text(edge.sample16):
                return  # the endpoint depends on the speculative text: decided once it is decoded
            self._edges.popleft()
            self._apply(edge)

    def _apply(self, edge: SpeechEdge) -> None:
        if edge.kind in ("start", "resume"):  # a start while STT still waits out a pause is a resume too
            if self._utt is None:
                self._open(edge.sample16)
            else:
                self._cancel_spec()
                self._onset = None
        elif edge.kind == "tentative_end":
            if self._utt is not None:
                self._onset = edge.sample16
                if self._policy.speculative:
                    self._cancel_spec()
                    self._spec = self._job(edge.sample16, confirmed=False)
                    self.worker.submit(self._spec)
        elif edge.kind == "end":
            if self._utt is not None and not self._progress:
                self._final(edge.sample16)
        elif edge.kind == "progress":
            self._progress, self._seen16 = True, edge.sample16
            self._on_progress(edge.sample16)
        else:  # closed
            self._vad_closed = True

    def _open(self, start16: int) -> None:
        """Speech starts: a new piece of the open turn, or the first piece of a new one."""
        self._utt = start16
        self._utt_from = max(start16 - self._pre_roll, self._ring.base)
        self._stabilizer = PartialStabilizer()
        if not self._turns.continues(start16):
            self._turns.close()
            self._turns.open(start16, self._utt_from)

    @property
    def _heard(self) -> int:
        """Audio whose VAD edges have all been applied (the ring's end without progress edges)."""
        return min(self._seen16, self._ring.end) if self._progress else self._ring.end

    def _silence_at(self, position16: int) -> int | None:
        """Samples of silence the open utterance has had at `position16` (None: not in a pause)."""
        return None if self._utt is None or self._onset is None else position16 - self._onset

    def _awaits_text(self, position16: int) -> bool:
        """The pause is long enough to end at a sentence end, but the speculative text is still decoding."""
        silent = self._silence_at(position16)
        return (
            silent is not None
            and self._policy.sentence_end_ms * _MS <= silent < self._policy.open_end_ms * _MS
            and self._spec is not None
            and self.worker.result(self._spec) is None
        )

    def _on_progress(self, position16: int) -> None:
        silent = self._silence_at(position16)
        if silent is not None and self._onset is not None:
            text = None if self._spec is None else self.worker.result(self._spec)
            sentence_over = silent >= self._policy.sentence_end_ms * _MS and text is not None and ends_sentence(text)
            if sentence_over or silent >= self._policy.open_end_ms * _MS:
                self._final(self._onset)
        elif self._utt is None and self._turns.due(position16):
            self._turns.close()

    def _job(self, end16: int, confirmed: bool = True, final: bool = True, pad: bool = True) -> Job:
        """A decode of the open utterance up to `end16`, with the text of its turn so far as prompt."""
        start = self._utt if self._utt is not None else self._utt_from
        stop = end16 + self._pad(pad) if final else self._ring.end
        turn = self._turns.current if self._uses_vad else None
        return Job(
            audio=self._ring.slice(self._utt_from, stop),
            start16=start,
            end16=end16 if final else self._ring.end,
            final=final,
            voiced_host_ms=self._voiced_ms(end16),
            confirmed=confirmed,
            turn=None if turn is None else turn.turn_id,
            context=() if turn is None else tuple(turn.jobs),
            audio_from16=max(self._utt_from, self._ring.base),
            stabilizer=None if final else self._stabilizer,
        )

    def _pad(self, pad: bool) -> int:
        """Samples of audio after an end given to its decode."""
        return self._policy.end_pad_ms * _MS if pad and self._uses_vad else 0

    def _voiced_ms(self, end16: int) -> float | None:
        """Host capture time of the last voiced sample before `end16` (a final's latency counts from it)."""
        return self._ring.host_ms(max(end16 - 1, self._ring.base))

    def _revise(self, end16: int, pad: bool) -> None:
        """After a later piece's final: re-decode its whole turn (a revision), while that fits one window."""
        turn = self._turns.current
        stop = end16 + self._pad(pad)
        if turn is None or turn.pieces < 2 or not self._ring.base <= turn.from16 > stop - _WINDOW:
            return
        job = Job(
            audio=self._ring.slice(turn.from16, stop),
            start16=turn.start16,
            end16=end16,
            voiced_host_ms=self._voiced_ms(end16),
            turn=turn.turn_id,
            revises=turn.pieces,
            audio_from16=turn.from16,
        )
        self.worker.submit(job)
        self._turns.add_revision(job)

    def _final(self, end16: int, pad: bool = True) -> None:
        """Close the open utterance at `end16`: keep the matching speculative decode or start one; a later
        piece of a turn then has its whole turn re-decoded."""
        spec, self._spec = self._spec, None
        job: Job | None = spec
        if spec is not None and spec.end16 == end16:
            self.worker.confirm(spec)
        else:
            if spec is not None:
                self.worker.cancel(spec)
            job = self._job(end16, pad=pad)
            if len(job.audio) < 100 * _MS:
                job = None  # too short to decode
            else:
                self.worker.submit(job)
        if job is not None:
            self._turns.add_piece(job, end16)
            self._revise(end16, pad)
        self._utt = None
        self._onset = None
        self._utt_from = end16

    def _cancel_spec(self) -> None:
        if self._spec is not None:
            self.worker.cancel(self._spec)
            self._spec = None

    def _periodic(self) -> None:
        """Fixed windows (no VAD), long-utterance splits, partials, ring trimming."""
        s, ring = self._policy, self._ring
        if not self._uses_vad:
            window = int(s.window_s * TARGET_RATE_HZ)
            while ring.end - self._utt_from >= window:
                self._utt = self._utt_from
                self._final(self._utt_from + window)
        elif self._utt is not None and self._heard - self._utt_from > s.max_utterance_s * TARGET_RATE_HZ:
            self._cancel_spec()
            self._onset = None
            split = ring.quietest(self._heard - 3 * TARGET_RATE_HZ, self._heard)
            self._final(split, pad=False)
            self._utt = self._utt_from = split
        if self._utt is not None and s.partials_interval_ms is not None:
            now_ms = time.monotonic() * 1000.0
            if now_ms - self._last_partial_ms >= s.partials_interval_ms and self.worker.idle:
                self._last_partial_ms = now_ms
                self.worker.submit(self._job(ring.end, final=False))
        if self._utt is None and self._turns.due(self._heard):  # also without progress edges: bounded ring
            self._turns.close()
        keep = ring.end if self._turns.keep_from is None else self._turns.keep_from  # an open turn's audio
        if self._utt is not None or not self._uses_vad:
            ring.trim(min(self._utt_from, keep))
        else:  # idle: keep enough for a late start edge plus its pre-roll — counted from where the VAD is, which
            # in file mode may run seconds behind this listener (each has its own queue)
            seen = ring.end if self._vad is None else min(ring.end, self._vad.position16)
            ring.trim(min(seen - int(s.ring_s * TARGET_RATE_HZ), keep))

    def _finish(self) -> None:
        """End of stream: take the VAD's last edges, finalize what is open, wait for the decodes."""
        s = self._policy
        self._ring.append(self._frontend.flush())
        deadline = time.monotonic() + s.flush_timeout_s
        while not self._vad_closed and time.monotonic() < deadline:
            self._handle_edges(at_eos=True)
            if not self._vad_closed:
                time.sleep(0.01)
        self._handle_edges(at_eos=True)
        if not self._uses_vad and self._ring.end - self._utt_from >= 300 * _MS:
            self._utt = self._utt_from
        if self._utt is not None:  # still in a pause STT was waiting out: the utterance ended at its onset
            self._final(self._ring.end if self._onset is None else self._onset)
        self._turns.close()
        if not self.worker.wait_idle(max(0.0, deadline - time.monotonic()) + 1.0):
            self._emit(ErrorEvent("speech-to-text: pending decodes did not finish before exit"))
