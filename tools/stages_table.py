#!/usr/bin/env python3
"""Print the stage benchmark's WER and VAD false starts per noise, SNR and stage as Markdown tables, from the JSON
that `picomic bench --only stages --json FILE` wrote (docs/performance.md quotes them).

    python tools/stages_table.py stages.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    doc = json.loads(Path(sys.argv[1]).read_text())
    stages = doc["details"]["stages"]
    table = stages["table"]
    names = list(dict.fromkeys(key.split("|")[0] for key in table))
    noises = list(dict.fromkeys(key.split("|")[1] for key in table))
    snrs = list(dict.fromkeys(int(key.split("|")[2]) for key in table))
    words = table[f"{names[0]}|{noises[0]}|{snrs[0]}"]["words"]
    print(f"speech set {stages['speech_set']}: {', '.join(stages['utterances'])} ({words} words per cell)\n")
    print("| noise | SNR | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for noise in noises:
        for snr in snrs:
            cells = []
            for name in names:
                row = table[f"{name}|{noise}|{snr}"]
                cells.append(f"{100 * row['errors'] / max(row['words'], 1):.1f} ({row['false_starts']})")
            print(f"| {noise} | {snr} dB | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
