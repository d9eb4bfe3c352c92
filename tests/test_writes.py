"""Where output goes, nothing is lost: devices, FIFOs, links, modes, signals, stale temps, errno.

Every test works in a temporary folder. The device test makes its own character device
node there (``mknod``, root only) for the null device: the real ``/dev`` is never a target,
and the last test checks that ``/dev/null`` is still a character device.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from fuzzing import assert_clean, run_main
from tradecalc.core import files
from tradecalc.core.errors import UsageError, WriteError
from tradecalc.core.files import STALE_SECONDS, open_output, sweep_stale, write_atomic

from conftest import FIXTURES, MINI, ROOT, run_child

GRAMMAR = FIXTURES / "hts_grammar.json"


def _temps(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def _schema_args(target: Path | str) -> list[str]:
    return ["schema", "-o", str(target)]


# ----------------------------------------------------------------------------- item 3


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, b"through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _temps(tmp_path) == []


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n", encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    run = run_main(_schema_args(link))
    assert run.code == 0, run
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_text(encoding="utf-8").startswith("{")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert _temps(tmp_path) == []


def test_a_hard_linked_file_is_refused_and_both_names_keep_their_content(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text("keep me\n", encoding="utf-8")
    second = tmp_path / "b.json"
    os.link(first, second)
    run = run_main(_schema_args(first))
    assert_clean(run)
    assert run.code == 2
    assert "has 2 hard links" in run.err
    assert os.stat(first).st_ino == os.stat(second).st_ino
    assert second.read_text(encoding="utf-8") == "keep me\n"
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o664, 0o444])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out.json"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(mode)
    write_atomic(target, b"new\n")
    assert (target.read_bytes(), stat.S_IMODE(target.stat().st_mode)) == (b"new\n", mode)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_honours_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    target = tmp_path / "new.json"
    old = os.umask(umask)
    try:
        write_atomic(target, b"x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == mode


def _null_device(folder: Path) -> Path:
    node = folder / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc}); needs root")
    return node


def test_a_device_is_written_directly_and_stays_a_device(tmp_path: Path) -> None:
    device = _null_device(tmp_path)
    source = tmp_path / "in.csv"
    source.write_text("hs,value\n9503.00.0073,100\nbad,1\n", encoding="utf-8")
    for args in (
        _schema_args(device),
        ["batch", str(source), "-o", str(device), "--errors", str(device), "--data", str(MINI)],
    ):
        run = run_child(args, cwd=ROOT)
        assert run.returncode in (0, 1), run.stderr
        assert "error" not in run.stderr.replace("row", ""), run.stderr
        assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert _temps(tmp_path) == []


def test_dev_stdout_is_the_inherited_stream_not_a_reopened_file(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n", encoding="utf-8")
    with log.open("a", encoding="utf-8") as append:
        done = subprocess.run(
            [sys.executable, "-m", "tradecalc", *_schema_args("/dev/stdout")],
            stdout=append,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    text = log.read_text(encoding="utf-8")
    assert text.startswith("earlier line\n{")  # appended, not truncated or replaced
    piped = run_child(_schema_args("/dev/stdout"), cwd=ROOT)
    assert piped.returncode == 0 and piped.stdout == text.removeprefix("earlier line\n")


def test_a_folder_as_output_is_one_clear_error(tmp_path: Path) -> None:
    run = run_main(_schema_args(tmp_path))
    assert_clean(run)
    assert run.code in (1, 2)


# ----------------------------------------------------------------------------- item 4

_SLOW_IMPORT = """
import sys, time
from tradecalc.hts import store as hts_store
real = hts_store._rows
def slow(parsed):
    yield from real(parsed)
    print("writing", flush=True)
    time.sleep(120)
hts_store._rows = slow
sys.argv = ["tradecalc", "hts", "import", sys.argv[1], "--revision", "t-1",
            "--effective", "2025-01-01"]
from tradecalc.cli.run import run
run()
"""


def _slow_import(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TRADECALC_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_IMPORT, str(GRAMMAR)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "writing\n", child.stderr
    return child


@pytest.mark.parametrize(("number", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_remove_the_temporary_file(
    tmp_path: Path, number: int, status: int
) -> None:
    child = _slow_import(tmp_path)
    assert len(_temps(tmp_path / "hts")) == 1  # the revision being written
    child.send_signal(number)
    _, err = child.communicate(timeout=60)
    name = signal.Signals(number).name
    assert (child.returncode, err) == (status, f"tradecalc: error: stopped by {name}\n")
    assert os.listdir(tmp_path / "hts") == [] or _temps(tmp_path / "hts") == []
    assert list((tmp_path / "hts").glob("*.sqlite")) == []


def test_a_killed_writers_temp_is_swept_on_the_next_write(tmp_path: Path) -> None:
    child = _slow_import(tmp_path)
    child.kill()
    child.communicate(timeout=60)
    folder = tmp_path / "hts"
    (left,) = _temps(folder)
    run = run_child(
        ["hts", "import", str(GRAMMAR), "--revision", "t-2", "--effective", "2025-02-01"],
        env={**os.environ, "TRADECALC_HOME": str(tmp_path)},
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert _temps(folder) == [left]  # recent: it might still be written by a live process
    old = time.time() - STALE_SECONDS - 60
    os.utime(folder / left, (old, old))
    run = run_child(
        ["hts", "import", str(GRAMMAR), "--revision", "t-2", "--effective", "2025-02-01"],
        env={**os.environ, "TRADECALC_HOME": str(tmp_path)},
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert _temps(folder) == []


def test_a_temp_still_locked_by_its_writer_is_not_swept(tmp_path: Path) -> None:
    live = tmp_path / ".out.csv.tc4242-0123abcd.tmp"
    stale = tmp_path / ".out.csv.tc4243-0123abce.tmp"
    other = tmp_path / ".someone-else.tmp"
    for path in (live, stale, other):
        path.write_text("x", encoding="utf-8")
        old = time.time() - STALE_SECONDS - 60
        os.utime(path, (old, old))
    with live.open("rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_the_file_and_its_folder_are_fsynced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "?")
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    from tradecalc.hts.store import import_revision

    import_revision(str(GRAMMAR), "t-3", date(2025, 1, 1), tmp_path)
    assert synced[-2:] == ["file", "dir"]


def test_a_replacing_output_is_flushed_to_disk_as_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output that will replace its target is fdatasynced every SYNC_AHEAD_BYTES while
    it is written (the final fsync then has little left), the content intact."""
    synced: list[int] = []
    monkeypatch.setattr(files, "SYNC_AHEAD_BYTES", 1000)
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(os.fstat(fd).st_size))
    target = tmp_path / "out.csv"
    pieces = [bytes([65 + i % 26]) * (300 + i) for i in range(40)]
    with open_output(target) as stream:
        for piece in pieces:
            stream.write(piece)
    assert target.read_bytes() == b"".join(pieces)
    sizes = list(itertools.accumulate(len(p) for p in pieces))
    expected, last = [], 0  # the size written each time 1000 bytes more have gone out
    for size in sizes:
        if size - last >= 1000:
            expected.append(size)
            last = size
    assert synced == expected and len(synced) >= 10


def test_what_a_replacing_output_flushed_leaves_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each flush, the bytes flushed since the one before (and only those) past the
    first CACHED_BYTES are advised out of the page cache, so ranges follow each other from
    there; the content is intact, and an error of the advice is not an error of the write."""
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(files, "SYNC_AHEAD_BYTES", 1000)
    monkeypatch.setattr(files, "CACHED_BYTES", 2500)
    monkeypatch.setattr(os, "fdatasync", lambda fd: calls.append(("sync", os.fstat(fd).st_size, 0)))

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        calls.append(("drop", offset, length))
        raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))  # advice refused: no matter

    monkeypatch.setattr(os, "posix_fadvise", advise)
    target = tmp_path / "out.csv"
    pieces = [bytes([97 + i % 26]) * (200 + 7 * i) for i in range(50)]
    with open_output(target) as stream:
        for piece in pieces:
            stream.write(piece)
    assert target.read_bytes() == b"".join(pieces)
    syncs = [size for kind, size, _ in calls if kind == "sync"]
    drops = [(offset, length) for kind, offset, length in calls if kind == "drop"]
    kept = [size for size in syncs if size <= 2500]  # flushed, left in the cache
    assert [kind for kind, _, _ in calls] == ["sync"] * len(kept) + ["sync", "drop"] * (
        len(syncs) - len(kept)
    )
    assert len(kept) >= 2 and len(syncs) - len(kept) >= 10
    starts = [2500, *syncs[len(kept) : -1]]
    expected = [(start, end - start) for start, end in zip(starts, syncs[len(kept) :], strict=True)]
    assert drops == expected


def test_a_device_output_is_never_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(files, "SYNC_AHEAD_BYTES", 1000)
    monkeypatch.setattr(os, "fdatasync", synced.append)
    with open_output(_null_device(tmp_path)) as stream:
        stream.write(b"x" * 5000)
    assert synced == []


def test_a_failed_sync_ahead_says_why_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous\n", encoding="utf-8")

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files, "SYNC_AHEAD_BYTES", 10)
    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(WriteError, match=f"cannot write {target}"), open_output(target) as out:
        out.write(b"x" * 20)
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _temps(tmp_path) == []


# ----------------------------------------------------------------------------- item 17


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_a_failed_write_says_why_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    target = tmp_path / "schema.json"
    target.write_text("previous\n", encoding="utf-8")

    def failing(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing)
    run = run_main(_schema_args(target))
    assert_clean(run)
    assert run.err.startswith(f"tradecalc: error: cannot write {target}: {words}")
    assert run.err.count("\n") == 1
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _temps(tmp_path) == []


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` of the test's own at ``folder`` (root, where ``mount`` works),
    unmounted after."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the injected ENOSPC test covers a full disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs of the test's own."""
    with _tmpfs(tmp_path / "disk", "256k") as folder:
        yield folder


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, bytes(4096)):
                pass
    finally:
        os.close(fd)


def test_a_really_full_disk_is_one_line_and_keeps_the_previous_files(small_disk: Path) -> None:
    """Item 17 on a real file system: the entry point, not an injected errno."""
    target = small_disk / "schema.json"
    target.write_text("previous\n", encoding="utf-8")
    home = small_disk / "home"
    env = {**os.environ, "TRADECALC_HOME": str(home)}
    _fill(small_disk)
    schema = run_child(_schema_args(target), env=env)
    imported = run_child(
        ["hts", "import", str(GRAMMAR), "--revision", "t-5", "--effective", "2025-01-01"], env=env
    )
    for done in (schema, imported):
        assert done.returncode == 1, done
        assert done.stderr.count("\n") == 1 and "the disk is full" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _temps(small_disk) == []
    assert not (home / "hts").exists() or _temps(home / "hts") == []


def test_a_read_only_mount_is_one_line(small_disk: Path) -> None:
    """Item 17 as root, whom folder permissions do not stop: a read-only file system does."""
    target = small_disk / "schema.json"
    target.write_text("previous\n", encoding="utf-8")
    remounted = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, check=False
    )
    if remounted.returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only here")
    done = run_child(_schema_args(target))
    assert (done.returncode, done.stderr) == (
        1,
        f"tradecalc: error: cannot write {target}: the file system is read-only\n",
    )
    assert target.read_text(encoding="utf-8") == "previous\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_permission_denied(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    run = run_main(_schema_args(folder / "x.json"))
    assert "permission denied" in run.err and run.code == 1


def test_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    run = run_main(_schema_args(blocker / "sub" / "x.json"))
    assert_clean(run)
    assert "a file is in the way where a folder is needed" in run.err


def test_a_long_name_is_written_and_a_too_long_one_is_refused(tmp_path: Path) -> None:
    fine = tmp_path / ("n" * 250 + ".json")  # within NAME_MAX: the temp name is shortened
    assert run_main(_schema_args(fine)).code == 0 and fine.is_file()
    wide = tmp_path / ("関" * 80 + ".json")  # 245 bytes in UTF-8
    assert run_main(_schema_args(wide)).code == 0 and wide.is_file()
    run = run_main(_schema_args(tmp_path / ("n" * 300 + ".json")))
    assert_clean(run)
    assert "the file name is too long" in run.err
    assert _temps(tmp_path) == []


def test_tradecalc_home_pointing_at_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("TRADECALC_HOME", str(home))
    args = ["hts", "import", str(GRAMMAR), "--revision", "t-4", "--effective", "2025-01-01"]
    run = run_main(args)
    assert_clean(run)
    assert run.err == f"tradecalc: error: TRADECALC_HOME={home} is a file, not a folder\n"
    assert home.read_text(encoding="utf-8") == "not a folder"


@pytest.mark.parametrize(
    "args",
    [("hts", "list"), ("duty", "1000", "--hs", "9503.00.0073", "--regime", "geneva")],
    ids=["hts list", "duty"],
)
def test_tradecalc_home_pointing_at_a_file_is_said_by_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """`hts list` said 'no HTS revision imported' and `duty` ran without the imports."""
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("TRADECALC_HOME", str(home))
    run = run_main(list(args))
    assert (run.code, run.err) == (
        2,
        f"tradecalc: error: TRADECALC_HOME={home} is a file, not a folder\n",
    )


def test_open_output_errors_are_typed(tmp_path: Path) -> None:
    first = tmp_path / "a"
    first.write_text("x", encoding="utf-8")
    os.link(first, tmp_path / "b")
    with pytest.raises(UsageError), open_output(first):
        pass
    with pytest.raises(WriteError), open_output(tmp_path / "a" / "b"):
        pass


def test_the_real_dev_null_is_still_a_device() -> None:
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert files.remove_live_temps() is None


def _batch_input(folder: Path, rows: int) -> Path:
    """Plain dated rows of one code, enough for the vectorised path's chunk writes."""
    shipments = folder / "shipments.csv"
    lines = ["hs,origin,dest,value,date"]
    lines += [f"9503.00.0073,CN,US,{1000 + i}.{i % 100:02d},2025-06-01" for i in range(rows)]
    shipments.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return shipments


def test_a_failed_chunk_write_in_its_thread_is_one_line_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectorised path writes whole chunks from a thread of its own: its error is the
    command's one line, and the previous results stay."""
    pytest.importorskip("polars", reason="the chunk writes are the vectorised path's")
    monkeypatch.setenv("TRADECALC_CACHE_DIR", str(tmp_path / "cache"))
    shipments = _batch_input(tmp_path, 10_000)  # a chunk bigger than the output's buffer
    target = tmp_path / "out.csv"
    target.write_text("previous\n", encoding="utf-8")
    real = files._Sink.write
    threads = []

    def failing(self: files._Sink, data: object, /) -> int:
        if len(memoryview(data)) > 100_000:  # type: ignore[arg-type]  # a chunk, not the header
            threads.append(threading.current_thread().name)
            raise files.write_error(self.output, OSError(errno.ENOSPC, "No space left"))
        return real(self, data)  # type: ignore[arg-type]

    monkeypatch.setattr(files._Sink, "write", failing)
    run = run_main(["batch", str(shipments), "-o", str(target)])
    assert_clean(run)
    assert run.code == 1
    assert run.err.startswith(f"tradecalc: error: cannot write {target}: the disk is full")
    assert run.err.count("\n") == 1
    assert threads == ["tradecalc-write"]
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _temps(tmp_path) == []


def test_a_batch_onto_a_really_full_disk_is_one_line(small_disk: Path, tmp_path: Path) -> None:
    """The same on a real file system, through the entry point."""
    pytest.importorskip("polars", reason="the chunk writes are the vectorised path's")
    shipments = _batch_input(tmp_path, 3_000)
    target = small_disk / "out.csv"
    target.write_text("previous\n", encoding="utf-8")
    env = {**os.environ, "TRADECALC_CACHE_DIR": str(tmp_path / "cache")}
    _fill(small_disk)
    done = run_child(["batch", str(shipments), "-o", str(target)], env=env)
    assert done.returncode == 1, done
    assert done.stderr.startswith(f"tradecalc: error: cannot write {target}: the disk is full")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert _temps(small_disk) == []


def test_a_batch_whose_disk_fills_after_some_parts_is_one_line(tmp_path: Path) -> None:
    """The results of one block are written part by part while later parts are made: a
    disk that fills up after the first parts is the command's one line, the parts after
    it are not written, and the previous results stay."""
    pytest.importorskip("polars", reason="the parts are the vectorised path's")
    from tradecalc.batch.join import _TEXT_ROWS

    shipments = _batch_input(tmp_path, 4 * _TEXT_ROWS)  # one block, four parts of ~3.5 MB
    env = {**os.environ, "TRADECALC_CACHE_DIR": str(tmp_path / "cache")}
    with _tmpfs(tmp_path / "disk", "6m") as disk:
        target = disk / "out.csv"
        target.write_text("previous\n", encoding="utf-8")
        done = run_child(["batch", str(shipments), "-o", str(target)], env=env)
        assert done.returncode == 1, done
        assert done.stderr.startswith(f"tradecalc: error: cannot write {target}: the disk is full")
        assert done.stderr.count("\n") == 1
        assert target.read_text(encoding="utf-8") == "previous\n"
        assert _temps(disk) == []
        free = run_child(["batch", str(shipments), "-o", str(tmp_path / "all.csv")], env=env)
        assert free.returncode == 0, free  # the same run where there is room
        assert (tmp_path / "all.csv").stat().st_size > 2 * 6 * 2**20
