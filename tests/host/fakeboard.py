"""A scripted fake board on a REAL pseudo-terminal (test-only system-edge mock).

The host opens `board.link` (a stable symlink to the pty slave, like the simulator's) with pyserial exactly as
a real board. A thread owns the master side: it parses command lines and answers with frames. `unplug()`
closes the master (the host's read raises SerialException), and after `replug_after_s` a new pty appears
behind the same symlink with the board idle again.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from hostwire import END, FIRST, INFO, STATUS, VECTORS_DIR, audio, encode_audio, encode_json

INFO_BODY = {
    "fw": "0.1.0", "proto": 1, "board": "pico", "mpy": "1.24.0", "uid": "e6614c311b7e2b2f", "ticks_bits": 30,
    "defaults": {"rate": 16000, "frame_ms": 10, "gain": 0, "bits": 16, "channels": 1}, "streaming": False,
}  # fmt: skip
REPL_REPLY = b'\r\nTraceback (most recent call last):\r\n  File "<stdin>", line 1\r\nNameError\r\n>>> '


class FakeBoard:
    def __init__(
        self,
        tmp_path: Path,
        mode: str = "picomic",
        *,
        frames: int = 50,
        frame_interval_s: float = 0.002,
        end_reason: str | None = "signal_end",
        unplug_after: int | None = None,
        replug_after_s: float = 0.3,
        info_frame: bytes | None = None,
        audio_frame: Callable[[int], bytes] | None = None,
        start_reply: bytes | None = None,
    ) -> None:
        self.link = tmp_path / "ttyPICO"
        self.mode = mode
        self.frames = frames
        self.frame_interval_s = frame_interval_s
        self.end_reason = end_reason
        self.unplug_after = unplug_after
        self.replug_after_s = replug_after_s
        golden_info = VECTORS_DIR / "info.bin"  # the firmware's own INFO frame when the vectors exist
        self.info_frame = info_frame or (golden_info.read_bytes() if golden_info.exists() else None)
        self.start_reply = start_reply
        self.audio_frame = audio_frame or (lambda seq: encode_audio(audio(seq)))
        self.received = bytearray()
        self.commands: list[str] = []
        self.unplugs = 0
        self._streaming = False
        self._seq = 0
        self._stop = threading.Event()
        self._open_pty()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- pty plumbing -----------------------------------------------------------------------------------
    def _open_pty(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tmp = self.link.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self._slave))
        os.replace(tmp, self.link)

    def _close_pty(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def unplug(self) -> None:
        self.unplugs += 1
        self._streaming = False
        self._close_pty()
        self.link.unlink(missing_ok=True)
        time.sleep(self.replug_after_s)
        self._seq = 0
        self._open_pty()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close_pty()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            view = view[n:]

    # -- behaviour --------------------------------------------------------------------------------------
    def _serve(self) -> None:
        line = bytearray()
        next_frame = time.monotonic()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.005)
                data = os.read(self.master, 4096) if ready else b""
            except OSError:  # nobody has the slave open (yet)
                time.sleep(0.005)
                continue
            self.received += data
            if self.mode == "noise":
                self.write(random.Random(len(self.received)).randbytes(20000) if data else b"")
                continue
            for byte in data:
                self._byte(byte, line)
            if self._streaming and time.monotonic() >= next_frame:
                next_frame = time.monotonic() + self.frame_interval_s
                self._stream_one()

    def _byte(self, byte: int, line: bytearray) -> None:
        if self.mode in ("repl", "repl_then_picomic"):
            if byte == 0x04 and self.mode == "repl_then_picomic":
                self.write(b"MPY: soft reboot\r\n")
                self.mode = "picomic"
            elif byte == ord("\n"):
                self.write(bytes(line) + REPL_REPLY)
                line.clear()
            elif byte >= 0x20:
                line.append(byte)
            return
        if byte == ord("\n"):
            self._command(line.decode(errors="replace").strip())
            line.clear()
        elif byte != ord("\r"):
            line.append(byte)

    def _status(self, body: dict[str, object]) -> bytes:
        return encode_json(STATUS, body, seq=self._seq)

    def _command(self, text: str) -> None:
        if not text:
            return
        name = text.split()[0]
        self.commands.append(name)
        if self.mode == "silent":
            return
        if name == "INFO":
            if self.info_frame is not None:
                self.write(self.info_frame)
            else:
                self.write(encode_json(INFO, INFO_BODY, seq=self._seq))
        elif name == "START":
            if self.mode == "refuse":
                self.write(self._status({"cmd": "START", "ok": False, "error": "rate must be 8000..48000"}))
                return
            if self.start_reply is not None:  # a scripted session (e.g. the golden session.bin)
                self.write(self.start_reply)
                return
            self.write(self._status({"cmd": "START", "ok": True}))
            self._seq = 0
            self._streaming = True
        elif name == "STOP":
            if self._streaming:
                self._streaming = False
                self._end("stop")
            self.write(self._status({"cmd": "STOP", "ok": True}))
        elif name == "PING":
            self.write(self._status({"cmd": "PING", "ok": True, "streaming": self._streaming}))
        else:
            self.write(self._status({"cmd": name, "ok": True}))

    def _end(self, reason: str) -> None:
        self.write(encode_json(END, {"reason": reason}, seq=self._seq))

    def _stream_one(self) -> None:
        if self.unplug_after is not None and self._seq == self.unplug_after and not self.unplugs:
            self.unplug()
            return
        if self.frames and self._seq >= self.frames:
            self._streaming = False
            if self.end_reason:
                self._end(self.end_reason)
            return
        self.write(self.audio_frame(self._seq))
        self._seq += 1


__all__ = ["FIRST", "FakeBoard", "INFO_BODY"]
