# Command lines from the host (docs/protocol.md "Commands"): parsed, never evaluated. Runs only when a line
# is complete, outside the audio hot path, so it may allocate.

from micropython import const
from .proto import MAX_PAYLOAD
from .capture import frame_bytes

LINE_MAX = const(128)  # bytes per line, terminator excluded

COMMANDS = ("INFO", "PING", "STATS", "START", "STOP", "RESET")
START_KEYS = ("rate", "frame_ms", "gain", "bits", "channels")
LIMITS = {"rate": (8000, 48000), "frame_ms": (5, 64), "gain": (0, 8), "bits": (16, 24), "channels": (1, 2)}
_CHOICES = ("bits", "channels")  # keys whose two LIMITS are the only values allowed


def parse(line):
    # line: the bytes of one line, terminator and \r removed. Returns (cmd, args, error): cmd is the
    # upper-case command name (None if unreadable), args a dict of key -> int, error None or a message.
    for c in line:
        if c < 0x20 or c > 0x7E:
            return None, None, "line is not printable ASCII"
    words = line.decode().split()
    if not words:
        return None, None, "empty command"
    cmd = words[0].upper()
    if cmd not in COMMANDS:
        return words[0][:16], None, "unknown command " + words[0][:16]
    args = {}
    for word in words[1:]:
        if cmd != "START":
            return cmd, None, cmd + " takes no arguments"
        key, eq, value = word.partition("=")
        if not eq or key not in START_KEYS:
            return cmd, None, "unknown key " + key[:16] + " (keys: " + " ".join(START_KEYS) + ")"
        if key in args:
            return cmd, None, "duplicate key " + key
        if not value.isdigit() or len(value) > 6:
            return cmd, None, "bad value for " + key + ": decimal integer expected"
        args[key] = int(value)
    return cmd, args, None


def parse_start(args, defaults):
    # START settings: defaults overridden by args, each checked. Returns (cfg dict, None) or (None, error).
    cfg = {}
    for key in START_KEYS:
        v = args.get(key, defaults[key])
        lo, hi = LIMITS[key]
        if key in _CHOICES:
            if v != lo and v != hi:
                return None, "%s must be %d or %d" % (key, lo, hi)
        elif v < lo or v > hi:
            return None, "%s must be %d..%d" % (key, lo, hi)
        cfg[key] = v
    if cfg["rate"] * cfg["frame_ms"] % 1000:
        return None, "rate * frame_ms must be a multiple of 1000 (whole samples per frame)"
    spf = cfg["rate"] * cfg["frame_ms"] // 1000
    if spf * frame_bytes(cfg["bits"], cfg["channels"]) > MAX_PAYLOAD:
        return None, "frame too large"
    return cfg, None
