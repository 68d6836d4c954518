"""Audio file writers that survive a crash, and OS errors turned into one-line OutputErrors.

A SIGKILL (or a full disk) can come at any moment, so each file is readable as it grows:

- `WavWriter`: our own 44-byte PCM WAV header, the samples written straight to the file descriptor (no user-space
  buffer), and the RIFF and data sizes rewritten in place (`pwrite`) after every `HEADER_EVERY_S` of audio. The
  header never claims more than is on disk, so after a kill soundfile *and* Python's `wave` read all but at most
  the last `HEADER_EVERY_S` of audio. (libsndfile's writer leaves the sizes at 0 until close: libsndfile copes,
  `wave` and many players do not.)
- `FlacWriter`: libsndfile's FLAC encoder (it writes each frame as soon as it is encoded), plus the STREAMINFO's
  total-samples field patched in place after every `HEADER_EVERY_S` of audio with the samples of the frames
  found complete on disk (the last frame header in the file's tail gives its frame number). A killed FLAC would
  otherwise say "0 samples, length unknown", which soundfile cannot read; a FLAC cut short by a full disk is
  patched the same way at close. Until it is readable the file is `PATH.part` (see `FlacWriter`).
"""

from __future__ import annotations

import errno as errno_codes
import os
import resource
import struct
from typing import Any

import numpy as np
import soundfile as sf

from picomic.errors import OutputError

HEADER_EVERY_S = 1.0
"""Audio seconds between in-place header updates: at most this much is lost to a SIGKILL."""
WAV_HEADER_BYTES = 44
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - 36
_FLAC_TAIL_BYTES = 1 << 16  # a complete frame header is always within this many bytes of the end


def output_error(name: str, exc: BaseException) -> OutputError:
    """`cannot write NAME: <OS reason>` (the reason of an OSError, else the exception's text)."""
    code = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None) or (os.strerror(code) if code else None) or str(exc) or type(exc).__name__
    return OutputError(f"cannot write {name}: {reason}", errno=code)


def as_int16(samples: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int16]]:
    """int16 as is; int32 words holding 24-bit samples (the 24-bit mode) keep their top 16 bits."""
    if samples.dtype == np.int32:
        return (samples >> 8).astype(np.int16)
    return samples.astype(np.int16, copy=False)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte is written (a regular file near a limit takes a short write first)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class WavWriter:
    """16-bit PCM WAV whose header is kept current (see the module docstring)."""

    def __init__(self, path: str, rate_hz: int, channels: int = 1) -> None:
        self.path = path
        self._block_align = 2 * channels
        self._data_bytes = 0  # bytes the write calls put on disk
        self._header_every = max(1, round(HEADER_EVERY_S * rate_hz)) * self._block_align
        self._next_header = self._header_every
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        byte_rate = rate_hz * self._block_align
        fmt = struct.pack("<HHIIHH", 1, channels, rate_hz, byte_rate, self._block_align, 16)
        header = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + bytes(4)
        write_all(self._fd, header)

    def write(self, samples: np.ndarray[Any, Any]) -> None:
        assert self._fd is not None, "write after close"
        data = as_int16(samples).astype("<i2", copy=False).tobytes()
        if self._data_bytes + len(data) > WAV_MAX_DATA_BYTES:
            raise OutputError(f"cannot write {self.path}: a WAV file holds at most 4 GiB; record to .flac")
        try:
            write_all(self._fd, data)
        finally:
            self._data_bytes = os.lseek(self._fd, 0, os.SEEK_CUR) - WAV_HEADER_BYTES
        if self._data_bytes >= self._next_header:
            self._update_header()
            self._next_header = self._data_bytes + self._header_every

    def flush(self) -> None:
        if self._fd is not None:
            self._update_header()

    def _update_header(self) -> None:
        assert self._fd is not None
        size = self._data_bytes // self._block_align * self._block_align
        os.pwrite(self._fd, struct.pack("<I", 36 + size), 4)
        os.pwrite(self._fd, struct.pack("<I", size), 40)

    def close(self) -> None:
        """Final sizes; an error here (the disk that filled up) is raised after the descriptor is closed."""
        if self._fd is None:
            return
        try:
            self._update_header()
        finally:
            os.close(self._fd)
            self._fd = None


class FlacWriter:
    """libsndfile's FLAC writer with the STREAMINFO sample count kept current (see the module docstring).

    libsndfile writes nothing until the first samples and a FLAC is only readable once a frame is known to
    be complete, so the file grows as `PATH.part` and is renamed to PATH (the open file goes on) as soon as it
    is readable — after two frames (~0.5 s at 16 kHz) — or at close. A kill before that leaves no PATH (an
    earlier file there stays until it is replaced) and a `PATH.part`; a recording of no samples leaves no file.
    """

    def __init__(self, path: str, rate_hz: int, channels: int = 1) -> None:
        self.path = path
        self._part: str | None = path + ".part"
        self._file: sf.SoundFile | None = sf.SoundFile(
            self._part, "w", samplerate=rate_hz, channels=channels, format="FLAC", subtype="PCM_16"
        )
        self._samples = 0
        self._patch_every = max(1, round(HEADER_EVERY_S * rate_hz))
        self._next_patch = 0
        self._failed = False

    @property
    def _current(self) -> str:
        return self._part or self.path

    def write(self, samples: np.ndarray[Any, Any]) -> None:
        assert self._file is not None, "write after close"
        try:
            self._file.write(as_int16(samples))
        except (AssertionError, RuntimeError) as exc:  # soundfile: a short write (libsndfile's write failed)
            self._failed = True
            raise OutputError(f"cannot write {self.path}: {_disk_reason(self._current, exc)}") from exc
        except OSError:
            self._failed = True
            raise
        self._samples += len(samples)
        if self._samples >= self._next_patch:
            self._patch()

    def _patch(self) -> None:
        total = patch_flac_length(self._current)
        if total and self._part is not None:  # readable now: in place of PATH
            os.replace(self._part, self.path)
            self._part = None
        self._next_patch = self._samples + (self._patch_every if self._part is None else 1024)

    def flush(self) -> None:
        if self._file is not None:
            self._patch()

    def close(self) -> None:
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.close()  # finishes the stream: the real STREAMINFO (when the disk lets it)
        except (OSError, RuntimeError):
            self._failed = True
        if self._failed:
            patch_flac_length(self._current)
        part, self._part = self._part, None
        if part is not None:
            if os.path.getsize(part) == 0:  # not one sample came: libsndfile wrote nothing, and there is no
                os.unlink(part)  # FLAC of 0 samples it reads, so no file (the run's error line says why)
            else:
                os.replace(part, self.path)


def _disk_reason(path: str, exc: BaseException) -> str:
    """Why libsndfile's write came up short (it says only "System error."): the file-size limit (EFBIG) or a
    full file system (ENOSPC) when either is what we see, else libsndfile's message."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and os.path.getsize(path) >= soft:
            return os.strerror(errno_codes.EFBIG)
        if os.statvfs(os.path.dirname(os.path.abspath(path))).f_bavail == 0:
            return os.strerror(errno_codes.ENOSPC)
    except OSError:
        pass
    return str(exc) or "the write came up short (a full disk or a file-size limit?)"


def patch_flac_length(path: str) -> int | None:
    """Set STREAMINFO's total samples to the samples of the frames complete on disk; that count, or None when
    the file has no frame yet (or is not a fixed-blocksize FLAC). Never raises for a damaged file."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        head = os.pread(fd, 42, 0)
        if len(head) < 42 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
            return None
        block = int.from_bytes(head[8:10], "big")
        if block != int.from_bytes(head[10:12], "big"):
            return None  # variable blocksize: frame numbers are not sample counts
        size = os.fstat(fd).st_size
        start = max(0, size - _FLAC_TAIL_BYTES)
        frame = _last_frame_number(os.pread(fd, size - start, start))
        if frame is None:
            return None
        total = frame * block
        word = int.from_bytes(head[21:26], "big") & ~((1 << 36) - 1) | total
        os.pwrite(fd, word.to_bytes(5, "big"), 21)
        return total
    except OSError:
        return None
    finally:
        os.close(fd)


def _last_frame_number(tail: bytes) -> int | None:
    """The frame number of the last valid fixed-blocksize frame header in `tail` (sync 0xFFF8, CRC-8 checked)."""
    pos = len(tail)
    while (pos := tail.rfind(b"\xff\xf8", 0, pos)) >= 0:
        number = _frame_header(tail, pos)
        if number is not None:
            return number
    return None


def _frame_header(buf: bytes, pos: int) -> int | None:
    """The frame number if a valid frame header starts at `pos`, else None."""
    if pos + 5 > len(buf) or buf[pos + 3] & 0x01 or buf[pos + 2] >> 4 == 0 or buf[pos + 2] & 0x0F == 0x0F:
        return None
    lead = buf[pos + 4]
    extra = 0 if lead < 0x80 else 8 - (~lead & 0xFF).bit_length() - 1  # UTF-8 style: count of leading ones - 1
    if lead & 0xC0 == 0x80 or extra > 6:
        return None
    end = pos + 5 + extra
    number = lead & ((1 << (6 - extra)) - 1) if extra else lead
    for b in buf[pos + 5 : end]:
        if b & 0xC0 != 0x80:
            return None
        number = number << 6 | b & 0x3F
    bs_code, rate_code = buf[pos + 2] >> 4, buf[pos + 2] & 0x0F
    end += (bs_code == 6) + 2 * (bs_code == 7) + (rate_code == 12) + 2 * (rate_code in (13, 14))
    if end >= len(buf) or _crc8(buf[pos:end]) != buf[end]:
        return None
    return number


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return crc
