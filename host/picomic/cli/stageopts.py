"""The voice front-end flags (`--highpass`, `--noise-suppression`, `--auto-gain`, `--denoiser`) and the stream
choices (`--record-stream`, `--meter-stream`) that `listen` and `doctor` share, and the step to picomic.stages."""

from __future__ import annotations

import argparse

from picomic.bus.audiobus import RAW_STREAM
from picomic.cli.common import _number, flag_hint
from picomic.errors import ConfigError, PicomicError
from picomic.pipeline import Pipeline
from picomic.stages.chain import StageSettings, add_stages, build_processors, speech_stream
from picomic.stages.processors import HIGHPASS_RANGE_HZ, Processor

STREAMS = ("raw", "highpass", "rnnoise", "webrtc")


def _level(text: str) -> int:
    value = int(_number(text, int, "noise suppression level"))
    if not 0 <= value <= 4:
        raise argparse.ArgumentTypeError(f"must be 0..4 (0: off), got {value}")
    return value


def _agc(text: str) -> int:
    value = int(_number(text, int, "whole number of dBFS"))
    if not 0 <= value <= 31:
        raise argparse.ArgumentTypeError(f"targets -N dBFS with N 0..31 (0: off), got {value}")
    return value


def _hz(text: str) -> float:
    value = _number(text, float, "frequency in Hz")
    low, high = HIGHPASS_RANGE_HZ
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low}..{high} Hz, got {text}")
    return value


def add_stage_arguments(p: argparse.ArgumentParser, *, streams: bool = True) -> None:
    g = p.add_argument_group("voice front end (stages: VAD and STT hear the last one's stream)")
    g.add_argument("--highpass", type=_hz, metavar="HZ", help="high-pass filter at HZ (removes DC and rumble)")
    g.add_argument("--noise-suppression", type=_level, default=0, metavar="N",
                   help="noise suppression level 0..4 (WebRTC; 0: off) [0]")  # fmt: skip
    g.add_argument("--denoiser", choices=("webrtc", "rnnoise"), default="webrtc",
                   help="which suppressor --noise-suppression runs: WebRTC, or RNNoise (pip install "
                   "'picomic[rnnoise]'; any level > 0 turns it on) [webrtc]")  # fmt: skip
    g.add_argument("--auto-gain", type=_agc, default=0, metavar="DBFS",
                   help="automatic gain toward -DBFS dBFS, 1..31 (WebRTC; 0: off) [0]")  # fmt: skip
    if streams:
        g.add_argument("--record-stream", choices=STREAMS, default=RAW_STREAM,
                       help="the stream --record writes (16 kHz when not raw) [raw]")  # fmt: skip
        g.add_argument("--meter-stream", choices=STREAMS,
                       help="the stream the level meter shows [the one VAD and STT hear]")  # fmt: skip


def stage_settings(args: argparse.Namespace) -> StageSettings:
    return StageSettings(highpass_hz=args.highpass, noise_suppression=args.noise_suppression,
                         auto_gain_dbfs=args.auto_gain, denoiser=args.denoiser)  # fmt: skip


def processors(args: argparse.Namespace) -> list[Processor]:
    """The processors the flags turn on (a bad value or a missing library fails here, before a board starts)."""
    try:
        return build_processors(stage_settings(args))
    except PicomicError as exc:
        raise ConfigError(flag_hint(exc)) from exc


def add_pipeline_stages(args: argparse.Namespace, pipeline: Pipeline, chain: list[Processor]) -> str:
    """The stages as the pipeline's first consumers (they finish first); returns the stream speech uses."""
    stages = add_stages(pipeline.bus, chain, pipeline.emit, pipeline.status)
    for stage in stages:
        pipeline.add_consumer(stage)
    for flag in ("record_stream", "meter_stream"):
        name = getattr(args, flag, None)
        if name is not None and name not in pipeline.bus.streams:
            raise ConfigError(f"--{flag.replace('_', '-')} {name}: that stage is not on; the streams here are "
                              f"{', '.join(pipeline.bus.streams)}")  # fmt: skip
    return speech_stream(stages)
