"""Batch assessment: shipment rows from CSV or JSONL in, one result row per shipment and regime out.

Everything streams: rows are read, assessed and yielded one at a time, so memory stays flat
however long the file. Nothing here prints or draws; the ``batch`` command adds the progress
bar, the summary table and the files.

Input columns (any order, blank = not given): ``hs, origin, dest, value, currency, date,
freight, insurance, qty, unit, mode, metal, claims, entry, items`` (``claims``: claim ids
separated by ``;``; ``entry``, ``items``: as ``duty --entry``, ``--items``).
Any other column (``sku``...) is passed through
unchanged. Output columns, always in this order: ``row``, the pass-through columns, then
:data:`RESULT_COLUMNS` and :data:`PROVENANCE_COLUMNS`. ``row`` is the data row number
(CSV: 1 = the first row under the header; JSONL: the line number). HS codes stay text, so
leading zeros survive.

Regimes: each row is assessed under every view given. With none given, a row with a date is
assessed once, under the schedule in force on that date (regime ``entry-date``); a row without
a date under every named regime of the schedule. A named regime or scenario is computed at its
own moment (:func:`tradecalc.engine.assessment.moment`, the rule ``duty`` follows too): a row's date
then
does not move it and the ``as_of`` column shows the moment used.

Speed: rows that share code, countries, date, unit, mode and metal share one plan: their
layers read off the compiled rate table (:mod:`tradecalc.engine.compiled`, by code and instant) and
charged by :func:`tradecalc.engine.compiled.charge`, the one money path; rows the table cannot
charge
(specific rates, metal content, another currency, a scenario's overrides, an unknown code) go
through :func:`tradecalc.engine.assessment.assess`.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import IO, Any, NamedTuple

from tradecalc.core.errors import DataError, TradecalcError, UsageError, failure_reason, shorten
from tradecalc.core.files import (
    BLOCK_BYTES,
    LATER_BLOCK_BYTES,
    MAX_COLUMNS,
    CsvRecords,
    LineReader,
    too_many_cells,
)
from tradecalc.core.money import FxTable, effective_rate, exact, money_sum, parse_amount
from tradecalc.core.records import record
from tradecalc.core.status import status
from tradecalc.engine.assessment import (
    Assessment,
    RegimeView,
    Shipment,
    assess,
    lines_under,
    low_value_limit,
    moment,
)
from tradecalc.engine.compiled import (
    Charged,
    FeeAt,
    Layers,
    Tables,
    charge,
    fees_at,
    intraday_at,
    review_of,
)
from tradecalc.engine.compiled import result_values as charged_values
from tradecalc.engine.inputs import load_json, shipment_from_mapping
from tradecalc.hts.base_rates import BaseRates, for_importer
from tradecalc.hts.history import UsSchedule
from tradecalc.schedule.models import MODES, Party, Schedule, code_digits, format_when

INPUT_COLUMNS = (
    "hs",
    "origin",
    "dest",
    "value",
    "currency",
    "date",
    "freight",
    "insurance",
    "qty",
    "unit",
    "mode",
    "metal",
    "claims",
    "entry",
    "items",
)
RESULT_COLUMNS = (
    "hs",
    "regime",
    "as_of",
    "currency",
    "customs_value",
    "duty",
    "fees",
    "taxes",
    "total",
    "effective_rate",
    "landed_cost",
    "status",
    "review",
    "claims",
    "claimable",
    "origin",
    "dest",
)
PROVENANCE_COLUMNS = ("data_version", "data_sha256")
"""The last output columns: the data every row was computed from (the same on every row)."""
ENTRY_DATE = "entry-date"
"""The regime name of the default view for dated rows: the schedule in force on the date."""

_DATED_VIEW = RegimeView(
    ENTRY_DATE,
    "In force on the entry date",
    datetime(1900, 1, 1),
    "The row's own date",
    follows_entry=True,
)

_SCIENTIFIC = re.compile(r"\s*[+-]?\d+(?:\.\d+)?[eE][+-]?\d+\s*")
_INPUT_SET = frozenset(INPUT_COLUMNS)


@record
class RowError:
    """A row that could not be assessed, with its row number and the reason."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(slots=True)
class RegimeTotals:
    """Running totals of one regime (and importer currency) over a batch."""

    regime: str
    currency: str
    shipments: int = 0
    customs_value: Decimal = Decimal("0.00")
    duty: Decimal = Decimal("0.00")
    needs_review: int = 0

    def add(self, customs_value: Decimal, duty: Decimal, needs_review: bool) -> None:
        """Count one result (exactly: totals are never rounded)."""
        self.shipments += 1
        self.customs_value = money_sum((customs_value,), self.customs_value)
        self.duty = money_sum((duty,), self.duty)
        self.needs_review += needs_review

    @property
    def effective_rate(self) -> Decimal:
        """Total duty over total customs value, as a fraction."""
        return effective_rate(self.duty, self.customs_value)


@dataclass(slots=True)
class Summary:
    """What a finished (or interrupted) batch did."""

    rows: int = 0
    results: int = 0
    errors: int = 0
    needs_review: int = 0
    totals: dict[tuple[str, str], RegimeTotals] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every row was assessed and none needs review."""
        return self.errors == 0 and self.needs_review == 0


# ----------------------------------------------------------------------------- reading


@record
class Block:
    """Whole CSV lines that :mod:`csv` would split at every comma (no quotes: see
    :meth:`tradecalc.core.files.LineReader.simple_blocks`), one record each, ``\\n``-ended
    (the last may not be), the row number of the first and how many lines there are."""

    text: str
    first: int
    count: int

    def lines(self) -> list[str]:
        """The lines, without their ends."""
        lines = self.text.split("\n")
        if self.text.endswith("\n"):
            lines.pop()
        return lines


@record
class Rows:
    """Rows of a shipment file: the pass-through columns and ``(row number, fields)`` pairs.

    A CSV file also offers its rows as ``(row number, cells, None)`` in ``cells``, in the
    order of ``header``: the batch reads those (cheaper than a mapping per row); and, read
    from a :class:`tradecalc.core.files.LineReader`, as ``blocks``: :class:`Block` runs of
    simple lines, then the rest as in ``cells`` (for a columnar reader). Read one of them.
    ``ahead``: ``blocks`` may be read ahead of their use (from a regular file or memory, a
    read never waits for a writer, so a stop never waits for a read).
    """

    extra: tuple[str, ...]
    items: Iterator[tuple[int, Mapping[str, object]] | RowError]
    header: tuple[str, ...] = ()
    cells: Iterator[_Item] | None = None
    blocks: Iterator[Block | _Item] | None = None
    ahead: bool = False


def read_csv(handle: Iterable[str], what: str | None = None) -> Rows:
    """Read CSV rows keyed by the header; every cell stays text.

    The records come from :class:`tradecalc.core.files.CsvRecords` (bounded, errors name
    ``what``: default the handle's ``name``, else ``input``), or, from a
    :class:`tradecalc.core.files.LineReader`, while its lines are simple, split at commas
    (the same records, without a parser per row)."""
    what = what or str(getattr(handle, "name", "") or "input")
    lead: Iterator[tuple[str, int]] = iter(())
    if isinstance(handle, LineReader):
        lead = handle.simple_blocks()
    first = next(lead, None)
    if first is not None:
        line, _, rest = first[0].partition("\n")
        header = simple_cells(line)
        if len(header) > MAX_COLUMNS:
            raise DataError(too_many_cells(what, 1, len(header), MAX_COLUMNS))
    else:
        reader = iter(CsvRecords(handle, what))
        found = next(reader, None)
        if found is None:
            raise UsageError("the input is empty: expected a header row with hs and value columns")
        header = found
    names = [name.replace("\ufeff", "").strip().lower() for name in header]  # BOM via stdin
    missing = [c for c in ("hs", "value") if c not in names]
    if missing:
        quoted = shorten(",".join(header), 80)
        raise UsageError(f"the input has no {' or '.join(missing)} column (header: {quoted!r})")
    repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if repeated is not None:
        raise UsageError(f"the input header repeats the column {shorten(repeated, 80)!r}")
    extra = tuple(n for n in names if n not in _INPUT_SET)
    width = len(names)

    def records(done: int) -> Iterator[_Item]:
        """The records after the simple lines (``done`` rows), as ``CsvRecords`` reads them."""
        lines = CsvRecords(handle, what, first_line=done + 2) if first is not None else reader
        for number, cells in enumerate(lines, start=done + 1):
            if (item := checked_cells(number, cells, width)) is not None:
                yield item

    def source() -> Iterator[Block | _Item]:
        number = 0  # rows so far
        if first is not None:
            for text, lines in itertools.chain(((rest, first[1] - 1),) if rest else (), lead):
                yield Block(text, number + 1, lines)
                number += lines
        yield from records(number)

    def cells() -> Iterator[_Item]:
        for part in source():
            if not isinstance(part, Block):
                yield part
                continue
            for number, line in enumerate(part.lines(), start=part.first):
                item = checked_cells(number, simple_cells(line), width)
                if item is not None:
                    yield item

    def items(source: Iterator[_Item]) -> Iterator[tuple[int, Mapping[str, object]] | RowError]:
        for item in source:
            yield (
                item
                if isinstance(item, RowError)
                else (item[0], dict(zip(names, item[1], strict=True)))
            )

    rows = cells()
    ahead = isinstance(handle, LineReader) and not handle.waits
    return Rows(extra, items(rows), tuple(names), rows, source(), ahead)


def simple_cells(line: str) -> list[str]:
    """The cells :mod:`csv` reads from a simple line (see :class:`Block`): none from an
    empty one."""
    return line.split(",") if line else []


def checked_cells(number: int, cells: list[str], width: int) -> _Item | None:
    """Row ``number`` of a CSV input whose header has ``width`` columns: None for a blank
    line (no cell, or one blank cell), a bad row for another number of cells."""
    if len(cells) != width:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            return None
        return RowError(number, f"{len(cells)} cells where the header has {width}")
    return number, cells, None


def read_jsonl(handle: Iterable[str]) -> Rows:
    """Read one JSON object per line; pass-through keys are the first object's extra keys."""
    lines = enumerate(handle, start=1)
    first: tuple[int, Mapping[str, object] | RowError] | None = None
    for number, line in lines:
        if line.strip():
            first = (number, _json_object(line, number))
            break
    extra: tuple[str, ...] = ()
    if first is not None and not isinstance(first[1], RowError):
        extra = tuple(k for k in first[1] if k not in _INPUT_SET)

    def items() -> Iterator[tuple[int, Mapping[str, object]] | RowError]:
        if first is not None:
            number, obj = first
            yield obj if isinstance(obj, RowError) else (number, obj)
        for number, line in lines:
            if not line.strip():
                continue
            obj = _json_object(line, number)
            yield obj if isinstance(obj, RowError) else (number, obj)

    return Rows(extra, items())


def _json_object(line: str, number: int) -> Mapping[str, object] | RowError:
    try:
        obj = load_json(line)
    except ValueError as exc:
        return RowError(number, f"not valid JSON: {exc}")
    except RecursionError:
        return RowError(number, "not valid JSON: nested too deeply")
    if not isinstance(obj, dict):
        return RowError(number, f"expected a JSON object, got {type(obj).__name__}")
    return obj


SLICED_BLOCK_BYTES = 1 << 20
"""The input a block of simple lines takes under several regimes, rather than
:data:`tradecalc.core.files.BLOCK_BYTES`: a row gives a result per regime, and a block's
cells stay in memory while its slices are charged."""


def block_bytes(regimes: int, jobs: int = 1) -> tuple[int, int]:
    """How many bytes of input the first block of simple lines takes, and each later one,
    when ``regimes`` named regimes are charged (0: each row at its entry date) in ``jobs``
    processes. Later blocks are larger in one process charging each row once; under
    ``--jobs`` each block is a task, and they stay as small as the first."""
    if regimes > 1:
        return SLICED_BLOCK_BYTES, SLICED_BLOCK_BYTES
    return BLOCK_BYTES, LATER_BLOCK_BYTES if jobs == 1 else BLOCK_BYTES


def read_rows(handle: Iterable[str], fmt: str) -> Rows:
    """Rows of ``handle`` read as ``csv`` or ``jsonl``."""
    return read_jsonl(handle) if fmt == "jsonl" else read_csv(handle)


def format_for(name: str | None, default: str = "csv") -> str:
    """``jsonl`` for a ``.jsonl``/``.ndjson`` file name, ``csv`` for ``.csv``, else ``default``."""
    if name:
        lowered = name.lower()
        if lowered.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        if lowered.endswith(".csv"):
            return "csv"
    return default


# ----------------------------------------------------------------------------- shipments


def _check_code(text: object) -> None:
    """Refuse codes a spreadsheet has turned into numbers, with a reason that says so."""
    if not isinstance(text, str):
        return
    if _SCIENTIFIC.fullmatch(text):
        raise UsageError(
            f"HS code {text!r} looks like a spreadsheet number in scientific notation; "
            "keep the hs column as text (e.g. 8471.30.0100)"
        )
    digits = text.strip().replace(".", "")
    if digits.isdigit() and len(digits) % 2 == 1 and 3 <= len(digits) <= 9:
        raise UsageError(
            f"HS code {text!r} has an odd number of digits: a leading zero was probably lost "
            f"(did you mean 0{text.strip()}?); keep the hs column as text"
        )


_VARYING_AT = tuple(INPUT_COLUMNS.index(n) for n in ("value", "freight", "insurance", "qty"))


@lru_cache(maxsize=4096)
def _template(key: tuple[str | None, ...]) -> Shipment:
    """A validated shipment for the fields that repeat across rows (amounts set to 0)."""
    fields = dict(zip(INPUT_COLUMNS, key, strict=True))
    fields["value"] = "0"
    return shipment_from_mapping(fields)


def to_shipment(fields: Mapping[str, object]) -> Shipment:
    """Validate one row into a shipment, exactly as :func:`shipment_from_mapping` does.

    The fields that repeat across rows (code, countries, date, unit...) are validated once
    per distinct combination; only the amounts are parsed per row. Any failure is re-raised
    by the plain path, so the messages are the same.
    """
    _check_code(fields.get("hs"))
    try:
        texts = [_text_or_none(fields.get(name)) for name in INPUT_COLUMNS]
        value, freight, insurance, qty = texts[3], texts[6], texts[7], texts[8]
        for index in _VARYING_AT:
            if texts[index] is not None:
                texts[index] = "0"
        template = _template(tuple(texts))
        return Shipment(
            code=template.code,
            value=parse_amount(value or "", "value"),
            origin=template.origin,
            dest=template.dest,
            entry=template.entry,
            entry_is_date=template.entry_is_date,
            currency=template.currency,
            freight=None if freight is None else parse_amount(freight, "freight"),
            insurance=None if insurance is None else parse_amount(insurance, "insurance"),
            quantity=None if qty is None else parse_amount(qty, "quantity"),
            unit=template.unit,
            mode=template.mode,
            metal=template.metal,
            claims=template.claims,
            entry_type=template.entry_type,
            items=template.items,
        )
    except (TradecalcError, _NotTextError):
        return shipment_from_mapping(fields)  # raises the canonical error


class _NotTextError(Exception):
    """A field that is not plain text (a JSON number or list): take the plain path."""


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _NotTextError
    return value if value.strip() else None


# ----------------------------------------------------------------------------- assessing


def result_values(shipment: Shipment, result: Assessment) -> tuple[str, ...]:
    """The result columns of a batch row (:data:`RESULT_COLUMNS`) from an assessment."""
    with exact():
        duty = result.duty
        total = duty + result.fees_total + result.taxes_total
        customs = result.customs_value
        return (
            shipment.code,
            result.regime,
            format_when(result.as_of),
            result.currency,
            str(customs),
            str(duty),
            str(result.fees_total),
            str(result.taxes_total),
            str(total),
            str(effective_rate(duty, customs)),
            str(customs + result.landed_extra + total),
            status(result.review),
            "; ".join(result.review),
            "; ".join(result.claims),
            "; ".join(result.claimable),
            shipment.origin,
            shipment.dest,
        )


Row = tuple[Decimal, Decimal, tuple[str, ...]]
"""Customs value, duty and the result columns of one shipment under one regime."""


@record
class _Charge:
    """One regime's part of a plan: the layers, fees and caveats, and the column prefix."""

    layers: Layers
    fees: tuple[tuple[FeeAt, ...], tuple[str, ...]]
    intraday: tuple[str, ...]
    prefix: tuple[str, str, str, str]
    review: tuple[str, ...]
    entry: bool
    """At an entry's moment (not a named regime's): see :func:`compiled.review_of`."""


@record
class TablePlan:
    """The plans of one combination of repeated fields, one per regime, read off the table."""

    party: Party
    charges: tuple[_Charge, ...]
    route: tuple[str, str]
    low_value: Decimal = Decimal(-1)
    """Rows valued at or under this go to the engine (:func:`low_value_limit`)."""

    def rows(self, value: Decimal, freight: Decimal | None, insurance: Decimal | None) -> list[Row]:
        """One :data:`Row` per regime for these amounts (:func:`compiled.charge`)."""
        out = []
        for item in self.charges:
            charged: Charged = charge(
                self.party,
                item.layers,
                value,
                freight,
                insurance,
                item.fees,
                item.intraday,
                item.entry,
            )
            out.append(
                (
                    charged.customs_value,
                    charged.duty,
                    charged_values(*item.prefix, self.route, charged),
                )
            )
        return out


def compile_plan(
    tables: Tables, template: Shipment, views: Sequence[RegimeView]
) -> TablePlan | None:
    """The table plan for shipments like ``template`` under ``views``, or None when the
    engine must assess them (see the module docstring)."""
    schedule = tables.schedule
    party = schedule.parties.get(template.dest)
    if party is None or template.currency not in (None, party.currency) or template.claims:
        return None
    if template.entry_type is not None or template.items is not None:
        return None
    digits = code_digits(template.code)
    charges = []
    for view in views:
        if view.overrides or view.added:
            return None
        when = moment(template, view)[0]
        layers = tables.at(template.dest, template.origin, digits, when)
        if layers is None or layers.engine:
            return None
        if layers.metal and template.metal:
            return None
        if layers.specific and template.quantity is not None and template.unit is not None:
            return None
        entry = template.entry
        dated = template.entry_is_date and entry is not None and view.follows_entry
        intraday = intraday_at(schedule, template.dest, entry) if dated and entry else ()
        fees = fees_at(party, template.mode, when)
        prefix = (template.code, view.id, format_when(when), party.currency)
        given = view.follows_entry and entry is not None
        review = review_of(layers, fees, intraday, given)
        charges.append(_Charge(layers, fees, intraday, prefix, review, given))
    route = (template.origin, template.dest)
    moments = [moment(template, view)[0] for view in views]
    low = low_value_limit(party, template.origin, moments)
    return TablePlan(party, tuple(charges), route, low)


@record
class JoinRule:
    """Which rows the join (:mod:`tradecalc.batch.join`) may price from the rate table alone.

    A row it may not price (and every row whose layers it cannot charge) takes the row
    path in its place: the table's plans or the engine (:class:`_Assessor`)."""

    blank: tuple[str, ...]
    """Input columns that must be blank (given: the row path)."""
    modes: tuple[str, ...]
    """Transport modes the join prices (a blank mode is ``ocean``)."""
    min_cents: int = 0
    """The lowest customs value, in cents, the join prices."""


def join_rule() -> JoinRule:
    """The one routing rule of the join (both its Python and its polars path read it): US
    imports from China with a plain code, value and date (checked by the join) and none of
    these columns given. Change it here to send more rows to the engine."""
    return JoinRule(
        blank=(
            *("currency", "freight", "insurance", "qty", "unit", "metal", "claims"),
            *("entry", "items"),
        ),
        modes=MODES,
    )


def refuse_unknown(tables: Tables, shipment: Shipment, view: RegimeView) -> None:
    """Raise :func:`assess`'s error for a code the official schedule does not hold, early.

    When the table has no base rate for the code at the row's moment (and the view changes
    no measure), the engine resolves every measure and then raises the error
    :func:`tradecalc.engine.assessment.lines_under` gives; asking it first gives the same
    error without the rest. Returns when the engine must decide."""
    provider = for_importer(tables.base_rates, shipment.dest)
    if not isinstance(provider, UsSchedule) or view.overrides or view.added or shipment.claims:
        return
    if shipment.dest not in tables.schedule.parties:
        return
    when = moment(shipment, view)[0]
    try:
        layers = tables.at(shipment.dest, shipment.origin, shipment.digits, when)
    except Exception:  # a damaged cached table: the engine decides
        return
    if layers is not None and not any(duty[2] == "base" for duty in layers.duties):
        lines_under(provider, shipment, when)


class ResultRow(NamedTuple):
    """One output row: the row number, its pass-through values and the result columns."""

    row: int
    passthrough: tuple[object, ...]
    values: tuple[str, ...]
    """In the order of :data:`RESULT_COLUMNS`."""
    needs_review: bool


def output_columns(extra: Sequence[str]) -> tuple[str, ...]:
    """The header: ``row``, the pass-through, result and provenance columns."""
    return ("row", *extra, *RESULT_COLUMNS, *PROVENANCE_COLUMNS)


_Item = tuple[int, list[Any], Mapping[str, object] | None] | RowError
"""A row as ``(number, cells in header order, the original mapping if any)``, or a bad row."""

_KEY_COLUMNS = tuple(n for n in INPUT_COLUMNS if n not in ("value", "freight", "insurance", "qty"))
_OPTIONAL_AMOUNTS = ("freight", "insurance", "qty")
_ENTRIES_MAX = 50_000


@record
class _Entry:
    """The plans of one combination of repeated fields (see :class:`TablePlan`)."""

    plan: TablePlan
    keys: tuple[tuple[str, str], ...]
    """``(regime, currency)`` of each plan: its running totals."""
    reviews: tuple[bool, ...]
    freight: bool
    insurance: bool
    qty: bool


class _Assessor:
    """Assesses the rows of one batch: through money plans where they apply, else the engine.

    Rows are grouped by the fields that repeat (code, countries, date, unit, mode, metal and
    which optional amounts are given); each group gets its plans once, or none, and then every
    row of the group takes the same path.
    """

    def __init__(
        self,
        schedule: Schedule,
        views: Sequence[RegimeView],
        fx: FxTable,
        header: Sequence[str],
        extra: Sequence[str],
        base_rates: BaseRates | None = None,
        tables: Tables | None = None,
    ) -> None:
        self.schedule = schedule
        self.tables = tables if tables is not None else Tables(schedule, base_rates)
        self.views = tuple(views)
        self.fx = fx
        self.base_rates = base_rates
        self.header = tuple(header)
        self.extra = tuple(extra)
        self._entries: dict[tuple[object, ...], _Entry | None] = {}

    def assess(self, items: Iterable[_Item], summary: Summary) -> Iterator[ResultRow | RowError]:
        """Assess ``items`` in order, adding to ``summary``."""
        at = {name: i for i, name in enumerate(self.header)}
        pad = len(self.header)  # index of the blank cell appended to every row
        key_of = itemgetter(*(at.get(n, pad) for n in _KEY_COLUMNS))
        optional = tuple(at[n] for n in _OPTIONAL_AMOUNTS if n in at)
        value_at = at["value"]
        freight_at, insurance_at, qty_at = (at.get(n, pad) for n in _OPTIONAL_AMOUNTS)
        extra_at = tuple(at[n] for n in self.extra)
        entries = self._entries
        totals = summary.totals
        for item in items:
            summary.rows += 1
            if isinstance(item, RowError):
                summary.errors += 1
                yield item
                continue
            number, cells, fields = item
            cells.append("")
            try:
                key: tuple[object, ...] = key_of(cells)
                if optional:
                    key = (key, *[bool(cells[i].strip()) for i in optional])
                entry = entries[key] if key in entries else self._entry(key, cells, fields)
            except Exception:  # a JSON value that is not text, or no plan: the plain path
                entry = None  # assesses the row or names its error
            if entry is not None:
                try:
                    value = parse_amount(cells[value_at], "value")
                    if value <= entry.plan.low_value:  # within de minimis: the engine decides
                        entry = None
                    else:
                        freight = (
                            parse_amount(cells[freight_at], "freight") if entry.freight else None
                        )
                        insurance = (
                            parse_amount(cells[insurance_at], "insurance")
                            if entry.insurance
                            else None
                        )
                        if entry.qty:
                            parse_amount(cells[qty_at], "quantity")
                        rows = entry.plan.rows(value, freight, insurance)
                except Exception:  # bad or not text: the plain path says why
                    entry = None
            if entry is None:
                del cells[-1]
                yield from self._assess_plainly(number, cells, fields, summary)
                continue
            passthrough = tuple([cells[i] for i in extra_at])
            for (customs, duty, values), totals_key, review in zip(
                rows, entry.keys, entry.reviews, strict=True
            ):
                acc = totals.get(totals_key)
                if acc is None:
                    acc = totals[totals_key] = RegimeTotals(*totals_key)
                acc.add(customs, duty, bool(review))
                if review:
                    summary.needs_review += 1
                summary.results += 1
                yield ResultRow(number, passthrough, values, review)

    def plainly(
        self, item: tuple[int, list[Any], Mapping[str, object] | None], summary: Summary
    ) -> Iterator[ResultRow | RowError]:
        """:meth:`assess` of one row the caller knows no table plan charges (a code the
        table cannot compile, a value within de minimis): straight to the engine."""
        summary.rows += 1
        number, cells, fields = item
        return self._assess_plainly(number, cells, fields, summary)

    def _entry(
        self, key: tuple[object, ...], cells: list[Any], fields: Mapping[str, object] | None
    ) -> _Entry | None:
        if len(self._entries) >= _ENTRIES_MAX:
            self._entries.clear()
        try:
            entry = self._compile(self._mapping(cells, fields))
        except Exception:  # e.g. a date the engine cannot reach: no plan
            entry = None
        self._entries[key] = entry
        return entry

    def _compile(self, fields: Mapping[str, object]) -> _Entry | None:
        try:
            _check_code(fields.get("hs"))
            texts = [_text_or_none(fields.get(name)) for name in INPUT_COLUMNS]
        except (TradecalcError, _NotTextError):
            return None
        for index in _VARYING_AT:
            if texts[index] is not None:
                texts[index] = "0"
        try:
            template = _template(tuple(texts))
        except TradecalcError:
            return None
        views = self.views or (
            (_DATED_VIEW,) if template.entry is not None else _named_views(self.schedule)
        )
        plan = compile_plan(self.tables, template, views)
        if plan is None:
            return None
        return _Entry(
            plan,
            tuple((c.prefix[1], c.prefix[3]) for c in plan.charges),
            tuple(bool(c.review) for c in plan.charges),
            template.freight is not None,
            template.insurance is not None,
            template.quantity is not None,
        )

    def _mapping(
        self, cells: list[Any], fields: Mapping[str, object] | None
    ) -> Mapping[str, object]:
        return fields if fields is not None else dict(zip(self.header, cells, strict=False))

    def _assess_plainly(
        self,
        number: int,
        cells: list[Any],
        fields: Mapping[str, object] | None,
        summary: Summary,
    ) -> Iterator[ResultRow | RowError]:
        """One row through :func:`tradecalc.engine.assessment.assess` (and its canonical errors).

        Whatever goes wrong with the row (an error of any kind) is that row's error; the
        batch goes on.
        """
        fields = self._mapping(cells, fields)
        try:
            shipment = to_shipment(fields)
            chosen = self.views or ((_DATED_VIEW,) if shipment.entry is not None else None)
            if chosen is None:
                chosen = _named_views(self.schedule)
            for view in chosen:
                refuse_unknown(self.tables, shipment, view)
            results = [
                assess(self.schedule, shipment, view, self.fx, self.base_rates) for view in chosen
            ]
            values = [result_values(shipment, result) for result in results]
        except Exception as exc:  # one bad row never stops the batch
            summary.errors += 1
            yield RowError(number, failure_reason(exc))
            return
        passthrough = tuple(fields.get(name, "") for name in self.extra)
        totals = summary.totals
        for result, row_values in zip(results, values, strict=True):
            key = (result.regime, result.currency)
            acc = totals.get(key)
            if acc is None:
                acc = totals[key] = RegimeTotals(*key)
            acc.add(result.customs_value, result.duty, bool(result.review))
            if result.review:
                summary.needs_review += 1
            summary.results += 1
            yield ResultRow(number, passthrough, row_values, bool(result.review))


def _items(rows: Rows) -> tuple[tuple[str, ...], Iterator[_Item]]:
    """The header and the rows of ``rows`` as cells in header order."""
    if rows.cells is not None:
        return rows.header, rows.cells
    header = (*INPUT_COLUMNS, *rows.extra)

    def items() -> Iterator[_Item]:
        for item in rows.items:
            if isinstance(item, RowError):
                yield item
            else:
                number, fields = item
                yield number, [fields.get(name, "") for name in header], fields

    return header, items()


def assess_rows(
    schedule: Schedule,
    rows: Rows,
    views: Sequence[RegimeView] = (),
    fx: FxTable | None = None,
    summary: Summary | None = None,
    base_rates: BaseRates | None = None,
    tables: Tables | None = None,
) -> Iterator[ResultRow | RowError]:
    """Assess every row under ``views`` (default: see the module docstring), in input order.

    ``tables``: the compiled rate table to read layers from (default: compiled in memory)."""
    summary = summary if summary is not None else Summary()
    header, items = _items(rows)
    assessor = _Assessor(schedule, views, fx or FxTable(), header, rows.extra, base_rates, tables)
    return assessor.assess(items, summary)


def _named_views(schedule: Schedule) -> tuple[RegimeView, ...]:
    """The schedule's named regimes (not scenarios), resolved once per schedule (its memo)."""
    named: tuple[RegimeView, ...] | None = schedule.memo.get(_named_views)
    if named is None:
        from tradecalc.engine.assessment import regime_views

        views = regime_views(schedule)
        named = schedule.memo[_named_views] = tuple(views[r.id] for r in schedule.regimes)
    return named


# ----------------------------------------------------------------------------- writing


Chunk = bytes | Callable[[], bytes]
"""UTF-8 CSV text of whole rows, or what makes it (or waits for it to be made)."""


def _made(chunk: Chunk) -> bytes:
    """The text of ``chunk``, made now if it is not yet."""
    return chunk if isinstance(chunk, bytes) else chunk()


class ResultWriter:
    """Write result rows as CSV or JSONL to an open text stream."""

    def __init__(
        self,
        stream: IO[str],
        fmt: str,
        extra: Sequence[str],
        header: bool = True,
        provenance: tuple[str, str] = ("", ""),
        queued: int = 8,
    ) -> None:
        """``provenance``: the data version and sha256 (:data:`PROVENANCE_COLUMNS`);
        ``queued``: the most chunks waiting to be written (see :meth:`write_chunk`)."""
        self._stream = stream
        self._provenance = provenance
        self._jsonl = fmt == "jsonl"
        self._columns = output_columns(extra)
        self._bytes = _utf8_bytes(stream)
        self._writing: _Writer | None = None
        self._queued = queued
        self._csv: Any = None
        if not self._jsonl:
            self._csv = csv.writer(stream, lineterminator="\n")
            if header:
                self._csv.writerow(self._columns)

    def write_chunk(self, data: Chunk) -> None:
        """Write UTF-8 CSV text of whole rows made elsewhere (the vectorised path's): onto
        the byte stream under the text stream when that is what the text would become, by
        a thread of its own while the next rows are assessed (:class:`_Writer`: an earlier
        chunk's error is raised here); else as text."""
        if self._bytes is None:
            self._stream.write(_made(data).decode())
            return
        if self._writing is None:
            self._stream.flush()
            self._writing = _Writer(self._bytes, self._queued)
        self._writing.put(data)

    def finish(self) -> None:
        """Wait for the chunks given to be written; raise a write's error."""
        writing, self._writing = self._writing, None
        error = None if writing is None else writing.end(drop=False)
        if error is not None:
            raise error

    def wait(self) -> BaseException | None:
        """Wait for the write in flight, dropping the chunks not yet written (stopped
        early); a write's error, if any."""
        writing, self._writing = self._writing, None
        return None if writing is None else writing.end(drop=True)

    def write(self, row: ResultRow) -> None:
        """Write one result row."""
        if self._writing is not None:
            self.finish()
        if self._jsonl:
            cells = (row.row, *row.passthrough, *row.values, *self._provenance)
            record = dict(zip(self._columns, cells, strict=True))
            self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow((row.row, *row.passthrough, *row.values, *self._provenance))


class _Writer(threading.Thread):
    """Writes chunks in order, on a thread of its own (the file system's time overlaps the
    making of the next rows; a chunk still to be made is made or waited for here), at most
    ``queued`` chunks waiting; the first error is kept for the caller to raise, and the
    chunks after it are dropped."""

    def __init__(self, stream: IO[bytes], queued: int) -> None:
        super().__init__(name="tradecalc-write", daemon=True)
        self.stream = stream
        self.chunks: queue.Queue[Chunk | None] = queue.Queue(queued)
        self.error: BaseException | None = None
        self.dropping = False
        self.start()

    def put(self, data: Chunk) -> None:
        """``data`` to be written after the chunks before it (a write's error raised)."""
        if self.error is not None:
            raise self.error
        self.chunks.put(data)

    def end(self, drop: bool) -> BaseException | None:
        """Wait for the chunks to be written (``drop``: for the write in flight, the others
        dropped); the error, if any."""
        self.dropping = drop
        self.chunks.put(None)
        self.join()
        return self.error

    def run(self) -> None:
        while (data := self.chunks.get()) is not None:
            if self.error is not None or self.dropping:
                continue
            try:
                self.stream.write(_made(data))
            except BaseException as exc:  # raised by the caller, in its own thread
                self.error = exc


def _utf8_bytes(stream: IO[str]) -> IO[bytes] | None:
    """The byte stream under ``stream`` when it writes text as UTF-8 with ``\n`` kept (a
    file of :func:`tradecalc.core.files.atomic_text`, stdout on POSIX), else None."""
    found = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None)
    if found is None or not isinstance(encoding, str) or os.linesep != "\n":
        return None
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return None
    return found if utf8 else None


def run(
    schedule: Schedule,
    rows: Rows,
    out: IO[str],
    fmt: str,
    views: Sequence[RegimeView] = (),
    fx: FxTable | None = None,
    on_error: Callable[[RowError], object] | None = None,
    jobs: int = 1,
    base_rates: BaseRates | None = None,
    data_sha256: str = "",
) -> Summary:
    """Assess ``rows`` into ``out``; bad rows go to ``on_error`` when given.

    Every row ends with the schedule's version and ``data_sha256`` (of the data file).

    ``jobs`` > 1 assesses chunks of rows in that many worker processes (blocks of lines
    charged as columns where one process would do so, unless this process has loaded
    polars); the output is the same, in the same order.
    """
    provenance = (schedule.version, data_sha256)
    if jobs > 1 and fmt == "csv" and rows.blocks is not None:
        from tradecalc.batch.jobs import can_fork_columns, run_columns
        from tradecalc.batch.join import columns_path

        if can_fork_columns() and columns_path(schedule, rows, views):
            header, _ = _items(rows)
            rates = (fx or FxTable(), base_rates)
            return run_columns(schedule, header, rows.extra, rows.blocks, out, views, rates,
                               on_error, jobs, provenance, data_sha256)  # fmt: skip
    if jobs > 1:
        from tradecalc.batch.jobs import run_parallel

        header, items = _items(rows)
        return run_parallel(
            schedule,
            header,
            rows.extra,
            items,
            out,
            fmt,
            views,
            (fx or FxTable(), base_rates),
            on_error,
            jobs,
            provenance,
        )
    summary = Summary()
    writer = ResultWriter(out, fmt, rows.extra, provenance=provenance)
    tables = _open_tables(schedule, base_rates, data_sha256)
    results: Iterator[ResultRow | RowError | Chunk]
    if any(view.overrides or view.added for view in views):
        results = assess_rows(schedule, rows, views, fx, summary, base_rates, tables)
    else:
        from tradecalc.batch.join import assess_joined

        text = provenance if fmt == "csv" else None
        results = assess_joined(schedule, rows, tables, fx or FxTable(), summary, views, text)
    try:
        write_results(results, writer, on_error)
    finally:
        tables.save()
    return summary


def write_results(
    results: Iterable[ResultRow | RowError | Chunk],
    writer: ResultWriter,
    on_error: Callable[[RowError], object] | None,
) -> None:
    """Results to ``writer`` in order (text made elsewhere as it is), bad rows to
    ``on_error``; the last write finished (its error raised)."""
    try:
        for item in results:
            if isinstance(item, RowError):
                if on_error is not None:
                    on_error(item)
            elif isinstance(item, ResultRow):
                writer.write(item)
            else:
                writer.write_chunk(item)
        writer.finish()
    finally:
        writer.wait()  # stopped by an error: the write in flight ends before the file goes


def _open_tables(schedule: Schedule, base_rates: BaseRates | None, data_sha256: str) -> Tables:
    """The rate table cached for this data (codes compiled by earlier runs are looked up)."""
    from tradecalc.engine.compiled import open_tables
    from tradecalc.schedule.load import cache_dir

    try:
        folder = cache_dir()
    except (OSError, TradecalcError):
        folder = None
    return open_tables(schedule, base_rates, data_sha256, folder)
