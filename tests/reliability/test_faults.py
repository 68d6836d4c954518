"""Fault injection on the simulated board (real firmware, real pty): no corrupted frame is ever delivered,
every count is exact, recovery is bounded. The same scenario functions make `python -m
picomic.bench.faults`; here they run with CI lengths (stall and slow consumer 2.5 s instead of 5/10 s)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from picomic.bench import faults as F
from picomic.bench.faultkit import FaultResult
from picomic.bench.mutations import CleanStream, clean_stream, decoder_faults, mutated
from picomic.errors import FrameError
from picomic.stream import decoder as decoder_mod
from picomic.stream.decoder import Decoder


def _ok(r: FaultResult) -> None:
    assert r.corrupted == 0, r.to_json()
    assert not r.failures, (r.failures, r.to_json())


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("clean link", {}),
        ("BER 1e-5", {"ber": 1e-5}),
        ("BER 1e-4", {"ber": 1e-4}),
        ("BER 1e-3", {"ber": 1e-3}),
        ("BER 1e-2", {"ber": 1e-2}),
        ("dropped bytes 1e-4", {"drop_bytes": 1e-4}),
    ],
)
def test_wire_faults_never_deliver_a_corrupted_frame(name: str, kw: dict[str, float]) -> None:
    r = F.wire_fault(name, seconds=4.0, **kw)
    _ok(r)
    assert r.sent == 400
    if kw.get("ber", 0) >= 1e-4 or kw.get("drop_bytes"):
        assert r.lost > 0 and r.crc_errors + r.resyncs > 0  # the fault really hit the stream


@pytest.fixture(scope="module")
def clean() -> CleanStream:
    return clean_stream(3.0)


def test_bursts_drops_inserts_truncation_and_mid_frame_join(clean: CleanStream) -> None:
    rows = decoder_faults(clean)
    assert len(rows) == 8
    for r in rows:
        _ok(r)
        assert r.delivered < r.sent  # every mutation cost something ...
        assert r.details["longest_gap_frames"] <= 4  # ... and never more than the frames it touched


def test_the_checks_catch_a_decoder_that_skips_its_crc(clean: CleanStream, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sabotage: a decoder that accepts every CRC delivers corrupted frames, and the checks say so."""
    monkeypatch.setattr(decoder_mod, "zlib", SimpleNamespace(crc32=lambda data: 0))
    monkeypatch.setattr(decoder_mod, "CRC", SimpleNamespace(unpack_from=lambda buf, off: (0,)))
    burst = mutated(clean, "sabotaged", [(a.start + 100, a.start + 101, b"\x00") for a in clean.audio[5:50:9]])
    assert burst.corrupted > 0 and "zero corrupted frames delivered" in burst.failures


def test_the_checks_catch_a_lost_count_off_by_one(clean: CleanStream, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Decoder._place

    def place(self: Decoder, frame: object) -> object:
        out = real(self, frame)  # type: ignore[arg-type]
        if out.lost_before:
            self.lost_frames += 1  # one too many per gap
        return out

    monkeypatch.setattr(Decoder, "_place", place)
    r = mutated(clean, "sabotaged", [(a.start + 50, a.start + 51, b"") for a in clean.audio[5:50:9]])
    assert any(name.startswith("lost_frames exact") for name in r.failures), r.checks


def test_noise_that_passes_the_header_check_with_another_version_is_not_fatal(clean: CleanStream) -> None:
    """Found by the BER 1e-2 run: a damaged header can pass its 8-bit check with version 3. That must be a
    resync, not 'protocol version mismatch' (which is for whole frames with a good CRC, or 3 in a row)."""
    from picomic.stream.protocol import header_check

    a = clean.audio[3]
    bad = bytearray(clean.raw[a.start : a.end])
    bad[2] = 3
    bad[21] = header_check(bad)  # the header check passes, the CRC does not
    dec = Decoder()
    got = dec.feed(bytes(bad) + clean.raw[a.end : clean.audio[6].end])
    assert [f.seq for f in got if f.type.name == "AUDIO"] == [4, 5, 6]
    assert dec.header_errors == 1 and dec.resyncs == 1
    with pytest.raises(FrameError, match="version 3"):
        Decoder().feed(bytes(bad) * 3)


def test_unplug_replug_reconnects_fast_with_one_discontinuity_and_a_valid_recording() -> None:
    r = F.unplug(seconds=3.0, unplug_at=1.3)
    _ok(r)
    assert r.recovery_ms is not None and r.recovery_ms < 1000.0
    assert r.details["silence_s"] > 0.3  # the 0.3 s unplug (plus reconnect) is silence in the file


def test_host_stall_device_keeps_capturing_and_counts_its_drops() -> None:
    r = F.host_stall(2.5)
    _ok(r)
    assert r.details["device_dropped"] > 50  # 2.5 s stalled: well beyond the pty and ring buffers


def test_forced_i2s_overrun_is_flagged_once_and_in_status() -> None:
    r = F.overrun()
    _ok(r)
    # 100 ms lost while the buffer was full, plus what arrived between the stall's end and the next read (the
    # PIO capture delivers sample by sample): less than one 10 ms frame more
    assert 1600 <= r.details["hole_samples"] < 1600 + 160


def test_slow_consumer_does_not_touch_other_listeners_or_capture() -> None:
    r = F.slow_consumer(2.5)
    _ok(r)
    assert r.details["slow_dropped"] > 100
