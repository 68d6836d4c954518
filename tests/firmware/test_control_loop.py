"""The whole firmware (main.py + picomic_fw) on a pseudo-terminal, driven by commands like a host would.

main.py runs unchanged; the simulated board's `machine` and `time` (firmware/sim/, here without a signal server:
the fakes' ramp I2S paced by the board clock) sit first on the path, as in the simulated board.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import termios
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fwhelpers import AUDIO, END, FAKES_DIR, FIRST, INFO, SIM_DIR, STATUS, Frame, parse_frames
from picomic.deploy.build import FirmwareBuild, micropython_exe


class Board:
    """A firmware process on a pty; the test holds the host end (raw mode)."""

    def __init__(self, flash: Path) -> None:
        self.host, slave = os.openpty()  # the board gets the slave (its terminal), the test the master
        tty.setraw(slave)
        env = dict(os.environ, MICROPYPATH=f"{SIM_DIR}:{FAKES_DIR}:.frozen", PICOMIC_SIM=str(flash.parent / "sim.json"))
        # the pty is the board's controlling terminal: the simulated machine.kbd_intr turns 0x03 into SIGINT
        # there while Ctrl-C is enabled (rp2's USB receive callback), as `picomic sim` does
        self.proc = subprocess.Popen(
            [micropython_exe(), "main.py"], stdin=slave, stdout=slave, stderr=subprocess.PIPE, cwd=flash, env=env,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.buf = b""

    def send(self, data: bytes) -> None:
        os.write(self.host, data)

    def frames(self, timeout: float) -> Iterator[Frame]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(self.buf) >= 26:
                (length,) = struct.unpack_from("<H", self.buf, 16)
                if len(self.buf) < 26 + length:
                    break
                frame = parse_frames(self.buf[: 26 + length])[0]
                self.buf = self.buf[26 + length :]
                yield frame
            ready, _, _ = select.select([self.host], [], [], 0.2)
            if ready:
                try:
                    self.buf += os.read(self.host, 65536)
                except OSError:
                    return
        raise AssertionError(f"timed out; pending bytes {self.buf[:64]!r}")

    def until(self, pred: Callable[[Frame], bool], timeout: float = 10.0) -> list[Frame]:
        """Frames up to and including the first matching ``pred`` (all of them if the board's pty closes)."""
        got = []
        for frame in self.frames(timeout):
            got.append(frame)
            if pred(frame):
                return got
        return got

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.host)


@pytest.fixture()
def board(fw: FirmwareBuild, tmp_path: Path) -> Iterator[Board]:
    flash = tmp_path / "flash"
    shutil.copytree(fw.root, flash)
    (tmp_path / "sim.json").write_text(json.dumps({"uid": "e6614c311b7e5a2f", "tty_intr": True}))
    b = Board(flash)
    yield b
    b.close()


def _is(ftype: int, cmd: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: f.type == ftype and (cmd is None or f.json().get("cmd") == cmd)


def test_info_start_audio_stop_end_status(board: Board) -> None:
    board.send(b"INFO\n")
    info = board.until(_is(INFO))[-1].json()
    assert info["board"] == "pico" and info["uid"] == "e6614c311b7e5a2f" and info["streaming"] is False
    board.send(b"START\n")
    got = board.until(lambda f: f.type == AUDIO and f.seq == 30)
    assert got[0].type == STATUS and got[0].json()["cmd"] == "START" and got[0].json()["ok"] is True
    audio = [f for f in got if f.type == AUDIO]
    assert [f.seq for f in audio] == list(range(31)) and audio[0].flags & FIRST
    assert all(f.rate_hz == 16000 and f.samples == 160 and f.length == 320 and not f.dropped for f in audio)
    assert all(f.payload[:4] == bytes.fromhex("00010101") for f in audio)  # the fake ramp, unchanged
    steps = [(b.ts_us - a.ts_us) % (1 << 30) for a, b in zip(audio, audio[1:], strict=False)]
    assert all(9000 <= s <= 11000 for s in steps)  # real clock: 10 ms apart
    board.send(b"\x03 not a command\n")  # Ctrl-C is data while streaming: an error reply, no interrupt
    board.send(b"STOP\n")
    tail = board.until(_is(STATUS, "STOP"))
    errors = [f.json() for f in tail if f.type == STATUS]
    assert errors[0]["ok"] is False and "ASCII" in str(errors[0]["error"])
    end_at = [f.type for f in tail].index(END)
    end = tail[end_at]
    assert end.json()["reason"] == "stop" and end.seq == end.json()["frames"]
    last_audio = [f for f in got + tail[:end_at] if f.type == AUDIO][-1]  # STOP may beat the next frame
    assert end.seq == last_audio.seq + 1  # no frame lost at the tail
    assert tail[-1].json() == {"cmd": "STOP", "ok": True}
    # idle again: Ctrl-C leaves the command loop (to the REPL on a board; here the process ends)
    board.send(b"\x03")
    assert board.proc.wait(timeout=10) == 130  # the unix port's exit status for KeyboardInterrupt


def test_host_silence_ends_the_stream(board: Board) -> None:
    board.send(b"START frame_ms=20\n")
    t0 = time.monotonic()
    got = board.until(_is(END), timeout=15)
    elapsed = time.monotonic() - t0
    assert got[-1].json()["reason"] == "host_silent"
    assert 2.8 <= elapsed <= 6.0
    board.send(b"PING\n")  # back in the idle loop, still answering
    assert board.until(_is(STATUS, "PING"))[-1].json() == {"cmd": "PING", "ok": True, "streaming": False}


def test_stop_after_a_burst_of_junk_is_prompt(board: Board) -> None:
    # 20 KB of host junk while streaming (binary, newlines and 0x03 included: all data while streaming),
    # then STOP: the firmware drains stdin in bulk (up to 512 bytes per poll report), so STOP is not stuck
    # behind the junk (with 32 bytes per 10 ms frame it took 6 s).
    import random
    import threading

    board.send(b"START\n")
    board.until(lambda f: f.type == AUDIO and f.seq == 5)
    junk = bytes(random.Random(7).randrange(256) for _ in range(20000)).replace(b"\x04", b"")
    sent_at: list[float] = []

    def send() -> None:
        view = memoryview(junk + b"\nSTOP\n")
        while view:
            n = os.write(board.host, view[:1024])
            view = view[n:]
        sent_at.append(time.monotonic())

    writer = threading.Thread(target=send)
    writer.start()
    t0 = time.monotonic()
    tail = board.until(_is(END), timeout=15)
    writer.join(5)
    assert tail[-1].type == END and tail[-1].json()["reason"] == "stop"
    assert sent_at, "the junk was not consumed"
    end_at = time.monotonic()
    assert end_at - t0 < 3.0  # the whole burst (written as fast as the board reads it) and STOP
    assert end_at - sent_at[0] < 0.5  # STOP's latency once the last byte was written
