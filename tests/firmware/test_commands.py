"""Command parsing and replies: every bad input gets a STATUS error and the device stays responsive."""

from __future__ import annotations

import json

from fwhelpers import APP_HARNESS, AUDIO, END, INFO, STATUS, Frame, parse_frames, run_mp
from picomic.deploy.build import FirmwareBuild, firmware_digest


def _session(fw: FirmwareBuild, lines: list[bytes], *, stream_steps: int = 0) -> list[Frame]:
    """Feed each line to an idle App (optionally streaming `stream_steps` frames after a START)."""
    script = (
        APP_HARNESS
        + f"""
a, inp, out, clock, made = make_app()
for line in {lines!r}:
    inp.feed(line)
    idle(a, 3)
    if a.streaming:
        for _ in range({stream_steps}):
            a.stream_step()
idle(a, 50)
dump(out)
"""
    )
    return parse_frames(bytes.fromhex(run_mp(fw, script).strip()))


def _replies(frames: list[Frame]) -> list[dict[str, object]]:
    return [f.json() for f in frames if f.type == STATUS]


def test_info_ping_stats(fw: FirmwareBuild) -> None:
    frames = _session(fw, [b"INFO\n", b"PING\n", b"STATS\r\n", b"ping\n"])
    assert [f.type for f in frames] == [INFO, STATUS, STATUS, STATUS]
    info = frames[0].json()
    assert info["proto"] == 1 and info["ticks_bits"] == 30 and info["streaming"] is False
    assert info["build"] == firmware_digest()  # the sources this build came from (ensure_firmware compares it)
    assert info["defaults"] == {"rate": 16000, "frame_ms": 10, "gain": 0, "bits": 16, "channels": 1}
    assert info["limits"]["max_payload"] == 24576  # type: ignore[index]
    assert frames[1].json() == {"cmd": "PING", "ok": True, "streaming": False}
    stats = frames[2].json()
    assert stats["ok"] is True and stats["streaming"] is False and stats["frames"] == 0
    assert frames[3].json() == {"cmd": "PING", "ok": True, "streaming": False}
    assert all(f.rate_hz == 0 and f.samples == 0 and f.flags == 0 and f.dropped == 0 for f in frames)


BAD = [
    (b"FOO\n", "FOO", "unknown command FOO"),
    (b"START rate=abc\n", "START", "bad value for rate"),
    (b"START rate=-16000\n", "START", "bad value for rate"),
    (b"START rate=1600000000\n", "START", "bad value for rate"),
    (b"START rate=7999\n", "START", "rate must be 8000..48000"),
    (b"START rate=48001\n", "START", "rate must be 8000..48000"),
    (b"START frame_ms=4\n", "START", "frame_ms must be 5..64"),
    (b"START gain=9\n", "START", "gain must be 0..8"),
    (b"START bits=20\n", "START", "bits must be 16 or 24"),
    (b"START channels=3\n", "START", "channels must be 1 or 2"),
    (b"START rate=22050 frame_ms=10\n", "START", "multiple of 1000"),
    (b"START volume=3\n", "START", "unknown key volume"),
    (b"START rate\n", "START", "unknown key rate"),
    (b"START rate=16000 rate=16000\n", "START", "duplicate key rate"),
    (b"PING now\n", "PING", "PING takes no arguments"),
    (b"INFO x=1\n", "INFO", "INFO takes no arguments"),
    (b"\xff\xfeSTART\n", None, "not printable ASCII"),
    (b"import os\n", "import", "unknown command import"),
    (b"__import__('os')\n", "__import__('os')", "unknown command"),
]


def test_bad_commands_get_status_errors_and_device_stays_responsive(fw: FirmwareBuild) -> None:
    lines = [line for line, _, _ in BAD] + [b"A" * 200 + b"\n", b"PING\n", b"START\n"]
    frames = _session(fw, lines, stream_steps=40)
    replies = _replies(frames)
    assert len(replies) == len(BAD) + 3
    for (line, cmd, message), reply in zip(BAD, replies, strict=False):
        assert reply["ok"] is False, line
        assert reply["cmd"] == cmd, (line, reply)
        assert message in str(reply["error"]), (line, reply)
    too_long = replies[len(BAD)]
    assert too_long == {"cmd": None, "ok": False, "error": "line too long (max 128 bytes)"}
    assert replies[-2] == {"cmd": "PING", "ok": True, "streaming": False}
    assert replies[-1]["cmd"] == "START" and replies[-1]["ok"] is True
    assert any(f.type == AUDIO for f in frames)  # still works after all that


def test_start_while_streaming_and_stop_while_idle(fw: FirmwareBuild) -> None:
    frames = _session(
        fw, [b"STOP\n", b"START rate=8000 frame_ms=20\n", b"START\n", b"STOP\n", b"STOP\n"], stream_steps=40
    )
    replies = _replies(frames)
    assert replies[0] == {"cmd": "STOP", "ok": True, "noop": True}
    start = replies[1]
    assert start["ok"] is True and start["rate"] == 8000 and start["frame_ms"] == 20 and start["samples"] == 160
    assert replies[2] == {"cmd": "START", "ok": False, "error": "already streaming"}
    assert replies[3] == {"cmd": "STOP", "ok": True}
    assert replies[4] == {"cmd": "STOP", "ok": True, "noop": True}
    audio = [f for f in frames if f.type == AUDIO]
    assert [f.seq for f in audio] == list(range(len(audio))) and len(audio) >= 4
    assert all(f.rate_hz == 8000 and f.samples == 160 and f.length == 320 for f in audio)
    # wire order: START ok, audio..., END, STOP ok; END's seq counts the epoch's frames
    types = [f.type for f in frames]
    end_at = types.index(END)
    assert types[end_at + 1] == STATUS and replies[3] == frames[end_at + 1].json()
    assert all(t != AUDIO for t in types[end_at:])
    end = frames[end_at]
    assert end.json()["reason"] == "stop" and end.seq == end.json()["frames"] == len(audio)


def test_gain_bits_channels_reach_the_frames(fw: FirmwareBuild) -> None:
    frames = _session(fw, [b"START bits=24 channels=2 gain=2 rate=48000 frame_ms=5\n", b"STOP\n"], stream_steps=40)
    audio = [f for f in frames if f.type == AUDIO]
    assert audio and all(f.flags & 0x30 == 0x30 and f.samples == 240 and f.length == 240 * 8 for f in audio)
    assert audio[0].flags & 0x08  # FIRST
    start = json.loads(frames[0].payload)
    assert start["bits"] == 24 and start["channels"] == 2 and start["gain"] == 2


RESET_SCRIPT = """
calls = []
a, inp, out, clock, made = make_app()
a.reset = lambda: calls.append(1)
inp.feed(b"START\\n")
idle(a, 3)
for _ in range(10):
    a.stream_step()
inp.feed(b"RESET\\n")
for _ in range(3):
    if a.streaming:
        a.stream_step()
after = (a.streaming, len(calls))
a.reset = None
inp.feed(b"RESET\\n")
idle(a, 5)
print(after)
dump(out)
"""


def test_reset_answers_then_reboots_and_is_refused_without_a_reset(fw: FirmwareBuild) -> None:
    lines = run_mp(fw, APP_HARNESS + RESET_SCRIPT).strip().splitlines()
    assert lines[-2] == "(False, 1)"  # streaming stopped, machine.reset called once
    replies = _replies(parse_frames(bytes.fromhex(lines[-1])))
    resets = [r for r in replies if r["cmd"] == "RESET"]
    assert resets[0] == {"cmd": "RESET", "ok": True}
    assert resets[1]["ok"] is False and "not available" in str(resets[1]["error"])


def test_rp2040_starts_only_the_modes_it_sustains(fw: FirmwareBuild) -> None:
    # chips.MODES / LONG_FRAMES, measured in the emulated RP2040 (docs/performance.md): every mode up to 48 kHz,
    # 24-bit stereo from 44.1 kHz only with 20 ms frames; INFO lists both limits. A profile's "mcu" names the chip
    # off rp2.
    script = (
        APP_HARNESS
        + """
a, inp, out, clock, made = make_app(profile={"board": "pico", "mcu": "RP2040"})
for line in (b"INFO\\n", b"START rate=48000 bits=24 channels=2 frame_ms=10\\n", b"START rate=48000 frame_ms=10\\n",
             b"STOP\\n", b"START rate=48000 bits=24 channels=2 frame_ms=20\\n", b"STOP\\n",
             b"START rate=48000 bits=24 channels=2\\n", b"STOP\\n", b"START rate=48000 bits=24\\n", b"STOP\\n"):
    inp.feed(line)
    idle(a, 3)
    for _ in range(3):
        if a.streaming:
            a.stream_step()
idle(a, 50)
dump(out)
"""
    )
    frames = parse_frames(bytes.fromhex(run_mp(fw, script).strip()), allow_tail=True)
    info = next(f for f in frames if f.type == INFO).json()
    assert info["chip"] == "RP2040" and info["limits"]["long_frames"] == [44100, 20, 24, 2]  # type: ignore[index]
    assert {"bits": 24, "channels": 2, "max_rate": 48000} in info["limits"]["modes"]  # type: ignore[index]
    starts = [r for r in _replies(frames) if r["cmd"] == "START"]
    assert [r["ok"] for r in starts] == [False, True, True, True, True]
    assert starts[0]["error"] == "at 48000 Hz 24-bit stereo on the RP2040 needs frames of at least 20 ms (frame_ms=20)"
    assert starts[1]["frame_ms"] == 10  # 16-bit mono: 10 ms frames at 48 kHz are fine
    assert starts[2]["frame_ms"] == 20 and starts[2]["samples"] == 960
    assert starts[3]["frame_ms"] == 20  # no frame_ms asked for: the long frame the mode needs
    assert starts[4]["frame_ms"] == 10 and starts[4]["bits"] == 24  # 24-bit mono keeps the default