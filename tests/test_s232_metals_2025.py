"""The 2020-2025 Section 232 steel, aluminium and copper derivative lists
(scripts/lists/s232_2025.py) through the bundled schedule: each list's dates (day before, day of),
a 10-digit inclusion against its unlisted sibling, the metal-content value base, and the generator
reproducing the files."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tradecalc.analysis.impact import metal_estimates, with_estimated_metal
from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import Assessment, MetalContent, RegimeView, Shipment, assess
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import parse_when

from conftest import BUNDLED, ROOT, SHARED_DATA

SCHEDULE = load_schedule(BUNDLED, use_cache=False).schedule
D = Decimal


def _assess(code: str, when: datetime, value: str = "1000", **kw: object) -> Assessment:
    shipment = Shipment(code, D(value), "CN", "US", freight=D(0), insurance=D(0), **kw)  # type: ignore[arg-type]
    return assess(SCHEDULE, shipment, RegimeView("t", "t", when), FxTable({"CNY": D("7.2")}))


def _applied(measure: str, code: str, when: datetime) -> bool:
    steps = [s for s in _assess(code, when).trace if s.measure == measure]
    assert len(steps) == 1, (measure, code, when)
    return steps[0].applied


# (measure, list, 10-digit code, first day charged): the day before the measure does not charge
# the line, the day of it does, and the list itself holds the line from that day.
EDGES = [
    ("us-232-steel-deriv-2020", "us-232-deriv-steel-9903-81-89", "7317003000", "2020-02-08"),
    ("us-232-steel-deriv-ch73", "us-232-deriv-steel-9903-81-90", "7326908688", "2025-03-12"),
    ("us-232-steel-derivatives", "us-232-deriv-steel-9903-81-91", "8450110010", "2025-06-23"),
    ("us-232-steel-derivatives", "us-232-deriv-steel-9903-81-91", "8207200070", "2025-08-18"),
    ("us-232-alum-deriv-2020", "us-232-deriv-alum-9903-85-04", "7614105000", "2020-02-08"),
    ("us-232-alum-deriv-ch76", "us-232-deriv-alum-9903-85-07", "7610100010", "2025-03-12"),
    ("us-232-alum-deriv-ch76", "us-232-deriv-alum-9903-85-07", "7612901090", "2025-04-04"),
    ("us-232-alum-deriv-other", "us-232-deriv-alum-9903-85-08", "6603908100", "2025-03-12"),
    ("us-232-alum-deriv-other", "us-232-deriv-alum-9903-85-08", "2203000030", "2025-04-04"),
    ("us-232-alum-deriv-other", "us-232-deriv-alum-9903-85-08", "8418100010", "2025-08-18"),
    ("us-232-copper", "us-232-copper-9903-78-01", "7408116000", "2025-08-01"),
]


@pytest.mark.parametrize(
    ("measure", "list_id", "code", "start"), EDGES, ids=[f"{e[1]}:{e[2]}" for e in EDGES]
)
def test_day_before_and_day_of(measure: str, list_id: str, code: str, start: str) -> None:
    day = parse_when(start)
    before = day - timedelta(days=1)
    assert SCHEDULE.product_lists[list_id].holds(code, day)
    assert not SCHEDULE.product_lists[list_id].holds(code, before)
    assert _applied(measure, code, day)
    assert not _applied(measure, code, before)


def test_the_2025_derivative_measures_end_on_5_apr_2026() -> None:
    for measure, _, code, _ in EDGES:
        assert _applied(measure, code, datetime(2026, 4, 5)), (measure, code)
        assert not _applied(measure, code, datetime(2026, 4, 6)), (measure, code)


def test_a_10_digit_inclusion_is_charged_and_its_sibling_is_not() -> None:
    """BIS listed 8207.20.0070 (the note prints the 10 digits); 8207.20.0030 is not a derivative."""
    day = datetime(2025, 9, 1)
    assert _applied("us-232-steel-derivatives", "8207200070", day)
    assert not _applied("us-232-steel-derivatives", "8207200030", day)


def _line(result: Assessment, measure: str) -> tuple[Decimal, Decimal, str]:
    line = next(x for x in result.lines if x.measure == measure)
    return line.base, line.amount, line.base_rule


def test_declared_steel_content_is_the_base_and_the_rest_pays_the_reciprocal() -> None:
    day = datetime(2025, 9, 1)
    result = _assess("8207200070", day, "1000", metal={"steel": MetalContent(D("0.4"))})
    base, amount, rule = _line(result, "us-232-steel-derivatives")
    assert (base, rule) == (D("400.00"), "metal")
    assert amount == (D("400") * D("0.5")).quantize(D("0.01"))
    assert not any("steel content" in r for r in result.review)
    recip_base, _, recip_rule = _line(result, "us-ieepa-reciprocal")
    assert (recip_base, recip_rule) == (D("600.00"), "remainder")


def test_unknown_metal_content_is_the_full_value_and_a_shipment_fact_to_review() -> None:
    result = _assess("8207200070", datetime(2025, 9, 1))
    base, amount, _ = _line(result, "us-232-steel-derivatives")
    assert (base, amount) == (D("1000.00"), D("500.00"))
    assert result.needs_review
    assert any("steel content unknown" in r for r in result.review)


def test_estimated_metal_share_is_used_where_nothing_is_declared() -> None:
    """The analysts' estimate (impact --metal-shares estimate): Yale's BEA share for the line."""
    code = "8207200070"
    shipment, estimated = with_estimated_metal(
        Shipment(code, D("1000"), "CN", "US"), metal_estimates()
    )
    share = metal_estimates()[code]["steel"]
    assert estimated
    result = assess(SCHEDULE, shipment, RegimeView("t", "t", datetime(2025, 9, 1)), FxTable())
    base, _, rule = _line(result, "us-232-steel-derivatives")
    assert rule == "metal"
    assert base == (D("1000") * share).quantize(D("0.01"))


def test_chapter_73_derivatives_move_from_25_to_50_percent_on_4_jun_2025() -> None:
    code = "7326908688"
    before = _line(_assess(code, datetime(2025, 6, 3)), "us-232-steel-deriv-ch73")
    after = _line(
        _assess(code, datetime(2025, 6, 4), metal={"steel": MetalContent(D("1"))}),
        "us-232-steel-deriv-ch73",
    )
    assert before[:2] == (D("1000.00"), D("250.00"))  # entire value, 25%
    assert after[:2] == (D("1000.00"), D("500.00"))


SHARED_NOTES = SHARED_DATA / "yale-tracker-lists" / "chapter99_us_notes_2026_rev_6.txt.gz"


@pytest.mark.skipif(
    not SHARED_NOTES.is_file(), reason=f"{SHARED_NOTES} is absent: ../shared is not here"
)
def test_generator_reproduces_the_list_files_byte_for_byte() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from scripts.lists import s232_2025
    finally:
        sys.path.remove(str(ROOT))
    files = s232_2025.build()
    assert len(files) == 7
    for lf in files:
        path = ROOT / "data" / "lists" / f"{lf.list_id}.csv"
        assert path.read_bytes() == lf.render().encode("utf-8"), path.name


def test_a_listed_line_renumbered_in_2026_keeps_its_listing_under_the_new_lines() -> None:
    """19(k) names 8415.90.8025 (2025); the 2026 HTS split it on 1 Feb 2026 (.8010-.8070)."""
    listed = SCHEDULE.product_lists["us-232-deriv-alum-9903-85-08"]
    assert listed.holds("8415908025", datetime(2025, 9, 1))
    assert not listed.holds("8415908010", datetime(2026, 1, 31))
    assert listed.holds("8415908010", datetime(2026, 2, 1))


def test_estimated_metal_shares_never_exceed_the_value() -> None:
    estimates = metal_estimates()
    assert all(v <= 1 for shares in estimates.values() for v in shares.values())
    assert estimates["7208101500"]["steel"] == 1  # BEA's estimate 1.1923, capped
