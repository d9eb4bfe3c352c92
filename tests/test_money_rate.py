"""Money parsing and rounding, and the rate grammar."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.core.errors import MissingFxRateError, UsageError
from tradecalc.core.money import FxTable, parse_amount, parse_decimal, percent, round_money
from tradecalc.core.rate import FREE, RateSyntaxError, Specific, convert_quantity, parse_rate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000", Decimal("1000")),
        ("1,234.56", Decimal("1234.56")),
        (" 0.5 ", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("-0", Decimal("0")),
        ("1_000", Decimal("1000")),
    ],
)
def test_parse_decimal_accepts_plain_numbers(text: str, expected: Decimal) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "1e3", "NaN", "inf", "1e999999", "0x10", "1.2.3", "١٢٣", "4" * 40]
)
def test_parse_decimal_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError):
        parse_decimal(text, "value")


def test_negative_amount_is_refused() -> None:
    with pytest.raises(UsageError, match="must not be negative"):
        parse_amount("-1", "value")


def test_minus_zero_is_zero_without_sign() -> None:
    assert str(parse_amount("-0")) == "0"


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("2.675", "2.68"),
        ("1.125", "1.13"),
        ("-0.005", "-0.01"),
    ],
)
def test_round_money_is_half_up_to_the_cent(amount: str, rounded: str) -> None:
    assert str(round_money(Decimal(amount))) == rounded


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6))
def test_round_money_moves_at_most_half_a_cent(amount: Decimal) -> None:
    rounded = round_money(amount)
    assert abs(rounded - amount) <= Decimal("0.005")
    assert rounded == round_money(rounded)


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(Decimal("0.075"), "7.5%"), (Decimal("1.45"), "145%"), (Decimal(0), "0%")],
)
def test_percent(fraction: Decimal, text: str) -> None:
    assert percent(fraction) == text


def test_fx_converts_through_the_pivot() -> None:
    fx = FxTable({"CNY": Decimal("7.2"), "EUR": Decimal("0.9")})
    assert fx.convert(Decimal("100"), "USD", "CNY") == Decimal("720.0")
    assert fx.convert(Decimal("90"), "EUR", "CNY") == Decimal("720")
    assert fx.convert(Decimal("5"), "CNY", "CNY") == Decimal("5")


def test_missing_fx_rate_is_an_error_never_a_guess() -> None:
    with pytest.raises(MissingFxRateError, match="--fx CNY=RATE"):
        FxTable().convert(Decimal("1"), "USD", "CNY")


# ----------------------------------------------------------------------------- rates


@pytest.mark.parametrize(
    ("text", "ad_valorem", "specifics"),
    [
        ("Free", "0", ()),
        ("free", "0", ()),
        ("25%", "0.25", ()),
        ("7.5 %", "0.075", ()),
        ("4.4¢/kg", "0", (Specific(Decimal("0.044"), "USD", "kg"),)),
        ("$1.13/m³", "0", (Specific(Decimal("1.13"), "USD", "m3"),)),
        ("90¢/pr. + 20%", "0.2", (Specific(Decimal("0.9"), "USD", "pair"),)),
        ("25¢/kg\u00a0+ 2.6%", "0.026", (Specific(Decimal("0.25"), "USD", "kg"),)),
        ("1 CNY/kg", "0", (Specific(Decimal("1"), "CNY", "kg"),)),
        ("$2 each", "0", (Specific(Decimal("2"), "USD", "item"),)),
    ],
)
def test_parse_rate(text: str, ad_valorem: str, specifics: tuple[Specific, ...]) -> None:
    rate = parse_rate(text)
    assert rate.ad_valorem == Decimal(ad_valorem)
    assert rate.specifics == specifics


@pytest.mark.parametrize(
    "text", ["", "25", "25% + 3%", "10¢/parsec", "The rate applicable", "-5%", "$/kg"]
)
def test_parse_rate_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(RateSyntaxError):
        parse_rate(text)


def test_free_is_free() -> None:
    assert parse_rate("Free") is FREE
    assert FREE.is_free


@given(
    st.decimals(min_value=0, max_value=1000, places=3),
    st.decimals(min_value=0, max_value=100, places=2),
)
def test_rate_text_round_trips(ad_valorem: Decimal, cents: Decimal) -> None:
    text = f"{cents}¢/kg + {ad_valorem}%"
    rate = parse_rate(text)
    assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize(
    ("qty", "unit", "target", "expected"),
    [
        ("1500", "g", "kg", "1.5"),
        ("2", "t", "kg", "2000"),
        ("3", "m3", "l", "3000"),
        ("4", "kg", "kg", "4"),
    ],
)
def test_convert_quantity(qty: str, unit: str, target: str, expected: str) -> None:
    assert convert_quantity(Decimal(qty), unit, target) == Decimal(expected)


def test_convert_quantity_between_unrelated_units_is_none() -> None:
    assert convert_quantity(Decimal(1), "kg", "pair") is None
