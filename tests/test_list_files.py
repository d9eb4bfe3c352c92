"""Product lists kept in CSV files: dated membership, checks at file:line, the data digest."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradecalc.core.errors import DataError
from tradecalc.engine.assessment import Shipment, assess, dated_view, regime_views
from tradecalc.schedule.load import data_digest, load_schedule
from tradecalc.schedule.validation import validate_files

from conftest import MINI

HEADER = "# test list\n# second comment line\ncode,from,to,source,note\n"
ROWS = (
    '6110.11,2025-05-01,2025-06-01,fx,"knit, cotton"\n'
    "7326908688,,,fx,\n"
    "8703,2025-05-20T12:00,,fx,\n"
)


def _schedule(folder: Path, rows: str = ROWS, name: str = "lists/list3.csv") -> Path:
    """mini.yaml with its List 3 kept in a CSV file under ``folder``."""
    text = MINI.read_text(encoding="utf-8").replace(
        'list3: { name: "List 3", codes: ["6110.11", "7326.90.86"], source: fx }',
        f'list3: {{ name: "List 3", file: "{name}", source: fx }}',
    )
    assert 'file: "' in text
    schedule = folder / "rates.yaml"
    schedule.write_text(text, encoding="utf-8")
    target = folder / "lists" / "list3.csv"
    target.parent.mkdir(exist_ok=True)
    target.write_text(HEADER + rows, encoding="utf-8")
    return schedule


def _section_301(path: Path, code: str, when: str) -> Decimal:
    loaded = load_schedule(path, use_cache=False)
    entry = datetime.fromisoformat(when)
    result = assess(loaded.schedule, Shipment(code, Decimal(1000), entry=entry), dated_view(entry))
    return sum((line.amount for line in result.lines if line.measure == "us-301"), Decimal(0))


@pytest.mark.parametrize(
    ("code", "when", "expected"),
    [
        ("6110.11.0015", "2025-04-30", Decimal(0)),  # day before the row starts
        ("6110.11.0015", "2025-05-01", Decimal(250)),  # day of
        ("6110.11.0015", "2025-05-31", Decimal(250)),  # last day
        ("6110.11.0015", "2025-06-01", Decimal(0)),  # 'to' is exclusive
        ("7326.90.8688", "2024-01-01", Decimal(250)),  # unbounded row
        ("8703.80.0000", "2025-05-20T11:59", Decimal(0)),  # a minute before an intraday start
        ("8703.80.0000", "2025-05-20T12:00", Decimal(250)),
        ("9503.00.0073", "2025-05-15", Decimal(0)),  # never listed
    ],
)
def test_dated_rows_decide_membership(
    tmp_path: Path, code: str, when: str, expected: Decimal
) -> None:
    assert _section_301(_schedule(tmp_path), code, when) == expected


def test_inline_and_file_lists_agree(tmp_path: Path) -> None:
    """The same codes inline and in a file give the same results at every regime."""
    path = _schedule(tmp_path, "6110.11,,,fx,\n7326.90.86,,,fx,\n")
    inline = load_schedule(MINI, use_cache=False).schedule
    listed = load_schedule(path, use_cache=False).schedule
    for code in ("6110.11.0015", "7326.90.8688", "9503.00.0073", "6110.12.0000"):
        for a, b in zip(regime_views(inline).values(), regime_views(listed).values(), strict=True):
            shipment = Shipment(code, Decimal("1234.56"))
            assert assess(inline, shipment, a).duty == assess(listed, shipment, b).duty


def test_digest_covers_the_list_file(tmp_path: Path) -> None:
    path = _schedule(tmp_path)
    first = load_schedule(path).sha256
    own = hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()
    listed = hashlib.sha256((HEADER + ROWS).encode()).hexdigest()
    assert first == data_digest(own, {"lists/list3.csv": listed}) != own
    (tmp_path / "lists" / "list3.csv").write_text(HEADER + "6110.11,,,fx,\n", encoding="utf-8")
    second = load_schedule(path)  # the cache must notice the changed list file
    assert second.sha256 != first
    assert second.schedule.product_lists["list3"].holds("7326908688") is False


def test_digest_without_files_is_the_file_hash() -> None:
    assert data_digest("ab" * 32, {}) == "ab" * 32


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ("61x0,,,fx,\n", 4, "not an HS code: '61x0'"),
        ("6110,2025-13-01,,fx,\n", 4, "bad date"),
        ("6110,2025-05-01,2025-05-01,fx,\n", 4, "is not after"),
        ("6110,,,nowhere,\n", 4, "unknown source 'nowhere'"),
        ("6110,,,,\n", 4, "every row needs a source"),
        ("6110,,,fx\n", 4, "expected 5 fields, found 4"),
        ("6110,,,fx,\n7326,,,fx,\n61,,,nope,\n", 6, "unknown source 'nope'"),
    ],
)
def test_bad_rows_are_reported_at_their_line(
    tmp_path: Path, rows: str, line: int, message: str
) -> None:
    path = _schedule(tmp_path, rows)
    found = validate_files([path], lambda: load_schedule(MINI).schedule)
    listed = [d for d in found if d.location.file.endswith("list3.csv")]
    assert len(listed) == 1, found
    assert listed[0].location.line == line
    assert message in listed[0].message
    with pytest.raises(DataError):
        load_schedule(path, use_cache=False)


@pytest.mark.parametrize("name", ["../outside.csv", "/etc/hosts", "lists/missing.csv"])
def test_list_file_must_be_inside_and_exist(tmp_path: Path, name: str) -> None:
    path = _schedule(tmp_path, name=name)
    found = validate_files([path], lambda: load_schedule(MINI).schedule)
    assert [d.location.file for d in found] == [str(path)]
    assert "product list 'list3'" in found[0].message


def test_a_list_needs_codes_or_a_file(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace(
        'codes: ["6110.11", "7326.90.86"], source: fx',
        'codes: ["6110.11"], file: "x.csv", source: fx',
    )
    path = tmp_path / "both.yaml"
    path.write_text(text, encoding="utf-8")
    found = validate_files([path], lambda: load_schedule(MINI).schedule)
    assert any("exactly one of 'codes' or 'file'" in d.message for d in found)
