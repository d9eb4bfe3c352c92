"""Hypothesis properties of the engine over the test schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import Assessment, MetalContent, RegimeView, Shipment, assess
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Schedule

from conftest import MINI

SCHEDULE = load_schedule(MINI, use_cache=False).schedule
US_CODES = ["9503.00.0073", "6110.11.0015", "7326.90.8688", "8703.80.0000", "9503.00.0090"]
CN_CODES = ["1201.90.11", "8542.31.00", "8703.23.41"]

moments = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2026, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
values = st.decimals(min_value=0, max_value=10**9, places=2)


@st.composite
def shipments(draw: st.DrawFn, value: Decimal | None = None) -> Shipment:
    to_china = draw(st.booleans())
    code = draw(st.sampled_from(CN_CODES if to_china else US_CODES))
    share = draw(st.decimals(min_value=0, max_value=1, places=2))
    return Shipment(
        code,
        draw(values) if value is None else value,
        origin="US" if to_china else draw(st.sampled_from(["CN", "HK", "MO"])),
        dest="CN" if to_china else "US",
        freight=draw(st.none() | st.decimals(min_value=0, max_value=10**5, places=2)),
        mode=draw(st.sampled_from(["ocean", "air"])),
        metal={"steel": MetalContent(share)},
    )


def run(schedule: Schedule, shipment: Shipment, when: datetime) -> Assessment:
    return assess(schedule, shipment, RegimeView("t", "t", when), FxTable())


@given(shipments(), moments)
def test_duty_fees_and_taxes_are_never_negative(shipment: Shipment, when: datetime) -> None:
    result = run(SCHEDULE, shipment, when)
    assert all(line.amount >= 0 for line in (*result.lines, *result.fees, *result.taxes))
    assert result.duty >= 0


@given(shipments(), moments)
def test_totals_are_the_sums_of_their_lines(shipment: Shipment, when: datetime) -> None:
    result = run(SCHEDULE, shipment, when)
    assert result.duty == sum(line.amount for line in result.lines)
    assert result.total == result.duty + sum(f.amount for f in result.fees) + sum(
        t.amount for t in result.taxes
    )
    assert all(line.amount == line.amount.quantize(Decimal("0.01")) for line in result.lines)


@given(st.data(), moments, values, values)
def test_duty_is_monotone_in_value(
    data: st.DataObject, when: datetime, a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    shipment = data.draw(shipments(value=low))
    cheaper = run(SCHEDULE, shipment, when)
    dearer = run(SCHEDULE, _with_value(shipment, high), when)
    assert cheaper.duty <= dearer.duty
    assert cheaper.total <= dearer.total


@given(shipments(), moments, st.randoms(use_true_random=False))
def test_result_does_not_depend_on_measure_order(shipment: Shipment, when: datetime, rnd) -> None:  # type: ignore[no-untyped-def]
    measures = list(SCHEDULE.measures)
    rnd.shuffle(measures)
    shuffled = replace(SCHEDULE, measures=tuple(measures))
    first, second = run(SCHEDULE, shipment, when), run(shuffled, shipment, when)
    assert first.lines == second.lines
    assert (first.fees, first.taxes, first.review) == (second.fees, second.taxes, second.review)


@given(shipments(), moments)
def test_a_measure_outside_its_dates_has_no_effect(shipment: Shipment, when: datetime) -> None:
    dormant = [m for m in SCHEDULE.measures if not any(p.covers(when) for p in m.periods)]
    kept = tuple(m for m in SCHEDULE.measures if m not in dormant)
    without = replace(SCHEDULE, measures=kept)
    full, reduced = run(SCHEDULE, shipment, when), run(without, shipment, when)
    assert full.lines == reduced.lines
    assert full.total == reduced.total


@given(shipments(), moments, st.integers(min_value=1, max_value=400))
def test_shifting_the_entry_date_across_no_boundary_changes_nothing(
    shipment: Shipment, when: datetime, minutes: int
) -> None:
    edges = sorted(
        {p.from_ for m in SCHEDULE.measures for p in m.periods}
        | {p.to for m in SCHEDULE.measures for p in m.periods if p.to is not None}
        | {p.from_ for party in SCHEDULE.parties.values() for f in party.fees for p in f.periods}
        | {
            p.to
            for party in SCHEDULE.parties.values()
            for f in party.fees
            for p in f.periods
            if p.to
        }
    )
    later = when + timedelta(minutes=minutes)
    if any(when < edge <= later for edge in edges):
        return
    assert run(SCHEDULE, shipment, when).lines == run(SCHEDULE, shipment, later).lines


def _with_value(shipment: Shipment, value: Decimal) -> Shipment:
    from dataclasses import replace

    return replace(shipment, value=value)
