"""The device-data schema: INFO, STATUS and END payloads parsed into typed, bounded fields (DECISIONS 33).

A board is untrusted input. A payload must be UTF-8 JSON holding an object, nested at most `MAX_DEPTH` deep
(checked before parsing), without NaN/Infinity; anything else is a `FrameError` (the router counts it as a bad
reply and reports it, it never crashes). Known keys (docs/protocol.md) keep their value when it has the
documented type and range; strings are cut to their limit. Every other key — and a known key whose value is
of the wrong type or out of range — goes under `extra`, bounded the same way (strings, list lengths, key
counts, depth). So the result never holds the keys an event sets itself (`type`, `wall`) at its top level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from picomic.errors import FrameError

__all__ = ["EXTRA_KEY", "MAX_DEPTH", "parse_device_json"]

EXTRA_KEY = "extra"
"""Where unknown (or ill-typed) fields of a device payload are kept."""
MAX_DEPTH = 6
"""Deepest nesting of arrays/objects accepted in a device payload (INFO's `limits` is 3)."""
MAX_STRING_CHARS = 256
MAX_LIST_ITEMS = 16
MAX_KEYS = 32
MAX_KEY_CHARS = 64
_INT_MAX = (1 << 31) - 1

Check = Callable[[object], object | None]
"""A field's check: the value to keep (possibly cut), or None when the value is refused (goes to `extra`)."""


def _string(limit: int) -> Check:
    def check(value: object) -> object | None:
        return value[:limit] if isinstance(value, str) else None

    return check


def _integer(low: int = 0, high: int = _INT_MAX) -> Check:
    def check(value: object) -> object | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return value if ok else None

    return check


def _real(low: float, high: float) -> Check:
    def check(value: object) -> object | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
        return value if ok else None

    return check


def _boolean(value: object) -> object | None:
    return value if isinstance(value, bool) else None


_COUNT = _integer()


def _int_map(value: object) -> object | None:
    """An object of small integers or [low, high] integer pairs (INFO `defaults`, `limits`)."""
    if not isinstance(value, dict) or len(value) > MAX_KEYS:
        return None
    out: dict[str, object] = {}
    for key, item in value.items():
        pair = isinstance(item, list) and len(item) <= MAX_LIST_ITEMS and all(_COUNT(v) is not None for v in item)
        if not pair and _COUNT(item) is None:
            return None
        out[key[:MAX_KEY_CHARS]] = item
    return out


def _modes(value: object) -> object | None:
    """INFO `limits.modes`: the START modes this chip sustains, [{"bits", "channels", "max_rate"}]."""
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        return None
    keys = ("bits", "channels", "max_rate")
    ok = all(isinstance(m, dict) and set(m) == set(keys) and all(_COUNT(m[k]) is not None for k in keys) for m in value)
    return value if ok else None


def _limits(value: object) -> object | None:
    """INFO `limits`: integer ranges (`_int_map`) plus the chip's `modes`."""
    if not isinstance(value, dict):
        return None
    rest = _int_map({k: v for k, v in value.items() if k != "modes"})
    if rest is None:
        return None
    if "modes" not in value:
        return rest
    modes = _modes(value["modes"])
    return None if modes is None else {**rest, "modes": modes}  # type: ignore[dict-item]


_COUNTER_KEYS = ("rate", "frame_ms", "gain", "bits", "channels", "samples", "ring_frames", "epochs", "frames",
                 "dropped", "overruns", "clipped", "ring_used", "ctl_dropped", "mem_free")  # fmt: skip
SCHEMAS: dict[str, dict[str, Check]] = {
    "INFO": {
        "fw": _string(32), "build": _string(32), "proto": _integer(0, 255), "board": _string(64), "mpy": _string(32),
        "uid": _string(64), "ticks_bits": _integer(1, 64), "mic": _string(64), "defaults": _int_map,
        "limits": _limits, "ring_frames": _integer(0, 65535), "streaming": _boolean,
        "chip": _string(16), "clk_hz": _COUNT, "pio_div_round": _string(16), "rate_true_hz": _real(0.0, 1e6),
    },
    "STATUS": {
        "cmd": _string(16), "ok": _boolean, "error": _string(MAX_STRING_CHARS), "streaming": _boolean,
        "noop": _boolean, "rate_true_hz": _real(0.0, 1e6), "ibuf": _COUNT, **dict.fromkeys(_COUNTER_KEYS, _COUNT),
    },
    "END": {"reason": _string(32), "frames": _COUNT, "dropped": _COUNT, "overruns": _COUNT},
}  # fmt: skip
"""Known keys of each payload (docs/protocol.md, "Device data")."""


def parse_device_json(kind: str, payload: bytes) -> dict[str, object]:
    """`payload` of an INFO/STATUS/END frame as a typed, bounded dict (FrameError when it is malformed)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(f"{kind} payload is not UTF-8 ({len(payload)} bytes)") from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise FrameError(f"{kind} payload is nested {depth} deep (the limit is {MAX_DEPTH})")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"{kind} payload is not JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise FrameError(f"{kind} payload is not a JSON object")
    return _apply(SCHEMAS.get(kind, {}), value)


def _apply(schema: dict[str, Check], value: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    extra: dict[str, object] = {}
    for key, item in value.items():
        check = schema.get(key)
        kept = check(item) if check is not None else None
        if kept is not None:
            out[key] = kept
        elif len(extra) < MAX_KEYS:
            extra[key[:MAX_KEY_CHARS]] = _bounded(item)
    if extra:
        out[EXTRA_KEY] = extra
    return out


def _bounded(value: object) -> object:
    """Any parsed JSON value with strings cut, lists and objects shortened, non-finite numbers nulled."""
    if isinstance(value, str):
        return value[:MAX_STRING_CHARS]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_bounded(v) for v in value[:MAX_LIST_ITEMS]]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_KEYS]
        return {k[:MAX_KEY_CHARS]: _bounded(v) for k, v in items}
    return value


def _depth(text: str) -> int:
    """Deepest nesting of `[`/`{` outside strings (a cheap pre-check: deep input never reaches json)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
