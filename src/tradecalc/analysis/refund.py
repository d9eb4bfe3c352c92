"""IEEPA refunds and audits of past entries: what was paid, what the schedule expected, the route.

Input is the ACE ES-003 export (Entry Summary Line Tariff Details: one row per tariff
ordinal, so a line's commodity HTS and each of its Chapter 99 numbers are separate rows) or
tradecalc's own small CSV with the same facts. Rows are grouped by entry and line; each line's
commodity row is assessed by the engine on its entry date, and the Chapter 99 headings and
amounts it expects are compared with those filed. Each entry then gets its refund route from
its type, flags and liquidation status at ``as_of``, with the deadline that matters next.

The legal rules (IEEPA headings, CAPE limits, protest and correction windows, excluded entry
types) and the quarterly interest rates are sourced data in ``data/refund/``.
"""

from __future__ import annotations

import atexit
import csv
import marshal
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import chain, groupby, islice
from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import Any, TypeVar, overload

from tradecalc.core.errors import DataError, TradecalcError, UsageError, WriteError
from tradecalc.core.money import EXACT, parse_amount, round_money
from tradecalc.core.records import record
from tradecalc.engine.assessment import Assessment, Shipment, assess, dated_view
from tradecalc.engine.compiled import Tables, fees_at, intraday_at, review_of
from tradecalc.hts.base_rates import BaseRates
from tradecalc.schedule.models import Schedule

ZERO = Decimal(0)
_T = TypeVar("_T")
NOTICE = "Not legal advice: an estimate from the data you gave; CBP decides every refund."
ROUTES = ("cape", "reconciliation", "protest", "finally-liquidated", "excluded", "none")
DEVIATION_SHARE = Decimal("0.005")
"""A paid amount further than 0.5% from the expected one is flagged."""

_ENTRY_NUMBER = re.compile(r"[A-Z0-9]{3}\d{8}", re.ASCII)

# Header names, compared without case, spaces or punctuation, to the fields they fill.
_HEADERS: Mapping[str, str] = {
    "entrysummarynumber": "entry",
    "entrynumber": "entry",
    "entry": "entry",
    "entrysummarylinenumber": "line",
    "line": "line",
    "entrytypecode": "type",
    "type": "type",
    "entrydate": "date",
    "date": "date",
    "countryoforigincode": "origin",
    "origin": "origin",
    "tariffordinalnumber": "ordinal",
    "ordinal": "ordinal",
    "htsnumberfull": "hts",
    "hts": "hts",
    "linetariffgoodsvalueamount": "value",
    "value": "value",
    "linetariffdutyamount": "duty",
    "duty": "duty",
    "liquidationdate": "liquidation_date",
    "liquidationstatus": "liquidation_status",
    "reconciliationflag": "reconciliation",
    "drawbackflag": "drawback",
    "openprotest": "protest",
    "adcvdflag": "adcvd",
}
REQUIRED = ("entry", "line", "type", "date", "origin", "hts", "value", "duty")
_YES = frozenset({"y", "yes", "true", "1", "x"})
_FLAGS = ("reconciliation", "drawback", "protest", "adcvd")


@record
class Rules:
    """The sourced refund rules of ``data/refund/rules.csv``."""

    ieepa_prefixes: tuple[str, ...]
    section_122_heading: str
    cape_days: int
    cape_max_entries: int
    cape_max_bytes: int
    reconciliation_from: date
    protest_days: int
    psc_days: int
    excluded_types: frozenset[str]
    sources: Mapping[str, str]


@record
class InterestRate:
    """Overpayment interest from ``start`` until the next rate's start (None: unconfirmed)."""

    start: date
    corporate: Decimal | None
    non_corporate: Decimal | None
    source: str
    unconfirmed: str


def data_folder() -> Path:
    """The bundled ``data/refund`` folder (installed copy, else the source tree's)."""
    here = Path(__file__).resolve().parents[1]
    installed = here / "data" / "refund"
    return installed if installed.is_dir() else here.parent.parent / "data" / "refund"


def _table(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    return list(csv.DictReader(lines))


def load_rules(folder: Path | None = None) -> Rules:
    """Read the refund rules (every value with its source)."""
    rows = {row["key"]: row for row in _table((folder or data_folder()) / "rules.csv")}

    def value(key: str) -> str:
        return rows[key]["value"]

    return Rules(
        ieepa_prefixes=tuple(p.replace(".", "") for p in value("ieepa_headings").split(";")),
        section_122_heading=value("section_122_heading").replace(".", ""),
        cape_days=int(value("cape_liquidated_within_days")),
        cape_max_entries=int(value("cape_max_entries")),
        cape_max_bytes=int(value("cape_max_bytes")),
        reconciliation_from=date.fromisoformat(value("reconciliation_from")),
        protest_days=int(value("protest_days")),
        psc_days=int(value("psc_days")),
        excluded_types=frozenset(value("excluded_entry_types").split(";")),
        sources={key: row["source"] for key, row in rows.items()},
    )


def load_interest(folder: Path | None = None) -> tuple[InterestRate, ...]:
    """The quarterly overpayment rates, earliest first."""

    def rate(text: str) -> Decimal | None:
        return Decimal(text.removesuffix("%")) / 100 if text else None

    return tuple(
        InterestRate(
            date.fromisoformat(row["from"]),
            rate(row["corporate"]),
            rate(row["non_corporate"]),
            row["source"],
            row["unconfirmed"],
        )
        for row in _table((folder or data_folder()) / "interest.csv")
    )


def estimate_interest(
    principal: Decimal, start: date, end: date, rates: Iterable[InterestRate], *, corporate: bool
) -> tuple[Decimal, str | None]:
    """Interest on ``principal`` from ``start`` to ``end``, compounded daily, rounded to cents.

    Returns the amount and, when a period has no confirmed rate, a note saying where the
    estimate stops.
    """
    table = sorted(rates, key=lambda r: r.start)
    balance = principal
    for index, rate in enumerate(table):
        until = table[index + 1].start if index + 1 < len(table) else date.max
        lo, hi = max(start, rate.start), min(end, until)
        if lo >= hi:
            continue
        annual = rate.corporate if corporate else rate.non_corporate
        if annual is None:
            return round_money(balance - principal), f"interest stops at {lo}: {rate.unconfirmed}"
        day = lo
        while day < hi:  # a year at a time, so each year divides by its own length
            year_end = min(hi, date(day.year + 1, 1, 1))
            year_days = 366 if _leap(day.year) else 365
            balance *= (1 + annual / year_days) ** (year_end - day).days
            day = year_end
    return round_money(balance - principal), None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# ----------------------------------------------------------------------------- input


@record
class TariffRow:
    """One ES-003 row: one tariff ordinal of one entry line."""

    row: int
    entry: str
    line: str
    ordinal: str
    type: str
    entered: date
    origin: str
    hts: str
    value: Decimal
    duty: Decimal
    liquidation_date: date | None
    liquidation_status: str
    flags: frozenset[str]


def header_fields(
    header: Iterable[str],
    names: Mapping[str, str] = _HEADERS,
    required: Iterable[str] = REQUIRED,
    what: str = "entries file",
) -> list[str | None]:
    """The field each column fills (None: a column tradecalc does not use).

    Names match without regard to case, spaces or punctuation; two columns filling the same
    field are refused (:class:`tradecalc.core.files.CsvRecords` bounds the column count)."""
    header = list(header)
    fields = [names.get(re.sub(r"[^a-z0-9]", "", name.lower())) for name in header]
    missing = [name for name in required if name not in fields]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}")
    repeated = [f for i, f in enumerate(fields) if f and f in fields[:i]]
    if repeated:
        raise DataError(f"{what}: two columns give the {repeated[0]} field")
    return fields


def parse_date(text: str, what: str) -> date:
    """``YYYY-MM-DD`` or ACE's ``MM/DD/YYYY``."""
    text = text.strip()
    try:
        if "/" in text:
            month, day, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} {text[:20]!r} is not YYYY-MM-DD or MM/DD/YYYY") from None


_DATES: dict[str, date] = {}


def _cached_date(text: str, what: str) -> date:
    """:func:`parse_date`, remembered (an export repeats a few hundred dates a million times)."""
    found = _DATES.get(text)
    if found is None:
        found = parse_date(text, what)
        if len(_DATES) >= 100_000:
            _DATES.clear()
        _DATES[text] = found
    return found


def read_rows(records: Iterable[list[str]]) -> Iterator[TariffRow | tuple[int, str]]:
    """Tariff rows from CSV records (header first); a bad row yields ``(row, message)``."""
    records = iter(records)
    header = next(records, None)
    if header is None:
        raise DataError("entries file: empty (no header)")
    used = [(f, i) for i, f in enumerate(header_fields(header)) if f]
    for number, cells in enumerate(records, start=1):
        width = len(cells)
        values = {f: cells[i].strip() for f, i in used if i < width}
        if not any(values.values()):
            continue
        try:
            yield _tariff_row(number, values)
        except (UsageError, DataError) as exc:
            yield number, str(exc)


def _tariff_row(number: int, v: Mapping[str, str]) -> TariffRow:
    for name in REQUIRED:
        if not v.get(name) and name != "duty":
            raise UsageError(f"{name} is empty")
    liquidated = v.get("liquidation_date", "")
    entry = v["entry"]
    if not _ENTRY_NUMBER.fullmatch(entry):
        entry = re.sub(r"[\s-]", "", entry).upper()
    return TariffRow(
        row=number,
        entry=entry,
        line=intern(v["line"]),
        ordinal=v.get("ordinal", ""),
        type=intern(v["type"].zfill(2)),
        entered=_cached_date(v["date"], "entry date"),
        origin=intern(v["origin"].upper()),
        hts=_code(v["hts"]),
        value=_amount(v["value"], "goods value"),
        duty=_amount(v.get("duty", ""), "duty"),
        liquidation_date=_cached_date(liquidated, "liquidation date") if liquidated else None,
        liquidation_status=v.get("liquidation_status", "").lower(),
        flags=frozenset(f for f in _FLAGS if f in v and v[f].lower() in _YES) or _NO_FLAGS,
    )


_NO_FLAGS: frozenset[str] = frozenset()
_ZEROS = frozenset({"", "0", "0.00", "0.0", ".00"})
_CODES: dict[str, str] = {}


_CENTS = re.compile(r"(?:[1-9]\d{0,14}|0)\.\d\d", re.ASCII)
"""An amount as exports write it (cents, no sign, no leading zero): :func:`parse_amount`
would return ``Decimal(text)`` for it."""


def _amount(text: str, what: str) -> Decimal:
    """:func:`parse_amount`, with the zeros that fill half an export's amount cells and the
    plain cents of the rest read directly."""
    if text in _ZEROS:
        return ZERO
    return Decimal(text) if _CENTS.fullmatch(text) else parse_amount(text, what)


def _code(text: str) -> str:
    """:func:`_heading_or_code`, remembered (a few thousand codes fill an export)."""
    found = _CODES.get(text)
    if found is None:
        found = intern(_heading_or_code(text))
        if len(_CODES) >= 100_000:
            _CODES.clear()
        _CODES[text] = found
    return found


# ----------------------------------------------------------------------------- results


@record
class Deviation:
    """A Chapter 99 heading filed differently from what the schedule expects."""

    kind: str
    """``missing``, ``extra``, ``wrong-period`` (a heading of another date) or ``amount-off``."""
    heading: str
    filed: Decimal | None
    expected: Decimal | None

    def __str__(self) -> str:
        dotted = _dotted(self.heading)
        if self.kind == "amount-off":
            return f"amount off {dotted}: paid {self.filed}, expected {self.expected}"
        if self.kind == "wrong-period":
            return f"wrong period {dotted}: not in force on the entry date"
        return f"{self.kind} {dotted}"


@dataclass(slots=True)
class LineResult:
    """One entry line: the headings filed and expected, with amounts."""

    line: str
    hts: str = ""
    origin: str = ""
    value: Decimal = ZERO
    filed: dict[str, Decimal] = field(default_factory=dict)
    expected: dict[str, Decimal] = field(default_factory=dict)
    review: tuple[str, ...] = ()
    ordinals: dict[str, int] | None = None
    """Tariff ordinal -> the row it was read from (while reading; None after)."""
    out_of_period: frozenset[str] = frozenset()
    """Filed headings the schedule has, but not in force on the entry date."""

    def deviations(self) -> list[Deviation]:
        """Headings expected but not filed, filed but not expected (``wrong-period`` when the
        schedule has that heading at other dates only), and amounts off by more than 0.5%."""
        found = []
        for heading in sorted(self.expected.keys() | self.filed.keys()):
            filed, expected = self.filed.get(heading), self.expected.get(heading)
            if filed is None:
                found.append(Deviation("missing", heading, filed, expected))
            elif expected is None:
                kind = "wrong-period" if heading in self.out_of_period else "extra"
                found.append(Deviation(kind, heading, filed, expected))
            elif abs(filed - expected) > expected * DEVIATION_SHARE:
                found.append(Deviation("amount-off", heading, filed, expected))
        return found


@dataclass(slots=True)
class EntryResult:
    """One entry: its lines, route and deadline."""

    entry_number: str
    type: str
    entered: date
    liquidation_date: date | None = None
    liquidation_status: str = ""
    flags: set[str] = field(default_factory=set)
    lines: dict[str, LineResult] = field(default_factory=dict)
    route: str = "none"
    deadline: date | None = None
    deadline_kind: str = ""
    interest: Decimal = ZERO
    notes: list[str] = field(default_factory=list)
    valid_number: bool = True

    def total(self, prefixes: tuple[str, ...], which: str) -> Decimal:
        """Filed or expected duty on headings starting with ``prefixes``."""
        total = ZERO
        for line in self.lines.values():
            amounts = line.filed if which == "filed" else line.expected
            total += sum((a for h, a in amounts.items() if h.startswith(prefixes)), ZERO)
        return total


def collect(
    rows: Iterable[TariffRow], bad: list[tuple[int, str]] | None = None
) -> dict[str, EntryResult]:
    """Group tariff rows by entry and line (commodity rows vs Chapter 99 rows).

    A row repeating an entry, line and tariff ordinal already read is not counted twice:
    it goes to ``bad`` with the row it repeats."""
    entries: dict[str, EntryResult] = {}
    for row in rows:
        entry = entries.get(row.entry)
        if entry is None:
            entry = entries[row.entry] = EntryResult(row.entry, row.type, row.entered)
            entry.valid_number = bool(_ENTRY_NUMBER.fullmatch(row.entry))
        line = entry.lines.get(row.line)
        if line is None:
            line = entry.lines[row.line] = LineResult(row.line, ordinals={})
        if row.ordinal and line.ordinals is not None:
            first = line.ordinals.setdefault(row.ordinal, row.row)
            if first != row.row:
                if bad is not None:
                    bad.append(
                        (
                            row.row,
                            f"entry {row.entry} line {row.line} ordinal {row.ordinal} "
                            f"repeats row {first}: not counted twice",
                        )
                    )
                continue
        entry.liquidation_date = entry.liquidation_date or row.liquidation_date
        entry.liquidation_status = entry.liquidation_status or row.liquidation_status
        entry.flags |= row.flags
        if row.hts.startswith("99"):
            line.filed[row.hts] = line.filed.get(row.hts, ZERO) + row.duty
        else:
            line.hts, line.origin, line.value = row.hts, row.origin, line.value + row.value
            line.filed.setdefault("", ZERO)
            line.filed[""] += row.duty  # the commodity line's own (MFN) duty
    return entries


ENTRY_DATE_VIEW = dated_view(datetime(1900, 1, 1), "entry-date")
"""One view for every line, following each line's entry date (so the engine's plans are
shared between lines of the same code, origin and date)."""

_Layers = tuple[tuple[tuple[str, Decimal], ...], tuple[str, ...]]
SHIPMENT_MODE = Shipment("9503", ZERO).mode
"""The transport mode of every line (ES-003 rows do not say; fees are not compared)."""


class Expected:
    """The expected Chapter 99 layers per (code, origin, entry date), memoised within a run.

    A key's layers come from the compiled rate table (:mod:`tradecalc.engine.compiled`, the
    engine's layers resolved once per code) when every layer is ad valorem, else from the
    engine, whose amounts are then checked to be value x rate. Either way later lines of the
    key are priced as value x rate, rounded half-up to the cent (the engine's own step); any
    other assessment is redone per line. The memo holds at most ``limit`` keys (cleared when
    full) so memory stays bounded.
    """

    def __init__(
        self,
        schedule: Schedule,
        base_rates: BaseRates | None = None,
        limit: int = 50_000,
        tables: Tables | None = None,
    ) -> None:
        self.schedule = schedule
        self.base_rates = base_rates
        self.limit = limit
        self.tables = tables if tables is not None else Tables(schedule, base_rates)
        self.memo: dict[tuple[str, str, date], _Layers | None] = {}
        self.failed: dict[tuple[str, str, date], str] = {}
        """Keys the engine refused (an unknown code, say), with its message."""
        self.periods: dict[str, list[tuple[datetime, datetime | None]]] = {}
        for measure in schedule.measures:
            for period in measure.periods:
                if period.heading:
                    key = period.heading.replace(".", "")
                    self.periods.setdefault(key, []).append((period.from_, period.to))

    def table_layers(self, code: str, origin: str, when: datetime) -> _Layers | None:
        """The headings, rates and review of a code on a date from the compiled table, when
        it charges them by itself as plain ad valorem layers (else None: ask the engine)."""
        party = self.schedule.parties.get("US")
        if party is None:
            return None
        try:
            found = self.tables.at("US", origin, code, when)
        except (TradecalcError, ValueError, KeyError, ArithmeticError):
            return None
        if found is None or found.engine or found.metal or found.specific:
            return None
        review = review_of(
            found, fees_at(party, SHIPMENT_MODE, when), intraday_at(self.schedule, "US", when)
        )
        rates = tuple((d[3].replace(".", ""), Decimal(d[5])) for d in found.duties if d[3])
        return rates, review

    def out_of_period(self, heading: str, entered: date) -> bool:
        """True when the schedule has ``heading`` but in force only at other dates."""
        spans = self.periods.get(heading)
        if not spans:
            return False
        when = datetime(entered.year, entered.month, entered.day)
        return not any(start <= when and (end is None or when < end) for start, end in spans)

    def assess(self, line: LineResult, entered: date) -> tuple[dict[str, Decimal], tuple[str, ...]]:
        """Expected amount per heading (dots removed) and review items for one line."""
        key = (line.hts, line.origin, entered)
        known = key in self.memo
        layers = self.memo.get(key)
        if layers is not None:
            rates, review = layers
            expected: dict[str, Decimal] = {}
            customs = round_money(line.value)  # the engine's transaction value
            for heading, rate in rates:
                amount = round_money(EXACT.multiply(customs, rate))
                expected[heading] = expected.get(heading, ZERO) + amount
            return expected, review
        refused = self.failed.get(key)
        if refused is not None:
            raise UsageError(refused)
        when = datetime(entered.year, entered.month, entered.day)
        if not known:
            layers = self.table_layers(line.hts, line.origin, when)
            if layers is not None:
                self._remember(key, layers)
                return self.assess(line, entered)
        shipment = Shipment(
            line.hts, line.value, origin=line.origin, dest="US", entry=when, entry_type="formal"
        )  # a filed entry: never de minimis, and its review does not turn on its value
        try:
            result = assess(self.schedule, shipment, ENTRY_DATE_VIEW, None, self.base_rates)
        except UsageError as exc:
            if len(self.failed) >= self.limit:
                self.failed.clear()
            self.failed[key] = str(exc)
            raise
        expected = {}
        for charged in result.lines:
            if charged.heading:
                heading = charged.heading.replace(".", "")
                expected[heading] = expected.get(heading, ZERO) + charged.amount
        if not known:
            self._remember(
                key, _ad_valorem_layers(result) if result.customs_value == line.value else None
            )
        return expected, tuple(result.review)

    def _remember(self, key: tuple[str, str, date], layers: _Layers | None) -> None:
        if len(self.memo) >= self.limit:
            self.memo.clear()
        self.memo[key] = layers


def _ad_valorem_layers(result: Assessment) -> _Layers | None:
    """The headings and rates of ``result`` when value x rate reproduces every amount."""
    rates = []
    for charged in result.lines:
        if not charged.heading:
            continue
        rate = charged.rate
        if (
            rate.specifics
            or charged.base != result.customs_value
            or round_money(result.customs_value * rate.ad_valorem) != charged.amount
        ):
            return None
        rates.append((charged.heading.replace(".", ""), rate.ad_valorem))
    return tuple(rates), tuple(result.review)


def expect(entry: EntryResult, expected: Expected) -> None:
    """Fill each line's expected Chapter 99 amounts from the engine at the entry date."""
    for line in entry.lines.values():
        line.filed.pop("", None)
        line.ordinals = None
        if not line.hts:
            line.review += ("no commodity row (only Chapter 99 rows)",)
            continue
        try:
            amounts, review = expected.assess(line, entry.entered)
        except (UsageError, DataError, ArithmeticError) as exc:
            line.review += (str(exc),)
            continue
        for heading, amount in amounts.items():
            filed = line.filed.get(heading)
            line.expected[heading] = filed if filed == amount else amount  # one object if equal
        if review:
            line.review += review
        wrong = [
            h
            for h in line.filed
            if h not in line.expected and expected.out_of_period(h, entry.entered)
        ]
        if wrong:
            line.out_of_period = frozenset(wrong)


def route(entry: EntryResult, rules: Rules, as_of: date) -> None:
    """Set the entry's refund route and the next deadline that matters."""
    paid = entry.total(rules.ieepa_prefixes, "filed")
    psc_end = entry.entered + timedelta(days=rules.psc_days)
    if paid <= 0:
        entry.route = "none"
    elif entry.type in rules.excluded_types or entry.flags & {"drawback", "protest", "adcvd"}:
        entry.route = "excluded"
    elif "reconciliation" in entry.flags:
        entry.route = "reconciliation" if as_of >= rules.reconciliation_from else "excluded"
    elif entry.liquidation_date is None or entry.liquidation_status.startswith("unliq"):
        entry.route = "cape"
        if as_of <= psc_end:
            entry.deadline, entry.deadline_kind = psc_end, "post-summary correction"
    else:
        age = (as_of - entry.liquidation_date).days
        if age <= rules.cape_days:
            entry.route = "cape"
            entry.deadline = entry.liquidation_date + timedelta(days=rules.cape_days)
            entry.deadline_kind = "CAPE 80-day cut-off"
        elif age <= rules.protest_days:
            entry.route = "protest"
            entry.deadline = entry.liquidation_date + timedelta(days=rules.protest_days)
            entry.deadline_kind = "protest"
        else:
            entry.route = "finally-liquidated"


def urgent_first(entries: Iterable[EntryResult], as_of: date) -> list[EntryResult]:
    """Entries whose deadline falls within 30 days of ``as_of`` first (soonest first)."""
    soon = as_of + timedelta(days=30)
    listed = list(entries)
    urgent = sorted(
        (e for e in listed if e.deadline is not None and as_of <= e.deadline <= soon),
        key=lambda e: (e.deadline or date.max, e.entry_number),
    )
    chosen = {id(e) for e in urgent}
    return urgent + [e for e in listed if id(e) not in chosen]


def _heading_or_code(text: str) -> str:
    """HTS digits; a Chapter 99 number filed with trailing zeros is its 8-digit heading."""
    digits = re.sub(r"[\s.]", "", text)
    return digits[:8] if digits.startswith("99") else digits


def _dotted(heading: str) -> str:
    if len(heading) == 8:
        return f"{heading[:4]}.{heading[4:6]}.{heading[6:]}"
    return heading


@dataclass(slots=True)
class RouteSums:
    """Entries and amounts of one route (or of all of them)."""

    entries: int = 0
    ieepa_paid: Decimal = ZERO
    ieepa_expected: Decimal = ZERO
    section_122_paid: Decimal = ZERO
    interest: Decimal = ZERO


@dataclass(slots=True)
class Summary:
    """What the reports say about all entries, added up while they are computed (so a report
    never needs every entry at once)."""

    routes: dict[str, RouteSums] = field(default_factory=lambda: {r: RouteSums() for r in ROUTES})
    urgent: int = 0
    """Entries whose deadline is within 30 days (they come first)."""
    flagged: int = 0
    """Entries with at least one deviation."""
    invalid: int = 0
    """Entries whose number is not a filer code and 8 digits."""
    cape: int = 0
    """Entry numbers to file with CAPE."""
    review: int = 0
    """Entries that need review (a line the engine could not price, a malformed number)."""
    lines: int = 0

    def add(self, entry: EntryResult, rules: Rules, urgent: bool) -> None:
        """Count ``entry`` (routed and priced) in."""
        sums = self.routes[entry.route]
        sums.entries += 1
        sums.ieepa_paid += entry.total(rules.ieepa_prefixes, "filed")
        sums.ieepa_expected += entry.total(rules.ieepa_prefixes, "expected")
        sums.section_122_paid += entry.total((rules.section_122_heading,), "filed")
        sums.interest += entry.interest
        self.urgent += urgent
        self.flagged += any(line.deviations() for line in entry.lines.values())
        self.invalid += not entry.valid_number
        self.cape += _for_cape(entry)
        self.review += not entry.valid_number or any(line.review for line in entry.lines.values())
        self.lines += len(entry.lines)


def _for_cape(entry: EntryResult) -> bool:
    return entry.route in ("cape", "reconciliation") and entry.valid_number


def _is_urgent(entry: EntryResult, as_of: date) -> bool:
    """A deadline within 30 days of ``as_of`` (see :func:`urgent_first`)."""
    return entry.deadline is not None and as_of <= entry.deadline <= as_of + timedelta(days=30)


@record
class Report:
    """Everything ``refund`` and ``audit`` print, computed once.

    ``entries`` and ``bad_rows`` are tuples for a small input; for a large one they are read
    back from the run's temporary file (see :class:`Spill`), which :meth:`close` removes."""

    as_of: date
    entries: Sequence[EntryResult]
    bad_rows: Sequence[tuple[int, str]]
    rules: Rules
    interest_note: str | None
    summary: Summary
    spill: Spill | None = None

    def close(self) -> None:
        """Remove the temporary file, if the run needed one."""
        if self.spill is not None:
            self.spill.close()

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def bad_numbers(self) -> tuple[str, ...]:
        """Entry numbers that are not a 3-character filer code and 8 digits."""
        if self.spill is not None:
            return tuple(self.spill.numbers("NOT valid"))
        return tuple(e.entry_number for e in self.entries if not e.valid_number)

    def cape_numbers(self) -> Iterator[str]:
        """Entry numbers to file with CAPE, in report order (each entry is listed once)."""
        if self.spill is not None:
            return self.spill.numbers("cape")
        return (e.entry_number for e in self.entries if _for_cape(e))

    @property
    def per_cape_file(self) -> int:
        """Entry numbers per CAPE file: the entry limit, or fewer if the size limit binds."""
        header, line = len("Entry Number\n"), 12  # 11 characters and a newline
        return min(self.rules.cape_max_entries, (self.rules.cape_max_bytes - 1 - header) // line)

    def cape_chunks(self) -> Iterator[list[str]]:
        """The CAPE files' entry numbers, one list per file."""
        numbers = self.cape_numbers()
        while chunk := list(islice(numbers, self.per_cape_file)):
            yield chunk

    @property
    def cape_files(self) -> int:
        """How many CAPE files the entries fill."""
        return -(-self.summary.cape // self.per_cape_file)

    @property
    def cape(self) -> tuple[tuple[str, ...], ...]:
        """Every CAPE file's entry numbers (all in memory: for small reports and tests)."""
        return tuple(tuple(chunk) for chunk in self.cape_chunks())

    def ieepa_paid(self, entry: EntryResult) -> Decimal:
        """IEEPA duty filed on the entry."""
        return entry.total(self.rules.ieepa_prefixes, "filed")

    def ieepa_expected(self, entry: EntryResult) -> Decimal:
        """IEEPA duty the schedule expects on the entry at its entry date."""
        return entry.total(self.rules.ieepa_prefixes, "expected")

    def section_122_paid(self, entry: EntryResult) -> Decimal:
        """Section 122 duty filed (a contingent refund while its litigation is open)."""
        return entry.total((self.rules.section_122_heading,), "filed")

    def totals(self) -> dict[str, Decimal]:
        """Sums over every entry."""
        sums = self.summary.routes.values()
        return {
            "ieepa_paid": sum((s.ieepa_paid for s in sums), ZERO),
            "ieepa_expected": sum((s.ieepa_expected for s in sums), ZERO),
            "section_122_paid": sum((s.section_122_paid for s in sums), ZERO),
            "interest": sum((s.interest for s in sums), ZERO),
        }


# ----------------------------------------------------------------------------- spill

SPILL_ROWS = 20_000
"""Rows a run holds in memory; a longer input goes to a temporary SQLite file instead, so
memory stays the same whatever the input's size."""
_BATCH = 5_000


def _row_tuple(row: TariffRow) -> tuple[object, ...]:
    liquidated = row.liquidation_date.toordinal() if row.liquidation_date else None
    return (
        row.row,
        row.line,
        row.ordinal,
        row.type,
        row.entered.toordinal(),
        row.origin,
        row.hts,
        str(row.value),
        str(row.duty),
        liquidated,
        row.liquidation_status,
        tuple(sorted(row.flags)),
    )


def _rows_from(entry: str, record: bytes) -> Iterator[TariffRow]:
    for fields in marshal.loads(record):
        (number, line, ordinal, kind, entered, origin, hts, value, duty, liquidated, status,
         flags) = fields  # fmt: skip
        yield TariffRow(
            number,
            entry,
            intern(line),
            ordinal,
            intern(kind),
            _from_ordinal(entered),
            intern(origin),
            intern(hts),
            Decimal(value),
            Decimal(duty),
            None if liquidated is None else _from_ordinal(liquidated),
            status,
            frozenset(flags) or _NO_FLAGS,
        )


@lru_cache(maxsize=4096)
def _from_ordinal(day: int) -> date:
    return date.fromordinal(day)


def _amounts(amounts: dict[str, Decimal]) -> tuple[tuple[str, str], ...]:
    return tuple((heading, str(amount)) for heading, amount in amounts.items())


def _entry_record(entry: EntryResult) -> bytes:
    lines = tuple(
        (
            line.line,
            line.hts,
            line.origin,
            str(line.value),
            _amounts(line.filed),
            _amounts(line.expected),
            line.review,
            tuple(sorted(line.out_of_period)),
        )
        for line in entry.lines.values()
    )
    return marshal.dumps(
        (
            entry.entry_number,
            entry.type,
            entry.entered.toordinal(),
            entry.liquidation_date.toordinal() if entry.liquidation_date else None,
            entry.liquidation_status,
            tuple(sorted(entry.flags)),
            lines,
            entry.route,
            entry.deadline.toordinal() if entry.deadline else None,
            entry.deadline_kind,
            str(entry.interest),
            tuple(entry.notes),
            entry.valid_number,
        )
    )


def _entry_from(record: bytes) -> EntryResult:
    (number, kind, entered, liquidated, status, flags, lines, route, deadline, deadline_kind,
     interest, notes, valid) = marshal.loads(record)  # fmt: skip
    return EntryResult(
        number,
        kind,
        _from_ordinal(entered),
        None if liquidated is None else _from_ordinal(liquidated),
        status,
        set(flags),
        {
            name: LineResult(
                name,
                hts,
                origin,
                Decimal(value),
                {h: Decimal(a) for h, a in filed},
                {h: Decimal(a) for h, a in expected},
                review,
                None,
                frozenset(wrong),
            )
            for name, hts, origin, value, filed, expected, review, wrong in lines
        },
        route,
        None if deadline is None else _from_ordinal(deadline),
        deadline_kind,
        Decimal(interest),
        list(notes),
        valid,
    )


_LIVE_SPILLS: set[Path] = set()


def _spill_failed(folder: Path, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return (
        f"cannot use a temporary file in {folder.parent} ({reason}): set TMPDIR to a "
        "writable folder with room for about the input's size"
    )


def _remove(folder: Path) -> None:
    """Remove a spill folder; kept in :data:`_LIVE_SPILLS` (for exit) until it is gone."""
    for _ in range(3):
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.lexists(folder):
            _LIVE_SPILLS.discard(folder)
            return


@atexit.register
def _remove_live_spills() -> None:
    for folder in list(_LIVE_SPILLS):
        _remove(folder)


class Spill:
    """A temporary SQLite file in a private temporary folder: the rows of a large input,
    grouped back by entry, and the computed entries, read back in report order.

    :meth:`close` removes the folder; callers close it on every way out (an error, Ctrl-C,
    SIGTERM, which tradecalc turns into an exception)."""

    def __init__(self) -> None:
        name = f"tradecalc-refund-{os.getpid()}-{secrets.token_hex(6)}"
        self.folder = Path(tempfile.gettempdir()) / name
        _LIVE_SPILLS.add(self.folder)  # before it exists: removed at exit whatever happens
        self.path = self.folder / "spill.sqlite"
        try:
            self.folder.mkdir(mode=0o700)
            self.db = sqlite3.connect(self.path)  # scratch: private, removed by close()
            for pragma in (
                "journal_mode = OFF",  # a scratch file: nothing to roll back to
                "synchronous = OFF",
                "cache_size = -8192",  # 8 MiB of pages; the rest stays on disk
                "temp_store = FILE",  # sorts spill to disk too
            ):
                self.db.execute(f"PRAGMA {pragma}")
            self.db.executescript(
                """
                CREATE TABLE runs (number INTEGER PRIMARY KEY, entry TEXT, data BLOB);
                CREATE TABLE bad (number INTEGER, message TEXT);
                CREATE TABLE entries (
                    position INTEGER PRIMARY KEY, urgent INTEGER, deadline INTEGER,
                    entry TEXT, valid INTEGER, cape INTEGER, data BLOB
                );
                """
            )
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise WriteError(_spill_failed(self.folder, exc)) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the database and remove the folder (again: nothing happens)."""
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
            self.db = None  # type: ignore[assignment]
        _remove(self.folder)

    def add_rows(self, rows: Iterable[TariffRow], bad: list[tuple[int, str]]) -> None:
        """Store ``rows``, each run of consecutive rows of one entry as one record; move
        ``bad`` (rows refused so far) to the file as it grows."""
        insert = "INSERT INTO runs VALUES (?, ?, ?)"
        batch: list[tuple[int, str, bytes]] = []
        run: list[tuple[object, ...]] = []
        entry = ""
        for row in rows:
            if row.entry != entry and run:
                batch.append((run[0][0], entry, marshal.dumps(run)))  # type: ignore[arg-type]
                run = []
                if len(batch) >= _BATCH:
                    self.db.executemany(insert, batch)
                    batch.clear()
                    self.add_bad(bad)
            entry = row.entry
            run.append(_row_tuple(row))
        if run:
            batch.append((run[0][0], entry, marshal.dumps(run)))  # type: ignore[arg-type]
        self.db.executemany(insert, batch)
        self.add_bad(bad)

    def add_bad(self, bad: list[tuple[int, str]]) -> None:
        """Move ``bad`` to the file (it is emptied)."""
        self.db.executemany("INSERT INTO bad VALUES (?, ?)", bad)
        bad.clear()

    def grouped(self) -> Iterator[list[TariffRow]]:
        """Every entry's rows in file order, entries in the order they first appear."""
        cursor = self.db.execute(
            """
            SELECT entry, data FROM (
                SELECT number, entry, data, MIN(number) OVER (PARTITION BY entry) AS first
                FROM runs
            ) ORDER BY first, number
            """
        )
        for entry, group in groupby(cursor, key=itemgetter(0)):
            yield [row for _, data in group for row in _rows_from(entry, data)]

    def add_entry(self, position: int, entry: EntryResult, urgent: bool) -> None:
        """Store a computed entry (``position``: its place among the entries, first seen)."""
        self.db.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                position,
                urgent,
                entry.deadline.toordinal() if entry.deadline else None,
                entry.entry_number,
                entry.valid_number,
                _for_cape(entry),
                _entry_record(entry),
            ),
        )

    def finish(self) -> None:
        """End the writing."""
        self.db.commit()
        self.db.execute("DELETE FROM runs")
        self.db.commit()

    def _ordered(self, column: str, where: str = "1") -> Iterator[Any]:
        """``column`` of the stored entries in report order: urgent ones by deadline, then
        the rest as first seen."""
        for query in (
            f"SELECT {column} FROM entries WHERE urgent AND {where} ORDER BY deadline, entry",
            f"SELECT {column} FROM entries WHERE NOT urgent AND {where} ORDER BY position",
        ):
            for (value,) in self.db.execute(query):
                yield value

    def entries(self) -> Iterator[EntryResult]:
        """The stored entries in report order."""
        return (_entry_from(data) for data in self._ordered("data"))

    def numbers(self, where: str) -> Iterator[str]:
        """Entry numbers in report order of the entries matching ``where`` (an SQL test)."""
        return self._ordered("entry", where)

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        """The refused rows, by row number."""
        return iter(self.db.execute("SELECT number, message FROM bad ORDER BY number, message"))


class _Stored(Sequence[_T]):
    """A sequence read back from a :class:`Spill` each time it is walked (never whole)."""

    def __init__(self, walk: Callable[[], Iterator[_T]], length: int) -> None:
        self.walk = walk
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[_T]:
        return self.walk()

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | Sequence[_T]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if not -self.length <= index < self.length:
            raise IndexError(index)
        return next(islice(self.walk(), index % self.length, None))


Liquidation = Mapping[str, tuple[date | None, str]]
"""Entry number -> (liquidation date, liquidation status), from an ES-701-style file."""

_LIQUIDATION_HEADERS: Mapping[str, str] = {
    key: value
    for key, value in _HEADERS.items()
    if value in ("entry", "liquidation_date", "liquidation_status")
}


def read_liquidation(
    records: Iterable[list[str]], bad: list[tuple[int, str]]
) -> dict[str, tuple[date | None, str]]:
    """Liquidation date and status per entry number (header first); bad rows go to ``bad``.

    Columns: the entry number (``Entry Summary Number`` or ``Entry Number``), ``Liquidation
    Date`` and, optionally, ``Liquidation Status``, matched like the entries file's."""
    records = iter(records)
    header = next(records, None)
    if header is None:
        raise DataError("liquidation file: empty (no header)")
    fields = header_fields(
        header, _LIQUIDATION_HEADERS, ("entry", "liquidation_date"), "liquidation file"
    )
    found: dict[str, tuple[date | None, str]] = {}
    for number, cells in enumerate(records, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        values = {f: cell.strip() for f, cell in zip(fields, cells, strict=False) if f}
        entry = re.sub(r"[\s-]", "", values.get("entry", "")).upper()
        if not entry:
            bad.append((number, "liquidation file: entry is empty"))
            continue
        text = values.get("liquidation_date", "")
        try:
            when = parse_date(text, "liquidation date") if text else None
        except UsageError as exc:
            bad.append((number, f"liquidation file: {exc}"))
            continue
        found[entry] = (when, values.get("liquidation_status", "").lower())
    return found


def build_report(
    records: Iterable[list[str]],
    schedule: Schedule,
    *,
    as_of: date,
    corporate: bool = True,
    rules: Rules | None = None,
    rates: tuple[InterestRate, ...] | None = None,
    base_rates: BaseRates | None = None,
    liquidation: Liquidation | None = None,
    bad_rows: Iterable[tuple[int, str]] = (),
    spill_rows: int = SPILL_ROWS,
) -> Report:
    """Read ES-003 records, recompute every line, route every entry, estimate interest.

    ``liquidation`` (from :func:`read_liquidation`) gives each entry's liquidation date and
    status; it takes precedence over the entries file's own columns. ``bad_rows`` are rows
    already refused elsewhere (the liquidation file's), reported with the others.

    Up to ``spill_rows`` rows are grouped in memory; beyond that, rows and results go to a
    temporary file (:class:`Spill`): the report is the same, and the caller must
    :meth:`Report.close` it (or use it in a ``with`` block)."""
    rules = rules or load_rules()
    rates = rates if rates is not None else load_interest()
    bad: list[tuple[int, str]] = []

    def good_rows() -> Iterator[TariffRow]:
        for item in read_rows(records):
            if isinstance(item, TariffRow):
                yield item
            else:
                bad.append(item)

    expected = Expected(schedule, base_rates)
    notes: set[str] = set()
    summary = Summary()

    def settle(entry: EntryResult) -> bool:
        """Price, route and add up ``entry``; True when its deadline is within 30 days."""
        if liquidation is not None and entry.entry_number in liquidation:
            entry.liquidation_date, entry.liquidation_status = liquidation[entry.entry_number]
        expect(entry, expected)
        route(entry, rules, as_of)
        paid = entry.total(rules.ieepa_prefixes, "filed")
        if paid > 0:
            entry.interest, note = estimate_interest(
                paid, entry.entered, as_of, rates, corporate=corporate
            )
            if note:
                notes.add(note)
        urgent = _is_urgent(entry, as_of)
        summary.add(entry, rules, urgent)
        return urgent

    rows = good_rows()
    held = list(islice(rows, spill_rows + 1))
    if len(held) <= spill_rows:
        entries = collect(held, bad)
        for entry in entries.values():
            settle(entry)
        ordered = tuple(urgent_first(entries.values(), as_of))
        bad.sort()
        note = min(notes) if notes else None
        return Report(as_of, ordered, (*bad, *bad_rows), rules, note, summary)
    spill = Spill()
    try:
        held_then_rest = chain(held, rows)
        return _spilled(spill, held_then_rest, bad, settle, notes, summary, rules, as_of, bad_rows)
    except sqlite3.Error as exc:  # the disk filled up, say
        spill.close()
        raise WriteError(_spill_failed(spill.folder, exc)) from None
    except BaseException:
        spill.close()
        raise


def _spilled(
    spill: Spill,
    rows: Iterable[TariffRow],
    bad: list[tuple[int, str]],
    settle: Callable[[EntryResult], bool],
    notes: set[str],
    summary: Summary,
    rules: Rules,
    as_of: date,
    bad_rows: Iterable[tuple[int, str]],
) -> Report:
    """:func:`build_report` through the temporary file ``spill``."""
    spill.add_rows(rows, bad)
    count = 0
    for group in spill.grouped():
        for entry in collect(group, bad).values():
            spill.add_entry(count, entry, settle(entry))
            count += 1
        if len(bad) >= _BATCH:
            spill.add_bad(bad)
    spill.add_bad(bad)
    spill.finish()
    extra = tuple(bad_rows)
    refused = spill.db.execute("SELECT COUNT(*) FROM bad").fetchone()[0]
    note = min(notes) if notes else None
    return Report(
        as_of,
        _Stored(spill.entries, count),
        _Stored(lambda: chain(spill.bad_rows(), extra), refused + len(extra)),
        rules,
        note,
        summary,
        spill,
    )
