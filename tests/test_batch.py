"""``tradecalc batch``: golden output, bad rows, leading zeros, pipes, atomic output, lean duty."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradecalc.batch import rows as batch
from tradecalc.cli.run import app
from tradecalc.schedule.load import LoadedSchedule, load_schedule

from conftest import FIXTURES, MINI, run_child

CSV_IN = FIXTURES / "batch_in.csv"
GOLDEN = FIXTURES / "batch_golden.csv"


def golden() -> str:
    """The expected output of batch_in.csv; the golden file names mini.yaml's hash MINI-SHA256."""
    sha256 = load_schedule(MINI, use_cache=False).sha256
    return GOLDEN.read_text(encoding="utf-8").replace("MINI-SHA256", sha256)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_golden_output(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run_cli("batch", str(CSV_IN), "-o", str(out), "--data", str(MINI))
    assert code == 1  # bad rows and rows needing review
    assert out.read_text(encoding="utf-8") == golden()
    assert "tradecalc: row 3: HS code '8.47E+09' looks like a spreadsheet number" in err
    assert "tradecalc: row 6: value '-5' must not be negative" in err
    assert "7 rows, 7 results, 2 bad rows, 1 results need review" in err


def test_errors_file_lists_rows(tmp_path: Path) -> None:
    out, bad = tmp_path / "out.csv", tmp_path / "bad.csv"
    code, _, err = run_cli(
        "batch", str(CSV_IN), "-o", str(out), "--errors", str(bad), "--data", str(MINI)
    )
    assert code == 1
    assert bad.read_text().splitlines() == [
        "row,error",
        "3,HS code '8.47E+09' looks like a spreadsheet number in scientific notation; "
        "keep the hs column as text (e.g. 8471.30.0100)",
        "6,value '-5' must not be negative",
    ]
    assert "row 3" not in err


def test_leading_zeros_survive_csv_and_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_cli("batch", str(CSV_IN), "-o", str(out), "--data", str(MINI), "--regime", "geneva")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[1]["hs"] == "0101.21.0010" and records[1]["sku"] == "A2"
    assert "0805.10.0020" in GOLDEN.read_text()
    assert [r["regime"] for r in records] == ["geneva"] * 5


def test_lost_leading_zero_is_a_bad_row() -> None:
    rows = batch.read_csv(io.StringIO("hs,value\n101.21.0010,5\n"))
    items = list(batch.assess_rows(_mini(), rows))
    assert isinstance(items[0], batch.RowError)
    assert "leading zero was probably lost" in items[0].reason


def test_jsonl_input_reports_bad_lines() -> None:
    with (FIXTURES / "batch_in.jsonl").open() as handle:
        items = list(batch.assess_rows(_mini(), batch.read_jsonl(handle)))
    errors = [(i.row, i.reason) for i in items if isinstance(i, batch.RowError)]
    assert errors == [(2, "expected a JSON object, got list")]
    good = [i for i in items if isinstance(i, batch.ResultRow)]
    assert [(r.row, r.passthrough, r.values[1]) for r in good] == [
        (1, ("J1",), "entry-date"),
        (3, ("J3",), "before"),  # a JSON number, read exactly from its text
        (3, ("J3",), "pre-geneva"),
        (3, ("J3",), "geneva"),
        (5, ("J5",), "before"),
        (5, ("J5",), "pre-geneva"),
        (5, ("J5",), "geneva"),
    ]


def test_fast_shipment_path_matches_plain_path() -> None:
    from tradecalc.engine.inputs import shipment_from_mapping

    rows = [
        {"hs": "7326.90.8688", "value": "1,000.50", "metal": "steel=40%", "date": "2025-06-10"},
        {"hs": "0805.10.0020", "value": "80", "qty": "120", "unit": "KG", "freight": "3"},
        {"hs": "8542.31", "value": "5", "origin": "us", "currency": "cny", "insurance": "1"},
    ]
    for row in rows:
        assert batch.to_shipment(row) == shipment_from_mapping(row)


def test_interrupted_batch_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    real = batch.ResultWriter.write
    calls = 0

    def failing(self: batch.ResultWriter, row: batch.ResultRow) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full (injected)")
        real(self, row)

    def failing_text(self: batch.ResultWriter, data: bytes) -> None:
        nonlocal calls
        calls += 3  # the vectorised path writes whole chunks as text
        if calls >= 3:
            raise OSError("disk full (injected)")

    monkeypatch.setattr(batch.ResultWriter, "write", failing)
    monkeypatch.setattr(batch.ResultWriter, "write_chunk", failing_text)
    result = CliRunner().invoke(app, ["batch", str(CSV_IN), "-o", str(out), "--data", str(MINI)])
    assert isinstance(result.exception, OSError)
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_no_progress_bar_in_a_pipe() -> None:
    done = run_child(["batch", str(CSV_IN), "--data", str(MINI)])
    assert done.returncode == 1
    assert done.stdout == golden()
    assert "assessing" not in done.stderr and "\x1b" not in done.stderr
    assert done.stderr.splitlines()[0].startswith("tradecalc: row 3:")


def test_stdin_input_and_format_option() -> None:
    done = run_child(
        ["batch", "-", "--input-format", "jsonl", "--format", "jsonl", "--data", str(MINI)],
        '{"hs": "0101.21.0010", "value": "1", "tag": "x"}\n',
    )
    record = json.loads(done.stdout.splitlines()[0])
    assert record["hs"] == "0101.21.0010" and record["tag"] == "x" and record["row"] == 1


@pytest.mark.parametrize(
    "unwanted",
    [
        (
            "tradecalc.batch.rows",
            "tradecalc.cli.serve",
            "rich.progress",
            "sqlite3",
            "duckdb",
            "polars",
        ),
        (
            "yaml",
            "tradecalc.schedule.loader",
            "tradecalc.schedule.checks",
        ),  # the compiled cache is fresh
    ],
    ids=["batch machinery", "YAML"],
)
def test_one_shot_duty_imports_only_what_it_needs(unwanted: tuple[str, ...]) -> None:
    load_schedule(MINI)  # compile the cache (the child shares the test's cache directory)
    probe = (
        "import sys, runpy\n"
        "unwanted = sys.argv[2:]\n"
        "sys.argv = ['tradecalc', 'duty', '1000', '--hs', '9503.00.0073', '--data', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('tradecalc', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(','.join(m for m in unwanted if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(MINI), *unwanted],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stderr == "\n"


def _mini() -> object:
    loaded: LoadedSchedule = load_schedule(MINI, use_cache=False)
    return loaded.schedule
