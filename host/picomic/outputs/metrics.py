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
    """Exposes PipelineStatus snapshots: counters as `picomic_<name>_total`, gauges as `picomic_<name>`. One
    status: no label (as a one-board run always had); several boards: {board_id: status}, every metric
    labelled `board_id`."""

    def __init__(self, status: PipelineStatus | dict[str, PipelineStatus]) -> None:
        self._boards: dict[str | None, PipelineStatus] = (
            {None: status} if isinstance(status, PipelineStatus) else {k: v for k, v in status.items()}
        )

    def collect(self) -> Iterator[Any]:
        snaps = [([] if board_id is None else [board_id], s.snapshot()) for board_id, s in self._boards.items()]
        board = [] if None in self._boards else ["board_id"]
        families: list[tuple[str, Any, str]] = [(name, CounterMetricFamily, _HELP[name]) for name in COUNTERS]
        families += [(name, GaugeMetricFamily, _HELP[name]) for name in GAUGES]
        families.append(("dropped_chunks", CounterMetricFamily, "chunks lost to listener queue overflow"))
        for name, family, text in families:
            metric = family(f"picomic_{name}", text, labels=board)
            for labels, snap in snaps:
                metric.add_metric(labels, float(snap[name]))  # type: ignore[arg-type]
            yield metric
        yield from self._listener_metrics(board, snaps)

    @staticmethod
    def _listener_metrics(board: list[str], snaps: list[tuple[list[str], dict[str, object]]]) -> Iterator[Any]:
        labels = [*board, "listener"]
        depth = GaugeMetricFamily("picomic_listener_queue_depth", "chunks waiting in a listener queue", labels=labels)
        dropped = CounterMetricFamily("picomic_listener_dropped", "chunks a listener lost to overflow", labels=labels)
        skipped = CounterMetricFamily(
            "picomic_listener_skipped", "chunks passed over by drain_to_latest", labels=labels
        )
        for board_labels, snap in snaps:
            listeners: dict[str, dict[str, int]] = snap["listeners"]  # type: ignore[assignment]
            for name, values in listeners.items():
                depth.add_metric([*board_labels, name], values["queue_depth"])
                dropped.add_metric([*board_labels, name], values["dropped"])
                skipped.add_metric([*board_labels, name], values["skipped"])
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

    def __init__(
        self, status: PipelineStatus | dict[str, PipelineStatus], host: str = "127.0.0.1", port: int = 9464
    ) -> None:
        """`status`: one pipeline's, or several boards' as {board_id: status} (every metric labelled
        `board_id`)."""
        if not 0 <= port <= 65535:
            raise ConfigError(f"{port} is not a TCP port (0..65535)", settings=("metrics_port",))
        self.registry = CollectorRegistry()
        self.registry.register(StatusCollector(status))
        boards = None if isinstance(status, PipelineStatus) else dict(status)
        labels = () if boards is None else ("board_id",)
        self.delivery_latency = Histogram(
            "picomic_delivery_latency_ms",
            "capture to bus delivery latency per frame (ms)",
            labels,
            buckets=_LATENCY_BUCKETS_MS,
            registry=self.registry,
        )
        self.inference_time = Histogram(
            "picomic_inference_time_ms_hist",
            "model run durations (ms)",
            labels,
            buckets=_INFERENCE_BUCKETS_MS,
            registry=self.registry,
        )
        if boards is None:
            status.add_observer(self._observe)  # type: ignore[union-attr]
        else:
            for board_id, board_status in boards.items():
                board_status.add_observer(self._observer(board_id))
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

    def _observer(self, board_id: str) -> Callable[[str, float], None]:
        return lambda name, value: self._observe(name, value, board_id)

    def _observe(self, name: str, value: float, board_id: str | None = None) -> None:
        histogram = {"audio_lag_ms": self.delivery_latency, "inference_time_ms": self.inference_time}.get(name)
        if histogram is not None:
            (histogram if board_id is None else histogram.labels(board_id)).observe(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
