"""The bundled data/rates.yaml: it validates, tells the seed story, and every date in it works.

The effective-date table is generated from the data itself: for every period boundary of
every measure, fee and tax, a code the measure covers is assessed on the day before and on
the day of the change (and one minute before an intraday change), and the rule trace must
show the period in force then, with that period's rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import (
    Assessment,
    RegimeView,
    Shipment,
    assess,
    regime_views,
    scope_matches,
)
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import LoadedSchedule, load_schedule
from tradecalc.schedule.models import Measure, Period, Schedule, code_digits, format_when

from conftest import BUNDLED

SCHEDULE = load_schedule(BUNDLED, use_cache=False).schedule
US_SCHEDULE = open_schedule()  # base rates from the bundled official schedule, as the CLI does


def _assess(code: str, value: str, view: RegimeView, **kw: object) -> Assessment:
    shipment = Shipment(code, Decimal(value), **kw)  # type: ignore[arg-type]
    return assess(SCHEDULE, shipment, view, FxTable(), US_SCHEDULE)


def _rates(result: Assessment) -> dict[str, str]:
    return {line.measure: str(line.rate) for line in result.lines}


# ----------------------------------------------------------------------------- seed story


def test_bundled_data_validates(bundled: LoadedSchedule) -> None:
    assert bundled.schedule.version
    assert len({m.id for m in bundled.schedule.measures}) == len(bundled.schedule.measures)


def test_toys_from_china_145_percent_before_geneva_then_30() -> None:
    views = regime_views(SCHEDULE)
    before = _assess("9503.00.0073", "1000", views["pre-geneva"])
    after = _assess("9503.00.0073", "1000", views["geneva"])
    assert _rates(before) == {
        "us-ieepa-fentanyl": "20%",
        "us-ieepa-reciprocal": "125%",
        "us-mfn": "Free",
    }
    assert _rates(after) == {
        "us-ieepa-fentanyl": "20%",
        "us-ieepa-reciprocal": "10%",
        "us-mfn": "Free",
    }
    assert (before.effective_rate, after.effective_rate) == (Decimal("1.45"), Decimal("0.3"))
    assert (before.duty, after.duty) == (Decimal("1450.00"), Decimal("300.00"))
    assert not before.needs_review and not after.needs_review


def _free_cn_code() -> str:
    """A curated code that China admits duty-free (MFN 0%) from any origin."""
    for measure in SCHEDULE.measures:
        if measure.importer == "CN" and measure.group == "base":
            for code, entry in measure.periods[-1].rates.items():
                rate = getattr(entry, "rate", entry)
                if rate.is_free and len(code_digits(code)) == 8:
                    return code
    raise AssertionError("no duty-free curated Chinese code")


def test_us_good_with_zero_mfn_into_china_125_percent_then_10_plus_vat() -> None:
    views = regime_views(SCHEDULE)
    code = _free_cn_code()
    kw = {"origin": "US", "dest": "CN", "freight": Decimal(0), "insurance": Decimal(0)}
    before = _assess(code, "10000", views["pre-geneva"], **kw)
    after = _assess(code, "10000", views["geneva"], **kw)
    assert before.lines[-1].measure == "cn-counter-2025" and str(before.lines[-1].rate) == "125%"
    assert after.lines[-1].measure == "cn-counter-2025" and str(after.lines[-1].rate) == "10%"
    assert _rates(before).get("cn-mfn") == "Free"
    for result in (before, after):
        (vat,) = [t for t in result.taxes if t.measure == "cn-vat"]
        assert vat.base == result.customs_value + result.duty + sum(
            t.amount for t in result.taxes if t.measure != "cn-vat"
        )


# ----------------------------------------------------------------------------- every date


def _codes(schedule: Schedule, importer: str) -> list[str]:
    """Codes the data names for ``importer``: curated base rates, then product lists and
    scope prefixes (US base rates come from the bundled official schedule)."""
    codes: set[str] = set()
    for measure in schedule.measures:
        if measure.importer == importer and measure.group == "base":
            for period in measure.periods:
                codes.update(period.rates)
    named: set[str] = set()
    for measure in schedule.measures:
        if measure.importer == importer:
            named.update(c for c in measure.scope.include if not c.startswith("@"))
            lists = [c.removeprefix("@") for c in measure.scope.include if c.startswith("@")]
            for name in lists:
                if name in schedule.product_lists:
                    listed = schedule.product_lists[name]
                    named.update(listed.codes)
                    named.update(row.digits for row in listed.rows)
    ranked = sorted(codes, key=lambda c: (-len(code_digits(c)), c))
    return ranked + sorted(named - codes, key=lambda c: (-len(code_digits(c)), c))


def _in_scope(schedule: Schedule, measure: Measure, code: str) -> bool:
    return scope_matches(schedule, measure.scope, code_digits(code))


def _boundaries() -> Iterator[tuple[str, Measure, datetime]]:
    for measure in SCHEDULE.measures:
        edges = {p.from_ for p in measure.periods} | {p.to for p in measure.periods if p.to}
        for edge in sorted(edges):
            yield f"{measure.id}@{format_when(edge)}", measure, edge


def _expected(measure: Measure, period: Period | None, code: str) -> str | None:
    if period is None:
        return None
    if measure.kind == "flag":
        return "Free"
    best = max(
        (k for k in period.rates if code_digits(code).startswith(code_digits(k))),
        key=lambda k: len(code_digits(k)),
        default=None,
    )
    if best is not None:
        entry = period.rates[best]
        return str(getattr(entry, "rate", entry))
    return str(period.rate) if period.rate is not None else None


BOUNDARIES = list(_boundaries())


@pytest.mark.parametrize(
    ("measure", "edge"), [b[1:] for b in BOUNDARIES], ids=[b[0] for b in BOUNDARIES]
)
def test_every_effective_date_the_day_before_and_the_day_of(
    measure: Measure, edge: datetime
) -> None:
    origin = (
        measure.origins[0]
        if measure.origins[0] != "*"
        else ("CN" if measure.importer == "US" else "US")
    )
    candidates = [
        c
        for c in _codes(SCHEDULE, measure.importer)
        if _in_scope(SCHEDULE, measure, c)
        and any(_expected(measure, p, c) for p in measure.periods)
    ]
    # a dated list's lines may join after the measure starts: prefer a line listed at the edge
    code = next(
        (
            c
            for c in candidates
            if any(
                scope_matches(SCHEDULE, measure.scope, code_digits(c), when=t)
                for t in (edge - timedelta(days=1), edge)
            )
        ),
        candidates[0] if candidates else None,
    )
    assert code is not None, f"no curated code is in the scope of {measure.id}"
    moments = [edge - timedelta(days=1), edge]
    if edge.hour or edge.minute:
        moments.append(edge - timedelta(minutes=1))
    for when in moments:
        period = next((p for p in measure.periods if p.covers(when)), None)
        expected = _expected(measure, period, code)
        shipment = Shipment(
            code,
            Decimal("1000"),
            origin=origin,
            dest=measure.importer,
            freight=Decimal(0),
            insurance=Decimal(0),
        )
        result = assess(
            SCHEDULE, shipment, RegimeView("t", "t", when), FxTable({"CNY": Decimal("7.2")})
        )
        steps = [s for s in result.trace if s.measure == measure.id]
        assert len(steps) == 1, (measure.id, when)
        if expected is None:
            assert not steps[0].applied
            # a dated list (data/lists/) may start with its measure: then the code is not yet listed
            listed = scope_matches(SCHEDULE, measure.scope, code_digits(code), when=when)
            reasons = ("not in force", "no rate") if listed else ("code not in scope",)
            assert any(r in steps[0].reason for r in reasons), (steps[0].reason, format_when(when))
        else:
            assert f"rate {expected}" in steps[0].reason, (
                measure.id,
                code,
                format_when(when),
                steps[0],
            )
            assert f"period {format_when(period.from_)} to" in steps[0].reason  # type: ignore[union-attr]


def test_every_named_regime_has_measures_in_force_in_both_directions() -> None:
    for view in regime_views(SCHEDULE).values():
        for importer in ("US", "CN"):
            in_force = [
                m
                for m in SCHEDULE.measures
                if m.importer == importer and any(p.covers(view.as_of) for p in m.periods)
            ]
            assert in_force, (view.id, importer)
