"""The live web view's flags (`--web [PORT]`, `--web-host`) and its start, shared by listen (one board or
several) and serve; aiohttp loads only when `--web` is given."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from picomic.cli.common import tcp_port
from picomic.web import DEFAULT_PORT as DEFAULT_WEB_PORT

if TYPE_CHECKING:
    from picomic.pipeline import Pipeline
    from picomic.web.live import WebView


def add_web_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--web", nargs="?", type=tcp_port, const=DEFAULT_WEB_PORT, metavar="PORT",
                       help=f"live web view: waveform, spectrogram, levels, text [{DEFAULT_WEB_PORT}]")  # fmt: skip
    group.add_argument("--web-host", default="127.0.0.1",
                       help="address for --web [127.0.0.1]; any other address requires the printed token")  # fmt: skip


def start_web(args: argparse.Namespace, boards: Sequence[tuple[Pipeline, str]]) -> WebView | None:
    """With `--web`: one page for every (pipeline, board_id) given, its URL on stderr; else None."""
    if args.web is None:
        return None
    from picomic.web.live import WebView
    from picomic.web.server import WebSettings

    view = WebView(WebSettings(host=args.web_host, port=args.web))
    for pipeline, board_id in boards:
        view.attach(pipeline, board_id)
    print(f"picomic: web view on {view.url}", file=sys.stderr, flush=True)
    return view


@contextlib.contextmanager
def web_view(args: argparse.Namespace, boards: Sequence[tuple[Pipeline, str]]) -> Iterator[WebView | None]:
    """`start_web` as a context: the server closes when the run ends."""
    view = start_web(args, boards)
    try:
        yield view
    finally:
        if view is not None:
            view.close()
