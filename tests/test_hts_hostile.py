"""`hts import` and imported revisions under hostile input: one clear line, bounded, no loss.

Bombs run in a child process under an address-space limit (``RLIMIT_AS``) and a CPU limit,
so an unbounded read or a quadratic scan fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fuzzing import assert_clean, run_main
from tradecalc.hts.parse import MAX_CONTAINERS, MAX_FIELD_CHARS, clean_text
from tradecalc.hts.store import MAX_BYTES, hts_dir, revisions

from conftest import FIXTURES, MINI, ROOT

GRAMMAR = FIXTURES / "hts_grammar.json"
NAMED = ["--revision", "t-1", "--effective", "2025-01-01"]
LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
sys.argv = ["tradecalc", *sys.argv[1:]]
from tradecalc.cli.run import run
run()
"""
MEMORY = 1536 * 2**20
"""Address space for a child: Python, SQLite and a 64 MiB export, with room to spare."""


def _limited(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LIMITED.replace("MEMORY", str(MEMORY)), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TRADECALC_HOME": str(home)},
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def _one_error(run: subprocess.CompletedProcess[str], words: str) -> None:
    assert run.returncode in (1, 2), run
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("tradecalc: error: "), run.stderr
    assert words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr


def _gzip_rows(path: Path, row: bytes, size: int) -> Path:
    """A gzip of ``[row,row,...]`` decompressing to about ``size`` bytes, built in pieces."""
    chunk = row + b","
    block = chunk * (1 << 16)
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(b"[")
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(row + b"]")
    return path


# ----------------------------------------------------------------------------- item 9


def test_a_small_gzip_of_tiny_rows_is_refused_within_bounded_memory(tmp_path: Path) -> None:
    bomb = _gzip_rows(tmp_path / "bomb.json.gz", b'{"htsno":""}', MAX_BYTES - 2**20)
    assert bomb.stat().st_size < 2**20  # the 0.5 MB kind of file
    run = _limited(["hts", "import", str(bomb), *NAMED], tmp_path)
    _one_error(run, f"more than {MAX_CONTAINERS:,} objects and arrays")
    assert revisions(tmp_path / "hts") == []


def test_a_gzip_that_inflates_past_the_bound_stops_at_the_bound(tmp_path: Path) -> None:
    bomb = _gzip_rows(
        tmp_path / "big.json.gz", b'{"htsno":"0101","description":"x"}', 2 * MAX_BYTES
    )
    run = _limited(["hts", "import", str(bomb), *NAMED], tmp_path)
    _one_error(run, f"decompresses to more than {MAX_BYTES // 2**20} MiB")


def test_markup_stripping_is_linear() -> None:
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_CPU, (60, 60))\n"
        "from tradecalc.hts.parse import clean_text\n"
        "text = clean_text('<' * 1_000_000 + 'a<b>c' + '<x' * 300_000)\n"
        "print(len(text), text[-8:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr  # a quadratic scan is killed by RLIMIT_CPU
    assert done.stdout == f"{1_000_000 + 2 + 600_000} <x<x<x<x\n"
    assert clean_text("a <b>bold</b> &amp; <i>x</i>") == "a bold & x"
    assert clean_text("1 < 2 <sup>2</sup>") == "1 < 2 2"


def test_an_oversized_cell_or_deep_row_is_refused(tmp_path: Path) -> None:
    long = [{"htsno": "0101", "description": "d" * (MAX_FIELD_CHARS + 1)}]
    deep = [{"htsno": "0101", "footnotes": [[[[["x"]]]]]}]
    for rows, words in ((long, "a text cell is longer than"), (deep, "nested deeper")):
        path = tmp_path / "rows.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
        run = run_main(["hts", "import", str(path), *NAMED])
        assert_clean(run)
        assert run.code == 1 and f"row 1: {words}" in run.err


# ----------------------------------------------------------------------------- item 15


def _export(tmp_path: Path, data: bytes, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _corrupt_deflate() -> bytes:
    packed = bytearray(gzip.compress(GRAMMAR.read_bytes()))
    for n in range(20, 60):
        packed[n] ^= 0x5A
    return bytes(packed)


ROW = {"htsno": "0101.21.00", "indent": "1", "description": "Horses", "general": "Free"}
BAD_EXPORTS = {
    "corrupted deflate": (_corrupt_deflate(), "broken gzip data"),
    "100k nested [": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "superscript indent": (json.dumps([{**ROW, "indent": "²"}]).encode(), "is not a whole number"),
    "5000-digit indent": (
        json.dumps([{**ROW, "indent": "9" * 5000}]).encode(),
        "is not a whole number",
    ),
    "not JSON": (b"<html>", "not a USITC HTS JSON export"),
}


@pytest.mark.parametrize("kind", list(BAD_EXPORTS))
def test_a_broken_export_is_one_clear_line(tmp_path: Path, kind: str) -> None:
    data, words = BAD_EXPORTS[kind]
    run = run_main(["hts", "import", str(_export(tmp_path, data)), *NAMED])
    assert_clean(run)
    assert run.code == 1 and words in run.err, run.err


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1/x",
        "https://exa mple.org/hts.json",
        "https://a@b@example.org/hts.json",
        "https:///hts.json",
        "https://example.org:99999/hts.json",
        "https://example.org/\nhts.json",
    ],
)
def test_a_malformed_url_is_refused_before_any_network(url: str) -> None:
    run = run_main(["hts", "import", url, *NAMED])
    assert_clean(run)
    assert run.code == 2 and "not a valid URL" in run.err, run.err


def test_a_folder_a_loop_and_a_missing_file_each_say_what_they_are(tmp_path: Path) -> None:
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop.name)
    cases = {
        str(tmp_path): "is a folder, not an HTS export file",
        str(loop): "symbolic links form a loop",
        str(tmp_path / "missing.json"): "no such file",
    }
    for source, words in cases.items():
        run = run_main(["hts", "import", source, *NAMED])
        assert_clean(run)
        assert run.code == 2 and words in run.err, run.err


def test_a_fifo_or_pipe_is_read_like_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "hts_2025_rev_12.json"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(GRAMMAR.read_bytes()))
    writer.start()
    run = run_main(["hts", "import", str(fifo)])
    writer.join(timeout=30)
    assert run.code == 0, run.err
    assert [r.name for r in revisions(hts_dir())] == ["2025-rev-12"]


# ----------------------------------------------------------------------------- item 30


def test_a_missing_file_is_reported_before_the_revision_name() -> None:
    run = run_main(["hts", "import", "missing.json"])
    assert (run.code, run.err) == (2, "tradecalc: error: no such file: missing.json\n")


# ----------------------------------------------------------------------------- item 16


def _damage(path: Path, kind: str) -> None:
    if kind == "garbage pages":
        data = bytearray(path.read_bytes())
        data[4096:] = os.urandom(len(data) - 4096)
        path.write_bytes(bytes(data))
        return
    with sqlite3.connect(path) as conn:
        if kind == "table dropped":
            conn.execute("DROP TABLE lines")
        elif kind == "bad rate text":
            conn.execute("UPDATE lines SET rate = 'twelve percent' WHERE rate IS NOT NULL")
        elif kind == "NULL columns":
            conn.executescript(
                "CREATE TABLE loose AS SELECT * FROM lines; DROP TABLE lines;"
                "ALTER TABLE loose RENAME TO lines; UPDATE lines SET headings = NULL, htsno = NULL;"
            )
    conn.close()


def _held_open(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd to list open files")
    target = path.resolve()
    found = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            found += Path(os.readlink(fd)) == target
    return found


DUTY = ["duty", "1000", "--hs", "0101.30.0000", "--date", "2026-07-02", "--data", str(MINI)]
"""After the imported revision's date, and after every bundled revision: the import decides."""


@pytest.mark.parametrize(
    "kind", ["garbage pages", "table dropped", "bad rate text", "NULL columns"]
)
def test_a_damaged_revision_says_import_it_again_and_never_stops_a_batch(
    tmp_path: Path, kind: str
) -> None:
    assert (
        run_main(
            [
                "hts",
                "import",
                str(GRAMMAR),
                "--revision",
                "2026-rev-11",
                "--effective",
                "2026-07-01",
            ]
        ).code
        == 0
    )
    rev = next(r for r in revisions(hts_dir()) if r.name == "2026-rev-11")
    try:
        _damage(rev.path, kind)
        duty = run_main(DUTY)
        assert_clean(duty)
        assert duty.code == 1 and "is unreadable" in duty.err and "import it again" in duty.err
        assert _held_open(rev.path) == 0  # closed when the command ends, not when collected
        rows = tmp_path / "rows.csv"
        rows.write_text("hs,value,date\n0101.30.0000,1000,2026-07-02\n9503.00.0073,10,2026-07-02\n")
        out = tmp_path / "out.csv"
        batch = run_main(["batch", str(rows), "-o", str(out), "--data", str(MINI)])
        assert_clean(batch)
        assert batch.code == 1
        assert "import it again" in batch.err
        assert "9503.00.0073" in out.read_text(encoding="utf-8")  # the other row was computed
        assert _held_open(rev.path) == 0
        lines = '{"hs": "0101.30.0000", "value": "1000", "date": "2026-07-02"}\n' * 2
        stdin = run_main(["duty", "--stdin", "--data", str(MINI)], stdin=lines)
        assert_clean(stdin)
        answers = [json.loads(line) for line in stdin.out.splitlines()]
        assert len(answers) == 2
        assert all("import it again" in a.get("error", "") for a in answers), answers
        assert _held_open(rev.path) == 0
    finally:  # the home folder is shared by the session: leave no revision behind
        rev.path.unlink(missing_ok=True)


def test_a_sound_revision_is_closed_when_the_command_ends(tmp_path: Path) -> None:
    """The imported revision a command read is not left open for the garbage collector
    (Python 3.13 warns about such a connection; a long session would hold it)."""
    imported = ["hts", "import", str(GRAMMAR), "--revision", "2026-rev-11"]
    assert run_main([*imported, "--effective", "2026-07-01"]).code == 0
    rev = next(r for r in revisions(hts_dir()) if r.name == "2026-rev-11")
    try:
        duty = run_main([*DUTY, "--format", "json"])
        assert_clean(duty)
        assert "2026-rev-11" in duty.out  # the rate came from the import
        assert _held_open(rev.path) == 0
        rows = tmp_path / "rows.csv"
        rows.write_text("hs,value,date\n0101.30.0000,1000,2026-07-02\n")
        batch = run_main(["batch", str(rows), "-o", str(tmp_path / "out.csv"), "--data", str(MINI)])
        assert_clean(batch)
        with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
            (row,) = csv.DictReader(handle)
        assert row["total"] == json.loads(duty.out)["results"][0]["total"]  # priced alike
        assert _held_open(rev.path) == 0
    finally:
        rev.path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- item 5

_RACER = """
import sys, time
from datetime import date
from pathlib import Path
from tradecalc.hts import store as hts_store
listing = hts_store.revisions
def slow_listing(folder=None):
    time.sleep(1)  # widen the window between one writer's rename and its clean-up
    return listing(folder)
hts_store.revisions = slow_listing
sys.stdin.readline()  # start together
effective = date.fromisoformat(sys.argv[2])
hts_store.import_revision(sys.argv[1], "2025-rev-12", effective, Path(sys.argv[3]))
print("ok")
"""


def test_concurrent_imports_of_one_revision_leave_exactly_one_valid_copy(tmp_path: Path) -> None:
    """Racers with two effective dates: without a lock, each one's clean-up deleted the
    other's fresh file and no copy was left."""
    folder = tmp_path / "hts"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(GRAMMAR), f"2025-0{1 + n % 2}-01", str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for n in range(4)
    ]
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = [racer.communicate(timeout=300) for racer in racers]
    assert [out for out, _ in results] == ["ok\n"] * 4, [err for _, err in results]
    (rev,) = revisions(folder)
    assert rev.meta()["revision"] == "2025-rev-12"
    assert [n for n in os.listdir(folder) if n.endswith(".tmp")] == []


def test_too_many_rows_is_refused_and_the_catalogue_states_every_bound(tmp_path: Path) -> None:
    from tradecalc.hts.parse import MAX_ROWS, MAX_VALUES

    path = tmp_path / "rows.json"
    path.write_bytes(b"[" + b'{"htsno":"1"},' * MAX_ROWS + b'{"htsno":"1"}]')
    run = run_main(["hts", "import", str(path), *NAMED])
    assert_clean(run)
    assert f"{MAX_ROWS + 1:,} rows, more than {MAX_ROWS:,}" in run.err
    catalogue = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for bound in (MAX_ROWS, MAX_CONTAINERS, MAX_VALUES, MAX_FIELD_CHARS):
        assert f"{bound:,}" in catalogue
    assert f"{MAX_BYTES // 2**20} MiB" in catalogue
