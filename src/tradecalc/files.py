"""Reading and writing files safely: bounded UTF-8 reads and atomic replacement.

Every file tradecalc writes (caches, batch output, imported HTS tables) goes through
:func:`replacing`, so a crash or an interrupt leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tradecalc.errors import DataError, UsageError

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Input files larger than this are refused before parsing."""


def read_text(path: Path) -> str:
    """Read a UTF-8 text file within the size bound.

    A file that cannot be opened is the caller's mistake (:class:`UsageError`, exit 2);
    one that is too big or not UTF-8 is bad data (:class:`DataError`, exit 1).
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(
                f"{path}: file is {size:,} bytes, above the {MAX_FILE_BYTES:,}-byte limit"
            )
        raw = path.read_bytes()
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
