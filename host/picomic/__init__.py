"""picomic: a Raspberry Pi Pico + INMP441 microphone as a reliable, measurable voice input.

The handful of names most users need; everything else lives in its module (see docs/architecture.md).
"""

__version__ = "0.1.0"

from .bus import AudioBus, AudioChunk, Listener
from .decoder import Decoder
from .errors import ConfigError, DeviceError, FrameError, LinkError, ModelError, PicomicError
from .events import DeviceInfo, Discontinuity, ErrorEvent, StatusEvent, StreamEnd, Transcript, VadEvent
from .serial_source import SerialSource, StartSettings
from .sim import SimBoard
from .status import PipelineStatus

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
