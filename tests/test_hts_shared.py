"""Every USITC export in ../shared/data: counts, rate kinds, inheritance, samples, Section 301.

Skipped with a message where ../shared/data is absent. The List 3 differences between the
footnotes and the compiled Section 301 lists are printed, not hidden.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from tradecalc.engine.assessment import RegimeView, Shipment, assess
from tradecalc.hts.base_rates import BaseRates
from tradecalc.hts.history import open_schedule
from tradecalc.hts.parse import COMPUTABLE, ParsedExport, clean_text, parse_export
from tradecalc.hts.store import ImportedSchedule, import_revision
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Scope

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HTS = SHARED / "usitc-hts-json"
LISTS = SHARED / "section301-lists" / "s301_product_lists.csv"
REVISIONS = ROOT / "data" / "hts" / "revisions.csv"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not HTS.is_dir(), reason=f"{HTS} is absent: shared USITC data not here"),
]

EXPECTED = {  # rows, HTS8 tariff lines in ch. 01-97 (research/data-sources.md, table of §1)
    "hts_2025_basic": (35_859, 11_413),
    "hts_2025_rev_11": (35_940, 11_414),
    "hts_2025_rev_12": (35_940, 11_414),
    "hts_2025_rev_32": (36_148, 11_414),
    "hts_2026_rev_9": (35_501, 11_414),
    "hts_2026_rev_10": (35_509, 11_414),
}
FILES = sorted(HTS.glob("hts_*.json.gz")) if HTS.is_dir() else []


@cache
def parsed(name: str) -> ParsedExport:
    return parse_export(gzip.decompress((HTS / f"{name}.json.gz").read_bytes()), name)


def _tariff_lines(export: ParsedExport) -> dict[str, object]:
    """HTS8 -> the line carrying its rate (ch. 01-97)."""
    found = {}
    for line in export.lines:
        if line.code[:2] <= "97" and line.rate_code == line.code and len(line.code) in (8, 10):
            found.setdefault(line.code[:8], line)
    return found


def test_every_file_is_covered() -> None:
    """Every export in ../shared is a revision of the project's table, with its sha256, and
    every revision the source's date table names has its export."""
    with REVISIONS.open(encoding="utf-8", newline="") as handle:
        table = {row["file"]: row["sha256"] for row in csv.DictReader(handle)}
    assert {f.name for f in FILES} == set(table)
    for path in FILES:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == table[path.name], path.name
    with (HTS / "revision_dates.csv").open(encoding="utf-8", newline="") as handle:
        dated = {row["revision"] for row in csv.DictReader(handle)}
    assert {f"hts_{r if r[:2] == '20' else '2025_' + r}.json.gz" for r in dated} <= set(table)
    assert set(EXPECTED) <= {name.removesuffix(".json.gz") for name in table}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_kinds_and_inheritance(name: str) -> None:
    export = parsed(name)
    assert (export.rows, export.tariff_lines) == EXPECTED[name]
    lines = _tariff_lines(export)
    assert len(lines) == export.tariff_lines
    kinds = {line.general.kind for line in lines.values()}  # type: ignore[attr-defined]
    assert "none" not in kinds  # every tariff line's rate is parsed or flagged
    assert kinds <= {*COMPUTABLE, "qualified", "unit", "text"}
    by_code = export.by_code()
    for line in export.lines:
        parent = by_code.get(line.code[:8])
        if len(line.code) == 10 and parent is not None and line.code[:2] <= "97":
            assert line.general == parent.general, line.htsno
            assert line.rate_code == parent.code
            assert set(parent.headings) <= set(line.headings)


def test_sample_rows_match_the_file() -> None:
    samples = json.loads((HTS / "hts_samples.json").read_text(encoding="utf-8"))
    checked = 0
    for sample in samples:
        row = sample["row"]
        if not row["htsno"]:
            continue
        line = parsed(sample["source_file"].removesuffix(".json.gz")).by_code()[
            row["htsno"].replace(".", "")
        ]
        if row["general"]:
            assert line.general.text == clean_text(row["general"]), row["htsno"]
            checked += 1
    assert checked >= 10


def _footnoted(export: ParsedExport) -> dict[str, set[str]]:
    headings: dict[str, set[str]] = {}
    for line in export.lines:
        if len(line.code) in (8, 10) and line.code[:2] <= "98":
            for heading in line.headings:
                headings.setdefault(heading, set()).add(line.code[:8])
    return headings


@pytest.mark.skipif(not LISTS.is_file(), reason=f"{LISTS} is absent")
def test_section_301_footnotes_agree_with_the_lists() -> None:
    compiled: dict[str, set[str]] = {}
    with LISTS.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            compiled.setdefault(row["ch99_code"], set()).add(row["hts8"])
    footnoted = _footnoted(parsed("hts_2026_rev_10"))
    report = []
    for label, heading, tolerance in (
        ("1", "9903.88.01", 2),
        ("2", "9903.88.02", 2),
        ("4A", "9903.88.15", 6),
        ("3", "9903.88.03", None),
    ):
        only_lists = compiled[heading] - footnoted.get(heading, set())
        only_notes = footnoted.get(heading, set()) - compiled[heading]
        report.append(
            f"List {label} ({heading}): {len(compiled[heading])} in the lists, "
            f"{len(footnoted.get(heading, set()))} footnoted; only in lists {len(only_lists)}"
            f" {sorted(only_lists)[:8]}; "
            f"only in footnotes {len(only_notes)} {sorted(only_notes)[:8]}"
        )
        if tolerance is not None:
            assert len(only_lists) + len(only_notes) <= tolerance, report[-1]
    print("\nSection 301 footnotes vs s301_product_lists.csv (2026 Rev 10):", *report, sep="\n  ")


# --------------------------------------------------------------------- same layers as curated

CODES = ("9503.00.0073", "8471.30.0100", "6110.11.0015")
WHEN = datetime(2025, 6, 1)
LIST_MEASURES = (
    "us-301-list1",
    "us-301-list2",
    "us-301-list3",
    "us-301-list3-8804",
    "us-301-list4a",
)


@pytest.fixture(scope="module")
def revision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportedSchedule]:
    folder = tmp_path_factory.mktemp("hts")
    import_revision(str(HTS / "hts_2025_rev_11.json.gz"), None, None, folder)
    imported = ImportedSchedule.open(folder)
    assert imported is not None
    yield imported
    imported.close()  # its connections, not left to the collector


def _layers(schedule: object, code: str, imported: BaseRates | None) -> list[tuple[str, ...]]:
    shipment = Shipment(code, Decimal(1000), entry=WHEN)
    result = assess(schedule, shipment, RegimeView("d", "d", WHEN), None, imported)  # type: ignore[arg-type]
    return [
        (line.measure, str(line.rate), str(line.amount), line.heading or "")
        for line in result.lines
        if line.group in ("base", "section-301")
    ]


def test_toys_laptop_sweater_same_mfn_and_301_from_the_import(revision: ImportedSchedule) -> None:
    curated = load_schedule(ROOT / "data" / "rates.yaml", use_cache=False).schedule
    stripped_digits = {c.replace(".", "") for c in CODES}
    measures = []
    for m in curated.measures:
        if m.id == "us-mfn":
            periods = tuple(
                replace(
                    p,
                    rates={
                        k: v
                        for k, v in p.rates.items()
                        if not any(d.startswith(k.replace(".", "")) for d in stripped_digits)
                    },
                )
                for p in m.periods
            )
            m = replace(m, periods=periods)
        elif m.id in LIST_MEASURES:
            heading = next(p.heading for p in m.periods if p.heading)
            m = replace(m, scope=Scope(include=(f"@hts:{heading}",)))
        measures.append(m)
    stripped = replace(curated, measures=tuple(measures))
    bundled = open_schedule()  # the default: curated lists, base rates from the bundle
    for code in CODES:
        expected = _layers(curated, code, bundled)
        got = _layers(stripped, code, revision)
        assert any(layer[0] == "us-mfn" for layer in expected), code
        assert got == expected, code
    assert ("us-301-list4a", "7.5%", "75.00", "9903.88.15") in _layers(stripped, CODES[2], revision)
