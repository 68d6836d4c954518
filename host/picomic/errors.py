"""The error hierarchy: every failure a user can cause is a PicomicError with a message that says the fix."""

from __future__ import annotations


class PicomicError(Exception):
    """Base class. The CLI prints `picomic: <message>` and exits with `exit_code`.

    `settings` names the settings (dataclass field or argument names, e.g. ``rate_hz``) that fix the error; the
    message itself never names a command-line flag — only the CLI knows those (picomic.cli.common.FLAGS).
    """

    exit_code = 1

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings


class ConfigError(PicomicError):
    """Bad option, file or value given by the user."""

    exit_code = 2


class LinkError(PicomicError):
    """The serial link: no board, busy or vanished port, permission denied."""

    exit_code = 3


class FrameError(PicomicError):
    """The byte stream is not picomic frames (wrong protocol version, a REPL, random bytes)."""

    exit_code = 4


class DeviceError(PicomicError):
    """The board answered with an error or not at all."""

    exit_code = 5


class ModelError(PicomicError):
    """The speech model cannot be found or loaded."""

    exit_code = 6


class OutputError(PicomicError):
    """An output could not be written (a full disk, a file-size limit, an I/O error, a closed pipe); what was
    written before it stays readable. `errno` is the OS error number when there is one."""

    exit_code = 7

    def __init__(self, message: str, *, errno: int | None = None, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message, settings=settings)
        self.errno = errno
