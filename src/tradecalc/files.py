"""Reading and writing files safely: bounded UTF-8 reads and atomic replacement.

Every file tradecalc writes (caches, batch output, imported HTS tables) goes through
:func:`replacing`, so a crash or an interrupt leaves the previous file intact.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NoReturn

from tradecalc.errors import DataError, UsageError

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Input files larger than this are refused before parsing."""


def read_text(path: Path) -> str:
    """Read a UTF-8 text file within the size bound, checked while reading.

    The bound holds for devices, pipes and growing files too (whose size ``stat`` cannot
    tell): at most ``MAX_FILE_BYTES + 1`` bytes are ever read. A file that cannot be opened
    is the caller's mistake (:class:`UsageError`, exit 2); one that is too big or not UTF-8
    is bad data (:class:`DataError`, exit 1).
    """
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory")
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
                raise DataError(_too_big(path, info.st_size))
            raw = read_bounded(handle, MAX_FILE_BYTES)
            if raw is None:
                raise DataError(
                    f"{path}: more than {MAX_FILE_BYTES:,} bytes, above the "
                    f"{MAX_FILE_BYTES:,}-byte limit"
                )
    except DataError:
        raise
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _too_big(path: Path, size: int) -> str:
    return f"{path}: file is {size:,} bytes, above the {MAX_FILE_BYTES:,}-byte limit"


def read_bounded(stream: IO[bytes], limit: int) -> bytes | None:
    """All of ``stream``, or None as soon as it holds more than ``limit`` bytes."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        part = stream.read(min(_READ_CHUNK << 4, limit + 1 - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return None if total > limit else b"".join(parts)


# ----------------------------------------------------------------------------- streams

MAX_LINE_CHARS = 1 << 20
"""Longest line of a streamed input (a batch file, ``duty --stdin``): 1 MiB characters."""

_READ_CHUNK = 1 << 16
_LINE_END = re.compile(r"(\r\n|\r|\n)")


def open_stream(name: str) -> tuple[IO[bytes], int]:
    """Open ``name`` (``-`` for stdin) for one pass of reading, with its size if known.

    The size is that of a regular file, else 0 (a pipe, a device, a terminal).
    """
    if name == "-":
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(name, "rb")  # noqa: SIM115  (the caller closes it)
        except IsADirectoryError:
            raise UsageError(f"cannot read {name}: is a directory, not a file") from None
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return stream, 0
    if stat.S_ISDIR(info.st_mode):
        stream.close()
        raise UsageError(f"cannot read {name}: is a directory, not a file")
    return stream, info.st_size if stat.S_ISREG(info.st_mode) else 0


class LineReader:
    """The lines of a byte stream, decoded, read exactly once and bounded in length.

    A byte-order mark is sniffed from the stream's own first bytes (so pipes, FIFOs and
    ``/dev/stdin`` lose nothing): UTF-16 with a BOM, else strict UTF-8 (a UTF-8 BOM is
    dropped). Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` and keep their ending, like a
    file opened with ``newline=""``. Bytes are read as they arrive, so a line is yielded
    as soon as it is complete. ``consumed`` counts the bytes read so far and ``lines`` the
    lines yielded; ``on_read`` (if given) is called after every read.
    """

    def __init__(
        self,
        stream: IO[bytes],
        name: str,
        max_line: int = MAX_LINE_CHARS,
        on_read: Callable[[LineReader], object] | None = None,
    ) -> None:
        self.stream = stream
        self.name = name
        self.max_line = max_line
        self.on_read = on_read
        self.consumed = 0
        self.lines = 0
        self._label = "UTF-8"

    def _read(self) -> bytes:
        read1 = getattr(self.stream, "read1", None)
        chunk: bytes = read1(_READ_CHUNK) if read1 is not None else self.stream.read(_READ_CHUNK)
        self.consumed += len(chunk)
        if self.on_read is not None:
            self.on_read(self)
        return chunk

    def __iter__(self) -> Iterator[str]:
        head, final = b"", False
        while len(head) < 3 and not final:
            chunk = self._read()
            head += chunk
            final = not chunk
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            decoder = codecs.getincrementaldecoder("utf-16")("strict")
            self._label = "UTF-16"
        else:
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            if head.startswith(codecs.BOM_UTF8):
                head = head[3:]
        fed = self.consumed - len(head)  # bytes before ``head`` in the stream
        rest = ""
        chunk = head
        while True:
            try:
                pending = len(decoder.getstate()[0])
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                before = chunk[: max(0, exc.start - pending)]
                raise self._not_text(fed - pending + exc.start, before.count(b"\n")) from None
            fed += len(chunk)
            buffer = rest + text if rest else text
            parts = _LINE_END.split(buffer)  # text, ending, text, ending, ..., text
            rest = parts.pop()
            lines = [text + end for text, end in zip(parts[::2], parts[1::2], strict=True)]
            if not final and not rest and lines and lines[-1].endswith("\r"):
                rest = lines.pop()  # the stream may go on with the "\n" of a "\r\n"
            if lines and max(map(len, lines)) > self.max_line:
                self._too_long(next(i for i, s in enumerate(lines) if len(s) > self.max_line))
            if len(rest) > self.max_line:
                self._too_long(len(lines))
            for line in lines:
                self.lines += 1
                yield line
            if final:
                break
            chunk = self._read()
            final = not chunk
        if rest:
            self.lines += 1
            yield rest

    def _too_long(self, offset: int) -> NoReturn:
        raise DataError(
            f"{self.name}: line {self.lines + offset + 1} is longer than "
            f"{self.max_line:,} characters (the line-length limit)"
        )

    def _not_text(self, byte: int, newlines: int) -> DataError:
        line = self.lines + newlines + 1
        return DataError(
            f"{self.name}: not {self._label} text at line {line} (byte {byte}): save it as "
            "UTF-8 (in Excel: CSV UTF-8) or UTF-16 with a byte-order mark"
        )


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it when the block succeeds.

    On any failure (including KeyboardInterrupt) the temporary file is removed and
    ``target`` keeps its previous content.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (never half-written)."""
    with replacing(target) as tmp, tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_text(target: Path) -> Iterator[IO[str]]:
    """A UTF-8 text stream that replaces ``target`` atomically when the block succeeds."""
    with (
        replacing(target) as tmp,
        tmp.open("w", encoding="utf-8", newline="", buffering=1 << 20) as stream,
    ):
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
