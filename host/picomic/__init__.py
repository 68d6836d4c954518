"""picomic: a Raspberry Pi Pico + INMP441 microphone as a reliable, measurable voice input.

The handful of names most users need (docs/architecture.md maps the rest): a source (`SerialSource` on a board's
port, `SimBoard` / `EmulatedBoard` for a board without hardware), the bus it publishes on (`AudioBus`,
`AudioChunk`, `Listener`, `PipelineStatus`), `Pipeline` to run consumers and outputs, the port-free
`FrameRouter` / `Decoder` for bytes from anywhere, the events, and the errors. Importing picomic starts nothing.
"""

from picomic.bus.audiobus import AudioBus, AudioChunk, Listener
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, StatusEvent, StreamEnd, Transcript, VadEvent
from picomic.bus.status import PipelineStatus
from picomic.emulator.board import EmulatedBoard
from picomic.errors import ConfigError, DeviceError, FrameError, LinkError, ModelError, PicomicError
from picomic.link.handshake import StartSettings
from picomic.link.source import SerialSource
from picomic.pipeline import Pipeline
from picomic.sim.board import SimBoard
from picomic.stream.decoder import DecodedFrame, Decoder
from picomic.stream.protocol import Frame
from picomic.stream.router import FrameRouter
from picomic.version import __version__

__all__ = [
    "AudioBus",
    "AudioChunk",
    "ConfigError",
    "DecodedFrame",
    "Decoder",
    "DeviceError",
    "DeviceInfo",
    "Discontinuity",
    "EmulatedBoard",
    "ErrorEvent",
    "Frame",
    "FrameError",
    "FrameRouter",
    "LinkError",
    "Listener",
    "ModelError",
    "PicomicError",
    "Pipeline",
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
