"""`serve` with several boards: each board's mic and satellite ports count up from the base port, the ASR and
wake-word services run once (on board 0), zeroconf names carry the board id from the second board on."""

from __future__ import annotations

from picomic.cli.boards import BoardSpec
from picomic.cli.serve_boards import board_options
from picomic.wyoming.app import ServeOptions


def test_ports_count_up_and_shared_services_run_once() -> None:
    opts = ServeOptions(mic_port=10600, asr_port=10300, wake_port=10400, satellite_port=0, zeroconf_name="desk")
    first = board_options(opts, BoardSpec("kitchen", 0))
    third = board_options(opts, BoardSpec("hall", 2))
    assert (first.mic_port, first.asr_port, first.wake_port, first.satellite_port) == (10600, 10300, 10400, 0)
    assert first.zeroconf_name == "desk"
    assert (third.mic_port, third.asr_port, third.wake_port, third.satellite_port) == (10602, None, None, 0)
    assert third.zeroconf_name == "desk-hall"
    assert board_options(ServeOptions(), BoardSpec("a", 1)).mic_port is None  # a service that is off stays off
