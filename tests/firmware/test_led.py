"""The LED tells the user the state: slow blink idle, steady on while streaming, fast blink after an error."""

from __future__ import annotations

import json

from fwhelpers import APP_HARNESS, run_mp
from picomic.deploy.build import FirmwareBuild

SCRIPT = """
class Led:
    def __init__(self):
        self.log = []
    def value(self, v):
        self.log.append(v)

def toggles_over(a, clock, ms, step_ms=10):
    # count LED changes while idling `ms` of (fake) time
    led = a.led
    n0 = len(led.log)
    for _ in range(ms // step_ms):
        clock.advance(step_ms * 1000)
        a.idle_step()
    return len(led.log) - n0

a, inp, out, clock, made = make_app()
a.led = Led()
idle_toggles = toggles_over(a, clock, 2000)
inp.feed(b"START rate=16000\\n")
idle(a, 3)
on_while_streaming = a.streaming and a.led.log[-1] == 1
for _ in range(20):
    a.stream_step()
steady = a.led.log[-1] == 1
inp.feed(b"STOP\\n")
for _ in range(5):
    if a.streaming:
        a.stream_step()
idle(a, 3)
off_after_stop = a.led.log[-1] == 0 and not a.streaming
inp.feed(b"START rate=99\\n")
idle(a, 3)
error_toggles = toggles_over(a, clock, 2000)
toggles_over(a, clock, 1500)  # the error has now been shown for 3.5 s
later_toggles = toggles_over(a, clock, 2000)
print(json.dumps([idle_toggles, on_while_streaming, steady, off_after_stop, error_toggles, later_toggles]))
"""


def test_led_shows_idle_streaming_and_error(fw: FirmwareBuild) -> None:
    idle, on_streaming, steady, off_after_stop, error, later = json.loads(
        run_mp(fw, APP_HARNESS + "import json\n" + SCRIPT).strip().splitlines()[-1]
    )
    assert 3 <= idle <= 5  # 500 ms half-period: a 1 Hz blink over 2 s
    assert on_streaming and steady and off_after_stop
    assert error >= 15  # 100 ms half-period after a refused START
    assert 3 <= later <= 5  # back to the slow blink once the error has been shown for 3 s
