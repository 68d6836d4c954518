"""AudioBus / Listener: zero copies, never-blocking publish, exact drop accounting, sync and async receive."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from picomic.bus import audiobus
from picomic.bus.audiobus import AudioBus, AudioChunk


def make_chunk(seq: int, n: int = 160) -> AudioChunk:
    payload = (np.arange(n, dtype="<i2") + seq).tobytes()
    samples = np.frombuffer(payload, dtype="<i2")
    return AudioChunk(seq, seq * 10.0, 16000, samples, stream_sample=seq * n)


def test_every_listener_gets_the_same_read_only_array() -> None:
    bus = AudioBus()
    listeners = [bus.subscribe(f"l{i}") for i in range(3)]
    frame = bytes(range(256)) * 2
    chunk = AudioChunk(0, 0.0, 16000, np.frombuffer(frame, dtype="<i2"))
    bus.publish(chunk)
    got = [lis.recv(timeout=1) for lis in listeners]
    assert all(g is chunk for g in got)
    arrays = [g.samples for g in got if g is not None]
    assert all(a is arrays[0] for a in arrays)
    assert arrays[0].base is frame  # a view over the frame's bytes: zero copies
    assert not arrays[0].flags.writeable
    with pytest.raises(ValueError):
        arrays[0][0] = 1


def test_float32_is_cached_shared_and_correct() -> None:
    chunk = AudioChunk(0, 0.0, 16000, np.frombuffer(np.array([0, 16384, -32768], "<i2").tobytes(), "<i2"))
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(chunk.float32())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert all(r is results[0] for r in results)
    assert results[0].dtype == np.float32
    assert results[0].tolist() == [0.0, 0.5, -1.0]
    assert not results[0].flags.writeable


def test_timeline_properties() -> None:
    chunk = make_chunk(3)
    assert chunk.num_samples == 160
    assert chunk.start_s == pytest.approx(0.03)
    assert chunk.end_s == pytest.approx(0.04)
    assert chunk.duration_ms == pytest.approx(10.0)


def test_slow_listener_never_delays_publish_or_others() -> None:
    bus = AudioBus()
    slow = bus.subscribe("slow", maxsize=8)  # nobody ever reads it
    fast = bus.subscribe("fast", maxsize=100_000)
    total = 20_000
    received: list[int] = []

    def consume() -> None:
        while (chunk := fast.recv(timeout=5)) is not None:
            received.append(chunk.seq)

    consumer = threading.Thread(target=consume)
    consumer.start()
    chunks = [make_chunk(i, 16) for i in range(total)]
    took = []
    for chunk in chunks:
        t0 = time.perf_counter()
        bus.publish(chunk)
        took.append(time.perf_counter() - t0)
    bus.close()
    consumer.join(timeout=10)
    assert not consumer.is_alive()
    assert received == list(range(total))
    assert fast.dropped == 0
    assert slow.dropped == total - 8
    assert [c.seq for c in iter(lambda: slow.recv(timeout=0), None)] == list(range(total - 8, total))
    took.sort()
    # the GIL may hand the core to the consumer mid-publish (up to its 5 ms switch interval), never more
    assert took[len(took) // 2] < 100e-6 and took[-1] < 0.25, (took[len(took) // 2], took[-1])


def test_drain_to_latest_returns_newest_and_counts_skipped() -> None:
    bus = AudioBus()
    lis = bus.subscribe("viz", maxsize=4)
    assert lis.drain_to_latest() is None
    for i in range(3):
        bus.publish(make_chunk(i))
    latest = lis.drain_to_latest()
    assert latest is not None and latest.seq == 2
    assert (lis.skipped, lis.dropped, lis.queue_depth) == (2, 0, 0)
    for i in range(3, 10):
        bus.publish(make_chunk(i))
    latest = lis.drain_to_latest()
    assert latest is not None and latest.seq == 9
    assert (lis.skipped, lis.dropped) == (5, 3)


def test_recv_timeout() -> None:
    lis = AudioBus().subscribe("x")
    t0 = time.monotonic()
    assert lis.recv(timeout=0.1) is None
    assert 0.09 <= time.monotonic() - t0 < 2
    assert lis.recv(timeout=0) is None


def test_wake_ends_a_wait_at_once_and_loses_no_chunk() -> None:
    bus = AudioBus()
    lis = bus.subscribe("x")
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(lis.recv(timeout=10)))
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    lis.wake()
    t.join(timeout=5)
    assert result == [None] and time.monotonic() - t0 < 5  # back long before its 10 s timeout
    lis.wake()  # no one waits: the next wait returns at once, once
    assert lis.recv(timeout=10) is None
    bus.publish(make_chunk(0))
    lis.wake()
    got = lis.recv(timeout=10)  # a queued chunk comes first
    assert isinstance(got, AudioChunk) and got.seq == 0
    t0 = time.monotonic()
    assert lis.recv(timeout=0.1) is None and time.monotonic() - t0 >= 0.09  # the wake was used up


def test_an_unpaced_bus_waits_for_its_consumers_and_drops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = AudioBus(paced=False)
    slow = bus.subscribe("slow", maxsize=8)
    latest = bus.subscribe("meter", maxsize=2, backpressure=False)  # never waited for: drops, as live
    got: list[int] = []

    def consume() -> None:
        while (chunk := slow.recv(timeout=5)) is not None:
            got.append(chunk.seq)
            time.sleep(0.002)

    t = threading.Thread(target=consume)
    t.start()
    for seq in range(200):
        bus.publish(make_chunk(seq))
    bus.close()
    t.join(timeout=10)
    assert got == list(range(200)) and slow.dropped == 0 and not bus.paced  # the consumer set the pace
    assert latest.dropped == 198
    monkeypatch.setattr(audiobus, "STUCK_S", 0.1)
    stuck_bus = AudioBus(paced=False)
    stuck = stuck_bus.subscribe("stuck", maxsize=4)
    t0 = time.monotonic()
    for seq in range(10):  # nobody reads: after 0.1 s the bus paces (drops) again instead of stalling
        stuck_bus.publish(make_chunk(seq))
    assert stuck_bus.paced and time.monotonic() - t0 < 2 and stuck.dropped == 6


def test_close_drains_then_none_and_wakes_waiters() -> None:
    bus = AudioBus()
    lis = bus.subscribe("a")
    waiter = bus.subscribe("b")
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(waiter.recv(timeout=10)))
    t.start()
    time.sleep(0.05)
    bus.publish(make_chunk(0))
    bus.publish(make_chunk(1))
    t.join(timeout=5)
    assert isinstance(result[0], AudioChunk)
    blocked: list[object] = []
    t2 = threading.Thread(target=lambda: blocked.append(bus.subscribe("c").recv(timeout=10)))
    t2.start()
    time.sleep(0.05)
    bus.close()
    t2.join(timeout=5)
    assert blocked == [None]
    assert not lis.closed
    assert [c.seq for c in (lis.recv(timeout=1), lis.recv(timeout=1)) if c is not None] == [0, 1]
    assert lis.recv(timeout=1) is None
    assert lis.closed
    bus.publish(make_chunk(2))  # discarded after close, no error
    assert lis.recv(timeout=0) is None
    late = bus.subscribe("late")
    assert late.closed and late.recv(timeout=5) is None


def test_unsubscribe_at_run_time() -> None:
    bus = AudioBus()
    keep = bus.subscribe("keep")
    gone = bus.subscribe("gone")
    bus.publish(make_chunk(0))
    bus.unsubscribe(gone)
    bus.publish(make_chunk(1))
    first = gone.recv(timeout=1)
    assert first is not None and first.seq == 0
    assert gone.recv(timeout=1) is None and gone.closed
    assert keep.queue_depth == 2
    assert bus.listeners == (keep,)
    bus.subscribe("gone")  # the name is free again


def test_duplicate_name_and_bad_maxsize() -> None:
    bus = AudioBus()
    bus.subscribe("vad")
    with pytest.raises(ValueError, match="vad"):
        bus.subscribe("vad")
    with pytest.raises(ValueError, match="maxsize"):
        bus.subscribe("x", maxsize=0)


def test_recv_async_does_not_block_the_loop_and_cancel_loses_nothing() -> None:
    bus = AudioBus()
    lis = bus.subscribe("async")

    async def main() -> tuple[int, list[int]]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        tick_task = asyncio.create_task(ticker())
        # a cancelled receive must not swallow a chunk
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(lis.recv_async(), timeout=0.05)

        def produce() -> None:
            for i in range(5):
                time.sleep(0.02)
                bus.publish(make_chunk(i))
            bus.close()

        producer = threading.Thread(target=produce)
        producer.start()
        got = []
        while (chunk := await asyncio.wait_for(lis.recv_async(), timeout=5)) is not None:
            got.append(chunk.seq)
        producer.join(timeout=5)
        stop.set()
        await tick_task
        return ticks, got

    ticks, got = asyncio.run(main())
    assert got == [0, 1, 2, 3, 4]
    assert ticks >= 10  # the loop kept running while recv_async waited


def test_many_async_and_sync_consumers_split_one_queue_without_loss() -> None:
    bus = AudioBus()
    lis = bus.subscribe("shared", maxsize=100_000)
    seen: list[int] = []
    lock = threading.Lock()

    def sync_consumer() -> None:
        while (c := lis.recv(timeout=5)) is not None:
            with lock:
                seen.append(c.seq)

    async def async_consumers() -> None:
        async def one() -> None:
            while (c := await asyncio.wait_for(lis.recv_async(), timeout=5)) is not None:
                with lock:
                    seen.append(c.seq)

        await asyncio.gather(one(), one())

    threads = [threading.Thread(target=sync_consumer) for _ in range(2)]
    threads.append(threading.Thread(target=lambda: asyncio.run(async_consumers())))
    for t in threads:
        t.start()
    for i in range(3000):
        bus.publish(make_chunk(i, 4))
    bus.close()
    for t in threads:
        t.join(timeout=10)
    assert sorted(seen) == list(range(3000))


@settings(max_examples=200, deadline=None)
@given(
    maxsize=st.integers(1, 6),
    ops=st.lists(st.sampled_from(["pub", "pub", "pub", "recv", "drain"]), max_size=60),
)
def test_queue_matches_a_reference_model(maxsize: int, ops: list[str]) -> None:
    bus = AudioBus()
    lis = bus.subscribe("m", maxsize=maxsize)
    model: deque[int] = deque()
    dropped = skipped = seq = 0
    for op in ops:
        if op == "pub":
            if len(model) == maxsize:
                model.popleft()
                dropped += 1
            model.append(seq)
            bus.publish(make_chunk(seq, 2))
            seq += 1
        elif op == "recv":
            got = lis.recv(timeout=0)
            assert (got.seq if got else None) == (model.popleft() if model else None)
        else:
            got = lis.drain_to_latest()
            assert (got.seq if got else None) == (model[-1] if model else None)
            skipped += max(len(model) - 1, 0)
            model.clear()
        assert (lis.dropped, lis.skipped, lis.queue_depth) == (dropped, skipped, len(model))


def test_named_streams_deliver_only_their_own_chunks() -> None:
    bus = AudioBus()
    raw = bus.subscribe("raw-reader")
    bus.add_stream("derived")
    derived = bus.subscribe("derived-reader", stream="derived")
    a, b = make_chunk(0), make_chunk(1)
    bus.publish(a)
    bus.publish(b, "derived")
    assert (raw.stream, derived.stream) == ("raw", "derived")
    assert raw.recv(timeout=1) is a and raw.recv(timeout=0) is None
    assert derived.recv(timeout=1) is b and derived.recv(timeout=0) is None
    assert set(bus.listeners) == {raw, derived}


def test_close_ends_the_raw_stream_and_a_derived_one_ends_with_its_producer() -> None:
    bus = AudioBus()
    raw = bus.subscribe("r")
    bus.add_stream("derived")
    derived = bus.subscribe("d", stream="derived")
    bus.close()
    assert raw.recv(timeout=1) is None and raw.closed
    late = make_chunk(7)
    bus.publish(late, "derived")  # the stage still publishes what its own queue held
    assert derived.recv(timeout=1) is late
    assert not derived.closed
    bus.end_stream("derived")
    assert derived.recv(timeout=1) is None and derived.closed
    assert bus.subscribe("after", stream="derived").closed
