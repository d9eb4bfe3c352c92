"""The bundled US schedule history: its file, the provider over it, imports, code forms."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradecalc.hts.history import (
    Bundle,
    UsSchedule,
    bundle_dir,
    hts_number,
    known_revision,
    open_schedule,
    read_revisions,
)
from tradecalc.hts.store import ImportedSchedule, import_revision

from conftest import Run

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "data" / "hts"
HTS = ROOT.parent / "shared" / "data" / "usitc-hts-json"
GRAMMAR = Path(__file__).parent / "fixtures" / "hts_grammar.json"
needs_shared = pytest.mark.skipif(not HTS.is_dir(), reason=f"{HTS} is absent: shared data not here")


@cache
def intervals() -> dict[str, list[list[str]]]:
    """lines.tsv read plainly (the reference the binary search must agree with)."""
    found: dict[str, list[list[str]]] = {}
    with (BUNDLE / "lines.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                row = line.rstrip("\n").split("\t")
                found.setdefault(row[0], []).append(row)
    return found


def day(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ----------------------------------------------------------------------------- the file


def test_bundle_is_the_source_tree_copy() -> None:
    assert bundle_dir() == BUNDLE


def test_revision_table_is_ordered_and_complete() -> None:
    with (BUNDLE / "revisions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 44 and len({r["sha256"] for r in rows}) == 44
    assert all(r["date_source"] for r in rows)
    series = read_revisions(BUNDLE)
    assert [r.name for r in series][:2] == ["2025-basic", "2025-rev-1"]
    assert series[-1].name == "2026-rev-10" and series[-1].effective == date(2026, 6, 8)
    assert "2026-rev-8" not in {r.name for r in series}  # superseded by the retroactive Rev 9
    assert [r.effective for r in series] == sorted({r.effective for r in series})


def test_intervals_are_sorted_disjoint_and_start_on_revision_dates() -> None:
    starts = {r.effective.isoformat() for r in read_revisions(BUNDLE)}
    names = {r.name for r in read_revisions(BUNDLE)}
    codes = list(intervals())
    assert codes == sorted(codes) and len(codes) > 26_000
    for code, rows in intervals().items():
        assert code.isdigit() and len(code) in (4, 6, 8, 10) and code[:2] != "99"
        for row, following in zip(rows, [*rows[1:], None], strict=True):
            assert row[1] in starts and row[3] in names
            assert row[2] == "" or row[2] in starts
            if following is not None:
                assert row[2] and row[2] <= following[1]
            if row[5] == "none":
                assert row[6] == "" and row[7] == ""


def test_header_cites_the_source() -> None:
    head = (BUNDLE / "lines.tsv").read_text(encoding="utf-8").split("\n", 3)[:3]
    assert "USITC" in head[1] and "revisions.csv" in head[1]
    assert head[2].split("\t")[0] == "# code"


@needs_shared
@pytest.mark.shared
@pytest.mark.slow
def test_generator_reproduces_the_bundle_byte_for_byte(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_hts_history.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lines.tsv").read_bytes() == (BUNDLE / "lines.tsv").read_bytes()


@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize("name", ["2025-basic", "2025-rev-12", "2026-rev-10"])
def test_lines_in_force_are_the_export_parsed(name: str) -> None:
    """On a revision's date the bundle holds exactly that export's lines (ch. 01-98)."""
    from tradecalc.hts.parse import parse_export

    rev = next(r for r in read_revisions(BUNDLE) if r.name == name)
    parsed = parse_export(gzip.decompress((HTS / rev.file).read_bytes()), rev.file)
    expected = {line.code: line for line in parsed.lines if line.code[:2] != "99"}
    when = datetime(rev.effective.year, rev.effective.month, rev.effective.day)
    bundle = Bundle(BUNDLE)
    got: dict[str, object] = {}
    for chapter in sorted({code[:2] for code in expected}):
        got.update(bundle.lines(chapter, when))
    assert set(got) == set(expected)
    for code, line in expected.items():
        have = bundle.lines(code, when)[code]
        assert have.imported.text == line.general.text, code
        assert have.imported.kind == line.general.kind, code
        assert have.imported.rate == line.general.rate, code
        assert have.imported.headings == line.headings, code
        assert (have.units, have.description) == (line.units, line.description), code


# ----------------------------------------------------------------------------- lookups


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(intervals())),
    st.dates(date(2024, 12, 1), date(2026, 12, 31)),
)
def test_binary_search_agrees_with_a_plain_scan(code: str, when: date) -> None:
    text = when.isoformat()
    expected = [r for r in intervals()[code] if r[1] <= text and (not r[2] or text < r[2])]
    got = Bundle(BUNDLE).lines(code, datetime(when.year, when.month, when.day)).get(code)
    assert (got is not None) == bool(expected)
    if got is not None:
        (row,) = expected
        assert (got.imported.text, got.imported.kind, got.description) == (row[6], row[5], row[11])
        assert got.imported.source == f"usitc-hts-{row[3]}"


def test_prefixes_at_the_ends_of_the_file() -> None:
    bundle = Bundle(BUNDLE)
    assert bundle.rows("0000") == [] and bundle.rows("9999") == []
    first = next(iter(intervals()))
    assert bundle.rows(first)[0][0] == first


def test_ten_digit_line_inherits_its_eight_digit_rate() -> None:
    line = Bundle(BUNDLE).lines("0101210010", day("2025-06-01"))["0101210010"]
    assert (line.imported.code, line.imported.text, line.units) == ("0101.21.00", "Free", ("No.",))


def test_changes_take_effect_on_the_revision_date() -> None:
    schedule = UsSchedule(Bundle(BUNDLE), None)
    before = schedule.lookup("8507600010", day("2025-12-31T23:59"))
    after = schedule.lookup("8507600010", day("2026-01-01"))
    assert before is not None and after is not None
    assert "9903.91.06" not in before.headings and "9903.91.06" in after.headings
    assert after.source == "usitc-hts-2026-basic" and before.source == "usitc-hts-2025-basic"
    # 2026 Rev 2 (1 Feb 2026) splits 0709.51.01.00 into 0709.51.01.10 and .50
    assert schedule.resolve("0709510100", day("2026-01-31T23:59")).line is not None
    gone = schedule.resolve("0709510100", day("2026-02-01"))
    assert not gone.exists
    assert gone.nearest == ("0709.51.01", "0709.51.01.10", "0709.51.01.50")
    split = schedule.resolve("07095101", day("2026-02-01")).line
    assert split is not None and split.imported.text == "8.8¢/kg + 20%"


def test_no_revision_before_2025() -> None:
    schedule = UsSchedule(Bundle(BUNDLE), None)
    assert schedule.lookup("8507600010", day("2024-12-31")) is None
    assert schedule.describe(day("2024-12-31")) is None
    assert schedule.resolve("0000000000", day("2024-12-31")).exists  # nothing to check against
    assert schedule.describe(day("2026-12-02")) is not None
    assert "2026-rev-10" in (schedule.describe(day("2026-12-02")) or "")


def test_hts_number() -> None:
    assert [hts_number(c) for c in ("0101", "010121", "01012100", "0101210010")] == [
        "0101",
        "0101.21",
        "0101.21.00",
        "0101.21.00.10",
    ]


def test_short_codes_resolve_only_when_every_line_agrees() -> None:
    schedule = UsSchedule(Bundle(BUNDLE), None)
    when = day("2025-06-01")
    same = schedule.resolve("850760", when)
    assert same.line is not None and same.line.imported.text == "3.4%"
    differ = schedule.resolve("85444290", when)
    assert differ.line is None and differ.exists
    assert [line.htsno for line in differ.under] == ["8544.42.90.10", "8544.42.90.90"]
    assert "9903.88.69" in differ.under[1].outcome


def test_missing_code_names_its_parent_and_siblings() -> None:
    schedule = UsSchedule(Bundle(BUNDLE), None)
    when = day("2025-06-01")
    missing = schedule.resolve("8507600099", when)
    assert not missing.exists
    assert missing.nearest[0] == "8507.60.00"
    assert all(code.startswith("8507.60.00.") for code in missing.nearest[1:])
    heading = schedule.resolve("8599", when)
    assert heading.nearest and all(code.startswith("85") for code in heading.nearest)
    assert schedule.nearest("8507600099", when)[0] == "8507.60.00"


def _plain_nearest(digits: str, family: set[str]) -> tuple[str, ...]:
    """The parent and nearest siblings of a missing code, by plain scans of ``family``."""
    parent = next((digits[:n] for n in (8, 6, 4) if n < len(digits) and digits[:n] in family), "")
    level = len(digits) if parent else 4
    siblings = [c for c in family if c.startswith(parent) and c != parent and len(c) == level]
    if not siblings and parent:
        depth = min((len(c) for c in family if c.startswith(parent) and c != parent), default=0)
        siblings = [c for c in family if c.startswith(parent) and len(c) == depth]
    siblings.sort(key=lambda c: (abs(int(c) - int(digits[: len(c)].ljust(len(c), "0"))), c))
    return tuple(hts_number(c) for c in ([parent] if parent else []) + sorted(siblings[:3]))


CODE_PARTS = st.lists(st.sampled_from("0159"), min_size=4, max_size=10)


@settings(max_examples=400, deadline=None)
@given(
    st.sets(CODE_PARTS.map("".join).filter(lambda c: len(c) in (4, 6, 8, 10)), max_size=40),
    CODE_PARTS.map("".join).filter(lambda c: len(c) in (4, 6, 8, 10)),
)
def test_nearest_codes_by_binary_search_agree_with_plain_scans(
    family: set[str], digits: str
) -> None:
    """The parent and siblings of a missing code, found by binary search in the sorted
    codes, are those plain scans of every code find (few digits: many shared prefixes)."""
    from tradecalc.hts.history import _nearest

    family = {c[:n] for c in family for n in (4, 6, 8, 10) if n <= len(c)}  # with parents
    family.discard(digits)
    assert _nearest(digits, sorted(family)) == _plain_nearest(digits, family)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(intervals())).flatmap(
        lambda code: (
            st.sampled_from([code[:n] for n in (2, 4, 6, 8, 10) if n <= len(code)])
            | st.just(code[:-1] + "9")
        )
    ),
    st.dates(date(2024, 12, 1), date(2026, 12, 31)),
)
def test_a_code_is_held_when_a_line_in_force_starts_with_it(code: str, when: date) -> None:
    """:meth:`Bundle.holds` (a binary search among the heading's codes) says whether any
    line in force starts with the code, as a plain scan of the file does."""
    text = when.isoformat()
    expected = any(
        name.startswith(code) and any(r[1] <= text and (not r[2] or text < r[2]) for r in rows)
        for name, rows in intervals().items()
    )
    assert Bundle(BUNDLE).holds(code, datetime(when.year, when.month, when.day)) == expected


# ----------------------------------------------------------------------------- imports


def test_known_revisions_by_sha256_or_name() -> None:
    assert known_revision("2025-rev-12", None) == ("2025-rev-12", date(2025, 5, 14))
    sha = "369170d51a419688d5e9e42c3eb91b6fdb861c3729a931b03277baab3e236b80"
    assert known_revision(None, sha) == ("2026-rev-10", date(2026, 6, 8))
    assert known_revision("2027-rev-1", "0" * 64) is None


def test_import_by_name_needs_no_effective_date(tmp_path: Path) -> None:
    rev, _ = import_revision(str(GRAMMAR), "2025-rev-19", directory=tmp_path)
    assert rev.effective == date(2025, 8, 18)


@needs_shared
@pytest.mark.shared
def test_import_of_a_shared_export_needs_no_name_or_date(tmp_path: Path) -> None:
    rev, _ = import_revision(str(HTS / "hts_2025_rev_5.json.gz"), directory=tmp_path)
    assert (rev.name, rev.effective) == ("2025-rev-5", date(2025, 3, 14))


def test_a_later_import_extends_the_history(tmp_path: Path) -> None:
    import_revision(str(GRAMMAR), "2026-rev-11", date(2026, 7, 1), directory=tmp_path)
    imported = ImportedSchedule.open(tmp_path)
    schedule = UsSchedule(Bundle(BUNDLE), imported)
    try:
        assert schedule.starts()[-1] == day("2026-07-01")
        before = schedule.lookup("0101300000", day("2026-06-30"))
        after = schedule.lookup("0101300000", day("2026-07-01"))
        assert before is not None and before.source == "usitc-hts-2025-basic"
        assert after is not None and after.source == "usitc-hts-2026-rev-11"
        assert "imported" in (schedule.describe(day("2026-12-02")) or "")
        assert "usitc-hts-2026-rev-11" in schedule.sources()
        # a code the import lacks is not in the schedule from its date on
        assert not schedule.resolve("8507600010", day("2026-07-01")).exists
        assert schedule.resolve("8507600010", day("2026-06-30")).line is not None
    finally:
        schedule.close()  # its imported revision's connection too


def test_provider_survives_pickling_for_worker_processes() -> None:
    import pickle

    schedule = open_schedule()
    assert schedule is not None
    copy = pickle.loads(pickle.dumps(schedule))
    when = day("2025-06-01")
    assert copy.lookup("0101210010", when) == schedule.lookup("0101210010", when)


# ----------------------------------------------------------------------------- the CLI

Cli = Callable[..., Run]


@pytest.mark.parametrize(
    "code", ["0101.30.0000", "0101300000", "0101 30 00 00", "0101.30", "010130", "0101 30"]
)
def test_every_form_of_a_code_prices_the_same(cli: Cli, code: str) -> None:
    run = cli("duty", "1000", "--hs", code, "--date", "2025-06-01", "--format", "json")
    assert run.code == 0, run.out
    result = json.loads(run.out)["results"][0]
    base = next(line for line in result["lines"] if line["measure"] == "us-mfn")
    assert (base["rate"], base["amount"], base["source"]) == (
        "6.8%",
        "68.00",
        ["usitc-hts-2025-basic"],
    )


def test_a_short_code_over_different_lines_lists_them(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "8544.42.90", "--date", "2025-06-01")
    assert run.code == 1
    assert "8544.42.90 covers 2 tariff lines that differ on 2025-06-01" in run.out
    assert "8544.42.90.90: 2.6% (see 9903.88.03, 9903.88.69)" in run.out


def test_a_code_not_in_the_schedule_is_a_usage_error(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "8507.60.0099", "--date", "2025-06-01")
    assert run.code == 2
    assert run.err.startswith(
        "tradecalc: error: HS code 8507.60.0099 is not in the US tariff schedule in force on "
        "2025-06-01 (USITC HTS 2025-rev-13"
    )
    assert "nearest codes: 8507.60.00, 8507.60.00.10" in run.err


def test_no_hts_keeps_curated_only(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "8507.60.0099", "--date", "2025-06-01", "--no-hts")
    assert run.code == 1
    assert "no US base (MFN) rate for 8507.60.0099" in run.out


def test_rates_shows_a_base_rate_once_while_it_does_not_change(cli: Cli) -> None:
    run = cli("rates", "0101.30.0000")
    assert run.code == 0
    rows = [
        [word for word in line.split() if word != "to"]
        for line in run.out.splitlines()
        if " us-mfn " in line
    ]
    assert [row[:2] for row in rows] == [["2025-01-01", "open"]]
    assert "6.8%" in rows[0]


def test_days_around_every_start_use_the_revision_in_force() -> None:
    schedule = UsSchedule(Bundle(BUNDLE), None)
    revs = read_revisions(BUNDLE)
    for rev, following in zip(revs, [*revs[1:], None], strict=True):
        start = datetime(rev.effective.year, rev.effective.month, rev.effective.day)
        assert rev.title == schedule.describe(start)
        if following is not None:
            last = datetime.combine(following.effective - timedelta(days=1), datetime.max.time())
            assert schedule.describe(last) == rev.title


BASKET = ROOT.parent / "shared" / "data" / "trade" / "us-imports-from-china-2024-hs10.csv"


@pytest.mark.shared
@pytest.mark.skipif(not BASKET.is_file(), reason=f"{BASKET} is absent: shared data not here")
def test_coverage_report_runs_and_the_bundle_reduces_review() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report_us_coverage.py"), "--limit", "40"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shares = [
        (line.split()[0], float(line.split(":")[1].split("%")[0]))
        for line in done.stdout.splitlines()
        if "needs review:" in line
    ]
    assert len(shares) >= 4 and len(shares) % 2 == 0  # each regime and today, twice
    for (before, curated), (after, bundled) in zip(shares[::2], shares[1::2], strict=True):
        assert (before, after) == ("curated", "bundled")
        assert bundled < curated


def test_hts_list_names_the_bundled_history(cli: Cli) -> None:
    run = cli("hts", "list")
    assert run.code == 0
    assert run.out.startswith(
        "bundled: 43 revisions, 2025-basic (2025-01-01) to 2026-rev-10 (2026-06-08), in "
    )


def test_a_line_without_any_rate_needs_review(cli: Cli) -> None:
    """2025 Rev 16 printed 9401.99.30.30 (no 8-digit parent, no rate) for a month."""
    run = cli("duty", "1000", "--hs", "9401.99.3030", "--date", "2025-07-15")
    assert run.code == 1
    assert "the rate of 9401.99.30.30 in usitc-hts-2025-rev-16 ('') cannot be computed" in run.out
