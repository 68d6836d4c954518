"""What `picomic serve` runs: `ServeOptions` (every setting of the services) → a `ServiceRunner` with them.

One board's services today (`board_id`); with several boards each gets its own mic and satellite service on
the next port up from each base port (DECISIONS 44), the ASR and wake services stay shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Event
from picomic.errors import ConfigError
from picomic.speech.decode import DecodeOptions
from picomic.speech.models import ModelSettings
from picomic.speech.stt import SttSettings
from picomic.wyoming.access import AccessPolicy, parse_networks
from picomic.wyoming.limits import Limits
from picomic.wyoming.runner import ServiceRunner
from picomic.wyoming.satellite import SatelliteSettings


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The services to run and how (a port None: that service is off; 0: a free port)."""

    mic_port: int | None = None
    asr_port: int | None = None
    wake_port: int | None = None
    satellite_port: int | None = None
    host: str = "127.0.0.1"
    allow: tuple[str, ...] = ()
    wake_word: str = "okay_nabu"
    satellite: SatelliteSettings = field(default_factory=SatelliteSettings)
    stt: SttSettings = field(default_factory=SttSettings)
    limits: Limits = field(default_factory=Limits)
    zeroconf_name: str | None = None


def options(
    *,
    ports: dict[str, int | None],
    host: str,
    allow: list[str] | None,
    wake_word: str,
    satellite_mode: str,
    area: str | None,
    model: str | None,
    language: str | None,
    max_clients: int,
    max_payload_bytes: int,
    max_audio_s: float,
    zeroconf_name: str | None,
) -> ServeOptions:
    """ServeOptions from plain values (ConfigError for a value out of range)."""
    try:
        return ServeOptions(
            **{f"{name}_port": port for name, port in ports.items()},
            host=host,
            allow=tuple(allow or ()),
            wake_word=wake_word,
            satellite=SatelliteSettings(wake_word, satellite_mode, area=area),  # type: ignore[arg-type]
            stt=SttSettings(model=ModelSettings(name_or_path=model), decode=DecodeOptions(language=language)),
            limits=Limits(max_clients=max_clients, max_payload_bytes=max_payload_bytes, max_audio_s=max_audio_s),
            zeroconf_name=zeroconf_name,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def build_services(opts: ServeOptions, bus: AudioBus, emit: Callable[[Event], None], board_id: str) -> ServiceRunner:
    """A runner with every service `opts` turns on (models load here; nothing is bound until `start`)."""
    runner = ServiceRunner(AccessPolicy(opts.host, parse_networks(opts.allow)), opts.limits)
    if opts.mic_port is not None:
        from picomic.wyoming.mic import MicService

        mic = MicService(bus, board_id, runner.guard("mic"))
        runner.add(mic.guard, opts.mic_port, mic.handler)
    if opts.asr_port is not None:
        from picomic.wyoming.asr import AsrEngine, AsrService

        asr = AsrService(AsrEngine(opts.stt), runner.guard("asr"))
        runner.add(asr.guard, opts.asr_port, asr.handler)
        runner.on_stop(_closing(asr.engine.close))
    if opts.wake_port is not None:
        from picomic.wyoming.wake import WakeService

        wake = WakeService(opts.wake_word, runner.guard("wake"))
        runner.add(wake.guard, opts.wake_port, wake.handler)
    if opts.satellite_port is not None:
        from picomic.wyoming.satellite import SatelliteService

        sat = SatelliteService(bus, board_id, opts.satellite, runner.guard("satellite"), emit)
        runner.add(sat.guard, opts.satellite_port, sat.handler)
    if opts.zeroconf_name is not None:
        runner.announce(opts.zeroconf_name)
    return runner


def _closing(close: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def callback() -> None:
        close()

    return callback
