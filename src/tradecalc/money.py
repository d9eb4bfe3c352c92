"""Exact decimal money: parsing, the one rounding rule, and currency conversion.

Amounts are ``decimal.Decimal`` built from text, never from floats. Rounding happens
only in :func:`round_money`, half-up to the cent, and only where a line of an
assessment is fixed.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from tradecalc.errors import MissingFxRateError, UsageError

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_DIGITS = 28
"""Amounts with more significant digits than this are refused rather than rounded."""

_EXACT = Context(prec=60, traps=[InvalidOperation])
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


def parse_decimal(text: str, what: str = "amount") -> Decimal:
    """Parse a plain decimal number such as ``"1234.56"``; refuse NaN, exponents, floats."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not _NUMBER.fullmatch(cleaned):
        raise UsageError(f"{what} {text!r} is not a plain decimal number (e.g. 1234.56)")
    value = Decimal(cleaned)
    if len(value.as_tuple().digits) > MAX_DIGITS:
        raise UsageError(f"{what} {text!r} has more than {MAX_DIGITS} digits")
    return value + 0  # normalises -0 to 0


def parse_amount(text: str, what: str = "amount") -> Decimal:
    """Parse a non-negative amount of money."""
    value = parse_decimal(text, what)
    if value < 0:
        raise UsageError(f"{what} {text!r} must not be negative")
    return value


def round_money(amount: Decimal) -> Decimal:
    """The single rounding step: half-up to 0.01 of the currency."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_EXACT)


def percent(fraction: Decimal) -> str:
    """Show a fraction as a percentage without trailing zeros: 0.075 -> '7.5%'."""
    value = (fraction * HUNDRED).normalize()
    text = format(value, "f")
    return f"{text}%"


def effective_rate(total: Decimal, base: Decimal) -> Decimal:
    """Total over base as a fraction, rounded half-up to 0.0001 % for display."""
    if base == 0:
        return Decimal(0)
    return (total / base).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


class FxTable:
    """Exchange rates quoted as units of a currency per one unit of the pivot (USD)."""

    PIVOT = "USD"

    def __init__(self, rates: dict[str, Decimal] | None = None) -> None:
        self._rates = {self.PIVOT: Decimal(1), **(rates or {})}

    def __contains__(self, currency: str) -> bool:
        return currency in self._rates

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal:
        """Convert exactly; a missing rate is an error, never a guess."""
        if source == target:
            return amount
        for currency in (source, target):
            if currency not in self._rates:
                raise MissingFxRateError(
                    f"no exchange rate for {currency}: pass --fx {currency}=RATE "
                    f"(units of {currency} per 1 {self.PIVOT})"
                )
        return amount / self._rates[source] * self._rates[target]

    def items(self) -> list[tuple[str, Decimal]]:
        """Rates given by the user, pivot excluded, sorted by currency."""
        return sorted((k, v) for k, v in self._rates.items() if k != self.PIVOT)
