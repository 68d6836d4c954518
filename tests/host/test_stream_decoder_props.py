"""Property tests: arbitrary chunking, corruption (flips, drops, inserts, truncation, mid-frame start)."""

from __future__ import annotations

from hostwire import END, INFO, STATUS, SentAudio, audio, encode_audio, encode_frame, encode_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from picomic.stream.decoder import DecodedFrame, Decoder
from picomic.stream.protocol import MAX_PAYLOAD, OVERHEAD, FrameType

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_chunked(dec: Decoder, data: bytes, cuts: list[int]) -> list[DecodedFrame]:
    out: list[DecodedFrame] = []
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(bounds, bounds[1:], strict=False):
        out.extend(dec.feed(data[a:b]))
        assert dec.buffered <= OVERHEAD + MAX_PAYLOAD
    return out


def key(f: DecodedFrame) -> tuple[object, ...]:
    fr = f.frame
    return (fr.type, fr.seq, fr.ts_us, fr.flags, fr.dropped, fr.payload, f.seq, f.ts_us, f.stream_sample,
            f.epoch, f.lost_before, f.new_epoch)  # fmt: skip


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SentAudio]]:
    """A valid stream: an INFO, audio frames with random gaps and flags, STATUS replies, an END."""
    samples = draw(st.sampled_from([16, 80, 160, 441]))
    n = draw(st.integers(1, 25))
    seqs = sorted(draw(st.sets(st.integers(1, 60), min_size=n - 1, max_size=n - 1)) | {0})
    sent = [audio(s, samples=samples, flags=draw(st.sampled_from([0, 1, 2, 4, 7]))) for s in seqs]
    parts = [encode_json(INFO, {"fw": "0.1.0", "proto": 1})]
    for a in sent:
        parts.append(encode_audio(a))
        if draw(st.integers(0, 9)) == 0:
            parts.append(encode_json(STATUS, {"cmd": "PING", "ok": True}, seq=a.seq + 1))
    parts.append(encode_frame(END, seq=seqs[-1] + 1 + draw(st.integers(0, 3)), payload=b'{"reason":"stop"}'))
    return b"".join(parts), sent


@SETTINGS
@given(streams(), st.lists(st.integers(0, 1 << 20), max_size=40))
def test_any_chunking_yields_the_same_frames(s: tuple[bytes, list[SentAudio]], cuts: list[int]) -> None:
    data, sent = s
    whole = Decoder()
    expected = whole.feed(data)
    chunked = Decoder()
    got = feed_chunked(chunked, data, cuts)
    assert [key(f) for f in got] == [key(f) for f in expected]
    assert chunked.counters() == whole.counters()
    audio_frames = [f for f in expected if f.type is FrameType.AUDIO]
    assert [(f.seq, f.payload, f.flags) for f in audio_frames] == [
        (a.seq, a.payload, a.flags | (8 if a.seq == 0 else 0)) for a in sent
    ]
    assert [f.stream_sample for f in audio_frames] == [a.seq * a.samples for a in sent]
    end = expected[-1]
    assert end.type is FrameType.END
    assert whole.lost_frames == end.seq - len(sent)  # delivered + lost = sent, from seq
    assert whole.crc_errors == whole.resyncs == whole.header_errors == 0


corruption = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
    st.tuples(st.just("drop"), st.integers(0, 1 << 20), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("sync"), st.integers(0, 1 << 20), st.binary(max_size=30)),
)


def corrupt(data: bytes, ops: list[tuple[object, ...]]) -> bytes:
    buf = bytearray(data)
    for op in ops:
        pos = int(op[1]) % (len(buf) + 1)  # type: ignore[call-overload]
        if op[0] == "flip" and pos < len(buf):
            buf[pos] ^= 1 << int(op[2])  # type: ignore[call-overload]
        elif op[0] == "drop":
            del buf[pos : pos + int(op[2])]  # type: ignore[call-overload]
        elif op[0] == "insert":
            buf[pos:pos] = op[2]  # type: ignore[assignment]
        elif op[0] == "sync":  # a fake sync marker followed by junk: the nastiest noise
            buf[pos:pos] = b"\xa5\x5a\x01\x01" + op[2]  # type: ignore[operator]
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 30),
    st.lists(corruption, max_size=8),
    st.integers(0, 400),
    st.integers(0, 400),
    st.lists(st.integers(0, 1 << 20), max_size=20),
)
def test_corruption_never_delivers_wrong_data_and_accounting_is_exact(
    n: int, ops: list[tuple[object, ...]], head_cut: int, tail_cut: int, cuts: list[int]
) -> None:
    sent = {s: audio(s) for s in range(n)}
    clean = b"".join(encode_audio(a) for a in sent.values()) + encode_frame(END, seq=n, payload=b"{}")
    data = corrupt(clean, ops)[head_cut : max(len(clean) - tail_cut, 0) or None]
    dec = Decoder()
    frames = feed_chunked(dec, data, cuts)
    audio_frames = [f for f in frames if f.type is FrameType.AUDIO]
    for f in audio_frames:
        a = sent[f.frame.seq]
        assert (f.payload, f.frame.ts_us, f.frame.sample_count) == (a.payload, a.ts_us, a.samples)
    seqs = [f.seq for f in audio_frames]
    assert seqs == sorted(set(seqs))
    assert dec.audio_frames == len(audio_frames)
    if not audio_frames:
        return
    first, last = seqs[0], seqs[-1]
    assert [f.stream_sample for f in audio_frames] == [(s - first) * 160 for s in seqs]
    if frames[-1].type is FrameType.END:  # the tail is known: delivered + lost + unseen head = sent
        assert len(seqs) + dec.lost_frames + first == n
    else:
        assert len(seqs) + dec.lost_frames == last - first + 1


@SETTINGS
@given(st.integers(1, 12), st.data())
def test_corruption_confined_to_one_frame_loses_at_most_that_frame(n: int, data: st.DataObject) -> None:
    frames = [encode_audio(audio(s)) for s in range(n + 2)]
    k = data.draw(st.integers(0, n + 1), label="k")
    ops = data.draw(st.lists(corruption, min_size=1, max_size=4), label="ops")
    frames[k] = corrupt(frames[k], ops)
    dec = Decoder()
    # a truncated frame holds the decoder until one frame length more arrives: a live stream goes on
    stream = b"".join(frames) + encode_frame(END, seq=n + 2, payload=b"{}") + bytes(400)
    got = [f.seq for f in feed_chunked(dec, stream, data.draw(st.lists(st.integers(0, 1 << 16)))) if f.type == 1]
    expected_others = [s for s in range(n + 2) if s != k]
    assert [s for s in got if s != k] == expected_others
    assert dec.frames == len(got) + 1  # END always arrives
    assert dec.lost_frames == (k not in got and k > 0)  # a lost frame 0 is an unseen head, not a gap


@SETTINGS
@given(st.binary(max_size=3000), st.lists(st.integers(0, 4000), max_size=10))
def test_noise_never_raises_or_yields(noise: bytes, cuts: list[int]) -> None:
    dec = Decoder()
    assert feed_chunked(dec, noise, cuts) == []
    assert dec.bytes_without_frame == len(noise)
    assert dec.skipped_bytes + dec.buffered == len(noise)
