"""Reading and writing files safely: bounded UTF-8 reads and atomic replacement.

Every regular file tradecalc writes (caches, batch output, imported HTS tables) is built
under a temporary name in the target's folder, fsynced and renamed over the target, so a
crash or an interrupt leaves the previous file intact (a large output is flushed to disk as
it is written, so the last fsync does not wait for all of it at the end, and what is flushed
beyond its first :data:`CACHED_BYTES` leaves the page cache). What is not a
plain file is never renamed over: a device, a FIFO or ``/dev/stdout`` is written directly;
a symbolic link is followed and its target replaced; a file with several hard links is
refused (see :func:`open_output`).

Temporary files are named ``.NAME.tcPID-XXXXXXXX.tmp`` and locked (``flock``) while they
are written. They are removed when the write fails, on SIGTERM/SIGHUP and at exit; one
left behind by a killed process (unlocked and older than :data:`STALE_SECONDS`) is swept
the next time tradecalc writes into that folder.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import csv
import errno
import fcntl
import io
import os
import re
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import IO, TYPE_CHECKING, BinaryIO, NoReturn

from tradecalc.core.errors import DataError, Terminated, UsageError, WriteError

if TYPE_CHECKING:
    from typing_extensions import Buffer

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


def inside_folder(folder: Path, name: str) -> Path:
    """``name`` inside ``folder``: a relative path with forward slashes, no ``..``, no
    symbolic link leading out of ``folder``, and a regular file if it exists (ValueError
    otherwise)."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
        raise ValueError(f"file {name[:80]!r} must be a relative path inside the schedule's folder")
    path = folder.joinpath(*parts)
    root = os.path.realpath(folder)
    if not os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(f"file {name[:80]!r} leads out of the schedule's folder (a symbolic link)")
    with contextlib.suppress(OSError):  # a missing file is reported when it is read
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
            raise ValueError(f"file {name[:80]!r} is not a regular file")
    return path


# ----------------------------------------------------------------------------- writing

STALE_SECONDS = 300
"""A temporary file this old whose writer holds no lock on it is left over: swept."""

_TEMP_NAME = re.compile(r"\..*\.tc\d+-[0-9a-f]{8}\.tmp", re.DOTALL)
_FD_ALIAS = re.compile(r"/dev/(stdout|stderr|fd/(\d+))|/proc/self/fd/(\d+)")
_STD_FDS = {"stdout": 1, "stderr": 2}
_live: dict[Path, tuple[int, int]] = {}
"""Temporary files being written -> (descriptor holding their lock, pid of the writer)."""


def write_error(path: Path | str, exc: OSError) -> WriteError:
    """A clear message for a failed write, from the errno (the previous file is unchanged)."""
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    if _TEMP_NAME.fullmatch(os.path.basename(where)):
        where = os.path.dirname(where)  # the folder refused the temporary file
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return WriteError(f"cannot write {path}: the disk is full (or over quota)")
    if code == errno.EROFS:
        return WriteError(f"cannot write {path}: the file system is read-only")
    if code in (errno.EACCES, errno.EPERM):
        return WriteError(f"cannot write {path}: permission denied on {where}")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return WriteError(f"cannot write {path}: a file is in the way where a folder is needed")
    if code == errno.ENAMETOOLONG:
        return WriteError(f"cannot write {path}: the file name is too long")
    if code == errno.ELOOP:
        return WriteError(f"cannot write {path}: symbolic links form a loop")
    if code == errno.EISDIR:
        return WriteError(f"cannot write {path}: it is a folder")
    return WriteError(f"cannot write {path}: {exc.strerror or exc}")


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents; a failure is a :class:`WriteError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc) from None


def _new_temp(folder: Path, name: str) -> tuple[int, Path]:
    """Create and lock a fresh temporary file beside ``name`` (mode 0666 less the umask)."""
    short = os.fsencode(name)[:120].decode("utf-8", "ignore")  # room for the suffix in 255 bytes
    tmp = folder / f".{short}.tc{os.getpid()}-{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    _live[tmp] = (fd, os.getpid())
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, tmp


def _drop_temp(tmp: Path, *, remove: bool) -> None:
    fd, _ = _live.pop(tmp, (None, 0))
    if remove:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def remove_live_temps() -> None:
    """Remove every temporary file this process is still writing (signals, exit).

    A forked worker inherits the list but never removes its parent's files."""
    for tmp, (_, pid) in list(_live.items()):
        if pid == os.getpid():
            _drop_temp(tmp, remove=True)


def sweep_stale(folder: Path) -> None:
    """Remove temporary files a killed tradecalc left in ``folder`` (unlocked and old)."""
    try:
        names = [n for n in os.listdir(folder) if _TEMP_NAME.fullmatch(n)]
    except OSError:
        return
    now = time.time()
    for name in names:
        path = folder / name
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_SECONDS:
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while being written
                path.unlink()
            finally:
                os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a directory
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
BLOCK_BYTES = 4 << 20
"""About how many bytes :meth:`LineReader.simple_blocks` gives in its first block."""
LATER_BLOCK_BYTES = 16 << 20
"""About how many bytes it gives in each later block, with at most about
:data:`BLOCK_LINES` lines: the work on a block of rows has a cost of its own, whatever
its size, and the first block is small so that the work on the next starts early."""
BLOCK_LINES = 256_000
"""About how many lines a block holds at most (what a block's rows take in memory while
they are charged is about proportional to their number)."""


def count_lines(text: str) -> int:
    """The lines of a non-empty ``\\n``-separated text (the last may lack its end)."""
    return text.count("\n") + (not text.endswith("\n"))


def _simple_text(piece: bytes, max_line: int) -> str | None:
    """``piece`` as text when its lines are simple (see :meth:`LineReader.simple_blocks`)."""
    if b'"' in piece or b"\x00" in piece:
        return None
    crlf = 0
    if b"\r" in piece:  # counted only then: a count reads every byte, a search stops early
        crlf = piece.count(b"\r\n")
        if piece.count(b"\r") != crlf:
            return None
    # every window of half the limit holds a line end: no line is longer than the limit
    window = max_line // 2
    for start in range(0, len(piece) - window, window):
        if piece.find(b"\n", start, start + window) < 0:
            return None
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n") if crlf else text


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
        block: int = BLOCK_BYTES,
        later_block: int | None = None,
        block_lines: int = BLOCK_LINES,
    ) -> None:
        """``block``: about how many bytes :meth:`simple_blocks` reads ahead for its first
        block; ``later_block`` (default: the same), for the others; ``block_lines``: at
        most about how many lines a block holds."""
        self.stream = stream
        self.block = block
        self.later_block = block if later_block is None else later_block
        self.block_lines = block_lines
        self.name = name
        self.max_line = max_line
        self.on_read = on_read
        self.consumed = 0
        self.lines = 0
        self._label = "UTF-8"
        self._pending = b""
        """Bytes read by :meth:`simple_blocks` and not taken: the lines read next."""
        self._sniff = True  # the byte-order mark is still to be looked for
        self._eof = False

    @property
    def waits(self) -> bool:
        """Whether a read may wait for a writer: the stream is a pipe, a FIFO, a socket or a
        terminal, not a regular file (nor bytes in memory)."""
        try:
            mode = os.fstat(self.stream.fileno()).st_mode
        except (OSError, ValueError, io.UnsupportedOperation):
            return False  # no descriptor: in memory
        return not (stat.S_ISREG(mode) or stat.S_ISBLK(mode))

    def _read(self) -> bytes:
        if self._eof:
            return b""
        read1 = getattr(self.stream, "read1", None)
        chunk: bytes = read1(_READ_CHUNK) if read1 is not None else self.stream.read(_READ_CHUNK)
        self.consumed += len(chunk)
        self._eof = not chunk
        if self.on_read is not None:
            self.on_read(self)
        return chunk

    def simple_blocks(self) -> Iterator[tuple[str, int]]:
        """The leading lines of the stream as blocks of text, each with how many lines it
        holds, while they are *simple*.

        A block is about :attr:`block` bytes of whole lines, then :attr:`later_block`, and
        at most about :attr:`block_lines` lines (from a pipe, what has come so far; the
        last line of the stream may lack its ``\\n``), UTF-8 and simple: no ``"``,
        no NUL, no ``\\r`` but in ``\\r\\n`` (given back as ``\\n``), no line longer than
        the line-length limit. On such lines
        :mod:`csv` splits every line at its commas, so a caller may too. The blocks stop at
        the first run of lines that is not simple; iterating the reader then goes on with
        those lines, with the same line numbers and messages as if it had read them all."""
        buffer = self._pending
        self._pending = b""
        while True:
            parts, size, ends = [buffer], len(buffer), buffer.count(b"\n")
            while not self._eof and size <= self.block + self.max_line:
                if ends and (size >= self.block or ends >= self.block_lines):
                    break
                chunk = self._read()
                parts.append(chunk)
                size += len(chunk)
                ends += chunk.count(b"\n")
                if ends and len(chunk) < _READ_CHUNK:
                    break  # a pipe with nothing more for now: what has come goes on
            buffer = b"".join(parts)
            if self._sniff:
                if buffer.startswith((b"\xff\xfe", b"\xfe\xff")):
                    break  # UTF-16: the lines, decoded
                if buffer.startswith(codecs.BOM_UTF8):
                    buffer = buffer[3:]
                self._sniff = False
            end = len(buffer) if self._eof else buffer.rfind(b"\n") + 1
            piece = buffer[:end]
            text = _simple_text(piece, self.max_line) if piece else None
            if text is None:
                break
            buffer = buffer[end:]
            lines = count_lines(text)
            self.lines += lines
            self.block = self.later_block
            yield text, lines
        self._pending = buffer

    def __iter__(self) -> Iterator[str]:
        head = self._pending
        self._pending = b""
        final = self._eof
        while len(head) < 3 and not final:
            chunk = self._read()
            head += chunk
            final = not chunk
        if self._sniff and head.startswith((b"\xff\xfe", b"\xfe\xff")):
            decoder = codecs.getincrementaldecoder("utf-16")("strict")
            self._label = "UTF-16"
        else:
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            if self._sniff and head.startswith(codecs.BOM_UTF8):
                head = head[3:]
        self._sniff = False
        fed = self.consumed - len(head)  # bytes before ``head`` in the stream
        rest = ""
        chunk = head
        while True:
            try:
                pending = len(decoder.getstate()[0])
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                before = chunk[: max(0, exc.start - pending)]
                ends = before.count(b"\n")
                if self._label == "UTF-8":  # line ends as the lines are split: \r too
                    ends = len(_LINE_END.findall(rest + before.decode("utf-8", "ignore")))
                raise self._not_text(fed - pending + exc.start, ends) from None
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


MAX_COLUMNS = 1000
"""Most cells a CSV record may have (a batch input, an entries file)."""


class CsvRecords:
    """The records of a CSV text, streamed and bounded: the one CSV reader of batch and refund.

    ``lines`` are text lines with their endings (a :class:`LineReader`, which already bounds
    a line and refuses bytes that are not UTF-8 or UTF-16 text, or any iterable of text).
    Every cell stays text. Reading stops with a :class:`DataError` that names ``what`` and
    the line for a record longer than ``max_record`` characters (its lines together: an
    unclosed quote swallowing the file), a header (the first record) with more than
    ``max_columns`` cells, a record the csv module refuses, or text that is not UTF-8 (a
    file opened as text). A later record with the wrong number of cells is the caller's to
    refuse as one bad row (its size is bounded by ``max_record``).
    :attr:`line` is the line the last record yielded started on."""

    def __init__(
        self,
        lines: Iterable[str],
        what: str,
        max_record: int = MAX_LINE_CHARS,
        max_columns: int = MAX_COLUMNS,
        first_line: int = 1,
    ) -> None:
        """``first_line``: the number of the first of ``lines`` (above 1: the header was read
        before, so no record has the header's bound)."""
        self.lines = lines
        self.what = what
        self.max_record = max_record
        self.max_columns = max_columns if first_line == 1 else max_record
        self.first_line = first_line
        self.line = 0

    def __iter__(self) -> Iterator[list[str]]:
        taken = 0  # characters of the record being read
        before = self.first_line - 1  # lines before the first of ``self.lines``
        start = before + 1  # the first line of the record being read
        limit = self.max_record
        what = self.what

        def counted() -> Iterator[str]:
            nonlocal taken
            seen = 0
            try:
                for line in self.lines:
                    seen += 1
                    taken += len(line)
                    if taken > limit:
                        raise DataError(
                            f"{what}: CSV record at line {start} is longer than {limit:,} "
                            "characters (the record-length limit; an unclosed quote?)"
                        )
                    yield line
            except UnicodeDecodeError as exc:
                # a text file decodes a chunk at a time: its lines before the bad byte
                decoded = exc.object[: exc.start]
                newlines = decoded.count(b"\n") if isinstance(decoded, bytes) else 0
                raise DataError(
                    f"{what}: not UTF-8 text at line {before + seen + 1 + newlines}: save it as "
                    "UTF-8 (in Excel: CSV UTF-8)"
                ) from None

        reader = csv.reader(counted())
        widest = self.max_columns  # the header's bound; after it, the record length's
        try:
            for record in reader:
                if len(record) > widest:
                    raise DataError(too_many_cells(what, start, len(record), widest))
                if record:
                    widest = limit
                self.line = start
                taken, start = 0, before + reader.line_num + 1
                yield record
        except csv.Error as exc:
            hint = "; an unclosed quote?" if "field limit" in str(exc) else ""
            raise DataError(
                f"{what}: malformed CSV at line {before + reader.line_num} ({exc}{hint})"
            ) from None


def too_many_cells(what: str, line: int, cells: int, limit: int) -> str:
    """The message for a header (a record) with more cells than ``limit``."""
    return f"{what}: line {line} has {cells:,} cells, above the {limit:,}-column limit"


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, fsynced and renamed onto it when the block succeeds.

    For files in folders tradecalc owns (caches, imported HTS revisions): whatever is at
    ``target`` is replaced; a regular file keeps its permissions. On any failure
    (including KeyboardInterrupt and SIGTERM) the temporary file is removed and ``target``
    keeps its previous content. Errors creating, syncing or renaming are :class:`WriteError`.
    """
    folder = target.parent
    make_folder(folder)
    sweep_stale(folder)
    try:
        fd, tmp = _new_temp(folder, target.name)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        yield tmp
        try:
            _keep_mode(fd, target)  # after writing: a read-only target's mode would block it
            os.fsync(fd)  # the same file as ``tmp``, whoever wrote it
            os.replace(tmp, target)
        except OSError as exc:
            raise write_error(target, exc) from None
        _drop_temp(tmp, remove=False)
        _fsync_folder(folder)
    except BaseException:
        _drop_temp(tmp, remove=True)
        raise


def _keep_mode(fd: int, target: Path) -> None:
    """Give a new temporary file the permissions (and, as root, owner) of ``target``."""
    try:
        info = os.stat(target, follow_symlinks=False)
    except OSError:
        return  # a new file: mode 0666 less the umask, from os.open
    if stat.S_ISREG(info.st_mode):
        if os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.fchown(fd, info.st_uid, info.st_gid)
        os.fchmod(fd, stat.S_IMODE(info.st_mode))


@contextlib.contextmanager
def holding_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed; it stays)."""
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise write_error(lock_file, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` over ``target`` in a folder tradecalc owns, atomically."""
    with replacing(target) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise write_error(target, exc) from None


SYNC_AHEAD_BYTES = 16 << 20
"""A file that is fsynced before it replaces its target is flushed to disk every this many
bytes as it is written (by the thread that writes it), so the final fsync has little left;
what is flushed beyond :data:`CACHED_BYTES` then leaves the page cache (:meth:`_Sink.write`)."""
CACHED_BYTES = 64 << 20
"""The first bytes of such a file, left in the page cache: a file of a usual size is read
back from memory by whatever reads it next."""


class _Sink(io.FileIO):
    """A file whose write errors name the output and say why (see :func:`write_error`);
    with ``sync_ahead``, flushed to disk every :data:`SYNC_AHEAD_BYTES` written."""

    def __init__(self, fd: int, name: Path, sync_ahead: bool = False) -> None:
        super().__init__(fd, "wb", closefd=True)
        self.output = name
        self._unsynced = 0 if sync_ahead else None
        self._synced = 0
        """Bytes flushed to disk so far (those past :data:`CACHED_BYTES` dropped from the
        page cache)."""

    def write(self, data: Buffer, /) -> int:
        """Write ``data``; every :data:`SYNC_AHEAD_BYTES`, flush what was written and, past
        the first :data:`CACHED_BYTES`, drop it from the page cache: an output of
        gigabytes does not push the rest of memory out of the cache, and the pages it
        freed are reused for the next, where fresh pages cost the kernel far more to fill
        (3.3 GB took 5.8-9.8 CPU-seconds to write and flush on the benchmark machine,
        1.3-1.7 with the drop)."""
        try:
            written = super().write(data)
            if self._unsynced is not None and written:
                self._unsynced += written
                if self._unsynced >= SYNC_AHEAD_BYTES:
                    os.fdatasync(self.fileno())
                    self._drop_synced(self._unsynced)
                    self._unsynced = 0
        except OSError as exc:
            raise write_error(self.output, exc) from None
        return written

    def _drop_synced(self, size: int) -> None:
        """Drop the ``size`` bytes just flushed, those past :data:`CACHED_BYTES`, from the
        page cache (advice: ignored where the system does not take it)."""
        start, end = max(self._synced, CACHED_BYTES), self._synced + size
        if end > start and hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.posix_fadvise(self.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
        self._synced = end


@contextlib.contextmanager
def open_output(target: Path) -> Iterator[BinaryIO]:
    """A binary stream for a user-named output file (``-o``, ``--errors``).

    - ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``: the inherited descriptor, written
      directly (reopening would truncate what the shell appends to).
    - A device, a FIFO or a socket: opened and written directly, never replaced.
    - A symbolic link: followed; its final target is handled by these rules, so the
      link stays a link and the file it names is replaced atomically.
    - A regular file with several hard links: refused. Replacing it would split the
      links; rewriting it in place would leave it half-written if the run stops.
    - A regular file: written beside it and renamed over it, keeping its permissions.
    - A new file: created with mode 0666 less the umask.
    """
    if m := _FD_ALIAS.fullmatch(str(target)):
        number = _STD_FDS.get(m.group(1) or "") or int(m.group(2) or m.group(3))
        for stream in (sys.stdout, sys.stderr):  # what was printed before comes first
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        try:
            fd = os.dup(number)
        except OSError as exc:
            raise write_error(target, exc) from None
        with _Sink(fd, target) as sink:
            yield sink
        return
    place = Path(os.path.realpath(target)) if os.path.islink(target) else target
    try:
        info: os.stat_result | None = os.stat(place)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise write_error(target, exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise write_error(target, IsADirectoryError(errno.EISDIR, "is a folder"))
    if info is not None and not stat.S_ISREG(info.st_mode):
        try:
            fd = os.open(place, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise write_error(target, exc) from None
        with _Sink(fd, target) as sink:
            yield sink
        return
    if info is not None and info.st_nlink > 1:
        raise UsageError(
            f"{target} has {info.st_nlink} hard links: tradecalc will not replace it "
            "(that would split the links) nor rewrite it in place; write to a new file"
        )
    with replacing(place) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CLOEXEC)
        with _Sink(fd, target, sync_ahead=True) as sink:
            yield sink


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to a user-named output ``target`` (see :func:`open_output`)."""
    with open_output(target) as stream:
        stream.write(data)


@contextlib.contextmanager
def atomic_text(target: Path) -> Iterator[IO[str]]:
    """A UTF-8 text stream onto a user-named output (see :func:`open_output`)."""
    with (
        open_output(target) as raw,
        io.BufferedWriter(raw, buffer_size=1 << 20) as buffered,
        io.TextIOWrapper(buffered, encoding="utf-8", newline="", write_through=False) as stream,
    ):
        yield stream
        stream.flush()


# ----------------------------------------------------------------------------- signals

_handler_pid = 0


def install_signal_cleanup() -> None:
    """On SIGTERM/SIGHUP remove live temporary files and raise :class:`Terminated`."""
    global _handler_pid
    _handler_pid = os.getpid()
    with contextlib.suppress(ValueError):  # not the main thread: signals are not ours
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, _on_signal)


def _on_signal(number: int, _frame: FrameType | None) -> None:
    if os.getpid() != _handler_pid:  # a forked worker: die as if no handler were set
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return
    for other in (signal.SIGTERM, signal.SIGHUP):  # one clean stop, not two
        signal.signal(other, signal.SIG_IGN)
    remove_live_temps()
    raise Terminated(number)


atexit.register(remove_live_temps)
