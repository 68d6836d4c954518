"""The web view's server: aiohttp in a thread of its own with its own event loop.

Threads: any thread calls `publish(message)`, which appends to a bounded inbox (drop-oldest, counted) and wakes
the loop; it never blocks on the network. The loop's pump moves each message, the same object, into every
client's own bounded queue (`clients.ClientQueue`), and each client's sender task writes its queue to its
socket. So a stalled tab fills only its own queue (its oldest messages go, counted) and, after
`stall_timeout_s` without a completed send, is disconnected.

Routes: `/` the page (token checked), `/<file>` its static files, `/ws` the WebSocket (Origin, token and the
client limit checked before the upgrade; incoming messages bounded by `max_message_bytes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from picomic.errors import ConfigError
from picomic.web import DEFAULT_PORT, messages
from picomic.web.access import host_problem, is_loopback, new_token, origin_problem, token_ok
from picomic.web.clients import Client, Message
from picomic.web.page import HEADERS, load_static

START_TIMEOUT_S = 10.0
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
SEND_BUFFER_BYTES = 64 * 1024
"""Kernel send buffer per client: bounds what a stalled peer holds in the kernel (Linux grows it to 4 MB),
so its backlog shows in its own queue, where it is dropped oldest-first and counted."""


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Where the web view listens and its bounds (DECISIONS 34)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """TCP port; 0 lets the OS choose a free one."""
    token: str | None = None
    """Required on the page and the WebSocket; None: none on loopback, a generated one on any other address."""
    max_clients: int = 32
    max_message_bytes: int = 4096
    """Largest message a client may send (text or binary); a larger one closes it with 1009."""
    client_queue: int = 256
    """Messages waiting per client (about 2.5 s of 10 ms audio frames) before its oldest are dropped."""
    inbox: int = 2048
    """Messages waiting for the server's loop before the oldest are dropped (the loop is starved)."""
    stall_timeout_s: float = 10.0
    """A client with messages waiting and no send completed for this long is disconnected."""
    flush_s: float = 1.0
    """At close: how long clients may take to receive what is queued for them."""
    replay_log: int = 100
    """Final transcripts (and other logged events) a newly connected client receives first."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{self.port} is not a TCP port (0..65535; 0 picks a free one)", settings=("web_port",))
        for name in ("max_clients", "max_message_bytes", "client_queue", "inbox"):
            if getattr(self, name) < 1:
                raise ConfigError(f"web {name} must be >= 1, got {getattr(self, name)}", settings=(name,))
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("a web token needs at least 8 characters", settings=("web_token",))

    def resolve_token(self) -> str | None:
        """The token to require: the one given, none on loopback, else a new random one."""
        return self.token if self.token is not None or is_loopback(self.host) else new_token()


class WebServer:
    """The page and the WebSocket for one run; `start()`, `publish()` from any thread, `close()`."""

    def __init__(self, settings: WebSettings | None = None) -> None:
        self.settings = settings or WebSettings()
        self.token = self.settings.resolve_token()
        self.session = uuid.uuid4().hex[:12]
        self.port = self.settings.port
        self._static = load_static()
        self._clients: set[Client] = set()
        self._slots = 0  # clients accepted or being upgraded (the limit counts both)
        self._inbox: deque[tuple[Message, str | None]] = deque()
        self._inbox_lock = threading.Lock()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="picomic-web", daemon=True)
        self._last: OrderedDict[str, Message] = OrderedDict()
        self._log: deque[Message] = deque(maxlen=self.settings.replay_log)
        self.stats = {
            "clients": 0,
            "connections": 0,
            "refused": 0,
            "bad_messages": 0,
            "dropped": 0,
            "inbox_dropped": 0,
            "stalled_closed": 0,
        }
        """Counters (`dropped`: messages lost over all client queues); read from any thread."""

    # ------------------------------------------------------------------------------------------ any thread

    @property
    def url(self) -> str:
        """The page's address, with the token when one is required (a wildcard address shows this machine's
        name, which other machines can open; 0.0.0.0 itself is no address to browse to)."""
        host = self.settings.host
        host = socket.gethostname() if host in WILDCARD_HOSTS else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> None:
        """Bind and serve in the server thread; ConfigError when the address cannot be bound."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ConfigError(f"the web view did not start within {START_TIMEOUT_S:g} s")
        if self._error is not None:
            raise self._error

    def publish(self, message: Message, keep: str | None = None) -> None:
        """Send `message` (the same object) to every client; never blocks. `keep`: `log` keeps it for clients
        that connect later (the last `replay_log` of them), any other string keeps it as the latest value
        under that key (e.g. `device:<board>`)."""
        with self._inbox_lock:
            if len(self._inbox) >= self.settings.inbox:
                self._inbox.popleft()
                self.stats["inbox_dropped"] += 1
            self._inbox.append((message, keep))
            if self._scheduled or self._loop is None or self._wake is None:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to deliver to
            self._loop.call_soon_threadsafe(self._wake.set)

    def close(self) -> None:
        """Let clients receive what is queued (bounded by `flush_s`), close them (1001) and stop."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.settings.flush_s + 5.0)

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ loop thread

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        except BaseException as exc:  # reported by start(), never lost in a thread
            self._error = self._error or exc
        finally:
            self._ready.set()
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        runner = web.AppRunner(self._app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self._error = ConfigError(
                f"cannot serve the web view on {self.settings.host}:{self.settings.port}: {exc.strerror or exc}; "
                "choose another port (or 0 for a free one)",
                settings=("web_port", "web_host"),
            )
            return
        self.port = int(runner.addresses[0][1])
        with self._inbox_lock:
            self._loop = loop
        self._ready.set()
        pump = loop.create_task(self._pump())
        await self._stop.wait()
        await self._flush()
        pump.cancel()
        await self._close_clients()
        await runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_message_bytes)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/{name}", self._file)
        return app

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._inbox_lock:
                items = list(self._inbox)
                self._inbox.clear()
                self._scheduled = False
            for message, keep in items:
                self._remember(message, keep)
                self._deliver(message)
                if keep is not None and keep.startswith("status:"):
                    self._send_stats()

    def _deliver(self, message: Message) -> None:
        now = time.monotonic()
        for client in list(self._clients):
            before = client.queue.dropped
            client.queue.put(message)
            self.stats["dropped"] += client.queue.dropped - before
            if client.stalled_for(now) > self.settings.stall_timeout_s:
                self.stats["stalled_closed"] += 1
                self._clients.discard(client)
                client.abort()

    def _send_stats(self) -> None:
        """After each status snapshot, every client gets the server's counters and its own drops."""
        for client in self._clients:
            client.queue.put(messages.web_text(self.stats, client.queue.dropped))

    def _remember(self, message: Message, keep: str | None) -> None:
        if keep is None:
            return
        if keep == "log":
            self._log.append(message)
            return
        self._last[keep] = message
        self._last.move_to_end(keep)
        while len(self._last) > 64:
            self._last.popitem(last=False)

    async def _flush(self) -> None:
        """Wait (bounded) until every client queue is empty, so the last events reach the pages."""
        deadline = time.monotonic() + self.settings.flush_s
        await asyncio.sleep(0)  # let the pump hand over what publish() queued last
        while time.monotonic() < deadline and any(len(c.queue) or c.sending for c in self._clients):
            await asyncio.sleep(0.02)

    async def _close_clients(self) -> None:
        for client in list(self._clients):
            await client.stop()
            try:
                await asyncio.wait_for(client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping"), 1.0)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                client.abort()

    # ------------------------------------------------------------------------------------------ handlers

    def _page_response(self, name: str) -> web.Response:
        f = self._static[name]
        return web.Response(body=f.body, headers={**HEADERS, "Content-Type": f.content_type})

    async def _index(self, request: web.Request) -> web.StreamResponse:
        problem = host_problem(request.headers.get("Host"), self.token is not None)
        if problem is not None:
            return self._refuse(403, problem)
        if not token_ok(self.token, request.query.get("token")):
            return self._refuse(403, "a token is required: open the URL picomic printed at start (…/?token=…)")
        return self._page_response("index.html")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self._static or name == "index.html":
            return self._refuse(404, f"no such file: {name[:80]}")
        return self._page_response(name)

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.stats["refused"] += 1
        return web.Response(status=status, text=f"picomic web: {reason}\n", headers=HEADERS)

    def _admission_problem(self, request: web.Request) -> tuple[int, str] | None:
        host = request.headers.get("Host")
        problem = host_problem(host, self.token is not None) or origin_problem(request.headers.get("Origin"), host)
        if problem is not None:
            return 403, problem
        if not token_ok(self.token, request.query.get("token")):
            return 403, "a token is required on the WebSocket: /ws?token=… (the one in the URL printed at start)"
        if self._slots >= self.settings.max_clients:
            return 503, f"too many clients: {self.settings.max_clients} connected already"
        return None

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        problem = self._admission_problem(request)
        if problem is not None:
            return self._refuse(*problem)
        self._slots += 1
        try:
            return await self._serve_client(request)
        finally:
            self._slots -= 1

    async def _serve_client(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self.settings.max_message_bytes, heartbeat=20.0, timeout=2.0)
        _bound_send_buffer(request)
        await ws.prepare(request)
        client = Client(ws, self.settings.client_queue, request.remote or "?", request.transport)
        client.queue.put(messages.hello_text(self.session, self._limits()))
        for message in (*self._last.values(), *self._log):
            client.queue.put(message)
        self._clients.add(client)
        self.stats["connections"] += 1
        self.stats["clients"] = len(self._clients)
        client.start()
        try:
            async for msg in ws:
                if not await self._on_client_message(client, msg):
                    break
        finally:
            self._clients.discard(client)
            self.stats["clients"] = len(self._clients)
            await client.stop()
        return ws

    def _limits(self) -> dict[str, int]:
        s = self.settings
        return {"max_clients": s.max_clients, "max_message_bytes": s.max_message_bytes, "client_queue": s.client_queue}

    async def _on_client_message(self, client: Client, msg: WSMessage) -> bool:
        """Handle one incoming message; False when the connection is to be closed."""
        if msg.type == WSMsgType.TEXT:
            try:
                obj = messages.parse_client_text(msg.data)
            except messages.BadMessage as exc:
                return await self._close_bad(client, WSCloseCode.INVALID_TEXT, str(exc))
            if obj["type"] == "ping":
                ping_id = obj.get("id")
                client.queue.put(messages.pong_text(ping_id if isinstance(ping_id, int | str) else None))
            else:
                self.stats["bad_messages"] += 1
                client.queue.put(messages.refusal_text(f"unknown message type {obj['type'][:40]!r}; send ping"))
            return True
        if msg.type == WSMsgType.BINARY:
            return await self._close_bad(client, WSCloseCode.UNSUPPORTED_DATA, "binary messages are not accepted")
        if msg.type == WSMsgType.ERROR:  # e.g. larger than max_message_bytes: aiohttp closed it with 1009
            self.stats["bad_messages"] += 1
        return False

    async def _close_bad(self, client: Client, code: WSCloseCode, reason: str) -> bool:
        self.stats["bad_messages"] += 1
        await client.stop()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await client.ws.close(code=code, message=reason.encode()[:120])
        return False


def _bound_send_buffer(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
