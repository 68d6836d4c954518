"""Every event class round-trips through JSON with the documented schema (classes discovered, not listed)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing

import pytest
from picomic.bus import events

SAMPLE_VALUES: dict[str, object] = {
    "event": "start",
    "t_s": 1.25,
    "sample": 20000,
    "text": "hello world",
    "final": True,
    "start_s": 0.5,
    "end_s": 1.75,
    "latency_ms": 420.0,
    "info": {"fw": "0.1.0", "proto": 1, "uid": "e66038b7"},
    "reason": "stop",
    "lost_frames": 3,
    "gap_s": 0.03,
    "epoch": 2,
    "file_s": 12.5,
    "new_segment": True,
    "message": "board unplugged",
    "fields": {"frames": 10, "listeners": {}},
    "name": "okay_nabu",
    "state": "unreachable",
    "uri": "tcp://127.0.0.1:10300",
    "turn": 3,
    "pieces": 2,
    "words": ({"word": "hello", "start_s": 0.5, "end_s": 0.9, "p": 0.98},),
    "stable_chars": 5,
}

REQUIRED_KEYS = {
    "transcript": {"text", "final", "start_s", "end_s", "latency_ms"},
    "revision": {"text", "turn", "pieces", "start_s", "end_s", "latency_ms"},
    "vad": {"event", "t_s"},
    "device": {"fw", "proto", "uid"},
    "error": {"message"},
    "detection": {"name", "t_s"},
    "remote_asr": {"state", "uri", "message"},
    "discontinuity": {"reason", "lost_frames", "gap_s", "epoch", "file_s", "new_segment"},
    "end": {"reason"},
    "status": {"frames", "listeners"},
}


def _discovered() -> list[type]:
    return [
        obj
        for _, obj in inspect.getmembers(events, inspect.isclass)
        if dataclasses.is_dataclass(obj) and obj.__module__ == events.__name__
    ]


def test_discovery_matches_registry() -> None:
    assert set(_discovered()) == set(events.EVENT_TYPES)
    assert set(typing.get_args(events.Event)) == set(events.EVENT_TYPES)


@pytest.mark.parametrize("cls", _discovered(), ids=lambda c: c.__name__)
def test_round_trip(cls: type) -> None:
    kwargs = {f.name: SAMPLE_VALUES[f.name] for f in dataclasses.fields(cls)}
    event = cls(**kwargs)
    body = json.loads(json.dumps(event.to_json()))
    assert body["type"] == cls.type
    assert REQUIRED_KEYS[cls.type] <= set(body)
    for name, value in kwargs.items():
        if isinstance(value, dict):
            for k, v in value.items():
                assert body[k] == v
        else:
            assert body[name] == json.loads(json.dumps(value))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, dataclasses.fields(cls)[0].name, None)
    assert not hasattr(event, "__dict__")  # slots


def test_types_are_unique() -> None:
    types = [cls.type for cls in events.EVENT_TYPES]
    assert len(types) == len(set(types))
