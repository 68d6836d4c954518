"""Draw docs/wiring.svg (INMP441 → Pico) from a board profile, so the picture always matches the pins.

Usage: python tools/make_wiring_svg.py [board/pico.json] [docs/wiring.svg]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Pico header: GPn -> physical pin number (left side 1..20, right side 21..40)
_GP_TO_PIN = {
    0: 1,
    1: 2,
    2: 4,
    3: 5,
    4: 6,
    5: 7,
    6: 9,
    7: 10,
    8: 11,
    9: 12,
    10: 14,
    11: 15,
    12: 16,
    13: 17,
    14: 19,
    15: 20,
    16: 21,
    17: 22,
    18: 24,
    19: 25,
    20: 26,
    21: 27,
    22: 29,
    26: 31,
    27: 32,
    28: 34,
}


def wires(profile: dict[str, object]) -> list[tuple[str, str, str, str]]:
    """(mic pin, board label, colour, note) in drawing order."""
    sck, ws, sd = int(str(profile["sck"])), int(str(profile["ws"])), int(str(profile["sd"]))
    if ws != sck + 1:
        raise SystemExit(f"profile error: WS must be SCK+1 (got SCK=GP{sck}, WS=GP{ws})")
    return [
        ("VDD", "3V3(OUT) pin 36", "#d62728", "3.3 V"),
        ("GND", "GND pin 38", "#333333", ""),
        ("L/R", "GND pin 38", "#7f7f7f", "left slot"),
        ("SCK", f"GP{sck} pin {_GP_TO_PIN.get(sck, '?')}", "#1f77b4", "bit clock"),
        ("WS", f"GP{ws} pin {_GP_TO_PIN.get(ws, '?')}", "#2ca02c", "= SCK + 1"),
        ("SD", f"GP{sd} pin {_GP_TO_PIN.get(sd, '?')}", "#ff7f0e", "100 kΩ pull-down to GND"),
    ]


def svg(profile: dict[str, object]) -> str:
    rows = wires(profile)
    height = 70 + 40 * len(rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height}" font-family="sans-serif" '
        'font-size="14">',
        f'<rect x="20" y="40" width="120" height="{40 * len(rows)}" rx="8" fill="#eef" stroke="#446"/>',
        '<text x="80" y="30" text-anchor="middle" font-weight="bold">INMP441</text>',
        f'<rect x="420" y="40" width="200" height="{40 * len(rows)}" rx="8" fill="#efe" stroke="#464"/>',
        f'<text x="520" y="30" text-anchor="middle" font-weight="bold">Raspberry Pi {profile["board"]}</text>',
    ]
    for i, (mic, board, colour, note) in enumerate(rows):
        y = 60 + 40 * i
        out.append(f'<text x="35" y="{y + 5}">{mic}</text>')
        out.append(f'<line x1="140" y1="{y}" x2="420" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="430" y="{y + 5}">{board}</text>')
        if note:
            out.append(f'<text x="280" y="{y - 6}" text-anchor="middle" font-size="11" fill="#555">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    profile_path = Path(argv[1]) if len(argv) > 1 else ROOT / "board" / "pico.json"
    target = Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "wiring.svg"
    profile = json.loads(profile_path.read_text())
    target.write_text(svg(profile), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
