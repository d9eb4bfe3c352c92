"""Exact decimal money: parsing within documented bounds, exact arithmetic, the one rounding rule.

Amounts are ``decimal.Decimal`` built from text, never from floats. Every number a user or
a data file gives is refused at parse time when it has more digits than its :class:`Bound`
(see ``README.md``, "Limits"). Within those bounds the arithmetic is exact: sums and
products run in :data:`EXACT` (80 digits, ``Inexact`` trapped, so nothing is rounded
silently), and quotients (currency conversion, China's consumption tax) are exact
fractions. Rounding happens only in :func:`round_money`, half-up to the cent, and only
where a line of an assessment is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from functools import reduce

from tradecalc.core.errors import MissingFxRateError, UsageError
from tradecalc.core.records import record

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@record
class Bound:
    """The most digits a number may have before and after its decimal point."""

    integer: int
    decimals: int

    def allows(self, text: str) -> bool:
        """True when the plain decimal ``text`` (no sign) fits; outer zeros do not count."""
        whole, _, fraction = text.partition(".")
        return len(whole.lstrip("0")) <= self.integer and len(fraction.rstrip("0")) <= self.decimals

    def describe(self) -> str:
        """The bound in words, for error messages."""
        return f"at most {self.integer} digits before the decimal point and {self.decimals} after"


AMOUNT_BOUND = Bound(15, 6)
"""Values, freight, insurance, metal amounts, quantities and amounts in data files."""
FX_BOUND = Bound(9, 9)
"""Exchange rates (units per 1 USD)."""
PERCENT_BOUND = Bound(6, 6)
"""Ad valorem rates, as written in percent (``25%``)."""
SPECIFIC_BOUND = Bound(9, 6)
"""The amount of a specific rate per unit (``4.4¢/kg``, ``$1.13/m3``)."""

EXACT = Context(
    prec=80,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, Inexact, Overflow, DivisionByZero],
)
"""Room for every sum and product of bounded inputs (a converted value below 10^33 times
a rate below 10^3 needs under 50 digits); an operation that would round raises instead."""
_ROUNDING = Context(prec=EXACT.prec, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)

Exact = Decimal | Fraction
"""A sum of money before rounding: a Decimal, or a Fraction once a quotient is involved."""


def money_sum(amounts: Iterable[Decimal], start: Decimal = Decimal("0.00")) -> Decimal:
    """The exact sum of ``amounts`` (in :data:`EXACT`, without switching contexts)."""
    return reduce(EXACT.add, amounts, start)


def exact() -> AbstractContextManager[Context]:
    """Run money arithmetic in :data:`EXACT`: ``with exact(): ...``."""
    return localcontext(EXACT)


def parse_decimal(text: str, what: str = "amount", bound: Bound = AMOUNT_BOUND) -> Decimal:
    """Parse a plain decimal number such as ``"1234.56"`` within ``bound``.

    NaN, infinities, exponents and floats are refused, and so is a number with more digits
    than ``bound`` allows, naming the bound.
    """
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not _NUMBER.fullmatch(cleaned):
        raise UsageError(f"{what} {text!r} is not a plain decimal number (e.g. 1234.56)")
    if not bound.allows(cleaned.lstrip("+-")):
        raise UsageError(f"{what} {text!r} is out of range: {bound.describe()}")
    return Decimal(cleaned) + 0  # normalises -0 to 0 (exact: the digits are bounded)


def parse_amount(text: str, what: str = "amount") -> Decimal:
    """Parse a non-negative amount of money or quantity within :data:`AMOUNT_BOUND`."""
    value = parse_decimal(text, what)
    if value < 0:
        raise UsageError(f"{what} {text!r} must not be negative")
    return value


def round_money(amount: Exact) -> Decimal:
    """The single rounding step: half-up (ties away from zero) to 0.01 of the currency."""
    if isinstance(amount, Decimal):
        return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_ROUNDING)
    return _half_up(amount, 2)


def _half_up(amount: Fraction, places: int) -> Decimal:
    """``amount`` rounded half-up (ties away from zero) to ``places`` decimals, exactly."""
    units, rest = divmod(abs(amount.numerator) * 10**places, amount.denominator)
    units += 2 * rest >= amount.denominator
    sign = "-" if amount < 0 and units else ""
    return Decimal(f"{sign}{units}e-{places}")


def consumption_tax(base: Decimal, rate: Decimal) -> tuple[Fraction, Decimal]:
    """China's consumption tax: its base ``base / (1 - rate)`` (exact) and the rounded tax."""
    grossed = Fraction(base) / (1 - Fraction(rate))
    return grossed, round_money(grossed * Fraction(rate))


def percent(fraction: Decimal) -> str:
    """Show a fraction as a percentage without trailing zeros: 0.075 -> '7.5%'."""
    value = (fraction * HUNDRED).normalize()
    text = format(value, "f")
    return f"{text}%"


RATE_PLACES = 6
"""An effective rate is a fraction rounded half-up to 6 places: 0.0001 percentage point."""


DISPLAY_PLACES = 4
"""An effective rate is shown to 0.01 percentage point (4 places of the fraction)."""


def effective_percent(fraction: Decimal) -> str:
    """An effective rate for people: half-up to 0.01 %, trailing zeros dropped (``10%``).

    Cents make duty / value drift from the rates charged (10% of 1000.05 is 100.01, i.e.
    10.0005%); the data formats keep :data:`RATE_PLACES`, people read the rate as charged."""
    return percent(_half_up(Fraction(fraction), DISPLAY_PLACES))


def effective_rate(total: Decimal, base: Decimal) -> Decimal:
    """Total over base as a fraction to :data:`RATE_PLACES` places (``0.000000`` on a zero base)."""
    if base == 0:
        return _half_up(Fraction(0), RATE_PLACES)
    # integer quotient and remainder: exact, and cheaper than a Fraction
    units, rest = EXACT.divmod(abs(total).scaleb(RATE_PLACES), abs(base))
    units += 2 * rest >= abs(base)
    sign = "-" if (total < 0) != (base < 0) and units else ""
    return Decimal(f"{sign}{units:f}e-{RATE_PLACES}")


class FxTable:
    """Exchange rates quoted as units of a currency per one unit of the pivot (USD)."""

    PIVOT = "USD"

    def __init__(self, rates: dict[str, Decimal] | None = None) -> None:
        self._rates = {self.PIVOT: Decimal(1), **(rates or {})}
        self._factors: dict[tuple[str, str], Fraction] = {}

    def __contains__(self, currency: str) -> bool:
        return currency in self._rates

    def convert(self, amount: Exact, source: str, target: str) -> Fraction:
        """Convert exactly (a fraction); a missing rate is an error, never a guess."""
        if source == target:
            return Fraction(amount)
        factor = self._factors.get((source, target))
        if factor is None:
            for currency in (source, target):
                if currency not in self._rates:
                    raise MissingFxRateError(
                        f"no exchange rate for {currency}: pass --fx {currency}=RATE "
                        f"(units of {currency} per 1 {self.PIVOT})"
                    )
            factor = Fraction(self._rates[target]) / Fraction(self._rates[source])
            self._factors[(source, target)] = factor
        return Fraction(amount) * factor

    def items(self) -> list[tuple[str, Decimal]]:
        """Rates given by the user, pivot excluded, sorted by currency."""
        return sorted((k, v) for k, v in self._rates.items() if k != self.PIVOT)
