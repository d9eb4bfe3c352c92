"""Money plans: the batch's fast path, equal to the cent with :func:`tradecalc.engine.assess`.

Which layers, fees and taxes apply to a shipment, at what rates and with what review items,
depends on its code, countries, moment and mode, not on its amounts. Batches repeat those
combinations, so a plan is read off the engine's own assessment of a probe shipment once per
combination and regime; each row then only does the money, with the same Decimal operations in
the same order as the engine (and :func:`tradecalc.money.round_money` for every line).

A plan is checked against the engine on several probe amounts before it is used. Shipments a
plan cannot reproduce exactly get no plan and go through the engine: specific and compound
rates, metal-content bases, values in a currency other than the importer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from tradecalc.base_rates import BaseRates
from tradecalc.engine import Assessment, RegimeView, Shipment, assess
from tradecalc.errors import TradecalcError
from tradecalc.models import Schedule, format_when
from tradecalc.money import FxTable, consumption_tax, effective_rate, exact, round_money
from tradecalc.rate import RateSyntaxError, parse_rate
from tradecalc.status import status

ZERO = Decimal(0)
NO_MONEY = Decimal("0.00")
_PROBES = ("0", "0.01", "0.005", "1", "999.995", "1000", "2610.35", "123456.785", "98765432.1")
_PROBE_EXTRAS = ("0", "12.345", "250")


def result_values(shipment: Shipment, result: Assessment) -> tuple[str, ...]:
    """The result columns of a batch row (see ``batch.RESULT_COLUMNS``) from an assessment."""
    with exact():
        return _result_values(shipment, result)


def _result_values(shipment: Shipment, result: Assessment) -> tuple[str, ...]:
    code = shipment.code
    duty = result.duty
    fees = result.fees_total
    taxes = result.taxes_total
    total = duty + fees + taxes
    customs = result.customs_value
    review = result.review
    return (
        code,
        result.regime,
        format_when(result.as_of),
        result.currency,
        str(customs),
        str(duty),
        str(fees),
        str(taxes),
        str(total),
        str(effective_rate(duty, customs)),
        str(customs + result.landed_extra + total),
        status(review),
        "; ".join(review),
        "; ".join(result.claims),
        "; ".join(result.claimable),
        shipment.origin,
        shipment.dest,
    )


@dataclass(frozen=True, slots=True)
class MoneyPlan:
    """The amount-independent part of one shipment's assessment under one regime."""

    prefix: tuple[str, str, str, str]
    """Code, regime, as-of moment and currency, as in the result columns."""
    status: str
    review: str
    claims: tuple[str, str]
    """The claims applied and the claims that would change the result, as columns."""
    duty_at: tuple[int, ...]
    """The duty lines charged, as indexes into :attr:`RowPlan.rates`, in line order."""
    fee_at: tuple[int, ...]
    """The fees charged, as indexes into :attr:`RowPlan.fees`, in line order."""
    consumption: tuple[Decimal, ...]
    vat: tuple[Decimal, ...]

    @property
    def totals_key(self) -> tuple[str, str]:
        """``(regime, currency)``."""
        return self.prefix[1], self.prefix[3]


Row = tuple[Decimal, Decimal, tuple[str, ...]]
"""Customs value, duty and the result columns of one shipment under one regime."""


@dataclass(frozen=True, slots=True)
class RowPlan:
    """The plans of one combination of repeated fields under each regime, sharing the lines
    that are the same in several regimes (a line's amount depends only on its rate)."""

    plans: tuple[MoneyPlan, ...]
    cif: bool
    insurance_default: Decimal | None
    rates: tuple[Decimal, ...]
    """Distinct ad valorem rates of the duty lines (Free lines, which charge 0.00, left out)."""
    fees: tuple[tuple[Decimal, Decimal | None, Decimal | None], ...]
    """Distinct rate, minimum and maximum of the fees."""
    route: tuple[str, str]
    """Origin and destination, the last result columns."""

    def rows(self, value: Decimal, freight: Decimal | None, insurance: Decimal | None) -> list[Row]:
        """One :data:`Row` per plan for these amounts: the engine's arithmetic, line by line."""
        with exact():
            return self._rows(value, freight, insurance)

    def _rows(
        self, value: Decimal, freight: Decimal | None, insurance: Decimal | None
    ) -> list[Row]:
        if self.cif:
            cost = ZERO if freight is None else freight
            if insurance is None and self.insurance_default is not None:
                insurance = (value + cost) * self.insurance_default
            customs = round_money(value + cost + (insurance or ZERO))
            extra = ZERO
        else:
            customs = round_money(value)
            extra = round_money((ZERO if freight is None else freight) + (insurance or ZERO))
        customs_text = str(customs)
        duties = [round_money(customs * rate) for rate in self.rates]
        fees = []
        for rate, low, high in self.fees:
            amount = customs * rate
            if low is not None:
                amount = max(amount, low)
            if high is not None:
                amount = min(amount, high)
            fees.append(round_money(amount))
        rows: list[Row] = []
        for plan in self.plans:
            duty = NO_MONEY
            for index in plan.duty_at:
                duty += duties[index]
            fee = NO_MONEY
            for index in plan.fee_at:
                fee += fees[index]
            taxes = NO_MONEY
            if plan.consumption or plan.vat:
                consumption = ZERO
                for rate in plan.consumption:
                    amount = consumption_tax(customs + duty, rate)[1]
                    consumption += amount
                    taxes += amount
                for rate in plan.vat:
                    taxes += round_money((customs + duty + consumption) * rate)
            total = duty + fee + taxes
            rows.append(
                (
                    customs,
                    duty,
                    (
                        *plan.prefix,
                        customs_text,
                        str(duty),
                        str(fee),
                        str(taxes),
                        str(total),
                        str(effective_rate(duty, customs)),
                        str(customs + extra + total),
                        plan.status,
                        plan.review,
                        *plan.claims,
                        *self.route,
                    ),
                )
            )
        return rows


def compile_plan(
    schedule: Schedule,
    template: Shipment,
    views: Sequence[RegimeView],
    fx: FxTable,
    base_rates: BaseRates | None = None,
) -> RowPlan | None:
    """The plans for shipments like ``template`` (any amounts) under each of ``views``, or None
    when the engine must assess them itself (see the module docstring)."""
    party = schedule.parties.get(template.dest)
    if party is None or template.currency not in (None, party.currency):
        return None
    rates: dict[Decimal, int] = {}
    fees: dict[tuple[Decimal, Decimal | None, Decimal | None], int] = {}
    plans = []
    try:
        for view in views:
            probe = assess(schedule, replace(template, value=Decimal(1000)), view, fx, base_rates)
            plan = _read_plan(schedule, template, probe, rates, fees)
            if plan is None:
                return None
            plans.append(plan)
    except (TradecalcError, RateSyntaxError, StopIteration, KeyError):
        return None
    insurance = party.insurance_default
    row_plan = RowPlan(
        plans=tuple(plans),
        cif=party.valuation == "cif",
        insurance_default=None if insurance is None else insurance.ad_valorem,
        rates=tuple(rates),
        fees=tuple(fees),
        route=(template.origin, template.dest),
    )
    agrees = _agrees(schedule, template, views, (fx, base_rates), row_plan)
    return row_plan if agrees else None


def _read_plan(
    schedule: Schedule,
    template: Shipment,
    probe: Assessment,
    rates: dict[Decimal, int],
    fees: dict[tuple[Decimal, Decimal | None, Decimal | None], int],
) -> MoneyPlan | None:
    party = schedule.parties[template.dest]
    duty_at = []
    for line in probe.lines:
        rate = parse_rate(line.rate)
        if rate.specifics or line.base_rule not in ("full", "remainder"):
            return None
        if rate.ad_valorem:
            duty_at.append(rates.setdefault(rate.ad_valorem, len(rates)))
    fee_at = []
    for line in probe.fees:
        fee = next(f for f in party.fees if f.id == line.measure)
        period = next(p for p in fee.periods if p.covers(probe.as_of))
        if str(period.rate) != line.rate:
            return None
        spec = (period.rate.ad_valorem, period.min, period.max)
        fee_at.append(fees.setdefault(spec, len(fees)))
    kinds = {tax.id: tax.kind for tax in party.taxes}
    consumption: list[Decimal] = []
    vat: list[Decimal] = []
    for line in probe.taxes:
        fraction = parse_rate(line.rate).ad_valorem
        (consumption if kinds[line.measure] == "consumption" else vat).append(fraction)
    return MoneyPlan(
        prefix=(template.code, probe.regime, format_when(probe.as_of), probe.currency),
        status=status(probe.review),
        review="; ".join(probe.review),
        claims=("; ".join(probe.claims), "; ".join(probe.claimable)),
        duty_at=tuple(duty_at),
        fee_at=tuple(fee_at),
        consumption=tuple(consumption),
        vat=tuple(vat),
    )


def _agrees(
    schedule: Schedule,
    template: Shipment,
    views: Sequence[RegimeView],
    rates: tuple[FxTable, BaseRates | None],
    plan: RowPlan,
) -> bool:
    """True when the plan gives the engine's result columns for every probe amount."""
    extras = [Decimal(text) for text in _PROBE_EXTRAS]
    for index, text in enumerate(_PROBES):
        value = Decimal(text)
        extra = extras[index % len(extras)]
        freight = None if template.freight is None else extra
        insurance = None if template.insurance is None else extra
        shipment = replace(template, value=value, freight=freight, insurance=insurance)
        expected = [
            result_values(template, assess(schedule, shipment, view, *rates)) for view in views
        ]
        if [row[2] for row in plan.rows(value, freight, insurance)] != expected:
            return False
    return True
