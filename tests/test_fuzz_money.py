"""Money checked against an independent exact computation, for random shipments of real data.

For a random curated code of the bundled schedule, value, freight, insurance, metal share,
entry date and regime, the engine's assessment is recomputed here with ``Fraction``
arithmetic from the rules the README states: the customs value (transaction value, or CIF
with the default insurance), each layer's base (full value, metal content or the remainder)
times its ad valorem rate, fees between their minimum and maximum, consumption tax on the
composite price, VAT on value + duty + consumption tax, each line rounded half-up to the
cent, and totals as sums of lines. Only the rates, bases and fee bounds are read from the
data; nothing is taken from the engine but what it is checked on.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from math import floor

from hypothesis import example, given
from hypothesis import strategies as st

from fuzzing import BOTH
from tradecalc.core.errors import UsageError
from tradecalc.engine.assessment import (
    Assessment,
    Line,
    MetalContent,
    RegimeView,
    Shipment,
    assess,
    regime_views,
)
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import code_digits

from conftest import BUNDLED

SCHEDULE = load_schedule(BUNDLED, use_cache=False).schedule
VIEWS_BY_ID = regime_views(SCHEDULE)
VIEWS = sorted(VIEWS_BY_ID.values(), key=lambda view: view.id)
MEASURES = {m.id: m for m in SCHEDULE.measures}
CURATED = {
    importer: sorted(
        {
            code
            for m in SCHEDULE.measures
            if m.importer == importer
            for p in m.periods
            for code in p.rates
            if len(code_digits(code)) >= 4
        }
    )
    for importer in SCHEDULE.parties
}
ORIGINS = {"US": ("CN", "HK", "MO"), "CN": ("US",)}
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
CENT = Fraction(1, 100)

money = st.decimals(min_value=0, max_value=10**9, places=2)
large_money = st.one_of(
    st.decimals(min_value=10**9, max_value=10**26 - 1, places=2),
    st.integers(min_value=10**20, max_value=10**28 - 1).map(Decimal),
)
"""Values up to the 28 significant digits the command line accepts."""


@st.composite
def shipments(
    draw: st.DrawFn, amounts: st.SearchStrategy[Decimal] = money
) -> tuple[Shipment, RegimeView]:
    dest = draw(st.sampled_from(sorted(CURATED)))
    metals = draw(
        st.dictionaries(
            st.sampled_from(("steel", "aluminum", "copper")),
            st.decimals(min_value=0, max_value=1, places=2),
            max_size=2,
        )
    )
    entry = draw(
        st.none()
        | st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(
            lambda d: d.replace(second=0, microsecond=0)
        )
    )
    shipment = Shipment(
        draw(st.sampled_from(CURATED[dest])),
        draw(amounts),
        origin=draw(st.sampled_from(ORIGINS[dest])),
        dest=dest,
        entry=entry,
        freight=draw(st.none() | money),
        insurance=draw(st.none() | money),
        mode=draw(st.sampled_from(("ocean", "air", "truck"))),
        metal={metal: MetalContent(share) for metal, share in metals.items()},
    )
    return shipment, draw(st.sampled_from(VIEWS))


def cents(amount: Fraction) -> Fraction:
    """Round half-up (away from zero at a tie) to the cent."""
    scaled = abs(amount) * 100
    whole = floor(scaled + Fraction(1, 2))
    return Fraction(whole if amount >= 0 else -whole, 100)


def exact(amount: Decimal | None) -> Fraction:
    return Fraction(0) if amount is None else Fraction(str(amount))


def ad_valorem(text: str) -> Fraction | None:
    """The rate of a plain ``Free`` or ``N%`` text; None for specific or compound rates."""
    if text == "Free":
        return Fraction(0)
    match = _PERCENT.fullmatch(text)
    return Fraction(match[1]) / 100 if match else None


def customs_value(shipment: Shipment) -> tuple[Fraction, Fraction]:
    """The customs value and the freight and insurance paid on top of it."""
    party = SCHEDULE.parties[shipment.dest]
    value, freight = exact(shipment.value), exact(shipment.freight)
    if party.valuation == "transaction":
        return cents(value), cents(freight + exact(shipment.insurance))
    insurance = exact(shipment.insurance)
    if shipment.insurance is None and party.insurance_default is not None:
        insurance = (value + freight) * exact(party.insurance_default.ad_valorem)
    return cents(value + freight + insurance), Fraction(0)


def metal_bases(
    shipment: Shipment, lines: tuple[Line, ...], value: Fraction
) -> dict[str, Fraction]:
    """The base of each metal charged on its content: its share, or the full value if unknown."""
    bases = {}
    for line in lines:
        metal = MEASURES[line.measure].metal if line.measure in MEASURES else None
        if line.base_rule == "metal" and metal is not None:
            share = shipment.metal.get(metal)
            bases[metal] = value if share is None else cents(value * exact(share.amount))
    return bases


def check_duty(shipment: Shipment, result: Assessment) -> Fraction:
    value, extra = customs_value(shipment)
    assert exact(result.customs_value) == value
    assert exact(result.landed_extra) == extra
    metals = metal_bases(shipment, result.lines, value)
    remainder = max(value - sum(metals.values(), Fraction(0)), Fraction(0))
    for line in result.lines:
        if line.base_rule == "metal":
            expected_base = metals[MEASURES[line.measure].metal or ""]
        elif line.base_rule == "remainder":
            expected_base = remainder
        else:
            expected_base = value
        assert exact(line.base) == expected_base, line
        rate = ad_valorem(str(line.rate))
        if rate is not None:
            assert exact(line.amount) == cents(expected_base * rate), line
    duty = sum((exact(line.amount) for line in result.lines), Fraction(0))
    assert exact(result.duty) == duty
    return duty


def check_fees(shipment: Shipment, result: Assessment, value: Fraction) -> None:
    fees = {fee.id: fee for fee in SCHEDULE.parties[shipment.dest].fees}
    for line in result.fees:
        fee = fees[line.measure]
        assert not fee.modes or shipment.mode in fee.modes
        (period,) = [
            p
            for p in fee.periods
            if p.from_ <= result.as_of and (p.to is None or result.as_of < p.to)
        ]
        amount = value * exact(period.rate.ad_valorem)
        if period.min is not None:
            amount = max(amount, exact(period.min))
        if period.max is not None:
            amount = min(amount, exact(period.max))
        assert exact(line.base) == value
        assert exact(line.amount) == cents(amount), line


def check_taxes(result: Assessment, value: Fraction, duty: Fraction) -> None:
    consumption = Fraction(0)
    for line in result.taxes:
        rate = ad_valorem(str(line.rate))
        assert rate is not None, line
        if line.group != "tax":
            continue
        kind = next(t.kind for t in SCHEDULE.parties[result.importer].taxes if t.id == line.measure)
        if kind == "consumption":
            base = (value + duty) / (1 - rate)
            amount = cents(base * rate)
            consumption += amount
        else:
            base = value + duty + consumption
            amount = cents(base * rate)
        assert exact(line.base) == cents(base), line
        assert exact(line.amount) == amount, line


def check(shipment: Shipment, result: Assessment) -> None:
    """Every amount of ``result`` equals the exact computation."""
    value, extra = customs_value(shipment)
    duty = check_duty(shipment, result)
    check_fees(shipment, result, value)
    check_taxes(result, value, duty)
    fees = sum((exact(line.amount) for line in result.fees), Fraction(0))
    taxes = sum((exact(line.amount) for line in result.taxes), Fraction(0))
    assert exact(result.total) == duty + fees + taxes
    assert exact(result.landed_cost) == value + extra + duty + fees + taxes
    if value:
        scaled = duty / value * 10**6
        assert exact(result.effective_rate) == Fraction(floor(scaled + Fraction(1, 2)), 10**6)
    assert all(exact(line.amount) % CENT == 0 for line in (*result.lines, *result.fees))


@BOTH
@given(case=shipments())
def test_money_equals_an_independent_exact_computation(
    depth: str, case: tuple[Shipment, RegimeView]
) -> None:
    shipment, view = case
    check(shipment, assess(SCHEDULE, shipment, view))


@BOTH
@given(case=shipments(large_money))
@example(case=(Shipment("9503.00.0073", Decimal("9" * 28)), VIEWS_BY_ID["geneva"]))
def test_money_is_exact_or_refused_at_any_accepted_size(
    depth: str, case: tuple[Shipment, RegimeView]
) -> None:
    """Values of up to 28 digits are computed exactly or refused, never rounded silently."""
    shipment, view = case
    try:
        result = assess(SCHEDULE, shipment, view)
    except UsageError:
        return  # a documented bound
    check(shipment, result)
