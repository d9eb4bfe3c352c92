"""Build shipments, FX tables and overrides from text, as typed on a command line or in a CSV.

Every function raises :class:`~tradecalc.core.errors.UsageError` naming the bad field and an
example of a good one; nothing here reads files or prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from tradecalc.core.errors import UsageError
from tradecalc.core.money import FX_BOUND, FxTable, parse_amount, parse_decimal
from tradecalc.core.rate import RateSyntaxError, normalise_unit, parse_rate
from tradecalc.core.records import record
from tradecalc.engine.assessment import ENTRY_TYPES, MetalContent, Shipment
from tradecalc.schedule.models import MODES, Override, is_mode, parse_when

METALS = ("steel", "aluminum", "copper")
_METAL_ALIASES = {"aluminium": "aluminum"}
_METAL_AMOUNT = re.compile(r"([A-Za-z]{3})\s*(\S.*)", re.ASCII)


@record
class ShipmentText:
    """The text fields of one shipment (blank or None = not given)."""

    hs: str
    value: str
    origin: str | None = None
    dest: str | None = None
    currency: str | None = None
    date: str | None = None
    freight: str | None = None
    insurance: str | None = None
    qty: str | None = None
    unit: str | None = None
    mode: str | None = None
    metal: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    entry: str | None = None
    items: str | None = None


_CLAIM = re.compile(r"([a-z0-9][a-z0-9.-]*)(?:=(.*))?", re.ASCII)


def parse_claims(items: Iterable[str]) -> tuple[tuple[str, Decimal | None], ...]:
    """``--claim ID`` or ``--claim ID=30%`` (repeatable; ``;`` or ``,`` separate several in
    one item): each claim id with its share, sorted, once each."""
    found: dict[str, Decimal | None] = {}
    for item in items:
        for part in re.split(r"[;,]", item):
            text = part.strip().lower()
            if not text:
                continue
            match = _CLAIM.fullmatch(text)
            if match is None:
                raise UsageError(
                    f"claim {part.strip()!r} is not a claim id (e.g. donation, us-content=30%)"
                )
            share = None
            if match.group(2) is not None:
                value = match.group(2).strip()
                if not value.endswith("%"):
                    raise UsageError(f"claim {text!r}: give the share as a percentage, e.g. 30%")
                share = parse_amount(value[:-1], f"claim {match.group(1)}") / 100
                if share > 1:
                    raise UsageError(f"claim {text!r}: a share cannot exceed 100%")
            found[match.group(1)] = share
    return tuple(sorted(found.items()))


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def parse_entry(text: str) -> tuple[datetime, bool]:
    """``2025-05-14`` or ``2025-05-14T12:30``; returns the moment and whether it was a bare date."""
    try:
        when = parse_when(text)
    except ValueError:
        raise UsageError(f"date {text!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return when, "T" not in text.strip() and " " not in text.strip()


def directions(origin: str | None, dest: str | None) -> tuple[str, str]:
    """Fill in the missing end: CN->US by default; ``--dest CN`` alone implies origin US."""
    origin = origin.strip().upper() if not _blank(origin) else None  # type: ignore[union-attr]
    dest = dest.strip().upper() if not _blank(dest) else None  # type: ignore[union-attr]
    if origin is None and dest is None:
        return "CN", "US"
    if dest is None:
        dest = "CN" if origin == "US" else "US"
    if origin is None:
        origin = "US" if dest == "CN" else "CN"
    for name, code in (("origin", origin), ("destination", dest)):
        if len(code) != 2 or not code.isalpha():
            raise UsageError(f"{name} {code!r} is not a two-letter country code (e.g. CN, US)")
    return origin, dest


def parse_metal(items: Iterable[str]) -> dict[str, MetalContent]:
    """``steel=40%`` (share of value) or ``steel=USD400`` (amount and its currency) per metal.

    A bare number is refused: ``steel=40`` could mean either."""
    found: dict[str, MetalContent] = {}
    for item in items:
        for part in (p for p in item.split(";") if p.strip()):
            name, sep, text = part.partition("=")
            metal = _METAL_ALIASES.get(name.strip().lower(), name.strip().lower())
            if not sep or metal not in METALS:
                raise UsageError(
                    f"--metal {part!r}: use METAL=PERCENT% or METAL=CURAMOUNT with METAL one of "
                    f"{', '.join(METALS)} (e.g. steel=40% or steel=USD400)"
                )
            text = text.strip()
            if text.endswith("%"):
                share = parse_amount(text[:-1], f"--metal {metal}") / 100
                if share > 1:
                    raise UsageError(f"--metal {metal}={text}: a share cannot exceed 100%")
                found[metal] = MetalContent(share)
            elif (m := _METAL_AMOUNT.fullmatch(text)) is not None:
                amount = parse_amount(m.group(2), f"--metal {metal}")
                found[metal] = MetalContent(amount, is_share=False, currency=m.group(1).upper())
            else:
                raise UsageError(
                    f"--metal {metal}={text}: give a share with % or an amount with its "
                    f"currency (e.g. {metal}=40% or {metal}=USD400)"
                )
    return found


def parse_fx(items: Iterable[str]) -> FxTable:
    """``CNY=7.18`` means 7.18 CNY per 1 USD."""
    rates: dict[str, Decimal] = {}
    for item in items:
        name, sep, text = item.partition("=")
        currency = name.strip().upper()
        if not sep or len(currency) != 3 or not currency.isalpha():
            raise UsageError(f"--fx {item!r}: use CUR=RATE, units of CUR per 1 USD (e.g. CNY=7.18)")
        rate = parse_decimal(text, f"--fx {currency}", FX_BOUND)
        if rate <= 0:
            raise UsageError(f"--fx {currency}: the rate must be positive")
        rates[currency] = rate
    return FxTable(rates)


def parse_overrides(items: Iterable[str]) -> tuple[Override, ...]:
    """``us-ieepa-reciprocal=50%`` or ``cn-counter-301-2018=off``."""
    found = []
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise UsageError(
                f"--set {item!r}: use MEASURE=RATE or MEASURE=off (e.g. us-ieepa-reciprocal=50%)"
            )
        if text.lower() == "off":
            found.append(Override(measure=name, off=True))
            continue
        try:
            found.append(Override(measure=name, rate=parse_rate(text)))
        except (RateSyntaxError, ValueError) as exc:
            raise UsageError(f"--set {item!r}: {exc}") from None
    return tuple(found)


MAX_ITEMS = 1_000_000
"""Most postal items one shipment may count."""


def parse_entry_type(text: str | None) -> str | None:
    """``--entry``: one of :data:`ENTRY_TYPES` (any case), or None when blank."""
    if _blank(text):
        return None
    kind = (text or "").strip().lower()
    if kind not in ENTRY_TYPES:
        raise UsageError(f"entry type {text!r} is not one of {', '.join(ENTRY_TYPES)}")
    return kind


def parse_items(text: str | None) -> int | None:
    """``--items``: a whole number of postal items from 1 to :data:`MAX_ITEMS`."""
    if _blank(text):
        return None
    digits = (text or "").strip()
    if not digits.isascii() or not digits.isdigit() or not 1 <= int(digits) <= MAX_ITEMS:
        raise UsageError(
            f"items {digits!r} is not a whole number of postal items from 1 to {MAX_ITEMS:,}"
        )
    return int(digits)


def build_shipment(fields: ShipmentText) -> Shipment:
    """Validate every field and build the engine's shipment."""
    if _blank(fields.hs):
        raise UsageError("an HS code is required (e.g. --hs 9503.00.0073)")
    if _blank(fields.value):
        raise UsageError("a value is required (e.g. 1000 or 1234.56)")
    origin, dest = directions(fields.origin, fields.dest)
    date = (fields.date or "").strip()
    entry, is_date = parse_entry(date) if date else (None, True)
    mode = (fields.mode or "ocean").strip().lower() or "ocean"
    if not is_mode(mode):
        raise UsageError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    unit = None
    if not _blank(fields.unit):
        try:
            unit = normalise_unit(fields.unit or "")
        except RateSyntaxError as exc:
            raise UsageError(str(exc)) from None
    quantity = _optional(fields.qty, "quantity")
    if quantity is not None and unit is None:
        raise UsageError("a quantity needs its unit (e.g. --qty 120 --unit kg)")
    currency = None
    if not _blank(fields.currency):
        currency = (fields.currency or "").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise UsageError(f"currency {currency!r} is not a three-letter code (e.g. USD)")
    metal = parse_metal(fields.metal)
    return Shipment(
        code=fields.hs.strip(),
        value=parse_amount(fields.value, "value"),
        origin=origin,
        dest=dest,
        entry=entry,
        entry_is_date=is_date,
        currency=currency,
        freight=_optional(fields.freight, "freight"),
        insurance=_optional(fields.insurance, "insurance"),
        quantity=quantity,
        unit=unit,
        mode=mode,
        metal=metal,
        claims=parse_claims(fields.claims),
        entry_type=parse_entry_type(fields.entry),
        items=parse_items(fields.items),
    )


def _optional(text: str | None, what: str) -> Decimal | None:
    return None if _blank(text) else parse_amount(text or "", what)


def load_json(text: str) -> object:
    """Parse a JSON document keeping numbers exact: ``1200.5`` becomes ``Decimal("1200.5")``
    from its text, never a float. ``NaN`` and ``Infinity`` raise ``ValueError``."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def shipment_from_mapping(row: Mapping[str, object]) -> Shipment:
    """A shipment from a CSV row or JSON object with the batch column names."""

    def text(key: str) -> str | None:
        value = row.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            if isinstance(value, float):
                raise UsageError(f'{key}: write numbers as text to keep them exact, e.g. "1234.56"')
            raise UsageError(f"{key}: expected text, got {type(value).__name__}")
        return str(value)

    metal = text("metal")
    claims = row.get("claims")
    if isinstance(claims, list) and all(isinstance(c, str) for c in claims):
        claimed: tuple[str, ...] = tuple(claims)
    else:
        claimed = (text("claims") or "",)
    return build_shipment(
        ShipmentText(
            hs=text("hs") or "",
            value=text("value") or "",
            origin=text("origin"),
            dest=text("dest"),
            currency=text("currency"),
            date=text("date"),
            freight=text("freight"),
            insurance=text("insurance"),
            qty=text("qty"),
            unit=text("unit"),
            mode=text("mode"),
            metal=(metal,) if metal else (),
            claims=claimed,
            entry=text("entry"),
            items=text("items"),
        )
    )
