"""Batch as a join equals the reference path (table plans and the engine), row for row."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.batch import join as batch_join
from tradecalc.batch import rows as batch
from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import regime_views
from tradecalc.engine.compiled import Tables, route_codes
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.cn_lines import ChinaLines
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Schedule


@pytest.fixture(scope="module")
def world() -> tuple[Schedule, Tables, list[str]]:
    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True)
    assert us is not None
    providers = Providers(us, ChinaLines())
    codes = random.Random(3).sample(route_codes("US", providers, schedule), 60)
    dotted = [f"{c[:4]}.{c[4:6]}.{c[6:]}" for c in codes[:10]]
    extra = ["9503.00.0073", "1201.90", "0101", "8471.30.0100", "8507.60.00.30"]
    return schedule, Tables(schedule, providers), [*codes, *dotted, *extra]


DAY = st.integers(0, 800).map(lambda n: (date(2024, 12, 1) + timedelta(days=n)).isoformat())
VALUE = st.one_of(
    st.integers(0, 10**12).map(lambda c: f"{c // 100}.{c % 100:02d}"),
    st.integers(0, 10**9).map(str),
    st.sampled_from(["0.005", "1e3", "-5", " 12", "", "abc", "1,000"]),
)


@st.composite
def csv_rows(draw: st.DrawFn, codes: list[str]) -> str:
    lines = ["sku,hs,origin,dest,value,date,mode,freight,qty,unit"]
    for n in range(draw(st.integers(1, 25))):
        hs = draw(st.sampled_from([*codes, "12345", "0708209010"]))
        origin, dest = draw(st.sampled_from([("", ""), ("CN", "US"), ("US", "CN"), ("HK", "")]))
        day = draw(st.one_of(DAY, st.sampled_from(["", "", "2025-04-09T12:00", "2025-02-30"])))
        mode = draw(st.sampled_from(["", "ocean", "air", "boat", "Ocean"]))
        freight = draw(st.sampled_from(["", "", "", "12.50"]))
        qty, unit = draw(st.sampled_from([("", ""), ("", ""), ("10", "kg")]))
        value = draw(VALUE)
        lines.append(f"S{n},{hs},{origin},{dest},{value},{day},{mode},{freight},{qty},{unit}")
    return "\n".join(lines) + "\n"


@given(data=st.data())
def test_joined_rows_equal_the_reference_path(
    world: tuple[Schedule, Tables, list[str]], data: st.DataObject
) -> None:
    schedule, tables, codes = world
    text = data.draw(csv_rows(codes))
    named = list(regime_views(schedule).values())
    views = data.draw(st.sampled_from([[], named[:2], [named[0], named[-1]]]))
    ref_summary, join_summary = batch.Summary(), batch.Summary()
    reference = list(
        batch.assess_rows(
            schedule, batch.read_csv(io.StringIO(text)), views, None, ref_summary,
            tables.base_rates, tables,
        )
    )  # fmt: skip
    joined = list(
        batch_join.assess_joined(
            schedule, batch.read_csv(io.StringIO(text)), tables, FxTable(), join_summary, views
        )
    )
    assert joined == reference
    assert join_summary == ref_summary


def test_money_columns_half_up_and_fee_bounds() -> None:
    plan = batch_join.Plan(
        duties=((75, 1000, False), (25, 100, True)),
        metals=0,
        fees=((3464, 1000000, 3311, 64197),),
        prefix=("x", "entry-date", "2025-01-01", "USD"),
        review="",
        status="ok",
    )
    customs = [0, 1, 7, 10_000, 200, 100_000_000_000]
    duties, fees, rates = batch_join.money_columns(customs, [plan] * len(customs))
    # 7.5% of 0.07 = 0.00525 -> 0.01; 25% of 0.07 = 0.0175 -> 0.02
    assert duties[2] == 1 + 2
    assert fees[:3] == [3311, 3311, 3311] and fees[-1] == 64197
    assert rates[0] == 0 and rates[3] == 325_000


def test_unknown_codes_get_the_engines_own_error(
    world: tuple[Schedule, Tables, list[str]],
) -> None:
    """A code the official schedule does not hold is refused before the plan
    (batch.refuse_unknown) with the words assess() itself raises; a known code is not."""
    from datetime import datetime
    from decimal import Decimal

    from tradecalc.core.errors import failure_reason
    from tradecalc.engine.assessment import Shipment, assess, dated_view

    schedule, tables, _ = world
    for code, day in (("0708209010", "2025-01-15"), ("9999950000", "2026-01-15")):
        when = datetime.fromisoformat(day)
        ship = Shipment(code, Decimal(100), entry=when)
        with pytest.raises(Exception) as engine_error:
            assess(schedule, ship, dated_view(when), None, tables.base_rates)
        with pytest.raises(Exception) as early:
            batch.refuse_unknown(tables, ship, batch._DATED_VIEW)
        assert failure_reason(early.value) == failure_reason(engine_error.value)
        assert "is not in the US tariff schedule" in failure_reason(early.value)
        text = f"hs,value,date\n{code},100,{day}\n"
        found = list(
            batch_join.assess_joined(
                schedule, batch.read_csv(io.StringIO(text)), tables, FxTable(), batch.Summary()
            )
        )
        assert found == [batch.RowError(1, failure_reason(engine_error.value))]
    known = Shipment("9503000073", Decimal(100), entry=datetime(2025, 5, 20))
    batch.refuse_unknown(tables, known, batch._DATED_VIEW)  # returns: the engine decides
