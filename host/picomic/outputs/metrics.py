"""Prometheus metrics (`MetricsServer`; the CLI's `--metrics-port N`): PipelineStatus as `picomic_<name>`.

Counters and gauges are read from `PipelineStatus.snapshot()` at scrape time (one source of truth, no second
set of counters to keep in step); latency and inference time are histograms fed by the status observer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from picomic.bus.status import COUNTERS, GAUGES, PipelineStatus
from picomic.errors import ConfigError

_HELP = {
    "frames": "valid frames decoded",
    "bytes": "bytes read from the link",
    "crc_errors": "frames whose CRC32 failed (never delivered)",
    "resyncs": "times the decoder lost sync",
    "lost_frames": "audio frames missing from the sequence",
    "device_dropped": "frames the device dropped because its ring was full",
    "i2s_overruns": "frames flagged as following a suspected I2S overrun",
    "reconnects": "times the link was reopened after an unplug",
    "epochs": "STARTs seen",
    "duplicates": "audio frames dropped as duplicate, late or replayed",
    "bad_replies": "device replies refused as malformed (not JSON, too deep, too large)",
    "audio_lag_ms": "host now minus host capture time of the last delivered sample (ms)",
    "clock_drift_ppm": "device clock rate relative to the host clock (ppm)",
    "inference_time_ms": "duration of the last model run (ms)",
    "stt_backlog_s": "seconds of audio waiting for speech-to-text",
}
_LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_INFERENCE_BUCKETS_MS = (10, 25, 50, 100, 200, 400, 700, 1000, 1500, 2500, 5000, 10000)


class StatusCollector(Collector):
    """Exposes a PipelineStatus snapshot: counters as `picomic_<name>_total`, gauges as `picomic_<name>`."""

    def __init__(self, status: PipelineStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Any]:
        snap = self._status.snapshot()
        for name in COUNTERS:
            yield CounterMetricFamily(f"picomic_{name}", _HELP[name], value=float(snap[name]))  # type: ignore[arg-type]
        for name in GAUGES:
            yield GaugeMetricFamily(f"picomic_{name}", _HELP[name], value=float(snap[name]))  # type: ignore[arg-type]
        dropped_chunks = float(snap["dropped_chunks"])  # type: ignore[arg-type]
        yield CounterMetricFamily(
            "picomic_dropped_chunks", "chunks lost to listener queue overflow", value=dropped_chunks
        )
        listeners: dict[str, dict[str, int]] = snap["listeners"]  # type: ignore[assignment]
        depth = GaugeMetricFamily(
            "picomic_listener_queue_depth", "chunks waiting in a listener queue", labels=["listener"]
        )
        dropped = CounterMetricFamily(
            "picomic_listener_dropped", "chunks a listener lost to overflow", labels=["listener"]
        )
        skipped = CounterMetricFamily(
            "picomic_listener_skipped", "chunks passed over by drain_to_latest", labels=["listener"]
        )
        for name, values in listeners.items():
            depth.add_metric([name], values["queue_depth"])
            dropped.add_metric([name], values["dropped"])
            skipped.add_metric([name], values["skipped"])
        yield from (depth, dropped, skipped)


class ServiceCollector(Collector):
    """Per-service counters (e.g. the Wyoming services of `picomic serve`) as `picomic_<prefix>_<name>_total`
    with a `service` label, and `clients` as the gauge `picomic_<prefix>_clients`; read at scrape time from
    `snapshot() -> {service: {name: value}}`."""

    def __init__(self, prefix: str, snapshot: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._prefix = prefix
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for service, counters in self._snapshot().items():
            for name, value in counters.items():
                if name not in families:
                    kind = GaugeMetricFamily if name == "clients" else CounterMetricFamily
                    help_text = f"{self._prefix} {name.replace('_', ' ')}"
                    families[name] = kind(f"picomic_{self._prefix}_{name}", help_text, labels=["service"])
                families[name].add_metric([service], float(value))
        yield from families.values()


class MetricsServer:
    """An HTTP /metrics endpoint for one pipeline; `close()` stops it."""

    def __init__(self, status: PipelineStatus, host: str = "127.0.0.1", port: int = 9464) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"{port} is not a TCP port (0..65535)", settings=("metrics_port",))
        self.registry = CollectorRegistry()
        self.registry.register(StatusCollector(status))
        self.delivery_latency = Histogram(
            "picomic_delivery_latency_ms",
            "capture to bus delivery latency per frame (ms)",
            buckets=_LATENCY_BUCKETS_MS,
            registry=self.registry,
        )
        self.inference_time = Histogram(
            "picomic_inference_time_ms_hist",
            "model run durations (ms)",
            buckets=_INFERENCE_BUCKETS_MS,
            registry=self.registry,
        )
        status.add_observer(self._observe)
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; choose another port (or a local host)",
                settings=("metrics_port", "metrics_host"),
            ) from exc
        self.host = host
        self.port = int(self._server.server_port)
        """The port bound (the free one the OS chose for port 0)."""

    @property
    def url(self) -> str:
        """Where to scrape: ``http://HOST:PORT/metrics`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def _observe(self, name: str, value: float) -> None:
        if name == "audio_lag_ms":
            self.delivery_latency.observe(value)
        elif name == "inference_time_ms":
            self.inference_time.observe(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
