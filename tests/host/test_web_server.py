"""The web view's server, for real: an aiohttp server on 127.0.0.1 port 0 in its thread, real aiohttp clients
and raw sockets. Bad input (malformed, oversized and binary messages, a wrong Origin, a missing or wrong token,
200 connections, a stalled reader) is bounded, answered with one clear reason, counted, and never a crash."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from picomic.bench.web import stalled_client
from picomic.errors import ConfigError
from picomic.web.clients import ClientQueue
from picomic.web.server import WebServer, WebSettings

TIMEOUT_S = 10.0


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[WebServer] = []

    def make(**kw: Any) -> WebServer:
        kw.setdefault("port", 0)
        server = WebServer(WebSettings(**kw))
        server.start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


def ws_url(server: WebServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws{query}"


async def texts(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = await ws.receive(timeout=TIMEOUT_S)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        out.append(json.loads(msg.data))
    return out


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_clients_get_hello_then_every_message_in_order(server_factory) -> None:
    server = server_factory()

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            a, b = await s.ws_connect(ws_url(server)), await s.ws_connect(ws_url(server))
            for ws in (a, b):
                (hello,) = await texts(ws, 1)
                assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["session"] == server.session
            server.publish('{"type":"vad","event":"start"}')
            server.publish(b"\x01\x02\x03")
            for ws in (a, b):
                assert (await texts(ws, 1))[0]["event"] == "start"
                binary = await ws.receive(timeout=TIMEOUT_S)
                assert binary.type == aiohttp.WSMsgType.BINARY and binary.data == b"\x01\x02\x03"

    run(go())
    assert server.stats["connections"] == 2 and server.stats["dropped"] == 0


def test_a_late_client_gets_the_latest_device_and_status_and_the_logged_finals(server_factory) -> None:
    server = server_factory(replay_log=2)
    server.publish('{"type":"device","board":"old"}', keep="device:")
    server.publish('{"type":"device","board":"pico"}', keep="device:")
    for i in range(3):
        server.publish(json.dumps({"type": "transcript", "text": f"t{i}", "final": True}), keep="log")
    server.publish('{"type":"level"}')  # not kept

    async def go() -> list[dict[str, Any]]:
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(ws_url(server))
            return await texts(ws, 4)

    got = run(go())
    assert [m["type"] for m in got] == ["hello", "device", "transcript", "transcript"]
    assert got[1]["board"] == "pico" and [m["text"] for m in got[2:]] == ["t1", "t2"]


def test_ping_pong_and_an_unknown_type_is_answered_not_fatal(server_factory) -> None:
    server = server_factory()

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(ws_url(server))
            await texts(ws, 1)
            await ws.send_str('{"type":"ping","id":42}')
            (pong,) = await texts(ws, 1)
            assert pong["type"] == "pong" and pong["id"] == 42
            await ws.send_str('{"type":"subscribe"}')
            (bad,) = await texts(ws, 1)
            assert bad["type"] == "bad_request" and "unknown message type 'subscribe'" in bad["message"]
            await ws.send_str('{"type":"ping","id":[1]}')  # an id that is not a number or a string is not echoed
            assert (await texts(ws, 1))[0]["id"] is None

    run(go())
    assert server.stats["bad_messages"] == 1


@pytest.mark.parametrize(
    ("send", "code", "reason"),
    [
        ("not json", 1007, "malformed message: not JSON"),
        ("[1, 2]", 1007, "expected a JSON object"),
        (b"\x00\x01", 1003, "binary messages are not accepted"),
        ("x" * 5000, 1009, ""),
        (b"y" * 100_000, 1009, ""),
    ],
    ids=["not-json", "not-object", "binary", "oversized-text", "oversized-binary"],
)
def test_bad_client_messages_close_that_client_with_a_reason(server_factory, send, code, reason) -> None:
    server = server_factory(max_message_bytes=4096)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            bad, good = await s.ws_connect(ws_url(server)), await s.ws_connect(ws_url(server))
            await texts(bad, 1)
            await texts(good, 1)
            await (bad.send_str(send) if isinstance(send, str) else bad.send_bytes(send))
            msg = await bad.receive(timeout=TIMEOUT_S)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == code, msg
            assert reason in (msg.extra or "")
            server.publish('{"type":"end","reason":"stop"}')  # the other client goes on
            assert (await texts(good, 1))[0]["type"] == "end"

    run(go())
    assert server.stats["bad_messages"] == 1


@pytest.mark.parametrize(
    ("origin", "ok"),
    [(None, True), ("http://127.0.0.1:{port}", True), ("http://evil.example", False),
     ("http://127.0.0.1:1", False), ("null", False), ("file://", False)],
)  # fmt: skip
def test_the_websocket_checks_origin(server_factory, origin, ok) -> None:
    server = server_factory()

    async def go() -> None:
        headers = {} if origin is None else {"Origin": origin.format(port=server.port)}
        async with aiohttp.ClientSession() as s:
            if ok:
                ws = await s.ws_connect(ws_url(server), headers=headers)
                assert (await texts(ws, 1))[0]["type"] == "hello"
                return
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(ws_url(server), headers=headers)
            assert err.value.status == 403
            async with s.get(f"http://127.0.0.1:{server.port}/ws", headers=headers) as r:
                assert r.status == 403 and "not allowed: the web view only accepts its own page" in await r.text()

    run(go())


def test_without_a_token_only_loopback_host_names_are_answered(server_factory) -> None:
    """DNS rebinding: evil.example re-pointed at 127.0.0.1 sends its own name as Host and as Origin."""
    server = server_factory()
    base = f"http://127.0.0.1:{server.port}"

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for host in (f"evil.example:{server.port}", "10.0.0.1", ""):
                headers = {"Host": host, "Origin": f"http://{host}"}
                for path in ("/", "/ws"):
                    async with s.get(base + path, headers=headers) as r:
                        assert r.status in (400, 403), (host, path)
                        if host:
                            assert "without a token the web view answers only to a loopback name" in await r.text()
            for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
                async with s.get(base + "/", headers={"Host": host}) as r:
                    assert r.status == 200
                ws = await s.ws_connect(ws_url(server), headers={"Host": host, "Origin": f"http://{host}"})
                assert (await texts(ws, 1))[0]["type"] == "hello"

    run(go())


def test_a_token_is_required_on_the_page_and_the_websocket(server_factory) -> None:
    server = server_factory(token="s3cret-token")
    assert server.url.endswith("/?token=s3cret-token")
    base = f"http://127.0.0.1:{server.port}"

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for query in ("", "?token=wrong", "?token="):
                async with s.get(base + "/" + query) as r:
                    assert r.status == 403 and "a token is required" in await r.text()
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await s.ws_connect(ws_url(server, query))
                assert err.value.status == 403
            async with s.get(base + "/?token=s3cret-token") as r:
                assert r.status == 200 and "<canvas" not in await r.text()  # the page builds its canvases in JS
            ws = await s.ws_connect(ws_url(server, "?token=s3cret-token"))
            assert (await texts(ws, 1))[0]["type"] == "hello"

    run(go())


def test_every_client_queue_holds_the_same_message_object(server_factory) -> None:
    """One message per broadcast, shared: the queues of three stalled clients hold that very object."""
    server = server_factory(client_queue=4)
    sockets = [stalled_client(server.port) for _ in range(3)]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while server.stats["clients"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        filler = bytes(300_000)  # fills the kernel and transport buffers of every stalled client
        for _ in range(8):
            server.publish(filler)
        last = b"the last one" + bytes(1000)
        server.publish(last)
        time.sleep(0.5)
        tails = [c.queue._items[-1] for c in list(server._clients)]  # stalled: nothing moves any more
        assert len(tails) == 3 and all(t is last for t in tails)
    finally:
        for sock in sockets:
            sock.close()


def test_off_loopback_a_token_is_generated_and_on_loopback_none() -> None:
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        token = WebSettings(host=host).resolve_token()
        assert token is not None and len(token) >= 20
    assert WebSettings(host="0.0.0.0").resolve_token() != WebSettings(host="0.0.0.0").resolve_token()
    for host in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        assert WebSettings(host=host).resolve_token() is None
    with pytest.raises(ConfigError, match="at least 8"):
        WebSettings(token="short")
    server = WebServer(WebSettings(host="0.0.0.0", port=8765))  # not started: only its URL
    assert server.url == f"http://{socket.gethostname()}:8765/?token={server.token}"


def test_200_connections_are_bounded_and_refused_clearly(server_factory) -> None:
    server = server_factory(max_clients=32)

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            results = await asyncio.gather(*(s.ws_connect(ws_url(server)) for _ in range(200)), return_exceptions=True)
            accepted = [r for r in results if isinstance(r, aiohttp.ClientWebSocketResponse)]
            refused = [r for r in results if isinstance(r, aiohttp.WSServerHandshakeError)]
            assert len(accepted) == 32 and len(refused) == 168, {type(r) for r in results}
            assert {r.status for r in refused} == {503}
            async with s.get(f"http://127.0.0.1:{server.port}/ws") as r:
                assert r.status == 503 and "too many clients: 32 connected already" in await r.text()
            server.publish('{"type":"vad","event":"end"}')
            for ws in accepted:  # every accepted client still served
                assert [m["type"] for m in await texts(ws, 2)] == ["hello", "vad"]
            for ws in accepted:
                await ws.close()
            await asyncio.sleep(0.3)
            ws = await s.ws_connect(ws_url(server))  # room again
            assert (await texts(ws, 1))[0]["type"] == "hello"

    run(go())
    assert server.stats["refused"] == 169


def test_a_stalled_client_loses_its_oldest_is_dropped_and_never_delays_the_others(server_factory) -> None:
    server = server_factory(client_queue=16, stall_timeout_s=1.5)
    stalled = stalled_client(server.port)
    payload = bytes(16_000)

    async def go() -> list[int]:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(ws_url(server), max_msg_size=0)
            await texts(ws, 1)
            got: list[int] = []
            for i in range(300):  # 4.8 MB over ~3 s
                server.publish(i.to_bytes(4, "little") + payload)
                await asyncio.sleep(0.01)
                while True:
                    try:
                        msg = await ws.receive(timeout=0.001)
                    except asyncio.TimeoutError:
                        break
                    got.append(int.from_bytes(msg.data[:4], "little"))
            while len(got) < 300:
                msg = await ws.receive(timeout=TIMEOUT_S)
                got.append(int.from_bytes(msg.data[:4], "little"))
            return got

    try:
        got = run(go())
    finally:
        stalled.close()
    assert got == list(range(300))  # the reading client lost nothing and got everything in order
    assert server.stats["dropped"] > 0  # the stalled one lost its oldest, counted
    assert server.stats["stalled_closed"] == 1  # and was disconnected after 1.5 s without a completed send


def test_drop_oldest_queue_counts_exactly() -> None:
    async def go() -> None:
        q = ClientQueue(3)
        for i in range(10):
            q.put(str(i))
        assert q.dropped == 7 and len(q) == 3
        assert [await q.get() for _ in range(3)] == ["7", "8", "9"]

    asyncio.run(go())
    with pytest.raises(ValueError):
        ClientQueue(0)


def test_close_delivers_what_was_queued_then_says_going_away(server_factory) -> None:
    server = server_factory()

    async def go() -> list[Any]:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(ws_url(server))
            await texts(ws, 1)
            for i in range(50):
                server.publish(json.dumps({"type": "transcript", "text": str(i), "final": True}))
            await asyncio.get_running_loop().run_in_executor(None, server.close)
            got: list[Any] = []
            while True:
                msg = await ws.receive(timeout=TIMEOUT_S)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return [*got, msg]
                got.append(json.loads(msg.data)["text"])

    *texts_got, last = run(go())
    assert texts_got == [str(i) for i in range(50)]
    assert last.type == aiohttp.WSMsgType.CLOSE and last.data == 1001


def test_a_busy_port_is_one_clear_error(server_factory) -> None:
    first = server_factory()
    with pytest.raises(ConfigError, match=f"cannot serve the web view on 127.0.0.1:{first.port}: .*choose another"):
        WebServer(WebSettings(port=first.port)).start()


def test_only_the_page_files_are_served_with_a_strict_policy(server_factory) -> None:
    server = server_factory()
    base = f"http://127.0.0.1:{server.port}"

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.get(base + "/") as r:
                assert r.status == 200 and "app.js" in await r.text()
                assert "default-src 'none'" in r.headers["Content-Security-Policy"]
                assert r.headers["Referrer-Policy"] == "no-referrer"
            async with s.get(base + "/app.js") as r:
                assert r.status == 200 and r.content_type == "text/javascript"
            for path in ("/nope.js", "/..%2f..%2fetc%2fpasswd", "/index.html", "/server.py"):
                async with s.get(base + path) as r:
                    assert r.status == 404, path
            async with s.post(base + "/", data=b"x" * 100_000) as r:
                assert r.status in (405, 413)

    run(go())
    t0 = time.monotonic()
    server.close()
    assert time.monotonic() - t0 < 5.0


def test_every_static_file_is_served_and_none_is_forgotten() -> None:
    from importlib import resources

    from picomic.web.page import FILES, load_static

    on_disk = {p.name for p in (resources.files("picomic.web") / "static").iterdir()}  # type: ignore[attr-defined]
    assert on_disk == set(FILES)
    assert all(f.body for f in load_static().values())
