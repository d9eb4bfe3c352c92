"""The batch's fast path (plans read off the compiled rate table) equals ``engine.assess``
field by field, to the cent."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.batch import rows as batch
from tradecalc.batch.rows import compile_plan
from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import Assessment, RegimeView, Shipment, assess, regime_views
from tradecalc.engine.compiled import Tables
from tradecalc.engine.inputs import shipment_from_mapping
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Schedule

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCHEDULES = {
    "mini": FIXTURES / "mini.yaml",
    "bundled": Path(__file__).resolve().parents[1] / "data" / "rates.yaml",
}


@cache
def _schedule(name: str) -> Schedule:
    return load_schedule(SCHEDULES[name], use_cache=False).schedule


@cache
def _codes(name: str) -> tuple[str, ...]:
    """Every code a measure or tax names, plus a code no schedule knows."""
    schedule = _schedule(name)
    codes = {
        code
        for measure in schedule.measures
        for period in measure.periods
        for code in period.rates
        if len(code.replace(".", "")) >= 4
    }
    return (*sorted(codes), "9999.99.9999")


@cache
def _dates(name: str) -> tuple[str, ...]:
    """The day before and the day of every period edge."""
    days = set()
    for measure in _schedule(name).measures:
        for period in measure.periods:
            for edge in (period.from_, period.to):
                if edge is not None and edge.year > 1900:
                    days.update({edge.date(), (edge - timedelta(days=1)).date()})
    return tuple(day.isoformat() for day in sorted(days))


def _views(name: str) -> list[RegimeView]:
    return list(regime_views(_schedule(name)).values())


AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False).map(str)


@st.composite
def rows(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    name = draw(st.sampled_from(sorted(SCHEDULES)))
    origin, dest = draw(st.sampled_from([("CN", "US"), ("US", "CN")]))
    fields = {
        "hs": draw(st.sampled_from(_codes(name))),
        "value": draw(AMOUNTS),
        "origin": origin,
        "dest": dest,
        "mode": draw(st.sampled_from(["ocean", "air", ""])),
        "date": draw(st.sampled_from(("", *_dates(name)))),
        "freight": draw(st.one_of(st.just(""), AMOUNTS)),
        "insurance": draw(st.one_of(st.just(""), AMOUNTS)),
    }
    return name, fields


def _expected(result: Assessment, shipment: Shipment) -> tuple[str, ...]:
    """The result columns written out straight from the engine's assessment."""
    return (
        str(result.customs_value),
        str(result.duty),
        str(result.fees_total),
        str(result.taxes_total),
        str(result.total),
        str(result.effective_rate),
        str(result.landed_cost),
        "needs_review" if result.needs_review else "ok",
        "; ".join(result.review),
        "; ".join(result.claims),
        "; ".join(result.claimable),
        shipment.origin,
        shipment.dest,
    )


def _template(shipment: Shipment) -> Shipment:
    zero = Decimal(0)
    return replace(
        shipment,
        value=zero,
        freight=None if shipment.freight is None else zero,
        insurance=None if shipment.insurance is None else zero,
    )


@given(rows(), st.data())
def test_plan_equals_engine(row: tuple[str, dict[str, str]], data: st.DataObject) -> None:
    name, fields = row
    schedule = _schedule(name)
    views = data.draw(st.lists(st.sampled_from(_views(name)), min_size=1, max_size=3))
    shipment = shipment_from_mapping(fields)
    plan = compile_plan(Tables(schedule, None), _template(shipment), views)
    if plan is None or shipment.value <= plan.low_value:
        return  # the engine assesses this row itself (checked below)
    got = plan.rows(shipment.value, shipment.freight, shipment.insurance)
    for (customs, duty, values), view in zip(got, views, strict=True):
        result = assess(schedule, shipment, view)
        assert values[4:] == _expected(result, shipment)
        assert values[:4] == (shipment.code, view.id, values[2], result.currency)
        assert (customs, duty) == (result.customs_value, result.duty)


@given(rows())
def test_batch_rows_equal_engine(row: tuple[str, dict[str, str]]) -> None:
    name, fields = row
    schedule = _schedule(name)
    views = _views(name)[:2]
    items = list(batch.assess_rows(schedule, batch.Rows((), iter([(1, fields)])), views))
    shipment = shipment_from_mapping(fields)
    expected = [_expected(assess(schedule, shipment, view), shipment) for view in views]
    assert [item.values[4:] for item in items if isinstance(item, batch.ResultRow)] == expected


def test_plans_cover_ad_valorem_rows_and_leave_the_rest_to_the_engine() -> None:
    schedule = _schedule("mini")
    views = _views("mini")
    plain = shipment_from_mapping({"hs": "9503.00.0073", "value": "0"})
    china = shipment_from_mapping({"hs": "1201.90", "value": "0", "dest": "CN", "freight": "0"})
    specific = shipment_from_mapping(
        {"hs": "0805.10.0020", "value": "0", "qty": "0", "unit": "kg", "date": "2025-06-10"}
    )
    metal = shipment_from_mapping(
        {"hs": "7326.90.8688", "value": "0", "metal": "steel=40%", "date": "2025-06-10"}
    )
    euro = shipment_from_mapping({"hs": "9503.00.0073", "value": "0", "currency": "EUR"})
    fx = FxTable({"EUR": Decimal("0.9")})
    del fx
    tables = Tables(schedule, None)
    named = [view for view in views if not view.hypothetical]
    assert compile_plan(tables, plain, named) is not None
    assert compile_plan(tables, china, named) is not None
    for shipment in (specific, metal, euro):
        assert compile_plan(tables, shipment, named) is None
    scenario = [view for view in views if view.hypothetical and view.overrides]
    assert scenario and compile_plan(tables, plain, scenario) is None


@pytest.mark.parametrize("value", ["0", "0.005", "1", "2610.355", "123456789.995"])
def test_golden_rows_through_plans_match_engine(value: str) -> None:
    schedule = _schedule("mini")
    views = _views("mini")
    text = f"hs,value,dest,freight,insurance\n9503.00.0073,{value},,,\n1201.90,{value},CN,7,\n"
    import io

    items = list(batch.assess_rows(schedule, batch.read_csv(io.StringIO(text)), views))
    shipments = [
        shipment_from_mapping({"hs": "9503.00.0073", "value": value}),
        shipment_from_mapping({"hs": "1201.90", "value": value, "dest": "CN", "freight": "7"}),
    ]
    expected = [_expected(assess(schedule, s, view), s) for s in shipments for view in views]
    assert [i.values[4:] for i in items if isinstance(i, batch.ResultRow)] == expected


def test_jobs_give_the_same_output_errors_and_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tradecalc.cli.run import app

    source = tmp_path / "in.csv"
    lines = (FIXTURES / "batch_in.csv").read_text(encoding="utf-8").splitlines()
    source.write_text("\n".join([lines[0], *lines[1:] * 1500]) + "\n", encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        out, bad = tmp_path / f"out{jobs}.csv", tmp_path / f"bad{jobs}.csv"
        args = ["batch", str(source), "-o", str(out), "--errors", str(bad), "--jobs", jobs]
        result = CliRunner().invoke(app, [*args, "--data", str(SCHEDULES["mini"])])
        assert result.exit_code == 1
        outputs.append((out.read_text(), bad.read_text(), result.stderr))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count("\n") == 1 + 7 * 1500
