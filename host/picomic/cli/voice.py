"""`listen`'s voice-assistant options: `--wake-word NAME` and the remote ASR server (`--asr-uri`, `--asr-fallback`).

`--wake-word` adds a wake-word bus listener and a gate between the VAD and STT, so only the next utterance after
a detection is transcribed (8 s timeout). `--asr-uri` gives STT a remote transcriber instead of the local
model (no partials, no speculative decode: DECISIONS 45); with `--asr-fallback` the local model takes over
while the server is unreachable.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from picomic.bus.audiobus import RAW_STREAM
from picomic.errors import ConfigError
from picomic.pipeline import Pipeline
from picomic.speech.edges import EdgeCallback
from picomic.speech.stt import SttListener, SttSettings
from picomic.speech.worker import Transcriber

if TYPE_CHECKING:
    from picomic.wyoming.remote import RemoteAsrSettings


def require_wyoming() -> None:
    """ConfigError with the install command when the `wyoming` extra is not installed."""
    try:
        import wyoming  # noqa: F401
    except ImportError:
        raise ConfigError("Wyoming needs the wyoming extra: pip install 'picomic[wyoming]'") from None


def add_voice_arguments(p: argparse.ArgumentParser) -> None:
    from picomic.speech.wakeword import wake_model_names

    g = p.add_argument_group("voice assistant")
    names = ", ".join(wake_model_names()) or "none installed: pip install 'picomic[wyoming]'"
    g.add_argument("--wake-word", metavar="NAME",
                   help=f"transcribe only the utterance after this wake word (within 8 s) [{names}]")  # fmt: skip
    g.add_argument("--asr-uri", metavar="tcp://HOST:PORT",
                   help="send each utterance to this Wyoming ASR server instead of the local model")  # fmt: skip
    g.add_argument("--asr-fallback", action="store_true",
                   help="while the --asr-uri server is unreachable, transcribe with the local model")  # fmt: skip
    g.add_argument("--asr-timeout", type=float, default=20.0, metavar="S",
                   help="seconds to wait for the server's transcript of one utterance [20]")  # fmt: skip


def check_voice_args(args: argparse.Namespace) -> None:
    """Flag combinations that cannot work, before a model loads or a board starts."""
    if args.asr_uri is None:
        if args.asr_fallback:
            raise ConfigError("--asr-fallback needs --asr-uri tcp://HOST:PORT (the server it falls back from)")
    elif args.partials is not None:
        raise ConfigError("--asr-uri sends whole utterances: drop --partials (a remote server gives no partials)")
    if args.wake_word is not None and (args.no_vad or args.no_stt):
        raise ConfigError("--wake-word picks the utterance after the wake word: it needs VAD and STT on")
    if args.asr_uri is not None:
        require_wyoming()
        _remote_settings(args).address  # noqa: B018 - validates tcp://HOST:PORT


def voice_stt_settings(args: argparse.Namespace, settings: SttSettings) -> SttSettings:
    """With `--asr-uri`: no partials, no speculative decode and no turn revisions (the server sees each utterance
    once: DECISIONS 45)."""
    if args.asr_uri is None:
        return settings
    return replace(
        settings, policy=replace(settings.policy, partials_interval_ms=None, speculative=False, turn_gap_ms=0)
    )


def _remote_settings(args: argparse.Namespace) -> RemoteAsrSettings:
    from picomic.wyoming.remote import RemoteAsrSettings

    try:
        return RemoteAsrSettings(args.asr_uri, timeout_s=args.asr_timeout, language=args.language)
    except ValueError as exc:
        raise ConfigError(f"--asr-timeout: {exc}") from exc


def remote_transcriber(args: argparse.Namespace, pipeline: Pipeline, settings: SttSettings) -> Transcriber | None:
    """The `--asr-uri` transcriber (with the local model loaded as its fallback when asked), or None."""
    if args.asr_uri is None:
        return None
    from picomic.speech.decode import decode_text
    from picomic.speech.stt import load_model
    from picomic.wyoming.remote import RemoteAsr

    fallback: Transcriber | None = None
    if args.asr_fallback:
        model = load_model(settings)
        fallback = lambda audio16: decode_text(model, audio16, settings.decode)  # noqa: E731
    return RemoteAsr(_remote_settings(args), pipeline.emit, fallback)


def wake_gate(
    args: argparse.Namespace, pipeline: Pipeline, stt: SttListener | None, stream: str = RAW_STREAM
) -> EdgeCallback | None:
    """With `--wake-word`: the wake listener on `stream` (added to the pipeline) and the gate the VAD's edges
    go through on their way to STT (its `on_vad`); None without it (the VAD talks to STT directly)."""
    if args.wake_word is None or stt is None:
        return stt.on_vad if stt is not None else None
    from picomic.speech.wake import WakeGate, WakeListener

    gate = WakeGate(stt.on_vad)
    listener = WakeListener(pipeline.bus, args.wake_word, pipeline.emit, stream=stream)
    listener.add_detection_callback(gate.on_detection)
    listener.add_progress_callback(gate.heard)
    pipeline.add_consumer(listener)
    return gate.on_vad
