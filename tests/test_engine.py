"""The engine on the test schedule: stacking, displacement, bases, valuation, fees, taxes.

Expected amounts are derived in each test from the fixture's rates (value x rate, clamped
fees, CIF sums), so a wrong rule fails the test rather than being copied into it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from tradecalc.core.errors import UsageError
from tradecalc.core.money import FxTable, round_money
from tradecalc.core.rate import parse_rate
from tradecalc.engine.assessment import (
    Assessment,
    MetalContent,
    RegimeView,
    Shipment,
    assess,
    dated_view,
    regime_views,
    with_overrides,
)
from tradecalc.schedule.load import LoadedSchedule
from tradecalc.schedule.models import Override, parse_when

D = Decimal


def at(when: str) -> RegimeView:
    """The schedule in force at ``when`` (a shipment's own entry date, if any, moves it)."""
    return dated_view(parse_when(when))


def run(mini: LoadedSchedule, code: str, value: str, when: str, **kw: object) -> Assessment:
    shipment = Shipment(code, D(value), **kw)  # type: ignore[arg-type]
    return assess(mini.schedule, shipment, at(when), FxTable())


def lines(result: Assessment) -> dict[str, tuple[str, Decimal, Decimal]]:
    return {line.measure: (str(line.rate), line.base, line.amount) for line in result.lines}


# ----------------------------------------------------------------------------- stacking


def test_pre_geneva_toy_stacks_reciprocal_and_fentanyl(mini: LoadedSchedule) -> None:
    result = run(mini, "9503.00.0073", "1000", "2025-05-13")
    assert lines(result) == {
        "us-fentanyl": ("20%", D("1000.00"), D("200.00")),
        "us-recip": ("125%", D("1000.00"), D("1250.00")),
        "us-mfn": ("Free", D("1000.00"), D("0.00")),
    }
    assert result.effective_rate == D("1.45")
    assert not result.needs_review


def test_lines_follow_the_reporting_order(mini: LoadedSchedule) -> None:
    result = run(mini, "6110.11.0015", "1000", "2025-05-14")
    order = mini.schedule.parties["US"].reporting_order
    groups = [line.group for line in result.lines]
    assert groups == sorted(groups, key=order.index)
    assert result.lines[0].measure == "us-301"


def test_product_list_scope_includes_and_leaves_out(mini: LoadedSchedule) -> None:
    on_list = run(mini, "6110.11.0015", "100", "2025-02-03")
    off_list = run(mini, "9503.00.0073", "100", "2025-02-03")
    assert "us-301" in lines(on_list)
    assert "us-301" not in lines(off_list)


def test_origin_outside_a_measure_is_not_charged(mini: LoadedSchedule) -> None:
    result = run(mini, "6110.11.0015", "1000", "2025-05-13", origin="HK")
    assert set(lines(result)) == {"us-mfn"}


# ----------------------------------------------------------------------------- displacement


def test_section_232_displaces_the_whole_reciprocal_before_june_2025(mini: LoadedSchedule) -> None:
    result = run(mini, "8703.80.0000", "10000", "2025-05-20")
    assert "us-recip" not in lines(result)
    assert lines(result)["us-232-autos"] == ("25%", D("10000.00"), D("2500.00"))
    step = next(s for s in result.trace if s.measure == "us-recip")
    assert not step.applied and "displaced by us-232-autos" in step.reason


def test_metal_232_leaves_the_remainder_to_the_reciprocal_from_june_2025(
    mini: LoadedSchedule,
) -> None:
    result = run(
        mini,
        "7326.90.8688",
        "10000",
        "2025-06-04",
        metal={"steel": MetalContent(D("0.4"))},
    )
    got = lines(result)
    assert got["us-232-steel"] == ("50%", D("4000.00"), D("2000.00"))
    assert got["us-recip"] == ("10%", D("6000.00"), D("600.00"))
    assert got["us-mfn"][1] == D("10000.00")


def test_metal_content_as_an_amount(mini: LoadedSchedule) -> None:
    result = run(
        mini,
        "7326.90.8688",
        "10000",
        "2025-06-04",
        metal={"steel": MetalContent(D("2500"), is_share=False)},
    )
    assert lines(result)["us-232-steel"][1] == D("2500.00")
    assert lines(result)["us-recip"][1] == D("7500.00")


def test_unknown_metal_content_needs_review_and_charges_full_value(mini: LoadedSchedule) -> None:
    result = run(mini, "7326.90.8688", "10000", "2025-06-04")
    assert result.needs_review
    assert any("steel" in r for r in result.review)
    assert lines(result)["us-232-steel"][1] == D("10000.00")


def test_a_flag_measure_charges_nothing_and_asks_for_review(mini: LoadedSchedule) -> None:
    result = run(
        mini,
        "7326.90.8688",
        "100",
        "2025-06-04",
        metal={"steel": MetalContent(D("0.5"))},
    )
    assert "us-adcvd-steel" not in lines(result)
    assert any("A-570-000" in r for r in result.review)


# ----------------------------------------------------------------------------- unknown codes


def test_unknown_code_needs_review_and_names_the_nearest_codes(mini: LoadedSchedule) -> None:
    result = run(mini, "9503.00.0090", "1000", "2025-05-14")
    assert result.needs_review
    (message,) = [r for r in result.review if "no US base (MFN) rate" in r]
    assert "9503.00.0073" in message
    assert "tradecalc hts import" in message


# ----------------------------------------------------------------------------- specific rates


def test_specific_rate_needs_quantity(mini: LoadedSchedule) -> None:
    result = run(mini, "0805.10.0020", "100", "2025-02-03")
    assert result.needs_review
    assert any("--qty" in r for r in result.review)


@pytest.mark.parametrize(
    ("qty", "unit", "kg"), [("500", "kg", "500"), ("2", "t", "2000"), ("1500", "g", "1.5")]
)
def test_specific_rate_converts_units(mini: LoadedSchedule, qty: str, unit: str, kg: str) -> None:
    result = run(mini, "0805.10.0020", "100", "2025-02-03", quantity=D(qty), unit=unit)
    expected = round_money(D(kg) * D("0.022"))
    assert lines(result)["us-mfn"][2] == expected
    assert not result.needs_review


def test_specific_rate_in_the_wrong_unit_needs_review(mini: LoadedSchedule) -> None:
    result = run(mini, "0805.10.0020", "100", "2025-02-03", quantity=D(3), unit="pair")
    assert result.needs_review


def test_compound_rate(mini: LoadedSchedule) -> None:
    result = run(mini, "6402.99.4960", "250", "2025-02-03", quantity=D(40), unit="pair")
    rate = parse_rate("90¢/pair + 20%")
    expected = round_money(D(40) * rate.specifics[0].amount + D(250) * rate.ad_valorem)
    assert lines(result)["us-mfn"][2] == expected


# ----------------------------------------------------------------------------- fees


@pytest.mark.parametrize(
    ("value", "when", "mpf"),
    [
        ("1000", "2025-09-30", "32.71"),  # 3.46 -> raised to the FY2025 minimum
        ("1000", "2025-10-01", "33.58"),  # FY2026 minimum
        ("50000", "2025-05-14", "173.20"),  # 0.3464% of 50,000
        ("1000000", "2025-09-30", "634.62"),  # clamped to the FY2025 maximum
        ("1000000", "2025-10-01", "651.50"),
    ],
)
def test_mpf_is_clamped_between_minimum_and_maximum(
    mini: LoadedSchedule, value: str, when: str, mpf: str
) -> None:
    result = run(mini, "9503.00.0073", value, when)
    fees = {f.measure: f.amount for f in result.fees}
    assert fees["us-mpf"] == D(mpf)
    assert fees["us-hmf"] == round_money(D(value) * D("0.00125"))


def test_hmf_is_charged_on_ocean_shipments_only(mini: LoadedSchedule) -> None:
    result = run(mini, "9503.00.0073", "1000", "2025-05-14", mode="air")
    assert [f.measure for f in result.fees] == ["us-mpf"]


# ----------------------------------------------------------------------------- valuation


def test_us_values_on_transaction_value_without_freight(mini: LoadedSchedule) -> None:
    result = run(mini, "9503.00.0073", "1000", "2025-05-14", freight=D(200), insurance=D(5))
    assert result.customs_value == D("1000.00")
    assert result.landed_cost == D("1000.00") + D(205) + result.total


def test_china_values_cif_with_default_insurance_and_vat_on_cif_plus_duty(
    mini: LoadedSchedule,
) -> None:
    shipment = Shipment("1201.90.11", D("10000"), origin="US", dest="CN", freight=D("500"))
    result = assess(mini.schedule, shipment, at("2025-05-14T12:01"), FxTable())
    cif = round_money(D("10500") * D("1.003"))
    assert result.customs_value == cif
    got = lines(result)
    assert got["cn-mfn"] == ("3%", cif, round_money(cif * D("0.03")))
    assert got["cn-counter"] == ("10%", cif, round_money(cif * D("0.10")))
    (vat,) = result.taxes
    assert str(vat.rate) == "9%"
    assert vat.base == cif + result.duty
    assert vat.amount == round_money((cif + result.duty) * D("0.09"))
    assert result.landed_cost == cif + result.total


def test_china_consumption_tax_is_on_the_composite_base_before_vat(mini: LoadedSchedule) -> None:
    shipment = Shipment(
        "8703.23.41", D("30000"), origin="US", dest="CN", freight=D("0"), insurance=D("0")
    )
    result = assess(mini.schedule, shipment, at("2025-02-03"), FxTable())
    duty = round_money(D("30000") * D("0.15"))
    composite = (D("30000") + duty) / (1 - D("0.10"))
    consumption, vat = result.taxes
    assert consumption.measure == "cn-consumption"
    assert consumption.amount == round_money(composite * D("0.10"))
    assert vat.amount == round_money((D("30000") + duty + consumption.amount) * D("0.13"))


def test_value_in_another_currency_is_converted_exactly(mini: LoadedSchedule) -> None:
    shipment = Shipment(
        "1201.90.11",
        D("1000"),
        origin="US",
        dest="CN",
        currency="USD",
        freight=D(0),
        insurance=D(0),
    )
    fx = FxTable({"CNY": D("7.1")})
    result = assess(mini.schedule, shipment, at("2025-02-03"), fx)
    assert result.customs_value == D("7100.00")


def test_missing_fx_rate_is_reported() -> None:
    from tradecalc.core.errors import MissingFxRateError

    with pytest.raises(MissingFxRateError):
        FxTable().convert(D(1), "EUR", "USD")


def test_small_chinese_duty_gets_the_threshold_note(mini: LoadedSchedule) -> None:
    shipment = Shipment(
        "1201.90.11", D("100"), origin="US", dest="CN", freight=D(0), insurance=D(0)
    )
    result = assess(mini.schedule, shipment, at("2025-02-03"), FxTable())
    assert any("not collected" in n for n in result.notes)


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("when", "rate"),
    [
        ("2025-04-10T12:00", None),
        ("2025-04-10T12:01", "125%"),
        ("2025-05-14T12:00", "125%"),
        ("2025-05-14T12:01", "10%"),
    ],
)
def test_china_boundaries_at_beijing_clock_time(
    mini: LoadedSchedule, when: str, rate: str | None
) -> None:
    shipment = Shipment("8542.31.00", D("100"), origin="US", dest="CN", freight=D(0))
    result = assess(mini.schedule, shipment, at(when), FxTable())
    assert lines(result).get("cn-counter", (None,))[0] == rate


def test_a_bare_date_on_an_intraday_change_needs_review(mini: LoadedSchedule) -> None:
    shipment = Shipment(
        "8542.31.00",
        D("100"),
        origin="US",
        dest="CN",
        freight=D(0),
        entry=datetime(2025, 5, 14),
        entry_is_date=True,
    )
    result = assess(mini.schedule, shipment, at("2025-05-14"), FxTable())
    assert any("--date 2025-05-14T12:01" in r for r in result.review)


# ----------------------------------------------------------------------------- regimes


def test_scenarios_resolve_on_their_base_regime(mini: LoadedSchedule) -> None:
    views = regime_views(mini.schedule)
    assert list(views) == ["before", "pre-geneva", "geneva", "lapse"]
    lapse = views["lapse"]
    assert lapse.hypothetical and lapse.as_of == views["geneva"].as_of
    result = assess(mini.schedule, Shipment("9503.00.0073", D(1000)), lapse, FxTable())
    assert lines(result)["us-recip"] == ("34%", D("1000.00"), D("340.00"))
    assert (
        result.lines[[line.measure for line in result.lines].index("us-recip")].heading
        == "9903.01.63"
    )


def test_override_off_removes_a_measure(mini: LoadedSchedule) -> None:
    views = regime_views(mini.schedule)
    view = with_overrides(views["geneva"], (Override(measure="us-fentanyl", off=True),), "custom")
    result = assess(mini.schedule, Shipment("9503.00.0073", D(1000)), view, FxTable())
    assert "us-fentanyl" not in lines(result)
    assert view.hypothetical


def test_same_origin_and_destination_is_a_usage_error(mini: LoadedSchedule) -> None:
    with pytest.raises(UsageError):
        assess(
            mini.schedule, Shipment("9503.00.0073", D(1), origin="US", dest="US"), at("2025-05-14")
        )


@pytest.mark.parametrize("code", ["95", "abcd", "9503.00.007", "9503000073000"])
def test_bad_codes_are_refused(code: str) -> None:
    with pytest.raises(UsageError):
        Shipment(code, D(1))


def test_an_unconfirmed_product_list_that_decides_scope_is_noted(mini: LoadedSchedule) -> None:
    lists = dict(mini.schedule.product_lists)
    lists["list3"] = replace(lists["list3"], unconfirmed="line list not obtained")
    schedule = replace(mini.schedule, product_lists=lists)
    on_list = assess(schedule, Shipment("6110.11.0015", D(100)), at("2025-05-14"), FxTable())
    off_list = assess(schedule, Shipment("9503.00.0073", D(100)), at("2025-05-14"), FxTable())
    assert "unconfirmed: list3: line list not obtained" in on_list.notes
    assert not any("list3" in n for n in off_list.notes)


def test_a_tax_scoped_by_a_product_list_applies_to_its_codes(mini: LoadedSchedule) -> None:
    from tradecalc.schedule.models import ProductList, Scope

    schedule = mini.schedule
    cn = schedule.parties["CN"]
    taxes = tuple(
        replace(t, scope=Scope(include=("@cars",))) if t.kind == "consumption" else t
        for t in cn.taxes
    )
    lists = {
        **schedule.product_lists,
        "cars": ProductList(name="Cars", codes=("8703",), source=("fx",)),
    }
    changed = replace(
        schedule,
        parties={**schedule.parties, "CN": replace(cn, taxes=taxes)},
        product_lists=lists,
    )
    shipment = Shipment(
        "8703.23.41", D("30000"), origin="US", dest="CN", freight=D("0"), insurance=D("0")
    )
    by_list = assess(changed, shipment, at("2025-02-03"), FxTable())
    by_prefix = assess(mini.schedule, shipment, at("2025-02-03"), FxTable())
    assert [t.measure for t in by_list.taxes] == ["cn-consumption", "cn-vat"]
    assert by_list.taxes == by_prefix.taxes
