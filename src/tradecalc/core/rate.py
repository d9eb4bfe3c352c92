"""The rate grammar: ``Free``, ad valorem, specific and compound rates.

Examples: ``Free``, ``25%``, ``7.5%``, ``4.4¢/kg``, ``$1.13/m3``, ``$100/item``,
``1 CNY/kg``, ``25¢/kg + 2.6%``. Quantity units are explicit and normalised
(``No.``/``each`` -> ``item``, ``m²`` -> ``m2``, ``liter`` -> ``l``).
"""

from __future__ import annotations

import re
from decimal import Decimal

from tradecalc.core.money import HUNDRED, PERCENT_BOUND, SPECIFIC_BOUND, Bound, percent
from tradecalc.core.records import record

UNIT_ALIASES = {
    "kg": "kg",
    "g": "g",
    "t": "t",
    "l": "l",
    "liter": "l",
    "litre": "l",
    "m2": "m2",
    "m²": "m2",
    "m3": "m3",
    "m³": "m3",
    "item": "item",
    "each": "item",
    "no.": "item",
    "no": "item",
    "pcs": "item",
    "head": "head",
    "doz.": "doz",
    "doz": "doz",
    "pr.": "pair",
    "pair": "pair",
    "bbl": "bbl",
}
"""Accepted spellings of quantity units, mapped to the canonical unit."""

_TO_BASE = {"g": ("kg", Decimal("0.001")), "t": ("kg", Decimal(1000)), "m3": ("l", Decimal(1000))}

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%", re.ASCII)
_CENTS = re.compile(r"(\d+(?:\.\d+)?)\s*¢\s*(?:/\s*(\S+)|\s+(each))", re.ASCII)
_DOLLARS = re.compile(r"\$\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\S+)|\s+(each))", re.ASCII)
_NAMED = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Z]{3})\s*/\s*(\S+)", re.ASCII)


class RateSyntaxError(ValueError):
    """A rate string does not follow the grammar."""


def bounded_number(digits: str, bound: Bound, rate: str) -> Decimal:
    """The number ``digits`` of the rate text ``rate``; refused beyond ``bound``."""
    if not bound.allows(digits):
        raise RateSyntaxError(f"rate {rate!r} is out of range: {bound.describe()}")
    return Decimal(digits)


def normalise_unit(unit: str) -> str:
    """Canonical spelling of a quantity unit; raise for an unknown one."""
    key = unit.strip().lower()
    if key not in UNIT_ALIASES:
        known = ", ".join(sorted(set(UNIT_ALIASES.values())))
        raise RateSyntaxError(f"unknown quantity unit {unit!r} (known: {known})")
    return UNIT_ALIASES[key]


def convert_quantity(quantity: Decimal, unit: str, target: str) -> Decimal | None:
    """Convert a quantity between compatible units (g/kg/t, l/m3); None if impossible."""
    if unit == target:
        return quantity
    base_unit, factor = _TO_BASE.get(unit, (unit, Decimal(1)))
    target_base, target_factor = _TO_BASE.get(target, (target, Decimal(1)))
    if base_unit != target_base:
        return None
    return quantity * factor / target_factor


@record
class Specific:
    """A specific duty component: ``amount`` of ``currency`` per one ``unit``."""

    amount: Decimal
    currency: str
    unit: str

    def __str__(self) -> str:
        amount = format(self.amount.normalize(), "f")
        if self.currency == "USD":
            if self.amount < 1:
                cents = format((self.amount * HUNDRED).normalize(), "f")
                return f"{cents}¢/{self.unit}"
            return f"${amount}/{self.unit}"
        return f"{amount} {self.currency}/{self.unit}"


@record
class Rate:
    """A parsed rate: an ad valorem fraction plus any specific components."""

    ad_valorem: Decimal = Decimal(0)
    specifics: tuple[Specific, ...] = ()

    @property
    def is_free(self) -> bool:
        """True for a rate that charges nothing."""
        return self.ad_valorem == 0 and all(s.amount == 0 for s in self.specifics)

    def __str__(self) -> str:
        parts = [str(s) for s in self.specifics]
        if self.ad_valorem or not parts:
            if not parts and self.ad_valorem == 0:
                return "Free"
            parts.append(percent(self.ad_valorem))
        return " + ".join(parts)


FREE = Rate()


def parse_rate(text: str) -> Rate:
    """Parse a rate string; raise :class:`RateSyntaxError` with the reason."""
    cleaned = " ".join(text.replace("\u00a0", " ").split())
    if not cleaned:
        raise RateSyntaxError("empty rate")
    if cleaned.lower() == "free":
        return FREE
    ad_valorem = Decimal(0)
    specifics: list[Specific] = []
    seen_percent = False
    for part in (p.strip() for p in cleaned.split("+")):
        if m := _PERCENT.fullmatch(part):
            if seen_percent:
                raise RateSyntaxError(f"rate {text!r} has two ad valorem parts")
            seen_percent = True
            ad_valorem = bounded_number(m.group(1), PERCENT_BOUND, text) / HUNDRED
        elif m := _CENTS.fullmatch(part):
            unit = normalise_unit(m.group(2) or m.group(3))
            cents = bounded_number(m.group(1), SPECIFIC_BOUND, text)
            specifics.append(Specific(cents / HUNDRED, "USD", unit))
        elif m := _DOLLARS.fullmatch(part):
            unit = normalise_unit(m.group(2) or m.group(3))
            specifics.append(
                Specific(bounded_number(m.group(1), SPECIFIC_BOUND, text), "USD", unit)
            )
        elif m := _NAMED.fullmatch(part):
            amount = bounded_number(m.group(1), SPECIFIC_BOUND, text)
            specifics.append(Specific(amount, m.group(2), normalise_unit(m.group(3))))
        else:
            raise RateSyntaxError(
                f"cannot read rate {text!r}: expected Free, 25%, 4.4¢/kg, $1.13/m3, "
                "1 CNY/kg or a sum such as 25¢/kg + 2.6%"
            )
    return Rate(ad_valorem, tuple(specifics))
