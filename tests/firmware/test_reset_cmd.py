"""RESET reaches machine.reset through the seam (answered first), and is refused where there is none."""

from __future__ import annotations

from fwhelpers import APP_HARNESS, STATUS, parse_frames, run_mp
from picomic.deploy.build import FirmwareBuild


def test_reset_command_calls_the_seam_after_answering(fw: FirmwareBuild) -> None:
    out = run_mp(
        fw,
        APP_HARNESS
        + """
calls = []
a, inp, out, clock, made = make_app()
a.reset = lambda: calls.append(out.kept)
inp.feed(b"RESET\\n")
idle(a, 3)
b, inp2, out2, clock2, made2 = make_app()
inp2.feed(b"RESET\\n")
idle(b, 3)
print(len(calls), calls[0] > 0 if calls else None)
dump(out2)
""",
    )
    first, hexdump = out.strip().splitlines()[-2:]
    assert first == "1 True"  # called once, after the reply was written
    reply = parse_frames(bytes.fromhex(hexdump))[0]
    assert reply.type == STATUS and reply.json()["ok"] is False and "not available" in reply.json()["error"]
