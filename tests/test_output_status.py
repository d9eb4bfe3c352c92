"""Every output format carries the status and the review items, in one vocabulary.

A result that needs review must never look complete: ``duty`` (table, JSON, CSV),
``duty --stdin`` and ``batch`` (CSV, JSONL) all say ``needs_review`` (tables: "needs review")
and give the reasons; batch rows and ``duty --format csv`` also name the data they used.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tradecalc.core.status import NEEDS_REVIEW, OK
from tradecalc.schedule.load import load_schedule

from conftest import MINI, Run

Cli = Callable[..., Run]
DATA = ("--data", str(MINI), "--no-hts")  # curated data only: UNKNOWN stays unknown
UNKNOWN = "0101.21.0010"  # not in mini.yaml: needs review in every regime
KNOWN = "9503.00.0073"
REASON = f"no US base (MFN) rate for {UNKNOWN}"


@pytest.fixture(scope="module")
def sha256() -> str:
    return load_schedule(MINI, use_cache=False).sha256


def test_json_has_a_status_word(cli: Cli) -> None:
    for code, word in ((UNKNOWN, NEEDS_REVIEW), (KNOWN, OK)):
        run = cli("duty", "1000", "--hs", code, "--regime", "geneva", "--format", "json", *DATA)
        result = json.loads(run.out)["results"][0]
        assert result["status"] == word
        assert result["needs_review"] is (word == NEEDS_REVIEW)  # kept: added, not renamed
        assert bool(result["review"]) is (word == NEEDS_REVIEW)


def test_csv_carries_status_reasons_and_sha256_on_every_row(cli: Cli, sha256: str) -> None:
    run = cli("duty", "1000", "--hs", UNKNOWN, "--format", "csv", *DATA)
    assert run.code == 1
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert rows and {r["status"] for r in rows} == {NEEDS_REVIEW}
    assert all(r["review"].startswith(REASON) for r in rows)
    assert {r["data_sha256"] for r in rows} == {sha256}
    assert {r["data_version"] for r in rows} == {"test.1"}


def test_table_shows_the_human_status_and_each_reason_once(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", UNKNOWN, *DATA)
    assert run.code == 1
    status_row = next(line for line in run.out.splitlines() if line.strip().startswith("Status"))
    assert status_row.split()[1:] == ["needs", "review"] * 3
    reviews = [line for line in run.out.splitlines() if line.startswith("needs review")]
    assert len(reviews) == 1, reviews  # one reason in three columns: one line
    assert reviews[0].startswith(f"needs review [every column]: {REASON} on each column's date")


def test_a_reason_in_some_columns_names_them(cli: Cli) -> None:
    from tradecalc.render.duty import review_lines

    class Result:
        def __init__(self, regime: str, review: tuple[str, ...]) -> None:
            from datetime import datetime

            self.regime, self.review, self.as_of = regime, review, datetime(2025, 5, 13)

    results = [Result("a", ("x",)), Result("b", ()), Result("c", ("x", "y"))]
    assert review_lines(results) == ["needs review [a, c]: x", "needs review [c]: y"]  # type: ignore[arg-type]


def test_stdin_answers_carry_the_status(cli: Cli) -> None:
    lines = json.dumps({"hs": UNKNOWN, "value": "10"}) + "\n"
    run = cli("duty", "--stdin", "--regime", "geneva", *DATA, stdin=lines)
    answer = json.loads(run.out)
    assert run.code == 1
    assert answer["results"][0]["status"] == NEEDS_REVIEW
    assert answer["results"][0]["review"][0].startswith(REASON)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_batch_rows_carry_status_route_and_data(
    cli: Cli, tmp_path: Path, sha256: str, fmt: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"hs,value\n{UNKNOWN},10\n{KNOWN},10\n{KNOWN},20\n", encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    run = cli("batch", str(source), "-o", str(out), "--regime", "geneva", *DATA)
    assert run.code == 1
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    assert [r["status"] for r in rows] == [NEEDS_REVIEW, OK, OK]
    assert rows[0]["review"].startswith(REASON) and rows[1]["review"] == ""
    assert [(r["origin"], r["dest"]) for r in rows] == [("CN", "US")] * 3
    assert {(r["data_version"], r["data_sha256"]) for r in rows} == {("test.1", sha256)}


def test_batch_rows_from_china_name_the_route(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("hs,value,dest,freight\n1201.90,100,CN,7\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    cli("batch", str(source), "-o", str(out), "--regime", "geneva", *DATA)
    (row,) = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))
    assert (row["origin"], row["dest"]) == ("US", "CN")


def test_one_vocabulary_in_the_sources() -> None:
    """No other spelling of the status word in the code that writes outputs."""
    from conftest import ROOT

    for path in (ROOT / "src" / "tradecalc").rglob("*.py"):
        if path.name == "status.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert '"needs_review" if' not in text, path
        assert '"review" if' not in text, path
