"""Host-side helpers for the simulated-board suites: open the port like a host and collect a stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import serial
from picomic.stream.decoder import Decoder
from picomic.stream.protocol import FrameType, encode_command


@dataclass
class Capture:
    """What a host saw from one START until END (or the timeout)."""

    pcm: list[np.ndarray] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    end: dict[str, Any] | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    decoder: Decoder = field(default_factory=Decoder)

    def samples(self) -> np.ndarray:
        return np.concatenate(self.pcm) if self.pcm else np.zeros(0, np.int16)


def stream(port: str, timeout_s: float, until: Callable[[], bool] | None = None, **start: int) -> Capture:
    """Open `port` like a host, INFO + START, collect frames until END (or `until()` is true: the END may be
    lost to injected faults); PING twice a second."""
    cap = Capture()
    with serial.Serial(port, timeout=0.05) as ser:
        ser.write(encode_command("STOP") + encode_command("INFO") + encode_command("START", **start))
        deadline = time.monotonic() + timeout_s
        next_ping = time.monotonic() + 0.5
        while time.monotonic() < deadline and cap.end is None and not (until and until()):
            for f in cap.decoder.feed(ser.read(65536)):
                if f.type is FrameType.AUDIO:
                    cap.pcm.append(np.array(f.frame.pcm()))
                    cap.starts.append(f.stream_sample)
                    cap.seqs.append(f.seq)
                    cap.flags.append(f.flags)
                elif f.type is FrameType.END:
                    cap.end = f.frame.json()
                else:
                    cap.replies.append(f.frame.json())
            if time.monotonic() > next_ping:
                ser.write(encode_command("PING"))
                next_ping += 0.5
    return cap
