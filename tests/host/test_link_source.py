"""SerialSource over a real pseudo-terminal with a scripted fake board: handshake, stream, END, REPL, noise,
version mismatch, refusal, vanished port, errno translation, unplug and reconnect, stop()."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import serial
from fakeboard import FakeBoard
from hostwire import INFO, audio, encode_frame
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.errors import DeviceError, FrameError, LinkError
from picomic.link import ports as serial_link
from picomic.link.source import SerialSource, StartSettings


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, cls: type) -> list[Event]:
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]


def drain(listener: object) -> list[AudioChunk]:
    out = []
    while (c := listener.recv(timeout=0)) is not None:  # type: ignore[attr-defined]
        out.append(c)
    return out


@pytest.fixture
def board_factory(tmp_path: Path) -> Iterator[object]:
    boards: list[FakeBoard] = []

    def make(mode: str = "picomic", **kw: object) -> FakeBoard:
        b = FakeBoard(tmp_path, mode, **kw)  # type: ignore[arg-type]
        boards.append(b)
        return b

    yield make
    for b in boards:
        b.close()


def make_source(board: FakeBoard, **kw: object) -> tuple[SerialSource, object, Collector, PipelineStatus]:
    status = PipelineStatus()
    bus = AudioBus(status)
    listener = bus.subscribe("test", maxsize=10_000)
    events = Collector()
    src = SerialSource(str(board.link), bus=bus, status=status, emit=events, **kw)  # type: ignore[arg-type]
    return src, listener, events, status


def test_stream_until_end(board_factory: object) -> None:
    board = board_factory(frames=120, frame_interval_s=0.008)  # type: ignore[operator]
    src, listener, events, status = make_source(board)
    src.start()
    assert src.wait(timeout=10)
    src.stop()
    chunks = drain(listener)
    assert [c.seq for c in chunks] == list(range(120))
    assert all(c.samples.tobytes() == audio(c.seq).payload for c in chunks)
    assert [c.stream_sample for c in chunks] == [i * 160 for i in range(120)]
    assert all(not c.samples.flags.writeable and c.sample_rate == 16000 and c.epoch == 1 for c in chunks)
    ts = [c.ts_ms for c in chunks]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert [e.reason for e in events.of(StreamEnd)] == ["signal_end"]  # type: ignore[attr-defined]
    assert events.of(DeviceInfo)[0].info == src.info and isinstance(src.info["uid"], str)  # type: ignore[attr-defined]
    snap = status.snapshot()
    assert (snap["lost_frames"], snap["crc_errors"], snap["epochs"], snap["reconnects"]) == (0, 0, 1, 0)
    assert snap["frames"] >= 122 and 0 <= float(snap["audio_lag_ms"]) < 500  # type: ignore[arg-type]
    assert board.commands[:3] == ["STOP", "INFO", "START"] and "PING" in board.commands
    assert src.info["fw"] == "0.1.0"


def test_a_lost_end_is_noticed_from_the_idle_ping_reply(board_factory: object) -> None:
    board = board_factory(frames=30, frame_interval_s=0.005, end_reason=None)  # type: ignore[operator]
    src, listener, events, _status = make_source(board)
    src.start()
    assert src.wait(timeout=5)  # the next PING (≤ 1 s) says "streaming": false
    src.stop()
    assert len(drain(listener)) == 30
    assert [e.reason for e in events.of(StreamEnd)] == ["end_lost"]  # type: ignore[attr-defined]


def test_stop_sends_stop_and_delivers_the_end(board_factory: object) -> None:
    board = board_factory(frames=0, frame_interval_s=0.01)  # type: ignore[operator]
    src, listener, events, _ = make_source(board)
    src.start()
    first = listener.recv(timeout=5)  # type: ignore[attr-defined]
    assert first is not None and first.seq == 0
    src.stop()
    assert src.finished
    assert [e.reason for e in events.of(StreamEnd)] == ["stop"]  # type: ignore[attr-defined]
    assert board.commands[-1] == "STOP"


def test_repl_prompt_gets_soft_reset_and_one_retry(board_factory: object) -> None:
    board = board_factory("repl_then_picomic", frames=5)  # type: ignore[operator]
    src, listener, events, _ = make_source(board)
    src.start()
    assert src.wait(timeout=10)
    received = bytes(board.received)
    assert received.index(b"\x03") < received.index(b"\x02") < received.index(b"\x04")
    assert len(drain(listener)) == 5


@pytest.mark.parametrize(
    ("mode", "error", "pattern"),
    [
        ("repl", FrameError, "no picomic firmware.*MicroPython REPL.*picomic flash"),
        ("noise", FrameError, "talks, but not picomic frames"),
        ("silent", DeviceError, "no answer"),
        ("refuse", DeviceError, "refused START: rate must be 8000..48000"),
    ],
)
def test_handshake_failures(board_factory: object, mode: str, error: type, pattern: str) -> None:
    board = board_factory(mode)  # type: ignore[operator]
    src, *_ = make_source(board)
    with pytest.raises(error, match=pattern):
        src.start()


def test_version_mismatch_in_header_and_in_info(board_factory: object) -> None:
    v2 = encode_frame(INFO, payload=b'{"proto": 2}', version=2)
    src, *_ = make_source(board_factory(info_frame=v2))  # type: ignore[operator]
    with pytest.raises(FrameError, match=r"version 2.*version 1"):
        src.start()
    proto2 = encode_frame(INFO, payload=b'{"proto": 2, "fw": "9.0"}')
    board = board_factory(info_frame=proto2)  # type: ignore[operator]
    src2, *_ = make_source(board)
    with pytest.raises(FrameError, match=r"version 2.*version 1"):
        src2.start()


def test_vanished_port(tmp_path: Path) -> None:
    with pytest.raises(LinkError, match="not found"):
        SerialSource(str(tmp_path / "ttyACM9")).start()


@pytest.mark.parametrize(
    ("code", "pattern"),
    [(errno.EACCES, "dialout.*usermod -aG dialout"), (errno.EBUSY, "busy"), (errno.EAGAIN, "busy")],
)
def test_open_errors_by_errno(tmp_path: Path, code: int, pattern: str) -> None:
    def factory(*args: object, **kw: object) -> object:
        raise serial.SerialException(code, f"could not open port: [Errno {code}]")

    path = tmp_path / "tty"
    path.touch()
    with pytest.raises(LinkError, match=pattern):
        SerialSource(str(path), port_factory=factory).start()


def test_unplug_reconnects_and_keeps_the_timeline(board_factory: object) -> None:
    board = board_factory(frames=40, frame_interval_s=0.005, unplug_after=20, replug_after_s=0.4)  # type: ignore[operator]
    src, listener, events, status = make_source(board)
    src.start()
    assert src.wait(timeout=15)
    src.stop()
    chunks = drain(listener)
    epochs = [c.epoch for c in chunks]
    assert epochs == [1] * 20 + [2] * 40
    assert [c.seq for c in chunks] == list(range(20)) + list(range(40))
    samples = [c.stream_sample for c in chunks]
    assert all(b > a for a, b in zip(samples, samples[1:], strict=False))
    gap_samples = samples[20] - (samples[19] + 160)
    assert gap_samples >= 0.3 * 16000  # the unplugged span advanced the timeline (real time kept)
    (disc,) = events.of(Discontinuity)
    assert disc.reason == "reconnect" and disc.epoch == 2 and disc.gap_s >= 0.3  # type: ignore[attr-defined]
    assert any("lost the board" in e.message for e in events.of(ErrorEvent))  # type: ignore[attr-defined]
    assert [e.reason for e in events.of(StreamEnd)] == ["signal_end"]  # type: ignore[attr-defined]
    snap = status.snapshot()
    assert (snap["reconnects"], snap["epochs"], snap["lost_frames"]) == (1, 2, 0)


def test_no_reconnect_is_fatal(board_factory: object) -> None:
    board = board_factory(frames=40, unplug_after=5, replug_after_s=0.1)  # type: ignore[operator]
    fatal: list[Exception] = []
    src, _, events, _ = make_source(board, reconnect=False, on_fatal=fatal.append)
    src.start()
    assert src.wait(timeout=10)
    assert isinstance(src.error, LinkError) and fatal == [src.error]
    assert not events.of(StreamEnd)


def fake_port(device: str, serial_number: str, vid: int = 0x2E8A, pid: int = 0x0005) -> SimpleNamespace:
    return SimpleNamespace(device=device, serial_number=serial_number, vid=vid, pid=pid, description="Board")


def test_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    ports: list[SimpleNamespace] = []
    monkeypatch.setattr(serial_link.list_ports, "comports", lambda: list(ports))
    with pytest.raises(LinkError, match="no board found — plug it in or use --sim"):
        serial_link.find_port()
    ports.append(fake_port("/dev/ttyACM0", "e661aa"))
    ports.append(fake_port("/dev/ttyUSB0", "ftdi", vid=0x0403, pid=0x6001))
    assert serial_link.find_port() == "/dev/ttyACM0"
    ports.append(fake_port("/dev/ttyACM1", "e661bb"))
    with pytest.raises(LinkError, match=r"ttyACM0.*e661aa.*ttyACM1.*e661bb.*--port.*--serial"):
        serial_link.find_port()
    assert serial_link.find_port(serial_number="E661BB") == "/dev/ttyACM1"
    assert serial_link.find_port("/dev/ttyX") == "/dev/ttyX"
    with pytest.raises(LinkError, match="no board with serial zz"):
        serial_link.find_port(serial_number="zz")


def test_start_settings() -> None:
    assert StartSettings().command() == b"START rate=16000 frame_ms=10 gain=0 bits=16 channels=1\n"
    for bad in ({"rate_hz": 4000}, {"frame_ms": 100}, {"gain": 9}, {"bits": 20}, {"channels": 3}):
        with pytest.raises(ValueError):
            StartSettings(**bad)  # type: ignore[arg-type]
    # the default frame: 10 ms, 20 ms from 44.1 kHz (an RP2040 sustains 48 kHz only so); an explicit one stays
    assert [StartSettings(rate_hz=r).frame_ms for r in (8000, 32000, 44100, 48000)] == [10, 10, 20, 20]
    assert StartSettings(rate_hz=48000, frame_ms=10).frame_ms == 10


def test_samples_are_views_of_decoded_bytes(board_factory: object) -> None:
    board = board_factory(frames=3)  # type: ignore[operator]
    src, listener, _, _ = make_source(board)
    src.start()
    assert src.wait(timeout=5)
    chunk = listener.recv(timeout=1)  # type: ignore[attr-defined]
    assert chunk is not None and isinstance(chunk.samples.base, bytes)
    assert np.shares_memory(chunk.samples, np.frombuffer(chunk.samples.base, np.uint8))


def test_golden_session_through_the_source(board_factory: object) -> None:
    """INFO and the whole START..END session are the firmware's own bytes (tests/vectors)."""
    from hostwire import VECTORS_DIR

    session = (VECTORS_DIR / "session.bin").read_bytes()
    board = board_factory(start_reply=session)  # type: ignore[operator]
    src, listener, events, status = make_source(board, settings=StartSettings(rate_hz=16000))
    src.start()
    assert src.wait(timeout=5)
    chunks = drain(listener)
    assert [c.seq for c in chunks] == [0, 1, 2] and [c.stream_sample for c in chunks] == [0, 16, 32]
    assert chunks[0].flags & 8 and chunks[0].samples.tobytes().hex().startswith("d08abfa9")
    assert [e.reason for e in events.of(StreamEnd)] == ["stop"]  # type: ignore[attr-defined]
    assert src.info["uid"] == "e6614c311b7e5a2f"  # from the golden info.bin
    assert status.snapshot()["lost_frames"] == 0
