"""Refunds and audits of past entries: routes, deadlines, deviations, interest, CAPE files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.analysis import refund
from tradecalc.analysis.refund import (
    NOTICE,
    InterestRate,
    Report,
    build_report,
    estimate_interest,
    load_interest,
    load_rules,
    read_liquidation,
)
from tradecalc.core.errors import DataError, WriteError
from tradecalc.core.files import CsvRecords
from tradecalc.engine.assessment import Shipment, assess, dated_view
from tradecalc.render import refund as render_refund
from tradecalc.schedule.load import load_schedule

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


# ----------------------------------------------------------------------------- issue 16 gaps

FLAGS = ",Reconciliation Flag,Drawback Flag,Open Protest,ADCVD Flag"


def _flagged(flag: str) -> list[str]:
    cells = {"reconciliation": "Y,N,N,N", "drawback": "N,Y,N,N", "protest": "N,N,Y,N"}
    cells["adcvd"] = "N,N,N,Y"
    return [f"{row},{cells[flag]}" for row in _entry("ABC12345675", "2025-05-20", GENEVA)]


@pytest.mark.parametrize("flag", ["drawback", "protest", "adcvd"])
def test_flagged_entries_are_excluded(flag: str) -> None:
    schedule = load_schedule(BUNDLED).schedule
    report = build_report(csv.reader([HEADER + FLAGS, *_flagged(flag)]), schedule, as_of=AS_OF)
    assert report.entries[0].route == "excluded"
    assert report.cape == ()


@pytest.mark.parametrize(
    ("as_of", "route", "filed"),
    [(date(2026, 6, 28), "excluded", 0), (date(2026, 6, 29), "reconciliation", 1)],
)
def test_reconciliation_flag_joins_cape_from_29_june_2026(
    as_of: date, route: str, filed: int
) -> None:
    schedule = load_schedule(BUNDLED).schedule
    rows = _flagged("reconciliation")
    report = build_report(csv.reader([HEADER + FLAGS, *rows]), schedule, as_of=as_of)
    assert report.entries[0].route == route
    assert sum(len(f) for f in report.cape) == filed


def test_header_names_ignore_case_spaces_and_punctuation() -> None:
    mangled = ",".join(
        f"  {name.upper().replace(' ', '_')} " if i % 2 else name.lower().replace(" ", "")
        for i, name in enumerate(HEADER.split(","))
    )
    schedule = load_schedule(BUNDLED).schedule
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    plain = build_report(csv.reader([HEADER, *rows]), schedule, as_of=AS_OF)
    other = build_report(csv.reader([mangled, *rows]), schedule, as_of=AS_OF)
    assert [(e.entry_number, e.route, e.interest) for e in other.entries] == [
        (e.entry_number, e.route, e.interest) for e in plain.entries
    ]
    assert plain.ieepa_paid(plain.entries[0]) == other.ieepa_paid(other.entries[0]) == 3000


def test_own_short_header_for_people_without_ace() -> None:
    short = "entry,line,type,date,origin,ordinal,hts,value,duty"
    rows = [",".join(r.split(",")[:9]) for r in _entry("ABC12345675", "2025-05-20", GENEVA)]
    report = build_report(csv.reader([short, *rows]), load_schedule(BUNDLED).schedule, as_of=AS_OF)
    assert report.entries[0].route == "cape"
    assert report.ieepa_expected(report.entries[0]) == Decimal("3000.00")


def test_repeated_header_field_is_refused() -> None:
    with pytest.raises(DataError, match="two columns give the entry field"):
        _report_from([HEADER + ",Entry Number"])


def _report_from(lines: list[str], **kwargs: object) -> Report:
    schedule = load_schedule(BUNDLED).schedule
    return build_report(csv.reader(lines), schedule, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]


def test_bad_rows_are_reported_by_row_number_and_the_rest_counted() -> None:
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    rows[1] = rows[1].replace("2025-05-20", "2025-13-01")
    rows.append("ABC12345683,001,01,2025-05-20,CN,1,,5,0,,")
    report = _report_from([HEADER, *rows])
    assert report.bad_rows == (
        (2, "entry date '2025-13-01' is not YYYY-MM-DD or MM/DD/YYYY"),
        (4, "hts is empty"),
    )
    assert report.ieepa_paid(report.entries[0]) == Decimal("2000.00")  # row 2 not counted


def test_repeated_tariff_ordinal_is_reported_and_not_counted_twice() -> None:
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    report = _report_from([HEADER, *rows, rows[2]])
    assert report.bad_rows == (
        (4, "entry ABC12345675 line 001 ordinal 3 repeats row 3: not counted twice"),
    )
    assert report.ieepa_paid(report.entries[0]) == Decimal("3000.00")


def test_entry_number_spelled_with_dashes_and_lower_case_is_one_entry() -> None:
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    rows += _entry("abc-1234567-5", "2025-05-20", GENEVA)[:1]  # a second line, other spelling
    rows[-1] = rows[-1].replace(",001,", ",002,")
    report = _report_from([HEADER, *rows])
    assert [e.entry_number for e in report.entries] == ["ABC12345675"]
    assert sorted(report.entries[0].lines) == ["001", "002"]
    assert report.bad_numbers == ()


def test_liquidation_file_sets_the_route() -> None:
    bad: list[tuple[int, str]] = []
    es701 = [
        "entry summary number,LIQUIDATION DATE,Liquidation Status",
        "ABC12345675,12/01/2025,Liquidated",
        "ABC12345683,2026-02-30,Liquidated",
        "ABC12345691,,Unliquidated",
    ]
    known = read_liquidation(csv.reader(es701), bad)
    assert known == {
        "ABC12345675": (date(2025, 12, 1), "liquidated"),
        "ABC12345691": (None, "unliquidated"),
    }
    assert bad == [
        (2, "liquidation file: liquidation date '2026-02-30' is not YYYY-MM-DD or MM/DD/YYYY")
    ]
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)  # unliquidated in its own columns
    report = _report_from([HEADER, *rows], liquidation=known, bad_rows=bad)
    entry = report.entries[0]
    assert (entry.route, entry.deadline) == ("protest", date(2026, 5, 30))
    assert report.bad_rows == tuple(bad)


def test_csv_records_stop_on_an_unclosed_quote() -> None:
    lines = [HEADER + "\n", '"ABC12345675,001\n', *(["x" * 50 + "\n"] * 10)]
    with pytest.raises(
        DataError, match=r"^entries file: CSV record at line 2 is longer than 400 characters"
    ):
        list(refund.read_rows(CsvRecords(lines, "entries file", max_record=400)))


def _reference_by_day(principal: Decimal, start: date, end: date, annual: object) -> Decimal:
    """Daily compounding by exact fractions with the rate of each day (``annual(day)``)."""
    balance = Fraction(principal)
    day = start
    while day < end:
        length = 366 if date(day.year, 12, 31).timetuple().tm_yday == 366 else 365
        balance *= 1 + annual(day) / length  # type: ignore[operator]
        day += timedelta(days=1)
    cents = (balance - Fraction(principal)) * 100
    return Decimal(int(cents + Fraction(1, 2))) / 100


QUARTERS = (
    InterestRate(date(2025, 1, 1), Decimal("0.06"), Decimal("0.07"), "test", ""),
    InterestRate(date(2025, 4, 1), Decimal("0.08"), Decimal("0.09"), "test", ""),
    InterestRate(date(2025, 7, 1), Decimal("0.05"), Decimal("0.06"), "test", ""),
    InterestRate(date(2025, 10, 1), Decimal("0.07"), Decimal("0.08"), "test", ""),
    InterestRate(date(2026, 1, 1), Decimal("0.06"), Decimal("0.07"), "test", ""),
)


@given(
    principal=st.decimals(min_value=1, max_value=10**7, places=2),
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 6, 30)),
    days=st.integers(min_value=0, max_value=500),
    corporate=st.booleans(),
)
def test_interest_across_quarter_boundaries_for_both_classes(
    principal: Decimal, start: date, days: int, corporate: bool
) -> None:
    end = start + timedelta(days=days)

    def annual(day: date) -> Fraction:
        rate = [r for r in QUARTERS if r.start <= day][-1]
        return Fraction(rate.corporate if corporate else rate.non_corporate)  # type: ignore[arg-type]

    amount, note = estimate_interest(principal, start, end, QUARTERS, corporate=corporate)
    assert note is None
    assert abs(amount - _reference_by_day(principal, start, end, annual)) <= Decimal("0.01")


def test_quarter_boundary_day_takes_the_new_rate() -> None:
    """One day of interest on 1 April 2025 is at the second quarter's rate, not the first's."""
    one_day = date(2025, 4, 1), date(2025, 4, 2)
    corporate, _ = estimate_interest(Decimal(365_000), *one_day, QUARTERS, corporate=True)
    other, _ = estimate_interest(Decimal(365_000), *one_day, QUARTERS, corporate=False)
    assert (corporate, other) == (Decimal("80.00"), Decimal("90.00"))
    before, _ = estimate_interest(
        Decimal(365_000), date(2025, 3, 31), date(2025, 4, 1), QUARTERS, corporate=True
    )
    assert before == Decimal("60.00")


@given(
    first=st.decimals(min_value=1, max_value=10**7, places=2),
    second=st.decimals(min_value=0, max_value=10**7, places=2),
    code=st.sampled_from(["9503.00.0073", "6110.20.2079", "8504.40.9580", "8471.30.0100"]),
    day=st.dates(min_value=date(2025, 2, 4), max_value=date(2026, 7, 23)),
)
def test_memoised_layers_equal_the_engine_line_by_line(
    first: Decimal, second: Decimal, code: str, day: date
) -> None:
    """The second line of a (code, date) is priced from the memo: it must equal the engine."""
    schedule = load_schedule(BUNDLED).schedule
    expected = refund.Expected(schedule)
    digits = code.replace(".", "")
    when = datetime(day.year, day.month, day.day)
    for origin in ("CN", "HK"):  # from the compiled table; Hong Kong: from the engine
        expected.assess(refund.LineResult("1", digits, origin, first), day)
        memo, review = expected.assess(refund.LineResult("2", digits, origin, second), day)
        shipment = Shipment(digits, second, origin=origin, entry=when, entry_type="formal")
        direct = assess(schedule, shipment, dated_view(when))  # a filed entry: formal
        assert memo == {
            line.heading.replace(".", ""): line.amount for line in direct.lines if line.heading
        }
        assert review == tuple(direct.review)
    assert expected.tables.at("US", "CN", digits, when) is not None


def test_exact_csv_report(tmp_path: Path) -> None:
    entries = tmp_path / "es003.csv"
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    rows += _entry("ABC12345683", "2025-05-20", {"99030125": "1100.00"}, liquidated="2025-12-01")
    rows += _entry("ABC12345691", "2025-01-15", {})
    entries.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    done = run_child(["refund", str(entries), "--as-of", "2026-03-20", "--format", "csv"])
    assert done.returncode == 0, done.stderr  # deviations are audit's exit status
    assert done.stderr == f"{NOTICE}\n"
    lines = done.stdout.splitlines()
    version = lines[1].split(",")[-2:]
    assert [",".join(line.split(",")[:-2]) for line in lines] == [
        "entry_number,route,ieepa_paid,ieepa_expected,section_122_paid,interest,deadline,"
        "deadline_kind,deviations,status,review",
        "ABC12345675,cape,3000.00,3000.00,0.00,153.71,,,,ok,",
        "ABC12345683,protest,1100.00,3000.00,0.00,56.36,2026-05-30,protest,"
        '"line 001: missing 9903.01.24; line 001: amount off 9903.01.25: paid 1100.00, '
        'expected 1000.00",ok,',
        "ABC12345691,none,0.00,0.00,0.00,0.00,,,,ok,",
    ]
    assert all(line.split(",")[-2:] == version for line in lines[1:])


def test_cape_files_at_the_real_limits(tmp_path: Path) -> None:
    """20,001 distinct eligible entries, one listed twice: 9,999 + 9,999 + 3, each < 1 MB."""
    entries = tmp_path / "es003.csv"
    with entries.open("w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for n in [*range(20_001), 7]:
            for row in _entry(f"ABC{n:08d}", "2025-05-20", {"99030125": "1000.00"}):
                out.write(row + "\n")
    cape = tmp_path / "cape"
    done = run_child(["refund", str(entries), "--as-of", "2026-03-20", "--cape-dir", str(cape)])
    assert done.returncode == 1, done.stderr  # every entry misses 9903.01.24: review
    names = sorted(p.name for p in cape.iterdir())
    assert names == ["cape-001.csv", "cape-002.csv", "cape-003.csv"]
    numbers = []
    for name, count in zip(names, (9_999, 9_999, 3), strict=True):
        data = (cape / name).read_bytes()
        assert len(data) < 1_000_000
        lines = data.decode("ascii").split("\n")
        assert lines[0] == "Entry Number" and lines[-1] == ""
        assert len(lines) - 2 == count
        numbers += lines[1:-1]
    assert numbers == [f"ABC{n:08d}" for n in range(20_001)]


@pytest.mark.parametrize("command", ["refund", "audit"])
@pytest.mark.parametrize("output", ["table", "json", "csv"])
def test_not_legal_advice_is_said_once_in_every_format(
    tmp_path: Path, command: str, output: str
) -> None:
    entries = tmp_path / "es003.csv"
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    entries.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    done = run_child([command, str(entries), "--format", output])
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("Not legal advice") == 1


def test_cli_reads_stdin_and_a_liquidation_file(tmp_path: Path) -> None:
    es701 = tmp_path / "es701.csv"
    es701.write_text("Entry Number,Liquidation Date\nABC12345675,2025-12-01\n", encoding="utf-8")
    text = "\n".join([HEADER, *_entry("ABC12345675", "2025-05-20", GENEVA)]) + "\n"
    args = ["refund", "-", "--as-of", "2026-03-20", "--format", "json", "--liquidation"]
    done = run_child([*args, str(es701)], stdin=text)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["entries"]
    assert (entry["route"], entry["deadline"]) == ("protest", "2026-05-30")


def test_cli_unclosed_quote_swallowing_the_file_is_a_bad_row(tmp_path: Path) -> None:
    entries = tmp_path / "es003.csv"
    entries.write_text(HEADER + '\n"ABC12345675,001\n' + "x\n" * 3, encoding="utf-8")
    done = run_child(["refund", str(entries)])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "1 rows could not be read (first: row 1: line is empty)" in done.stdout


@pytest.mark.parametrize("entries", [0, 1, 3])
def test_json_written_in_pieces_is_the_whole_document(entries: int) -> None:
    """The streamed JSON equals the same document dumped whole (same text, not just data)."""
    rows = [r for n in range(entries) for r in _entry(f"ABC{n:08d}", "2025-05-20", GENEVA)]
    report = _report_from([HEADER, *rows])
    text = render_refund.report_json(report, "v1", "0" * 64)
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert len(document["entries"]) == entries
    rows[1::3] = [r.replace("1000.00", "900.00") for r in rows[1::3]]  # amount off, each entry
    report = _report_from([HEADER, *rows])
    text = render_refund.audit_json(report, "v1", "0" * 64)
    audit = json.loads(text)
    assert text == json.dumps(audit, indent=2, ensure_ascii=False) + "\n"
    assert (len(audit["deviations"]), audit["by_kind"]) == (
        entries,
        {"amount-off": entries} if entries else {},
    )
    pieces = list(render_refund.report_csv_chunks(report, "v1", "0" * 64))
    assert len(pieces) == entries + 1
    assert [len(r) for r in csv.reader("".join(pieces).splitlines())] == [13] * (entries + 1)


def test_a_code_the_engine_refuses_is_review_on_every_line_that_uses_it() -> None:
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    rows += [r.replace(",001,", ",002,") for r in rows]
    rows = [r.replace("9503000073", "9503009999") for r in rows]
    (entry,) = _report_from([HEADER, *rows]).entries
    reviews = [line.review for line in entry.lines.values()]
    assert len(reviews) == 2 and reviews[0] == reviews[1]
    assert "9503.00.9999" in reviews[0][0] or "9503009999" in reviews[0][0]


# ----------------------------------------------------------------------------- bounded memory

SCHEDULE = load_schedule(BUNDLED).schedule


def _rendered(report: Report) -> tuple[object, ...]:
    """Everything a report prints or files, as text."""
    with report:
        return (
            render_refund.report_json(report, "v1", "0" * 64),
            render_refund.report_csv(report, "v1", "0" * 64),
            render_refund.audit_json(report, "v1", "0" * 64),
            tuple(map(tuple, report.cape_chunks())),
            tuple(report.bad_rows),
            report.summary,
        )


_ENTRY_KINDS = [
    ("2025-05-20", GENEVA, "01", ""),  # cape, PSC deadline passed
    ("2025-06-01", GENEVA, "01", "2026-01-05"),  # cape, 80-day cut-off within 30 days
    ("2025-05-20", {"99030125": "1100.00"}, "01", "2025-10-01"),  # protest, soon, amount off
    ("2025-05-20", GENEVA, "01", "2025-06-01"),  # finally liquidated
    ("2025-05-20", GENEVA, "47", ""),  # excluded
    ("2025-01-15", {}, "01", ""),  # none
    ("2025-06-10", {"99030163": "12500.00"}, "01", "2026-01-20"),  # wrong period, urgent
]


@given(
    picks=st.lists(st.sampled_from(range(len(_ENTRY_KINDS))), min_size=1, max_size=12),
    numbers=st.lists(st.sampled_from(["ABC", "XYZ", "A-C", "Q9Z"]), min_size=12, max_size=12),
    order=st.randoms(use_true_random=False),
    broken=st.sets(st.integers(min_value=0, max_value=60), max_size=3),
)
def test_spilled_report_equals_the_in_memory_one(
    picks: list[int], numbers: list[str], order: object, broken: set[int]
) -> None:
    """Rows of random entries in a random order (an entry's rows scattered, some rows repeated
    or broken): the report built through the temporary file equals the in-memory one."""
    rows = []
    for n, pick in enumerate(picks):
        entered, chapter99, kind, liquidated = _ENTRY_KINDS[pick]
        number = f"{numbers[n]}{n % 5:08d}"  # some numbers repeat: their rows form one entry
        lines = _entry(number, entered, chapter99, kind=kind, liquidated=liquidated)
        rows += [*lines, lines[0].replace(",001,", ",002,")]
    rows += rows[:2]  # repeated ordinals
    rows = [r.replace("2025-", "2025-13-", 1) if i in broken else r for i, r in enumerate(rows)]
    order.shuffle(rows)  # type: ignore[attr-defined]
    records = [HEADER.split(","), *csv.reader(rows)]
    memory = build_report(iter(records), SCHEDULE, as_of=AS_OF, spill_rows=10**6)
    spilled = build_report(iter(records), SCHEDULE, as_of=AS_OF, spill_rows=0)
    assert memory.spill is None and spilled.spill is not None
    folder = spilled.spill.folder
    assert _rendered(spilled) == _rendered(memory)
    assert not folder.exists()


def test_spilled_sequences_index_like_tuples() -> None:
    rows = [r for n in range(3) for r in _entry(f"ABC{n:08d}", "2025-05-20", GENEVA)]
    with _report_from([HEADER, *rows], spill_rows=1) as report:
        assert len(report.entries) == 3
        assert [e.entry_number for e in report.entries] == [f"ABC{n:08d}" for n in range(3)]
        assert report.entries[-1].entry_number == report.entries[2].entry_number
        with pytest.raises(IndexError):
            _ = report.entries[3]
        assert report.bad_rows[:] == ()


def _spill_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("tradecalc-refund-")]


@pytest.mark.parametrize("made", ["spill.sqlite", "."])
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_temporary_file_is_removed_when_the_run_is_stopped(
    tmp_path: Path, stop: int, made: str
) -> None:
    """The real entry point reads more rows than it holds in memory from a pipe left open:
    once its temporary file (or just its folder) exists, Ctrl-C (or SIGTERM) ends the run
    and removes it."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradecalc", "refund", "-", "--as-of", "2026-03-20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write((HEADER + "\n").encode())
        for n in range(refund.SPILL_ROWS // 3 + 10):
            rows = _entry(f"ABC{n:08d}", "2025-05-20", GENEVA)
            proc.stdin.write(("\n".join(rows) + "\n").encode())
        proc.stdin.flush()
        end = time.monotonic() + 120
        while not any((p / made).exists() for p in _spill_folders(temp)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "no temporary file appeared"
            time.sleep(0.05)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + stop, err
    assert err.decode().startswith("tradecalc: error: ")
    assert _spill_folders(temp) == [], [list(p.iterdir()) for p in _spill_folders(temp)]


@given(st.decimals(min_value=0, max_value=Decimal("999999999999999.99"), places=2))
def test_amounts_read_directly_equal_parse_amount(amount: Decimal) -> None:
    text = f"{amount:.2f}"
    direct = refund._amount(text, "duty")
    parsed = refund.parse_amount(text, "duty")
    assert (direct, str(direct)) == (parsed, str(parsed)) or text in refund._ZEROS


def test_unusable_temporary_folder_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    rows = _entry("ABC12345675", "2025-05-20", GENEVA)
    with pytest.raises(WriteError, match=r"cannot use a temporary file in .*missing \("):
        _report_from([HEADER, *rows], spill_rows=1)
    assert not (tmp_path / "missing").exists()
    assert not refund._LIVE_SPILLS
