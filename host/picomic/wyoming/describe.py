"""The `info` each picomic service answers `describe` with (wyoming's Info types, filled in one place)."""

from __future__ import annotations

from wyoming.audio import AudioFormat
from wyoming.info import AsrModel, AsrProgram, Attribution, Info, MicProgram, Satellite, WakeModel, WakeProgram

from picomic.version import __version__
from picomic.wyoming.pcm16 import CHANNELS, RATE_HZ, WIDTH

ATTRIBUTION = Attribution(name="picomic", url="https://github.com/picomic/picomic")
FORMAT = AudioFormat(rate=RATE_HZ, width=WIDTH, channels=CHANNELS)


def mic_program(board_id: str) -> MicProgram:
    return MicProgram(
        name=f"picomic-{board_id}",
        attribution=ATTRIBUTION,
        installed=True,
        description=f"picomic board {board_id} (Raspberry Pi Pico + INMP441), 16 kHz 16-bit mono",
        version=__version__,
        mic_format=FORMAT,
    )


def mic_info(board_id: str) -> Info:
    return Info(mic=[mic_program(board_id)])


def asr_info(model_name: str, languages: list[str]) -> Info:
    model = AsrModel(
        name=model_name,
        attribution=ATTRIBUTION,
        installed=True,
        description=f"faster-whisper {model_name} behind picomic's Silero VAD",
        version=__version__,
        languages=languages,
    )
    program = AsrProgram(
        name="picomic",
        attribution=ATTRIBUTION,
        installed=True,
        description="picomic speech-to-text (Silero VAD + faster-whisper)",
        version=__version__,
        models=[model],
        requires_external_vad=False,
    )
    return Info(asr=[program])


def wake_program(name: str, phrase: str, languages: list[str]) -> WakeProgram:
    model = WakeModel(
        name=name,
        attribution=Attribution(
            name="microWakeWord (pymicro-wakeword)", url="https://github.com/kahrendt/microWakeWord"
        ),
        installed=True,
        description=phrase,
        version=None,
        languages=languages,
        phrase=phrase,
    )
    return WakeProgram(
        name="picomic-wake",
        attribution=ATTRIBUTION,
        installed=True,
        description="picomic wake word (packaged microWakeWord models)",
        version=__version__,
        models=[model],
    )


def satellite_info(board_id: str, wake: WakeProgram | None, area: str | None) -> Info:
    """A satellite without a speaker: mic (and the local wake word) only, no `snd`."""
    satellite = Satellite(
        name=f"picomic-{board_id}",
        attribution=ATTRIBUTION,
        installed=True,
        description=f"picomic satellite on board {board_id}",
        version=__version__,
        area=area,
        has_vad=False,
        active_wake_words=[m.name for m in wake.models] if wake else None,
        max_active_wake_words=1 if wake else None,
        supports_trigger=False,
    )
    return Info(mic=[mic_program(board_id)], wake=[wake] if wake else [], satellite=satellite)
