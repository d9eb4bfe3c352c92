"""The Chapter 99 lists in data/lists/: their dates, exceptions and exclusions through the engine,
and (with ../shared) the generators reproducing them byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import RegimeView, Shipment, assess
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import parse_when

from conftest import BUNDLED, ROOT, SHARED_DATA, run_child

SCHEDULE = load_schedule(BUNDLED, use_cache=False).schedule
NOTES = SHARED_DATA / "yale-tracker-lists" / "chapter99_us_notes_2026_rev_6.txt.gz"


def _applied(measure: str, code: str, when: datetime) -> bool:
    """Whether ``measure`` charges a Chinese shipment of ``code`` at ``when``."""
    shipment = Shipment(
        code, Decimal("1000"), origin="CN", dest="US", freight=Decimal(0), insurance=Decimal(0)
    )
    result = assess(
        SCHEDULE, shipment, RegimeView("t", "t", when), FxTable({"CNY": Decimal("7.2")})
    )
    steps = [s for s in result.trace if s.measure == measure]
    assert len(steps) == 1, (measure, code, when)
    return steps[0].applied


def _listed(list_id: str, code: str, when: datetime) -> bool:
    return SCHEDULE.product_lists[list_id].holds(code.replace(".", ""), when)


# (list, code, first day in the list, first day out of it or None): the day before and the day of
# each edge are checked against the list itself.
EDGES = [
    ("us-reciprocal-annex-ii", "0901.21.00.20", "2025-11-13", None),  # coffee: order of 14 Nov 2025
    (
        "us-reciprocal-annex-ii",
        "2709.00.20.10",
        "2025-04-05",
        None,
    ),  # crude oil: Annex II from the start
    ("us-reciprocal-annex-ii", "7502.10.00.00", "2025-09-08", None),  # nickel: added by EO 14346
    ("us-reciprocal-annex-ii", "7108.12.50.10", "2025-09-08", None),  # gold bullion: EO 14346
    ("us-reciprocal-annex-ii", "7108.12.10.00", "2025-04-05", None),  # gold powder: from the start
    ("us-reciprocal-annex-ii", "3907.30.00.00", "2025-04-05", "2025-09-08"),  # removed by EO 14346
    ("us-reciprocal-annex-ii", "2818.30.00.00", "2025-04-05", "2025-09-08"),  # removed by EO 14346
    ("us-reciprocal-annex-ii", "3102.10.00.10", "2025-11-13", None),  # urea: order of 14 Nov 2025
    ("us-reciprocal-annex-ii", "3104.20.00.10", "2025-04-05", None),  # potash: from the start
    ("us-reciprocal-annex-ii", "7408.11.60.00", "2025-04-05", "2025-08-01"),  # copper wire: 232
    ("us-reciprocal-annex-ii", "4407.11.00.42", "2025-04-05", "2025-10-14"),  # lumber: 232
    ("us-reciprocal-annex-ii", "4412.31.06.20", "2025-04-05", "2025-10-14"),  # plywood
    ("us-reciprocal-electronics", "8471.30.01.00", "2025-04-05", None),  # memo, retroactive
    ("us-122-annex-i", "8517.13.00.00", "2026-02-24", None),
    ("us-232-auto-parts", "8708.30.50.90", "2025-05-03", None),
    ("us-232-mhdv-trucks", "8705.40.00.00", "2025-11-01", None),
    ("us-232-mhdv-buses", "8702.10.31.00", "2025-11-01", None),
    ("us-301-review-graphite-magnets-codes", "2504.10.10.00", "2026-01-01", None),
    ("us-301-review-li-ion-other-codes", "8507.60.00.20", "2026-01-01", None),
    ("us-301-list4a-codes", "8507.60.00.20", None, "2026-01-01"),  # moved to 9903.91.06 in 2026
    ("us-301-exclusions-9903-88-69", "8483.50.90.40", "2024-06-15", "2026-11-10"),
    ("us-232-metals-annex-1b", "8418.10.00.10", "2026-04-06", None),
]


@pytest.mark.parametrize(
    ("list_id", "code", "start", "end"), EDGES, ids=[f"{e[0]}:{e[1]}" for e in EDGES]
)
def test_list_dates_day_before_and_day_of(
    list_id: str, code: str, start: str | None, end: str | None
) -> None:
    code = code.replace(".", "")
    if start:
        day = parse_when(start)
        assert not _listed(list_id, code, day - timedelta(days=1))
        assert _listed(list_id, code, day)
    if end:
        day = parse_when(end)
        assert _listed(list_id, code, day - timedelta(days=1))
        assert not _listed(list_id, code, day)


def test_annex_ii_spares_coffee_from_the_reciprocal_duty_from_13_nov_2025() -> None:
    assert _applied("us-ieepa-reciprocal", "0901210020", datetime(2025, 11, 12))
    assert not _applied("us-ieepa-reciprocal", "0901210020", datetime(2025, 11, 13))


def _reciprocal_charged(code: str, date: str) -> Decimal | None:
    """The reciprocal duty ``tradecalc duty 1000 --hs CODE --date DATE`` charges (None: none)."""
    done = run_child(["duty", "1000", "--hs", code, "--date", date, "--format", "json"])
    assert done.returncode in (0, 1), done.stderr
    lines = json.loads(done.stdout)["results"][0]["lines"]
    amounts = [Decimal(x["amount"]) for x in lines if x["measure"] == "us-ieepa-reciprocal"]
    assert len(amounts) <= 1, lines
    return amounts[0] if amounts and amounts[0] else None


@pytest.mark.parametrize(
    ("code", "day", "before", "on"),
    [
        ("7502.10.00.00", "2025-09-08", True, False),  # unwrought nickel: added by EO 14346
        ("3907.30.00.00", "2025-09-08", False, True),  # epoxide resins: removed by EO 14346
        # plywood: out of Annex II with the timber Section 232 action, which does not cover it
        ("4412.31.06.20", "2025-10-14", False, True),
    ],
)
def test_reciprocal_duty_where_annex_ii_changes(
    code: str, day: str, before: bool, on: bool
) -> None:
    # 10% of the 1,000 customs value (the reciprocal rate in force on both days, 9903.01.25)
    ten_percent = Decimal(1000) * Decimal("0.10")
    expected = {True: ten_percent, False: None}
    eve = (parse_when(day) - timedelta(days=1)).date().isoformat()
    assert _reciprocal_charged(code, eve) == expected[before]
    assert _reciprocal_charged(code, day) == expected[on]


@pytest.mark.shared
@pytest.mark.skipif(
    not NOTES.is_file(), reason=f"{NOTES} is absent: shared Chapter 99 texts not here"
)
def test_annex_ii_generator_refuses_amendments_the_note_text_contradicts() -> None:
    from scripts.lists import annex_ii

    codes = annex_ii.annex_ii_codes()
    changes = annex_ii.amendments()
    annex_ii._check(codes, changes)  # the committed file agrees
    removed_but_listed = annex_ii.Amendment("2709.00.20", "removed", "2025-09-08", "EO 14346")
    with pytest.raises(ValueError, match="still printed"):
        annex_ii._check(codes, [*changes, removed_but_listed])
    added_but_absent = annex_ii.Amendment("3907.30.00", "added", "2025-09-08", "EO 14346")
    with pytest.raises(ValueError, match="not printed"):
        annex_ii._check(codes, [*changes, added_but_absent])
    one_fertilizer_less = [c for c in changes if c.code != "3101.00.00"]
    with pytest.raises(ValueError, match="237"):
        annex_ii._check(codes, one_fertilizer_less)


def test_section_122_spares_annex_i_lines_only() -> None:
    day = datetime(2026, 3, 2)
    assert not _applied("us-section-122", "8517130000", day)  # smartphones, 9903.03.03
    assert _applied("us-section-122", "6110110015", day)  # wool sweaters


def test_whole_line_301_exclusion_runs_through_9_nov_2026() -> None:
    code = "8483509040"  # note 20(vvv)(1), on List 1
    assert _applied("us-301-list1", code, datetime(2024, 6, 14))
    assert not _applied("us-301-list1", code, datetime(2024, 6, 15))
    assert not _applied("us-301-list1", code, datetime(2026, 11, 9))
    assert _applied("us-301-list1", code, datetime(2026, 11, 10))


def test_9903_88_04_leaves_out_the_lines_note_20g_excepts() -> None:
    day = datetime(2025, 6, 1)
    assert not _applied("us-301-list3-8804", "9401614001", day)
    assert _applied("us-301-list3-8804", "9401614011", day)
    assert not _applied("us-301-list3", "9401614001", day)  # and it is on no other list


def test_8517_62_split_between_9903_88_04_and_list_4a() -> None:
    day = datetime(2025, 6, 1)
    assert _applied("us-301-list3-8804", "8517620010", day)
    assert not _applied("us-301-list4a", "8517620010", day)
    assert _applied("us-301-list4a", "8517620090", day)
    assert not _applied("us-301-list3-8804", "8517620090", day)


def test_automatic_data_processing_machines_are_not_taken_for_vehicle_parts() -> None:
    assert _listed("us-232-auto-parts", "8471300100", datetime(2025, 6, 1))  # the note lists 8471
    assert not _applied("us-232-auto-parts", "8471300100", datetime(2025, 6, 1))
    assert _applied("us-232-auto-parts", "8708305090", datetime(2025, 6, 1))


def test_trucks_in_both_notes_stay_with_the_light_vehicle_measure() -> None:
    day = datetime(2025, 12, 1)
    assert _listed("us-232-mhdv-trucks", "8704600000", day)
    assert not _applied("us-232-trucks", "8704600000", day)
    assert _applied("us-232-trucks", "8704230100", day)


@pytest.mark.shared
@pytest.mark.skipif(
    not NOTES.is_file(), reason=f"{NOTES} is absent: shared Chapter 99 texts not here"
)
def test_generators_reproduce_the_committed_lists(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "scripts.lists.build", "--out", str(tmp_path)], cwd=ROOT, check=True
    )
    made = sorted(p.name for p in (tmp_path / "data" / "lists").iterdir())
    committed = sorted(p.name for p in (ROOT / "data" / "lists").glob("us-*.csv"))
    assert made == committed
    for name in made:
        assert (tmp_path / "data" / "lists" / name).read_bytes() == (
            ROOT / "data" / "lists" / name
        ).read_bytes(), name
    report = "docs/lists-crosscheck.md"
    assert (tmp_path / report).read_bytes() == (ROOT / report).read_bytes()


def test_metals_tiers_replace_the_2025_measures_on_6_apr_2026() -> None:
    code = "8418100010"  # refrigerator-freezers: a 2025 steel derivative, Annex I-B from 6 Apr 2026
    assert _applied("us-232-steel-derivatives", code, datetime(2026, 4, 5))
    assert not _applied("us-232-metals-annex-1b", code, datetime(2026, 4, 5))
    assert not _applied("us-232-steel-derivatives", code, datetime(2026, 4, 6))
    assert _applied("us-232-metals-annex-1b", code, datetime(2026, 4, 6))


def test_metal_weight_test_is_a_review_outside_chapters_72_to_76_only() -> None:
    day = datetime(2026, 5, 1)
    assert _applied(
        "us-232-metals-weight-test", "8418100010", day
    )  # an appliance: the importer must check
    assert not _applied(
        "us-232-metals-weight-test", "7604291090", day
    )  # an aluminium profile: no test
    assert _applied("us-232-metals-annex-1a", "7604291090", day)
