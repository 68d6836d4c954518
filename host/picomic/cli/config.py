"""A TOML config file for a command: the same settings as its flags, written without `--` (`mic_port = 10600`
or `mic-port = 10600`); a flag given on the command line wins over the file. Unknown keys and values of the
wrong kind are a one-line ConfigError naming the file and the key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from picomic.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def load_toml(path: str) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not TOML: {exc}") from exc


def settable_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options a config file may set (by dest), help and the config option itself excluded."""
    skip = {"help", "config"}
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in skip}


def apply_config(args: argparse.Namespace, actions: dict[str, argparse.Action], path: str) -> None:
    """Set every option the file names and the command line left at its default."""
    for raw_key, value in load_toml(path).items():
        key = raw_key.replace("-", "_")
        action = actions.get(key)
        if action is None:
            known = ", ".join(sorted(actions))
            raise ConfigError(f"{path}: unknown setting {raw_key!r} (the settings are the flags without --: {known})")
        if getattr(args, key) != action.default:
            continue  # the command line wins
        setattr(args, key, _convert(path, raw_key, action, value))


def _convert(path: str, key: str, action: argparse.Action, value: Any) -> Any:
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {key} must be true or false, got {value!r}")
        return value
    many = isinstance(action, argparse._AppendAction)
    values = value if many and isinstance(value, list) else [value]
    if many != isinstance(value, list) or any(isinstance(v, (dict, list)) for v in values):
        raise ConfigError(f"{path}: {key} must be {'a list' if many else 'one value'}, got {value!r}")
    out = []
    for v in values:
        text = str(v).lower() if isinstance(v, bool) else str(v)
        try:
            converted = action.type(text) if callable(action.type) else text
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
        if action.choices is not None and converted not in action.choices:
            raise ConfigError(f"{path}: {key} must be one of {', '.join(map(str, action.choices))}, got {v!r}")
        out.append(converted)
    return out if many else out[0]
