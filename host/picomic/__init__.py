"""picomic: a Raspberry Pi Pico + INMP441 microphone as a reliable, measurable voice input.

The handful of names most users need; everything else lives in its module (see docs/architecture.md).
"""

from picomic.bus.audiobus import AudioBus, AudioChunk, Listener
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, StatusEvent, StreamEnd, Transcript, VadEvent
from picomic.bus.status import PipelineStatus
from picomic.errors import ConfigError, DeviceError, FrameError, LinkError, ModelError, PicomicError
from picomic.link.source import SerialSource, StartSettings
from picomic.sim.board import SimBoard
from picomic.stream.decoder import Decoder
from picomic.version import __version__

__all__ = [
    "AudioBus",
    "AudioChunk",
    "ConfigError",
    "Decoder",
    "DeviceError",
    "DeviceInfo",
    "Discontinuity",
    "ErrorEvent",
    "FrameError",
    "LinkError",
    "Listener",
    "ModelError",
    "PicomicError",
    "PipelineStatus",
    "SerialSource",
    "SimBoard",
    "StartSettings",
    "StatusEvent",
    "StreamEnd",
    "Transcript",
    "VadEvent",
    "__version__",
]
