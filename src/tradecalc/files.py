"""Reading and writing files safely: bounded UTF-8 reads and atomic replacement.

Every regular file tradecalc writes (caches, batch output, imported HTS tables) is built
under a temporary name in the target's folder, fsynced and renamed over the target, so a
crash or an interrupt leaves the previous file intact. What is not a plain file is never
renamed over: a device, a FIFO or ``/dev/stdout`` is written directly; a symbolic link is
followed and its target replaced; a file with several hard links is refused (see
:func:`open_output`).

Temporary files are named ``.NAME.tcPID-XXXXXXXX.tmp`` and locked (``flock``) while they
are written. They are removed when the write fails, on SIGTERM/SIGHUP and at exit; one
left behind by a killed process (unlocked and older than :data:`STALE_SECONDS`) is swept
the next time tradecalc writes into that folder.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import io
import os
import re
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, BinaryIO

from tradecalc.errors import DataError, Terminated, UsageError, WriteError

if TYPE_CHECKING:
    from typing_extensions import Buffer

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


class _Sink(io.FileIO):
    """A file whose write errors name the output and say why (see :func:`write_error`)."""

    def __init__(self, fd: int, name: Path) -> None:
        super().__init__(fd, "wb", closefd=True)
        self.output = name

    def write(self, data: Buffer, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            raise write_error(self.output, exc) from None


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
        with _Sink(fd, target) as sink:
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
