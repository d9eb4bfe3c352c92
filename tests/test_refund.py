"""Refunds and audits of past entries: routes, deadlines, deviations, interest, CAPE files."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.refund import (
    InterestRate,
    Report,
    build_report,
    estimate_interest,
    load_interest,
    load_rules,
)
from tradecalc.schedules import load_schedule

from conftest import BUNDLED, run_child

HEADER = (
    "Entry Summary Number,Entry Summary Line Number,Entry Type Code,Entry Date,"
    "Country of Origin Code,Tariff Ordinal Number,HTS Number - Full,"
    "Line Tariff Goods Value Amount,Line Tariff Duty Amount,Liquidation Date,Liquidation Status"
)
AS_OF = date(2026, 3, 20)


def _entry(
    number: str,
    entered: str,
    chapter99: dict[str, str],
    *,
    kind: str = "01",
    liquidated: str = "",
    value: str = "10000.00",
) -> list[str]:
    """ES-003 rows of one single-line entry of toys (9503.00.0073) from China."""
    status = "Liquidated" if liquidated else "Unliquidated"
    rows = [f"{number},001,{kind},{entered},CN,1,9503000073,{value},0.00,{liquidated},{status}"]
    rows += [
        f"{number},001,{kind},{entered},CN,{i},{heading}00,0,{duty},{liquidated},{status}"
        for i, (heading, duty) in enumerate(chapter99.items(), start=2)
    ]
    return rows


def _report(rows: list[str], as_of: date = AS_OF) -> Report:
    schedule = load_schedule(BUNDLED).schedule
    records = csv.reader([HEADER, *rows])
    return build_report(records, schedule, as_of=as_of)


GENEVA = {"99030125": "1000.00", "99030124": "2000.00"}  # 10% + 20% on 10,000


@pytest.mark.parametrize(
    ("kind", "liquidated", "route"),
    [
        ("01", "", "cape"),  # unliquidated
        ("01", str(AS_OF - timedelta(days=80)), "cape"),  # liquidated 80 days ago
        ("01", str(AS_OF - timedelta(days=81)), "protest"),
        ("01", str(AS_OF - timedelta(days=180)), "protest"),
        ("01", str(AS_OF - timedelta(days=181)), "finally-liquidated"),
        ("08", "", "excluded"),
        ("09", "", "excluded"),
        ("47", "", "excluded"),
    ],
)
def test_route_by_type_and_liquidation(kind: str, liquidated: str, route: str) -> None:
    report = _report(_entry("ABC12345675", "2025-05-20", GENEVA, kind=kind, liquidated=liquidated))
    (entry,) = report.entries
    assert entry.route == route


def test_no_ieepa_paid_is_route_none() -> None:
    report = _report(_entry("ABC12345675", "2025-01-15", {}))
    assert report.entries[0].route == "none"
    assert report.cape == ()


def test_deadlines_and_urgent_entries_first() -> None:
    rows = [
        *_entry("AAA00000001", "2025-05-20", GENEVA),  # PSC window: 300 days from entry
        *_entry("BBB00000002", "2025-05-20", GENEVA, liquidated="2025-12-01"),  # protest
    ]
    report = _report(rows, as_of=date(2026, 5, 1))
    first, second = report.entries
    assert (first.entry_number, first.deadline) == ("BBB00000002", date(2026, 5, 30))
    assert first.deadline_kind == "protest"
    assert second.deadline is None  # 300 days from 2025-05-20 passed on 2026-03-16


def test_paid_and_expected_ieepa_at_the_entry_date() -> None:
    report = _report(_entry("ABC12345675", "2025-05-20", GENEVA))
    (entry,) = report.entries
    assert report.ieepa_paid(entry) == Decimal("3000.00")
    assert report.ieepa_expected(entry) == Decimal("3000.00")
    assert [d for line in entry.lines.values() for d in line.deviations()] == []


def test_wrong_period_heading_is_missing_plus_wrong_period() -> None:
    """9903.01.63 (125%) filed on a Geneva-date entry: the 10% heading is expected instead."""
    rows = _entry("ABC12345675", "2025-05-20", {"99030163": "12500.00", "99030124": "2000.00"})
    (entry,) = _report(rows).entries
    found = {(d.kind, d.heading) for line in entry.lines.values() for d in line.deviations()}
    assert found == {("missing", "99030125"), ("wrong-period", "99030163")}


def test_amount_off_by_more_than_half_a_percent() -> None:
    rows = _entry("ABC12345675", "2025-05-20", {"99030125": "1005.01", "99030124": "2010.00"})
    (entry,) = _report(rows).entries
    kinds = [(d.kind, d.heading) for line in entry.lines.values() for d in line.deviations()]
    assert kinds == [("amount-off", "99030125")]  # 0.501% off; 2010 is exactly 0.5% off


def test_cape_files_dedupe_chunk_and_skip_bad_numbers() -> None:
    rows = []
    for n in range(7):
        rows += _entry(f"ABC{n:08d}", "2025-05-20", GENEVA)
    rows += _entry("ABC00000003", "2025-05-20", GENEVA)  # again, in another place
    rows += _entry("AB-1", "2025-05-20", GENEVA)  # malformed
    schedule = load_schedule(BUNDLED).schedule
    rules = replace(load_rules(), cape_max_entries=3)
    report = build_report(csv.reader([HEADER, *rows]), schedule, as_of=AS_OF, rules=rules)
    assert [len(f) for f in report.cape] == [3, 3, 1]
    assert sorted(n for f in report.cape for n in f) == [f"ABC{n:08d}" for n in range(7)]
    assert report.bad_numbers == ("AB1",)


def _reference_interest(principal: Decimal, start: date, end: date, annual: Fraction) -> Decimal:
    """Daily compounding by exact fractions, day by day, each year over its own length."""
    balance = Fraction(principal)
    day = start
    while day < end:
        length = 366 if date(day.year, 12, 31).timetuple().tm_yday == 366 else 365
        balance *= 1 + annual / length
        day += timedelta(days=1)
    cents = (balance - Fraction(principal)) * 100
    return Decimal(int(cents + Fraction(1, 2))) / 100


@given(
    principal=st.decimals(min_value=1, max_value=10**7, places=2),
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 3, 30)),
    days=st.integers(min_value=0, max_value=450),
)
def test_interest_matches_exact_daily_compounding(
    principal: Decimal, start: date, days: int
) -> None:
    end = min(start + timedelta(days=days), date(2026, 4, 1))
    rates = (InterestRate(date(2025, 1, 1), Decimal("0.06"), Decimal("0.07"), "test", ""),)
    amount, note = estimate_interest(principal, start, end, rates, corporate=True)
    assert note is None
    assert abs(amount - _reference_interest(principal, start, end, Fraction(6, 100))) <= Decimal(
        "0.01"
    )


def test_interest_stops_where_the_rate_is_unconfirmed() -> None:
    rates = load_interest()
    amount, note = estimate_interest(
        Decimal(1000), date(2026, 3, 1), date(2026, 6, 1), rates, corporate=False
    )
    whole, _ = estimate_interest(
        Decimal(1000), date(2026, 3, 1), date(2026, 4, 1), rates, corporate=False
    )
    assert note is not None and note.startswith("interest stops at 2026-04-01")
    assert amount == whole > 0


def test_every_rule_and_rate_cites_a_source() -> None:
    rules = load_rules()
    assert all(rules.sources.values())
    for rate in load_interest():
        assert rate.source or rate.unconfirmed


def test_cli_json_contract_and_cape_files(tmp_path: Path) -> None:
    entries = tmp_path / "es003.csv"
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    rows += _entry(
        "ABC12345683",
        "2025-04-15",
        {"99030163": "6250.00", "99030124": "1000.00"},
        liquidated="2025-10-01",
        value="5000.00",
    )
    entries.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    cape = tmp_path / "cape"
    done = run_child(
        [
            "refund",
            str(entries),
            "--as-of",
            "2026-03-20",
            "--format",
            "json",
            "--cape-dir",
            str(cape),
        ]
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [e["entry_number"] for e in document["entries"]] == ["ABC12345683", "ABC12345675"]
    first = document["entries"][0]
    assert {k: first[k] for k in ("route", "ieepa_paid", "ieepa_expected", "deadline")} == {
        "route": "protest",
        "ieepa_paid": "7250.00",
        "ieepa_expected": "7250.00",
        "deadline": "2026-03-30",
    }
    assert document["totals"]["ieepa_paid"] == "10250.00"
    assert document["notice"].startswith("Not legal advice")
    assert len(document["data_sha256"]) == 64
    assert (cape / "cape-001.csv").read_text(encoding="utf-8") == "Entry Number\nABC12345675\n"
    assert sorted(p.name for p in cape.iterdir()) == ["cape-001.csv"]


def test_cli_audit_exit_and_csv(tmp_path: Path) -> None:
    entries = tmp_path / "es003.csv"
    rows = _entry("ABC12345675", "2025-05-20", {"99030163": "12500.00", "99030124": "2000.00"})
    entries.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    done = run_child(["audit", str(entries), "--format", "csv"])
    assert done.returncode == 1
    kinds = [(r["kind"], r["heading"]) for r in csv.DictReader(done.stdout.splitlines())]
    assert kinds == [("missing", "99030125"), ("wrong-period", "99030163")]


def test_cli_bad_rows_and_missing_columns(tmp_path: Path) -> None:
    entries = tmp_path / "es003.csv"
    entries.write_text("Entry Number,Entry Date\nABC12345675,2025-05-20\n", encoding="utf-8")
    done = run_child(["refund", str(entries)])
    assert done.returncode == 1
    assert done.stderr.startswith("tradecalc: error: entries file: missing column(s) line, type")
    assert "Traceback" not in done.stderr
