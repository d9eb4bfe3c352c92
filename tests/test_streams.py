"""Input streams and batch runs under hostile input: read once, bounded, never stopped by a row.

Pipes, FIFOs and endless generators are made in a temp dir (never the real /dev); children
run the real entry point with a memory limit and a timeout.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import run_main
from tradecalc.batch import rows as batch
from tradecalc.cli import batch as batch_cli
from tradecalc.core import files
from tradecalc.core.errors import DataError, UsageError

from conftest import MINI

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and signals")

ROW = "9503.00.0073,{value}\n"
MEMORY_LIMIT = 1 << 30  # far below what reading an endless stream would take
TIMEOUT = 120
DATA = ("--data", str(MINI))
GENEVA = ("--regime", "geneva", *DATA)


def _rows(count: int) -> str:
    return "hs,value\n" + "".join(ROW.format(value=i) for i in range(1, count + 1))


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _child(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "tradecalc", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


# ----------------------------------------------------------------------------- read once


def test_stdin_as_a_path_loses_no_rows(tmp_path: Path) -> None:
    """Item 1: /dev/stdin was opened to sniff a BOM, closed and reopened (4-8 KiB lost)."""
    rows = 3000
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "tradecalc", "batch", "/dev/stdin", "-o", str(out), *GENEVA],
        input=_rows(rows).encode(),
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values = [
        r["customs_value"] for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))
    ]
    assert values == [f"{i}.00" for i in range(1, rows + 1)]


def test_a_fifo_is_read_once(tmp_path: Path) -> None:
    """Item 1: a named pipe (and `<(cat f)`) was read twice: empty input, or a hang."""
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    proc = _child(["batch", str(fifo), "--regime", "geneva", "--data", str(MINI)])
    with fifo.open("w", encoding="utf-8") as writer:
        writer.write("\ufeff" + _rows(2000))
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert len(out.decode().splitlines()) == 2001


@given(
    text=st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=20),
    bom=st.booleans(),
)
def test_line_reader_matches_a_text_file(text: str, sizes: list[int], bom: bool) -> None:
    """However the bytes arrive, the lines are those of a file opened with newline=""."""
    raw = (codecs_bom() if bom else b"") + text.encode("utf-8")
    expected = list(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline=""))
    assert list(files.LineReader(_Trickle(raw, sizes), "x")) == expected


def _records(handle: object) -> list[object]:
    """The header and rows :func:`batch.read_csv` reads from ``handle``, ending with the
    error that stopped it, if one did."""
    found: list[object] = []
    try:
        rows = batch.read_csv(handle, "x")  # type: ignore[arg-type]
        found.append(rows.header)
        assert rows.cells is not None
        found.extend(rows.cells)  # what was read before an error stays
    except (DataError, UsageError) as exc:
        found.append(f"{type(exc).__name__}: {exc}")
    return found


@given(
    text=st.text(st.sampled_from(list('ab,1 "\r\n\t.\x00é\u2028\x1c')), max_size=400),
    header=st.sampled_from(["hs,value", "hs,value,note", "hs", '"hs",value', ""]),
    sizes=st.lists(st.integers(1, 70), min_size=1, max_size=5),
    block=st.sampled_from([1, 16, 200, 1 << 20]),
    later_block=st.sampled_from([1, 16, 200, 1 << 20]),
    block_lines=st.sampled_from([1, 3, 1 << 20]),
    max_line=st.sampled_from([24, 1 << 20]),
    bom=st.booleans(),
    bad_byte=st.booleans(),
)
def test_simple_blocks_read_what_the_csv_reader_reads(
    text: str,
    header: str,
    sizes: list[int],
    block: int,
    later_block: int,
    block_lines: int,
    max_line: int,
    bom: bool,
    bad_byte: bool,
) -> None:
    """The batch splits runs of simple lines at their commas (no csv parser per row) and
    hands the rest to the csv reader: the same header, rows, bad rows, line numbers and
    errors as the csv reader alone, however the bytes arrive and wherever a block ends
    (the first block's size, the later ones', their most lines).

    Bytes that stop the reading (not UTF-8, a line over the limit) stop both with the same
    message; the rows read before it may differ in number (each reads ahead by its own
    amount), so they are compared as far as both got, with a valid header."""
    stopping = bad_byte or max_line < 1 << 20
    raw = (
        codecs_bom() if bom else b""
    ) + f"{header if not stopping else 'hs,value'}\n{text}".encode()
    if bad_byte:
        raw = raw[: len(raw) // 2] + b"\xff" + raw[len(raw) // 2 :]
    lines = files.LineReader(
        _Trickle(raw, sizes),
        "x",
        max_line=max_line,
        block=block,
        later_block=later_block,
        block_lines=block_lines,
    )
    plain = files.LineReader(_Trickle(raw, sizes), "x", max_line=max_line)
    found, expected = _records(lines), _records(iter(plain))
    if isinstance(expected[-1], str) and expected[-1].startswith("DataError"):
        assert found[-1] == expected[-1]
        both = min(len(found), len(expected)) - 1
        assert found[:both] == expected[:both]
    else:
        assert found == expected


def test_a_bad_byte_after_carriage_return_line_ends_names_its_line() -> None:
    """Lines ended by a lone CR count as lines in the error (only LF counted before)."""
    raw = b"hs,value\r1,2\r3,\xff\r"
    with pytest.raises(DataError, match=r"^x: not UTF-8 text at line 3 \(byte 15\)"):
        list(files.LineReader(io.BytesIO(raw), "x"))


def codecs_bom() -> bytes:
    return "\ufeff".encode()


@pytest.mark.parametrize(
    ("later_block", "block_lines", "later_lines"), [(1000, 50, 50), (300, 1000, 30)]
)
def test_blocks_start_small_then_grow_with_at_most_about_so_many_lines(
    monkeypatch: pytest.MonkeyPatch, later_block: int, block_lines: int, later_lines: int
) -> None:
    """The first block is about ``block`` bytes; each later one about ``later_block``
    bytes or ``block_lines`` lines, whichever comes first (a read's worth over, at most);
    together they are the stream."""
    monkeypatch.setattr(files, "_READ_CHUNK", 16)
    raw = b"".join(b"%09d\n" % i for i in range(2000))  # 10 bytes a line
    reader = files.LineReader(
        _Trickle(raw, [16]), "x", block=100, later_block=later_block, block_lines=block_lines
    )
    blocks = list(reader.simple_blocks())
    assert "".join(text for text, _ in blocks).encode() == raw
    counts = [lines for _, lines in blocks]
    assert counts[0] in (10, 11)
    assert all(later_lines <= n <= later_lines + 2 for n in counts[1:-1]) and len(counts) > 10


class _Trickle(io.RawIOBase):
    """A stream that hands out its bytes a few at a time, like a slow pipe."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes, self._at, self._turn = data, sizes, 0, 0

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        chunk = self._data[self._at : self._at + min(step, size if size > 0 else step)]
        self._at += len(chunk)
        return chunk

    read = read1  # type: ignore[assignment]


# ----------------------------------------------------------------------------- clashes


def test_output_equal_to_errors_or_input_is_refused(tmp_path: Path) -> None:
    """Item 2: `-o r.csv --errors r.csv` lost every result; `-o IN` overwrote the input."""
    source = tmp_path / "in.csv"
    source.write_text(_rows(2), encoding="utf-8")
    link = tmp_path / "link.csv"
    os.link(source, link)
    same = str(tmp_path / "sub" / ".." / "r.csv")
    (tmp_path / "sub").mkdir()
    cases = [
        (["-o", str(tmp_path / "r.csv"), "--errors", same], "--output and --errors are the same"),
        (["-o", str(link)], f"--output {link} is the input file: it would be overwritten"),
        (["--errors", str(source)], f"--errors {source} is the input file"),
    ]
    for extra, message in cases:
        run = run_main(["batch", str(source), *extra, "--data", str(MINI)])
        assert run.code == 2 and message in run.err, run
    assert source.read_text(encoding="utf-8") == _rows(2)
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "in.csv", "-o", "-", "--format", "csv", "--regime", "geneva", *DATA],
        ["schema", "-o", "-"],
    ],
)
def test_dash_output_is_stdout_not_a_file(tmp_path: Path, args: list[str]) -> None:
    """``-o -`` means stdout, as ``-`` means stdin for input: no file named ``-`` appears."""
    (tmp_path / "in.csv").write_text(_rows(2), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tradecalc", *args], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert done.returncode in (0, 1), done.stderr
    assert not (tmp_path / "-").exists()
    out = done.stdout.decode("utf-8")
    if args[0] == "batch":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["row"] for r in rows] == ["1", "2"] and {r["regime"] for r in rows} == {"geneva"}
    else:
        assert json.loads(out)["$schema"].startswith("https://json-schema.org/")


def test_a_device_may_take_both_outputs(tmp_path: Path) -> None:
    """Only a regular file (or one to be created) is a clash; a device may well be both."""
    device = Path("/dev/zero")  # only looked at (stat), never opened
    if not device.is_char_device():
        pytest.skip("no /dev/zero character device here")
    assert not batch_cli._same_file(device, device)
    target = tmp_path / "a.csv"
    assert batch_cli._same_file(target, tmp_path / "." / "a.csv")  # not created yet
    target.write_text("x\n", encoding="utf-8")
    assert batch_cli._same_file(target, tmp_path / "." / "a.csv")
    assert not batch_cli._same_file(target, tmp_path / "b.csv")


# ----------------------------------------------------------------------------- bounds


@pytest.fixture
def endless(tmp_path: Path) -> Iterator[Path]:
    """A FIFO fed with zero bytes for ever by a generator process (a /dev/zero stand-in)."""
    fifo = tmp_path / "zero"
    os.mkfifo(fifo)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys\nf = open({str(fifo)!r}, 'wb')\n"
            "try:\n    while True: f.write(bytes(1 << 16))\nexcept OSError: pass\n",
        ],
        stderr=subprocess.DEVNULL,
    )
    yield fifo
    writer.kill()
    writer.wait()


@pytest.mark.parametrize("how", ["--data", "--scenario", "TRADECALC_DATA", "validate"])
def test_endless_data_file_is_refused_at_the_limit(endless: Path, how: str) -> None:
    """Item 7: the size came from stat (0 for a device), then everything was read."""
    args = ["duty", "10", "--hs", "9503.00.0073", "--data", str(MINI)]
    env = dict(os.environ)
    if how == "--data":
        args[-1] = str(endless)
    elif how == "--scenario":
        args += ["--scenario", str(endless)]
    elif how == "TRADECALC_DATA":
        args = args[:-2]
        env["TRADECALC_DATA"] = str(endless)
    else:
        args = ["validate", str(endless)]
    proc = _child(args, env=env, preexec_fn=_limited)
    out, err = proc.communicate(timeout=TIMEOUT)
    message = f"{endless}: more than 33,554,432 bytes, above the 33,554,432-byte limit"
    assert proc.returncode == 1, err
    assert message in (out + err).decode()
    assert b"Traceback" not in err


@pytest.mark.parametrize("args", [["batch", "-"], ["duty", "--stdin"], ["batch", "ZERO"]])
def test_endless_stream_stops_at_the_line_limit(endless: Path, args: list[str]) -> None:
    """Item 7/11: an endless line on stdin or as the batch input is refused, bounded."""
    source = os.devnull if "ZERO" in args else endless
    args = [str(endless) if a == "ZERO" else a for a in args]
    with open(source, "rb") as stdin:
        proc = _child([*args, "--data", str(MINI)], stdin=stdin, preexec_fn=_limited)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1, err
    assert err.decode().endswith(
        "line 1 is longer than 1,048,576 characters (the line-length limit)\n"
    )
    assert b"Traceback" not in err


def test_a_million_columns_is_refused_in_one_short_line(tmp_path: Path) -> None:
    """Item 11: the error quoted the whole 1 M-column header (5 MB on one line)."""
    source = tmp_path / "wide.csv"
    source.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n", encoding="utf-8")
    run = run_main(["batch", str(source), "--data", str(MINI)])
    assert run.code == 1
    assert run.err == (
        f"tradecalc: error: {source}: line 1 has 100,000 cells, above the 1,000-column limit\n"
    )
    names = ",".join(f"c{i}" for i in range(900))
    source.write_text(names + "\n", encoding="utf-8")
    run = run_main(["batch", str(source), "--data", str(MINI)])
    assert run.code == 2 and len(run.err) < 200, run.err


def test_a_quoted_record_over_many_lines_is_bounded() -> None:
    text = "hs,value\n" + '"x\n",' * (files.MAX_LINE_CHARS // 5 + 10)  # short cells
    with pytest.raises(
        DataError, match=r"^input: CSV record at line 2 is longer than 1,048,576 characters"
    ):
        list(batch.read_csv(io.StringIO(text)).items)


def test_row_messages_quote_an_excerpt() -> None:
    rows = batch.read_csv(io.StringIO("hs,value\n" + "9" * 100_000 + ",1\n"))
    (error,) = list(batch.assess_rows(_mini(), rows))
    assert isinstance(error, batch.RowError)
    assert len(error.reason) <= 400 and "…" in error.reason


def test_jobs_are_capped_at_the_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Item 10: `--jobs 100000` forked that many processes."""
    monkeypatch.setattr(batch_cli, "available_cpus", lambda: 2)
    seen: list[int] = []
    real = batch.run

    def spy(*args: object, **kwargs: object) -> batch.Summary:
        seen.append(args[7])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "run", spy)
    source = tmp_path / "in.csv"
    source.write_text(_rows(3), encoding="utf-8")
    run = run_main(["batch", str(source), "--jobs", "100000", *GENEVA])
    assert run.code == 0, run.err
    assert seen == [2]
    assert run.err.startswith(
        "tradecalc: note: --jobs 100,000 is more than the 2 CPUs available; using 2\n"
    )
    assert batch_cli.available_cpus() >= 1


# ----------------------------------------------------------------------------- bad rows


def _mini() -> batch.Schedule:
    from tradecalc.schedule.load import load_schedule

    return load_schedule(MINI, use_cache=False).schedule


FAR = "9999-12-31"
FIELDS = ("hs", "value", "date")


def _overflowing(module: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine raises OverflowError for a row dated 9999-12-31, as it once did (item 12)."""
    real = module.assess  # type: ignore[attr-defined]

    def assess(schedule: object, shipment: batch.Shipment, *rest: object) -> object:
        if shipment.entry is not None and shipment.entry.year == 9999:
            raise OverflowError("date value out of range")
        return real(schedule, shipment, *rest)

    monkeypatch.setattr(module, "assess", assess)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_row_the_engine_cannot_compute_does_not_stop_the_batch(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 12: one row the engine could not compute aborted the whole batch."""
    from tradecalc.batch import join as batch_join

    _overflowing(batch, monkeypatch)
    monkeypatch.setattr(batch, "compile_plan", lambda *a: None)
    monkeypatch.setattr(batch_join.Joined, "_plan", lambda *a: None)  # every row: the engine
    monkeypatch.setenv("TRADECALC_VECTORISED", "0")  # the vectorised path skips _plan
    rows = [("9503.00.0073", "100", FAR), ("9503.00.0073", "200", "2025-06-01")]
    source = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        source.write_text("hs,value,date\n" + "".join(",".join(r) + "\n" for r in rows))
    else:
        source.write_text(
            "".join(
                json.dumps(dict(zip(("hs", "value", "date"), r, strict=True))) + "\n" for r in rows
            )
        )
    out, bad = tmp_path / "out.csv", tmp_path / "bad.csv"
    for jobs in ("1", "2"):
        run = run_main(
            ["batch", str(source), "-o", str(out), "--errors", str(bad), "--jobs", jobs, *DATA]
        )
        assert run.code == 1 and "internal error" not in run.err, run.err
        results = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert [(r["row"], r["customs_value"]) for r in results] == [("2", "200.00")]
        errors = list(csv.reader(io.StringIO(bad.read_text(encoding="utf-8"))))
        assert [e[0] for e in errors] == ["row", "1"]


def test_a_line_the_engine_cannot_compute_does_not_stop_stdin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tradecalc.cli import serve as stdin

    _overflowing(stdin, monkeypatch)
    lines = [
        {"hs": "9503.00.0073", "value": "100", "date": FAR},
        {"hs": "9503.00.0073", "value": "200", "date": "2025-06-01"},
    ]
    run = run_main(
        ["duty", "--stdin", "--data", str(MINI)], "".join(json.dumps(x) + "\n" for x in lines)
    )
    answers = [json.loads(line) for line in run.out.splitlines()]
    assert run.code == 1
    assert [a["line"] for a in answers] == [1, 2]
    assert "error" in answers[0] and "internal error" not in answers[0]["error"]
    assert answers[1]["results"][0]["customs_value"] == "200.00"


def test_an_unexpected_failure_is_that_rows_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = batch.assess

    def flaky(schedule: object, shipment: batch.Shipment, *rest: object) -> object:
        if shipment.value == 13:
            raise KeyError("boom")
        return real(schedule, shipment, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "assess", flaky)
    monkeypatch.setattr(batch, "compile_plan", lambda *a: None)
    rows = batch.read_csv(io.StringIO("hs,value\n9503.00.0073,13\n9503.00.0073,14\n"))
    items = list(batch.assess_rows(_mini(), rows, ()))
    assert isinstance(items[0], batch.RowError)
    assert items[0].reason == "internal error: KeyError: 'boom' (please report this)"
    assert items[1:] and all(isinstance(i, batch.ResultRow) and i.row == 2 for i in items[1:])


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("output", [[], ["-o", "OUT"]])
def test_non_utf8_stdin_is_a_data_error(tmp_path: Path, output: list[str]) -> None:
    """Item 19: surrogates crashed with -o; without it the bytes passed through."""
    args = [str(tmp_path / "out.csv") if a == "OUT" else a for a in output]
    run = run_main(
        ["batch", "-", *args, "--data", str(MINI)], b"hs,value,sku\n9503.00.0073,1,caf\xe9\n"
    )
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "tradecalc: error: stdin: not UTF-8 text at line 2 (byte 31): save it as UTF-8 "
        "(in Excel: CSV UTF-8) or UTF-16 with a byte-order mark\n"
    )


# ----------------------------------------------------------------------------- progress


def test_progress_follows_the_bytes_read(tmp_path: Path) -> None:
    """Item 30: the bar sat at 0% for most of a run; now it is the share of bytes read."""
    source = tmp_path / "in.csv"
    source.write_text(_rows(20_000), encoding="utf-8")
    size = source.stat().st_size
    seen: list[int] = []
    stream, known = files.open_stream(str(source))
    with stream:
        # blocks of 64 KiB (4 MiB by default) for this small file: reading stays a block ahead
        reader = files.LineReader(
            stream, "in", on_read=lambda r: seen.append(r.consumed), block=1 << 16
        )
        rows = batch.read_rows(reader, "csv")
        for done, _ in enumerate(batch.assess_rows(_mini(), rows, (_geneva(),)), start=1):
            if done == 10_000:
                assert 0.4 * size <= seen[-1] <= 0.6 * size
    assert known == size and seen[-1] == size


def _geneva() -> batch.RegimeView:
    from tradecalc.engine.assessment import regime_views

    return regime_views(_mini())["geneva"]


# ----------------------------------------------------------------------------- signals


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _wait_for(condition: object, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


@needs_proc
def test_a_stop_does_not_wait_for_a_stalled_writer(tmp_path: Path) -> None:
    """A FIFO whose writer stalls after more than a block: once the batch has worked
    through what came and waits for more, SIGTERM ends it at once (no read is left waiting
    for the writer, as a regular file's next block is read ahead of its charge)."""
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    proc = _child(["batch", str(fifo), "-o", str(tmp_path / "out.csv"), *GENEVA])
    with fifo.open("w", encoding="utf-8") as writer:
        writer.write(_rows(300_000))  # about 6 MB: returns once the batch has read it
        writer.flush()
        seen = [-1]

        def idle() -> bool:
            ticks, seen[0] = seen[0], _cpu_ticks(proc.pid)
            time.sleep(0.3)
            return ticks == seen[0]

        _wait_for(idle)
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=TIMEOUT)  # the writer still holds the FIFO
        finally:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.endswith(b"tradecalc: error: stopped by SIGTERM\n")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.8])
def test_sigint_at_any_moment_is_one_line(delay: float) -> None:
    """Item 18: Ctrl-C in the first 50 ms printed a raw traceback."""
    proc = _child(["duty", "--stdin", "--data", str(MINI)], stdin=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    if b"interrupted" in err or b"tradecalc/cli" in err:  # once main() runs: one line
        assert err == b"tradecalc: error: interrupted\n"
        assert proc.returncode in (130, -signal.SIGINT)
    else:  # inside Python's own start-up (site, runpy), before tradecalc's main() ran
        assert err == b"" or err.rstrip().endswith(b"KeyboardInterrupt")


_IGNORED_INTERRUPT = """
import sys, weakref
import tradecalc.cli.run as entry
from tradecalc.cli import main

class Thing: pass
thing = Thing()
ref = weakref.ref(thing, lambda _: (_ for _ in ()).throw(KeyboardInterrupt))
real = entry.run
def run():
    global thing
    del thing  # the callback raises KeyboardInterrupt; Python prints it, ignores it, runs on
    real()
entry.run = run
sys.argv = ["tradecalc", *sys.argv[1:]]
main()
"""


def test_ctrl_c_in_a_callback_python_ignores_still_interrupts() -> None:
    """Item 18: Ctrl-C landing in an import lock's weakref callback during start-up printed
    'Exception ignored ... KeyboardInterrupt' and the command ran on as if not interrupted."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _IGNORED_INTERRUPT, "duty", "--stdin", *DATA],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.wait(timeout=60)  # stdin stays open: without the interrupt it waits for lines
    except subprocess.TimeoutExpired:
        proc.kill()
    _, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (130, b"tradecalc: error: interrupted\n")


SPY = """
import sys
from tradecalc.batch import jobs
for name in ("run_columns", "run_parallel"):
    def spy(*args, _name=name, _real=getattr(jobs, name)):
        print("path:", _name, file=sys.stderr)
        return _real(*args)
    setattr(jobs, name, spy)
sys.argv[0] = "tradecalc"
from tradecalc.cli import main
main()
"""
"""The entry point, saying which workers ``--jobs`` took."""


@pytest.mark.parametrize("output", ["out.csv", "out.jsonl"])
def test_jobs_charge_blocks_as_columns_where_one_process_would(tmp_path: Path, output: str) -> None:
    """With CSV output and the fast extra, ``--jobs`` workers charge blocks of lines as
    columns (forked by a process that has not loaded polars), else rows one by one; the
    output, bad rows and summary are those of one process."""
    source = tmp_path / "in.csv"
    rows = [f"{i},9503.00.0073,CN,US,{i}.{i % 100:02d},2025-0{1 + i % 9}-15,ocean"
            for i in range(1, 3001)]  # fmt: skip
    rows[7] = "8,9503.00.0073,CN"  # a bad row
    source.write_text("ref,hs,origin,dest,value,date,mode\n" + "\n".join(rows) + "\n")
    found = []
    for jobs in ("1", "2"):
        out, bad = tmp_path / f"{jobs}-{output}", tmp_path / f"{jobs}-bad.csv"
        args = ["batch", str(source), "-o", str(out), "--errors", str(bad), "--jobs", jobs]
        done = subprocess.run(
            [sys.executable, "-c", SPY, *args, *DATA], capture_output=True, timeout=TIMEOUT
        )
        assert done.returncode in (0, 1), done.stderr
        err = done.stderr.decode()
        paths = [line for line in err.splitlines() if line.startswith("path: ")]
        summary = [line for line in err.splitlines() if not line.startswith("path: ")]
        found.append((out.read_bytes(), bad.read_bytes(), summary, paths))
    columns = output.endswith(".csv") and importlib.util.find_spec("polars") is not None
    assert found[1][3] == ["path: run_columns" if columns else "path: run_parallel"]
    assert found[0][3] == []
    assert found[0][:3] == found[1][:3]
    assert found[0][1].count(b"\n") == 2  # the header and the bad row


def test_a_stop_waits_for_a_stuck_pool_at_most_terminate_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CPython's Pool.terminate kills the workers, then joins the thread that feeds them
    tasks, which a Ctrl-C in the middle of sending a block can leave stuck for ever (2 runs
    of ``batch - --jobs 2`` in 40 hung so): the batch's stop gives up waiting after
    TERMINATE_WAIT (the workers already dead, or dying with the batch)."""
    import threading

    from tradecalc.batch import jobs

    monkeypatch.setattr(jobs, "TERMINATE_WAIT", 0.5)
    never = threading.Event()

    class StuckPool:
        def terminate(self) -> None:
            never.wait()

    stopped = threading.Event()

    def stop() -> None:
        jobs._terminate(StuckPool())  # type: ignore[arg-type]
        stopped.set()

    threading.Thread(target=stop, daemon=True).start()
    try:
        assert stopped.wait(10)
    finally:
        never.set()


def _idle_worker(parent: int) -> None:
    """A worker that is set up with nothing."""


def test_a_ctrl_c_let_through_after_the_fork_stops_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that came while the workers were forked is raised as SIGINT is let through
    again, before any task: the workers are stopped then, not left to the pool's finalizer
    (which could wait for them for ever)."""
    import multiprocessing

    from tradecalc.batch import jobs

    real = signal.pthread_sigmask

    def let_through(how: int, mask: object) -> object:
        found = real(how, mask)  # type: ignore[arg-type]
        if how == signal.SIG_SETMASK:
            raise KeyboardInterrupt
        return found

    monkeypatch.setattr(signal, "pthread_sigmask", let_through)
    with pytest.raises(KeyboardInterrupt), jobs._pool(2, _idle_worker, (), "fork"):
        pytest.fail("the workers' context was entered")
    assert multiprocessing.active_children() == []


@needs_proc
def test_ctrl_c_with_jobs_is_one_line() -> None:
    """Item 18: Ctrl-C (SIGINT to the whole group) made every worker print a traceback."""
    proc = _child(
        ["batch", "-", "--jobs", "2", "--regime", "geneva", "--data", str(MINI)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(_rows(20_000).encode())
    proc.stdin.flush()
    _wait_for(lambda: len(_children(proc.pid)) >= 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (130, b"tradecalc: error: interrupted\n")


@needs_proc
def test_killed_parent_leaves_no_workers_and_no_traceback() -> None:
    """Item 18: orphaned workers lived on and printed BrokenPipeError tracebacks."""
    proc = _child(
        ["batch", "-", "--jobs", "2", "--regime", "geneva", "--data", str(MINI)],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(_rows(20_000).encode())
    proc.stdin.flush()
    _wait_for(lambda: len(_children(proc.pid)) >= 2)
    workers = _children(proc.pid)
    proc.kill()
    _, err = proc.communicate(timeout=TIMEOUT)  # EOF once every worker closed stderr too
    _wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers))
    assert b"Traceback" not in err and b"Error" not in err


def test_one_csv_reader_bounds_columns_records_and_text(tmp_path: Path) -> None:
    """core.files.CsvRecords, the reader of batch and refund: each limit is one clear line
    that names the input and the line, whichever command reads the file."""
    wide = "a," * 1_000 + "a\n"  # 1,001 cells
    with pytest.raises(DataError, match=r"^x: line 1 has 1,001 cells, above the 1,000-column"):
        list(files.CsvRecords([wide, "1,2\n"], "x"))
    # a data record as wide is the caller's to refuse as one bad row: it is yielded
    assert [len(r) for r in files.CsvRecords(["a,b\n", "1,2\n", wide, "3,4\n"], "x")] == [
        2,
        2,
        1_001,
        2,
    ]
    assert list(files.CsvRecords(["a,b\n", "a," * 999 + "a\n"], "x"))[1] == ["a"] * 1_000
    with pytest.raises(
        DataError, match=r"^x: malformed CSV at line 2 \(.*; an unclosed quote\?\)$"
    ):
        list(files.CsvRecords(["a,b\n", '"' + "9" * 200_000 + "\n"], "x"))
    reader = files.CsvRecords(["a\n", '"1\n', '2"\n', "3\n"], "x")
    assert [(r, reader.line) for r in reader] == [(["a"], 1), (["1\n2"], 2), (["3"], 4)]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"hs,value\n9503.00.0073,1\n9503.00.0073,\xe9\n")
    with (
        latin.open(encoding="utf-8", newline="") as handle,
        pytest.raises(DataError, match=r"^x: not UTF-8 text at line 3"),
    ):
        list(files.CsvRecords(handle, "x"))
    entries = tmp_path / "entries.csv"
    entries.write_text(",".join(f"c{i}" for i in range(1_001)) + "\n", encoding="utf-8")
    run = run_main(["refund", str(entries), "--data", str(MINI)])
    assert run.code == 1
    assert run.err == (
        f"tradecalc: error: {entries}: line 1 has 1,001 cells, above the 1,000-column limit\n"
    ).replace(str(entries), "entries file", 1)


def test_a_data_row_wider_than_the_header_limit_is_one_bad_row(tmp_path: Path) -> None:
    """Bad rows never stop a batch (#11 item 12): a 1,001-cell row is that row's error only."""
    source = tmp_path / "rows.csv"
    wide = ",".join(["9503.00.0073", "100"] + [""] * 999)
    source.write_text(f"hs,value\n{wide}\n9503.00.0073,1000\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    run = run_main(
        ["batch", str(source), "--data", str(MINI), "--regime", "geneva", "--errors", str(errors)]
    )
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [r["row"] for r in rows] == ["2"]
    one = ["duty", "1000", "--hs", "9503.00.0073", "--data", str(MINI), "--regime", "geneva"]
    alone = run_main([*one, "--format", "json"])
    assert rows[0]["duty"] == json.loads(alone.out)["results"][0]["duty"]
    assert errors.read_text(encoding="utf-8") == (
        "row,error\n1,1001 cells where the header has 2\n"
    )
