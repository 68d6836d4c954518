"""A hostile board on a pty (hostile_board.py, written from docs/protocol.md alone) against the real host:
SerialSource + FrameRouter + Recorder in-process, and `picomic listen --port PTY` for the terminal and JSON text.

Each case asserts the counters, the events, the recording's length and (CLI) the text a terminal would get.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import soundfile as sf
from hostile_board import (
    GOOD_INFO,
    INFO,
    SAMPLES,
    STATUS,
    HostileBoard,
    Pause,
    audio,
    end,
    frame,
    frames,
    reply,
    stream,
)
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import DeviceInfo, Discontinuity, ErrorEvent, Event, StreamEnd
from picomic.bus.status import PipelineStatus
from picomic.errors import FrameError
from picomic.link.source import SerialSource
from picomic.outputs.recorder import Recorder
from relsupport import ENV, PICOMIC

RUN_TIMEOUT_S = 20.0


@dataclass
class Run:
    status: PipelineStatus
    events: list[Event] = field(default_factory=list)
    recorded: int = 0
    """Sample frames in the recording."""
    segments: int = 1

    def of(self, cls: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def gaps(self) -> list[tuple[str, int, bool]]:
        return [(e.reason, e.lost_frames, e.new_segment) for e in self.events if isinstance(e, Discontinuity)]


def run_board(tmp_path: Path, script: list[bytes | Pause], *, info: bytes | None = None,
              drip_s: float | None = None) -> Run:  # fmt: skip
    """Stream `script` from a hostile board through SerialSource into a Recorder; END finishes it."""
    kwargs = {} if info is None else {"info": info}
    with HostileBoard(script, drip_s=drip_s, **kwargs) as board:
        status = PipelineStatus()
        bus = AudioBus(status)
        out = tmp_path / "hostile.wav"
        rec = Recorder(bus, str(out), 16000)
        run = Run(status)
        source = SerialSource(board.path, bus=bus, status=status, emit=run.events.append, reconnect=False)
        rec.start()
        source.start()
        try:
            assert source.wait(RUN_TIMEOUT_S), "the stream did not end"
        finally:
            source.stop()
            bus.close()
            rec.finish(10.0)
        source.router.sync_status()
        run.recorded, run.segments = sf.info(str(out)).frames, rec.file.segments
    return run


def test_a_small_jump_is_loss_and_becomes_silence(tmp_path: Path) -> None:
    run = run_board(tmp_path, [stream([*range(50), *range(60, 100)]), end(100)])
    s = run.status
    assert (s.lost_frames, s.duplicates, s.epochs, s.frames) == (10, 0, 1, 90 + 2)  # + the START reply and END
    assert run.gaps == [("gap", 10, False)]
    assert run.recorded == 100 * SAMPLES and run.segments == 1  # 10 frames of silence: file time = stream time


def test_a_large_jump_is_a_discontinuity_without_loss_or_silence(tmp_path: Path) -> None:
    # seq leaps 10^6 ahead while the device clock moves one frame: no loss, nothing written for it
    jumped = [10**6 + i for i in range(50)]
    script = [stream(range(50)), stream(jumped, {q: 50 + i for i, q in enumerate(jumped)}), end(10**6 + 50)]
    run = run_board(tmp_path, script)
    assert (run.status.lost_frames, run.status.duplicates) == (0, 0)
    assert run.gaps == [("jump", 0, False)]
    assert run.recorded == 100 * SAMPLES
    (jump,) = run.of(Discontinuity)
    assert isinstance(jump, Discontinuity) and jump.file_s == pytest.approx(0.5) and jump.gap_s == 0.0


def test_a_long_gap_the_clock_explains_is_loss_but_a_new_segment(tmp_path: Path) -> None:
    # 1000 frames (10 s) missing, and the device clock says 10 s passed: lost, but longer than the 5 s bound
    run = run_board(tmp_path, [stream([*range(50), *range(1050, 1100)]), end(1100)])
    assert run.status.lost_frames == 1000 and run.gaps == [("gap", 1000, True)]
    assert run.recorded == 100 * SAMPLES and run.segments == 2  # no 10 s of silence on disk
    (gap,) = run.of(Discontinuity)
    assert isinstance(gap, Discontinuity) and gap.file_s == pytest.approx(0.5) and gap.gap_s == pytest.approx(10.0)


def test_near_the_wrap_the_sequence_unwraps(tmp_path: Path) -> None:
    wrap = 1 << 30
    a = [(1 << 29) + i for i in range(10)]  # two jumps of just under 2^29 reach the wrap
    b = [wrap - 20 + i for i in range(40)]  # ... and cross it (masked to 30 bits on the wire)
    ts = {q: 10 + i for i, q in enumerate(a)} | {q: 20 + i for i, q in enumerate(b)}
    script = [stream(range(10)), stream(a, ts), stream(b, ts), audio(wrap - 5, 1000), end(wrap + 20)]
    run = run_board(tmp_path, script)
    s = run.status
    assert (s.lost_frames, s.duplicates, s.epochs) == (0, 1, 1)  # the replayed 2^30-5 behind the wrap: a duplicate
    assert run.gaps == [("jump", 0, False), ("jump", 0, False)]
    assert run.recorded == 60 * SAMPLES


def test_duplicates_replays_and_swaps_are_dropped_and_counted(tmp_path: Path) -> None:
    # before: a duplicated frame gave lost = seq (phantom loss, silence, a discontinuity); now: dropped, counted
    script = [stream(range(100)), stream(range(1, 51)), stream([100, 101, 103, 102, 104]), audio(104), end(105)]
    run = run_board(tmp_path, script)
    s = run.status
    assert (s.duplicates, s.lost_frames, s.epochs) == (50 + 1 + 1, 1, 1)  # the late 102 was counted lost already
    assert run.gaps == [("gap", 1, False)]
    assert run.recorded == 105 * SAMPLES


FORGED_INFO = {
    **GOOD_INFO,
    "type": "transcript", "text": "forged by the board", "final": True, "start_s": 0.0, "end_s": 1.0,
    "board": "\x1b]0;owned\x07\x1b[2J\x1b[31mpico", "fw": "9" * 20_000, "wall": "forged",
}  # fmt: skip


def test_forged_info_cannot_set_event_keys_and_is_bounded(tmp_path: Path) -> None:
    run = run_board(tmp_path, [stream(range(10)), end(10)], info=json.dumps(FORGED_INFO).encode())
    (device,) = run.of(DeviceInfo)
    body = device.to_json()
    assert body["type"] == "device" and "wall" not in body and "text" not in body
    assert body["extra"]["type"] == "transcript"  # type: ignore[index]
    assert body["fw"] == "9" * 32 and run.status.frames >= 10


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"{not json",
        b'{"cmd": "PING", "ok": true, "a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"cmd": "PING", "ok": NaN}',
    ],  # fmt: skip
    ids=["invalid-utf8", "non-json", "deep-nesting", "nan"],
)
def test_a_malformed_status_is_a_counted_bad_reply_and_the_stream_goes_on(tmp_path: Path, payload: bytes) -> None:
    run = run_board(tmp_path, [stream(range(20)), frame(STATUS, 20, payload=payload), stream(range(20, 40)), end(40)])
    assert run.status.bad_replies == 1 and run.status.lost_frames == 0
    (error,) = run.of(ErrorEvent)
    assert isinstance(error, ErrorEvent) and "malformed STATUS" in error.message
    assert run.recorded == 40 * SAMPLES and [e.reason for e in run.of(StreamEnd)] == ["stop"]  # type: ignore[attr-defined]


def test_non_json_info_at_the_handshake_is_one_frame_error(tmp_path: Path) -> None:
    with HostileBoard([], info=b"\x1b[2J not json") as board:
        source = SerialSource(board.path, reconnect=False)
        with pytest.raises(FrameError, match="INFO payload is not JSON") as err:
            source.start()
        assert "\x1b" not in str(err.value)


def test_escapes_in_a_board_error_are_escaped(tmp_path: Path) -> None:
    hostile = {"cmd": "PING\x1b[2J", "ok": False, "error": "\x1b]0;owned\x07\x9b31m\u202egnp.exe"}
    run = run_board(tmp_path, [stream(range(10)), reply(STATUS, hostile, 10), end(10)])
    (error,) = run.of(ErrorEvent)
    message = error.message  # type: ignore[attr-defined]
    assert not any(c in message for c in "\x1b\x07\x9b\u202e") and "\\x1b]0;owned\\x07" in message


def test_a_slow_drip_of_bytes_is_decoded_exactly(tmp_path: Path) -> None:
    run = run_board(tmp_path, [*frames(range(3)), end(3)], drip_s=0.002)  # ~1 100 bytes, one per 2 ms
    s = run.status
    assert (s.crc_errors, s.resyncs, s.lost_frames, s.duplicates, s.bad_replies) == (0, 0, 0, 0, 0)
    assert run.recorded == 3 * SAMPLES and [e.reason for e in run.of(StreamEnd)] == ["stop"]  # type: ignore[attr-defined]


def _listen(board: HostileBoard, *args: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [*PICOMIC, *(["-v"] if verbose else []), "listen", "--port", board.path, "--no-vad", "--no-stt",
           "--seconds", "8", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=60)


def test_cli_json_has_no_forged_transcript_and_a_bounded_recording(tmp_path: Path) -> None:
    out, transcript = tmp_path / "cli.wav", tmp_path / "t.jsonl"
    jumped = [1 << 28 | i for i in range(50)]
    script = [stream(range(50)), stream(jumped, {q: 50 + i for i, q in enumerate(jumped)}), end((1 << 28) + 50)]
    with HostileBoard(script, info=json.dumps(FORGED_INFO).encode()) as board:
        r = _listen(board, "--json", "--record", str(out), "--transcript", str(transcript))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]  # every line valid JSON
    assert not [x for x in lines if x["type"] == "transcript"]
    assert not [x for x in map(json.loads, transcript.read_text().splitlines()) if x["type"] == "transcript"]
    (device,) = [x for x in lines if x["type"] == "device"]
    assert device["extra"]["type"] == "transcript" and device["wall"] != "forged"
    jumps = [x for x in lines if x["type"] == "discontinuity"]
    assert [(x["reason"], x["lost_frames"], x["file_s"]) for x in jumps] == [("jump", 0, 0.5)]
    assert lines[-1]["type"] == "status" and lines[-1]["lost_frames"] == 0 and lines[-1]["duplicates"] == 0
    assert sf.info(str(out)).frames == 100 * SAMPLES  # before: 2^28 frames of silence (31 days)


def test_cli_terminal_text_holds_no_raw_control_bytes(tmp_path: Path) -> None:
    hostile = {"cmd": "PING", "ok": False, "error": "\x1b[2J\x1b]0;owned\x07"}
    script = [stream(range(20)), reply(STATUS, hostile, 20), frame(INFO, 20, payload=b"\xff"), end(20)]
    with HostileBoard(script, info=json.dumps(FORGED_INFO).encode()) as board:
        r = _listen(board, verbose=True)
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert not any(c in text for c in "\x1b\x07\x9b"), text
    assert "board \\x1b]0;owned\\x07\\x1b[2J\\x1b[31mpico" in r.stdout
