"""The live web view (`picomic listen --web`): an aiohttp server in its own thread (`server`), the bus feed and
pipeline output that fill it (`live`), the WebSocket message format (`messages`, docs/web.md), who may connect
(`access`), one client's bounded queue (`clients`) and the static page (`page`, files in `static/`).

May import: picomic.errors, picomic.version, picomic.bus, picomic.outputs (level meter, JSON lines),
picomic.pipeline. Never picomic.link, picomic.sim or picomic.cli.
"""

DEFAULT_PORT = 8765
"""`picomic listen --web` without PORT."""
