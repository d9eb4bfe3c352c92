"""The compiled rate table: every code's resolved layers for every interval of the data.

:func:`compile_table` walks each code once. A measure's scope is matched against the code
once (prefixes pre-normalised; product lists and ``@hts:`` headings kept as the only parts
that vary), and only the instants where something *this code* depends on changes are
visited: the periods of the measures that can cover it, the dated rows of its product
lists, the intervals of its HTS line, the tax periods. At each such instant the layers are
resolved by :func:`tradecalc.engine.assessment.resolve_plan`, the one-shot path's own
resolution (no trace built), and a new interval starts only when they differ from the
previous one. Codes whose inputs are the same apart from the code itself (the same
measures, list rows, table rates, imported lines and taxes at the same instants: the
code's *signature*) share their intervals, compiled once.

A row of the table says, for one code from ``start`` (inclusive) to the next row's start:
the duty layers (measure, Chapter 99 heading, rate text, ad valorem fraction, value base,
source ids, caveat), the taxes, the review reasons known before any amount, and ``engine``:
a reason the table cannot charge the code by itself (a specific or compound rate needing a
quantity, a metal-content base, a code the schedule does not know), in which case the
caller assesses with :func:`tradecalc.engine.assessment.assess`. Fees do not depend on the code and
are read per moment and mode (:func:`fees_at`); a bare date's intraday caveat per day
(:func:`intraday_at`).

:func:`charge` is the single money path over resolved layers (Decimal, half-up per line,
exactly as the engine). The table is cached on disk keyed by the data's digest and the HTS
revisions (:func:`open_tables`) in a compact format of plain data (integer arrays and JSON,
never code; :meth:`RateTable.to_bytes`) decoded per code on demand; no ``--explain`` trace
is stored.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import functools
import gc
import hashlib
import json
import mmap
import os
import pickle
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

from tradecalc.core.errors import TradecalcError, WriteError
from tradecalc.core.files import replace_file
from tradecalc.core.money import consumption_tax, effective_rate, exact, money_sum, round_money
from tradecalc.core.rate import Rate, parse_rate
from tradecalc.core.records import record
from tradecalc.core.status import status
from tradecalc.engine import assessment as engine
from tradecalc.hts.base_rates import HEADING_SCOPE, BaseRates, ImportedRate, for_importer
from tradecalc.hts.history import Bundle, UsSchedule, hts_number
from tradecalc.schedule.models import (
    Measure,
    Party,
    ProductList,
    Schedule,
    code_digits,
)

FORMAT = "tradecalc-rate-table-6"
START = datetime(1900, 1, 1)
"""The first instant of every code's first interval."""
ROUTES = (("CN", "US"), ("US", "CN"))
"""Origin -> importer pairs compiled (Hong Kong and Macau origins go through the engine)."""

Duty = tuple[
    str, str, str, str | None, str, str, str, tuple[str, ...], str | None, str | None,
    tuple[str, ...],
]  # fmt: skip
"""measure id, name, group, heading, rate text, ad valorem fraction, base rule, sources,
unconfirmed, metal (of a metal-content layer), units of the specific parts (non-zero)."""
TaxLayer = tuple[str, str, str, str, str, tuple[str, ...], str | None, tuple[str, ...]]
"""tax id, name, kind (consumption/vat), rate text, ad valorem fraction, sources,
unconfirmed, review texts of the tax."""


@record
class Layers:
    """The resolved layers of one code over one interval (see the module docstring)."""

    duties: tuple[Duty, ...]
    review: tuple[str, ...]
    taxes: tuple[TaxLayer, ...]
    engine: str = ""
    """Why only the engine can charge these layers ("" when :func:`charge` can)."""
    claimable: tuple[str, ...] = ()
    """Claims that would change the result (``ID (headings)``), as the engine offers them."""
    entry_only: tuple[str, ...] = ()
    """Items of :attr:`review` asked only for an entry, not at a named regime's moment."""

    @property
    def metal(self) -> bool:
        """True when a layer is charged on a metal content (declared content: the engine)."""
        return any(d[9] is not None for d in self.duties)

    @property
    def specific(self) -> bool:
        """True when a layer has a specific part (a quantity given: the engine)."""
        return any(d[10] for d in self.duties)

    def to_json(self) -> list[object]:
        """Plain JSON values (lists, strings, null)."""
        return [
            [[*d[:7], list(d[7]), d[8], d[9], list(d[10])] for d in self.duties],
            list(self.review),
            [[*t[:5], list(t[5]), t[6], list(t[7])] for t in self.taxes],
            self.engine,
            list(self.claimable),
            list(self.entry_only),
        ]

    @classmethod
    def from_json(cls, value: object) -> Layers:
        """Back from :meth:`to_json` (ValueError for anything else)."""
        if not isinstance(value, list) or len(value) != 6:
            raise NotATableError("bad layers")
        duties, review, taxes, why, claimable, entry_only = value
        duty_rows = [_l(d) for d in _l(duties)]
        tax_rows = [_l(t) for t in _l(taxes)]
        if any(len(d) != 11 for d in duty_rows) or any(len(t) != 8 for t in tax_rows):
            raise NotATableError("bad layer")
        return cls(
            tuple(
                (
                    _s(d[0]), _s(d[1]), _s(d[2]), _o(d[3]), _s(d[4]), _s(d[5]), _s(d[6]),
                    tuple(_s(x) for x in _l(d[7])), _o(d[8]), _o(d[9]),
                    tuple(_s(x) for x in _l(d[10])),
                )
                for d in duty_rows
            ),
            tuple(_s(r) for r in _l(review)),
            tuple(
                (
                    _s(t[0]), _s(t[1]), _s(t[2]), _s(t[3]), _s(t[4]),
                    tuple(_s(x) for x in _l(t[5])), _o(t[6]), tuple(_s(x) for x in _l(t[7])),
                )
                for t in tax_rows
            ),
            _s(why),
            tuple(_s(c) for c in _l(claimable)),
            tuple(_s(r) for r in _l(entry_only)),
        )  # fmt: skip


def _s(value: object) -> str:
    if not isinstance(value, str):
        raise NotATableError("expected text")
    return value


def _o(value: object) -> str | None:
    return None if value is None else _s(value)


def _l(value: object) -> list[object]:
    if not isinstance(value, list):
        raise NotATableError("expected a list")
    return value


@record
class LayerSummary:
    """What charging whole columns of shipments needs of one layer set (stored in the cache
    beside the layers as :class:`SummaryColumns`, so a batch never decodes the layers it
    charges)."""

    columns: bool
    """False when only the engine can charge the layers (:attr:`Layers.engine`) or they
    carry taxes: those shipments take the row path."""
    lines: tuple[tuple[int, int, bool], ...]
    """Each duty line as ``(n, 10**k, on_remainder)``: ad valorem rate ``n / 10**k``."""
    metals: int
    """Metals charged on content (none declared: the full value, the remainder is 0)."""
    claimable: str
    """:attr:`Layers.claimable` as the batch writes it (``; `` between claims)."""
    review: tuple[str, ...]
    """:func:`review_of` the layers at an entry's moment, before the day's fees and caveats
    (:func:`day_review` adds those)."""


def scaled(fraction: Decimal) -> tuple[int, int]:
    """A non-negative decimal as ``(n, 10**k)`` with ``fraction == n / 10**k``, exactly."""
    sign, digits, exponent = fraction.as_tuple()
    assert isinstance(exponent, int) and not sign, fraction  # rates are finite, never negative
    number = int("".join(map(str, digits)) or "0")
    if exponent >= 0:
        return number * 10**exponent, 1
    return number, 10**-exponent


@functools.lru_cache(maxsize=4096)
def _scaled_text(fraction: str) -> tuple[int, int]:
    """:func:`scaled` of a fraction written as text (a few hundred recur over every code)."""
    return scaled(Decimal(fraction))


def summarize(layers: Layers) -> LayerSummary:
    """The :class:`LayerSummary` of a layer set."""
    return LayerSummary(
        not layers.engine and not layers.taxes,
        tuple((*_scaled_text(d[5]), d[6] == "remainder") for d in layers.duties),
        len(_metals(layers)),
        "; ".join(layers.claimable),
        review_of(layers, ((), ()), (), True),
    )


SUMMARY_FIELDS = ("flags", "metals", "claimable", "review", "lines")
"""The first columns of :class:`SummaryColumns`: ``flags`` (:data:`CHARGES_COLUMNS`,
:data:`HAS_NO_BASE`), ``metals``, ``claimable`` and ``review`` (indexes into
:attr:`SummaryColumns.claimables` and :attr:`SummaryColumns.reviews`) and ``lines`` (the
duty lines used); then ``n``, ``k`` and ``r`` for each slot (unused: 0, 1, 0)."""
CHARGES_COLUMNS = 1
""":attr:`LayerSummary.columns`."""
HAS_NO_BASE = 2
""":attr:`Layers.engine` is :data:`NO_BASE`."""


@dataclass(slots=True)
class SummaryColumns:
    """Every layer set's :class:`LayerSummary` as columns of 64-bit integers, the way the
    cache stores them: a reader of whole columns takes each column at once (and checks
    the values it takes); :meth:`summary` reads one layer set's, checked."""

    count: int
    """Layer sets (the length of each column)."""
    slots: int
    """Duty-line slots (the most lines of a layer set)."""
    values: array.array[int]
    """Column after column: field ``f`` of layer set ``i`` at ``f * count + i``, the fields
    :data:`SUMMARY_FIELDS`, then ``n``, ``k``, ``r`` of slot 0, of slot 1..."""
    claimables: list[str]
    reviews: list[tuple[str, ...]]

    @classmethod
    def of(cls, summaries: list[LayerSummary], no_base: list[bool]) -> SummaryColumns:
        """The columns of ``summaries`` (``no_base``: each one's layers are :data:`NO_BASE`)."""
        count = len(summaries)
        slots = max((len(s.lines) for s in summaries), default=0)
        claimables: dict[str, int] = {}
        reviews: dict[tuple[str, ...], int] = {}
        values = array.array("q", bytes(8 * count * (len(SUMMARY_FIELDS) + 3 * slots)))
        for i, (found, missing) in enumerate(zip(summaries, no_base, strict=True)):
            flags = (CHARGES_COLUMNS if found.columns else 0) | (HAS_NO_BASE if missing else 0)
            claimable = claimables.setdefault(found.claimable, len(claimables))
            review = reviews.setdefault(found.review, len(reviews))
            leading = (flags, found.metals, claimable, review, len(found.lines))
            for position, value in enumerate(leading):  # SUMMARY_FIELDS
                values[position * count + i] = value
            for slot in range(slots):
                n, k, on_remainder = found.lines[slot] if slot < len(found.lines) else (0, 1, 0)
                at = (len(SUMMARY_FIELDS) + 3 * slot) * count + i
                values[at], values[at + count], values[at + 2 * count] = n, k, int(on_remainder)
        return cls(count, slots, values, list(claimables), list(reviews))

    def names(self) -> list[str]:
        """The columns' names, in order: :data:`SUMMARY_FIELDS`, then ``n0, k0, r0``..."""
        slots = [f"{part}{slot}" for slot in range(self.slots) for part in "nkr"]
        return [*SUMMARY_FIELDS, *slots]

    def column(self, position: int) -> array.array[int]:
        """The column at ``position`` of :meth:`names` (a copy)."""
        return self.values[position * self.count : (position + 1) * self.count]

    def summary(self, index: int) -> LayerSummary:
        """The summary of the layer set at ``index`` (NotATableError if damaged)."""
        values, count = self.values, self.count
        if not 0 <= index < count:
            raise NotATableError("no such layer set")
        flags, metals, claimable, review, lines = (
            values[f * count + index] for f in range(len(SUMMARY_FIELDS))
        )
        if (
            not 0 <= flags <= CHARGES_COLUMNS | HAS_NO_BASE
            or metals < 0
            or not 0 <= claimable < len(self.claimables)
            or not 0 <= review < len(self.reviews)
            or not 0 <= lines <= self.slots
        ):
            raise NotATableError("bad summary")
        parsed = []
        for slot in range(self.slots):
            at = (len(SUMMARY_FIELDS) + 3 * slot) * count + index
            n, k, on_remainder = values[at], values[at + count], values[at + 2 * count]
            if slot >= lines:  # unused
                if (n, k, on_remainder) != (0, 1, 0):
                    raise NotATableError("bad summary line")
            elif n < 0 or k < 1 or on_remainder not in (0, 1):
                raise NotATableError("bad summary line")
            else:
                parsed.append((n, k, on_remainder == 1))
        return LayerSummary(
            bool(flags & CHARGES_COLUMNS),
            tuple(parsed),
            metals,
            self.claimables[claimable],
            self.reviews[review],
        )

    def texts_bytes(self) -> bytes:
        """The claimable and review texts as JSON (:meth:`read` takes them back)."""
        return _COMPACT.encode([self.claimables, [list(r) for r in self.reviews]]).encode()

    @classmethod
    def read(cls, count: int, slots: int, values: array.array[int], texts: bytes) -> SummaryColumns:
        """Back from :attr:`values` and :meth:`texts_bytes` (NotATableError for anything
        else; the values are checked as they are read)."""
        if slots < 0 or len(values) != count * (len(SUMMARY_FIELDS) + 3 * slots):
            raise NotATableError("bad summary columns")
        try:
            found = json.loads(texts)
        except ValueError:
            raise NotATableError("bad summary texts") from None
        if type(found) is not list or len(found) != 2:
            raise NotATableError("bad summary texts")
        claimables = [_s(c) for c in _l(found[0])]
        reviews = [tuple(_s(item) for item in _l(r)) for r in _l(found[1])]
        return cls(count, slots, values, claimables, reviews)


def day_review(
    review: tuple[str, ...],
    fees: tuple[tuple[FeeAt, ...], tuple[str, ...]],
    intraday: tuple[str, ...],
    entered: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """:func:`review_of` from a :attr:`LayerSummary.review` (layers without taxes), the
    fees at the moment, the items the entry type adds (``Entered.review``) and the day's
    intraday caveat, in the engine's order."""
    if not fees[1] and not intraday and not entered:
        return review
    return tuple(dict.fromkeys((*review, *fees[1], *entered, *intraday)))


# ----------------------------------------------------------------------------- the table


NO_BASE = "no base rate for the code: the engine says why"
""":attr:`Layers.engine` of a code the schedule in force has no line for (or a short code
whose lines differ): only the engine can tell which."""


class NotATableError(ValueError):
    """Bytes that are not a rate table this code wrote (never shown: it is compiled again)."""


@dataclass(slots=True)
class _Packed:
    """A cached table not decoded yet: codes and layer sets are decoded when first asked
    for (a run pays only for the codes it uses). See :meth:`RateTable.to_bytes`."""

    names: list[str]
    """``importer|origin|digits`` per packed code, in file order."""
    code_at: array.array[int]
    """Interval offsets per code (``len(names) + 1``, non-decreasing)."""
    starts: array.array[int]
    """Interval starts, microseconds since :data:`START`."""
    ids: array.array[int]
    """The layer-set index of each interval."""
    layer_at: array.array[int]
    """Byte offsets of each layer set's JSON in ``blob`` (``layers + 1``)."""
    blob: memoryview
    summaries: SummaryColumns
    position: dict[str, int] = field(default_factory=dict)

    def find(self, name: str) -> int | None:
        """The position of a packed code, or None."""
        if not self.position and self.names:
            self.position = {n: i for i, n in enumerate(self.names)}
        return self.position.get(name)

    def span(self, position: int, layers: int) -> tuple[list[int], list[int]]:
        """A code's starts (microseconds) and layer indexes (NotATableError if damaged)."""
        low, high = self.code_at[position], self.code_at[position + 1]
        if not 0 <= low <= high <= len(self.starts):
            raise NotATableError("bad offsets")
        starts = self.starts[low:high].tolist()
        ids = self.ids[low:high].tolist()
        if not ids or min(ids) < 0 or max(ids) >= layers or starts != sorted(starts):
            raise NotATableError("bad intervals")
        return starts, ids

    def layer(self, index: int) -> Layers:
        """The layer set at ``index`` (NotATableError if damaged)."""
        return Layers.from_json(_json_at(self.layer_at, self.blob, index, "layer"))


_MICRO = timedelta(microseconds=1)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``, made once."""


_MICROS: dict[datetime, int] = {}
"""Instants already converted by :func:`micros_of` (a table has a few hundred distinct ones)."""


def micros_of(when: datetime) -> int:
    """``when`` as microseconds since :data:`START` (the table's interval starts)."""
    found = _MICROS.get(when)
    if found is None:
        if len(_MICROS) >= 100_000:
            _MICROS.clear()
        found = _MICROS[when] = (when - START) // _MICRO
    return found


def moment_of(micros: int) -> datetime:
    """The instant ``micros`` microseconds after :data:`START` (:func:`micros_of` undone)."""
    return START + micros * _MICRO


_SCAN: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner behind :func:`json.loads`, called without its per-call set-up (a batch
reads thousands of small texts)."""


def _json_at(offsets: array.array[int], blob: memoryview, index: int, what: str) -> object:
    """Entry ``index`` of a blob of JSON texts laid end to end (NotATableError if damaged)."""
    low, high = offsets[index], offsets[index + 1]
    if not 0 <= low <= high <= len(blob):
        raise NotATableError(f"bad {what} offsets")
    try:
        text = str(blob[low:high], "utf-8")
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, StopIteration):
        raise NotATableError(f"bad {what}") from None
    if end != len(text):
        raise NotATableError(f"bad {what}")
    return value


@dataclass(slots=True)
class RateTable:
    """Per (importer, origin, code): interval starts and the layers from each start on.

    A table read from the cache decodes a code, and a layer set, the first time it is asked
    for (``packed``): a run pays only for the codes it uses."""

    key: str
    layers: list[Layers]
    codes: dict[tuple[str, str, str], tuple[list[datetime], list[int]]]
    packed: _Packed | None = None
    decoded: list[bool] = field(default_factory=list)
    """Per layer set: decoded from ``packed`` yet (empty when nothing is packed)."""
    summaries: dict[int, LayerSummary] = field(default_factory=dict)
    """The :class:`LayerSummary` of each layer set asked for so far."""

    def layer(self, index: int) -> Layers:
        """The layer set at ``index`` (NotATableError for a damaged one)."""
        if self.packed is not None and not self.decoded[index]:
            self.layers[index] = self.packed.layer(index)
            self.decoded[index] = True
        return self.layers[index]

    def summary(self, index: int) -> LayerSummary:
        """The :class:`LayerSummary` of the layer set at ``index``, read from the cache when
        it is there (the layers are not decoded), else made (NotATableError if damaged)."""
        found = self.summaries.get(index)
        if found is None:
            if self.packed is not None and not self.decoded[index]:
                found = self.packed.summaries.summary(index)
            else:
                found = summarize(self.layers[index])
            self.summaries[index] = found
        return found

    def summary_columns(self) -> SummaryColumns | None:
        """The summaries of the layer sets read from the cache, undecoded, for a reader of
        whole columns (None: nothing read from the cache is left packed). Layer sets keep
        their indexes when decoded, so these stay true of them."""
        return self.packed.summaries if self.packed is not None else None

    def packed_intervals(
        self,
    ) -> tuple[list[str], array.array[int], array.array[int], array.array[int]]:
        """Every code read from the cache, undecoded, for a reader of whole columns: the
        codes (``importer|origin|digits``, in file order), the offsets of each one's first
        interval (and one past the last), and every interval's start and layer index. The
        reader checks what it reads (empty when nothing is packed)."""
        packed = self.packed
        if packed is None:
            return [], array.array("q", [0]), array.array("q"), array.array("q")
        return packed.names, packed.code_at, packed.starts, packed.ids

    def columns(
        self, importer: str, origin: str, codes: Iterable[str] | None = None
    ) -> tuple[list[str], list[int], list[int]]:
        """The intervals of the route's compiled codes (only ``codes`` when given, those of
        them compiled) as three columns: the code's digits, the start (microseconds since
        :data:`START`) and the layer-set index. Without ``codes`` a code may appear twice
        (packed and decoded) with the same intervals. NotATableError if damaged."""
        digits: list[str] = []
        starts: list[int] = []
        ids: list[int] = []
        packed = self.packed
        prefix = f"{importer}|{origin}|"
        spans: list[tuple[str, int, int]] = []  # packed code, its first and last interval
        if packed is not None:
            code_at = packed.code_at
            if len(code_at) != len(packed.names) + 1 or code_at[-1] > len(packed.starts):
                raise NotATableError("bad offsets")
        if codes is None:
            if packed is not None:
                spans = [
                    (name[len(prefix) :], packed.code_at[i], packed.code_at[i + 1])
                    for i, name in enumerate(packed.names)
                    if name.startswith(prefix)
                ]
            decoded = [(k[2], v) for k, v in self.codes.items() if k[:2] == (importer, origin)]
        else:
            decoded = []
            for code in codes:
                found = self.codes.get((importer, origin, code))
                if found is not None:
                    decoded.append((code, found))
                elif packed is not None:
                    position = packed.find(prefix + code)
                    if position is not None:
                        spans.append((code, packed.code_at[position], packed.code_at[position + 1]))
        if packed is not None:
            all_starts, all_ids = packed.starts, packed.ids
            for code, low, high in spans:
                if not 0 <= low <= high:
                    raise NotATableError("bad offsets")
                digits.extend([code] * (high - low))
                starts.extend(all_starts[low:high])
                ids.extend(all_ids[low:high])
            if ids and (min(ids) < 0 or max(ids) >= len(self.layers)):
                raise NotATableError("bad intervals")
        for code, (when, refs) in decoded:
            digits.extend([code] * len(refs))
            starts.extend(micros_of(t) for t in when)
            ids.extend(refs)
        return digits, starts, ids

    def find(self, key: tuple[str, str, str]) -> tuple[list[datetime], list[int]] | None:
        """The starts and layer indexes of a code, if compiled (NotATableError if damaged)."""
        found = self.codes.get(key)
        if found is None and self.packed is not None:
            position = self.packed.find("|".join(key))
            if position is not None:
                starts, ids = self.packed.span(position, len(self.layers))
                found = self.codes[key] = ([moment_of(s) for s in starts], ids)
        return found

    def spans(self, key: tuple[str, str, str]) -> tuple[list[int], list[int]] | None:
        """:meth:`find` with starts as microseconds since :data:`START` (no datetimes made)."""
        found = self.codes.get(key)
        if found is not None:
            return [micros_of(s) for s in found[0]], found[1]
        if self.packed is not None:
            position = self.packed.find("|".join(key))
            if position is not None:
                return self.packed.span(position, len(self.layers))
        return None

    def complete(self) -> None:
        """Decode everything still packed."""
        packed = self.packed
        if packed is None:
            return
        for name in packed.names:
            importer, origin, digits = name.split("|")
            self.find((importer, origin, digits))
        for index in range(len(self.layers)):
            self.layer(index)
        self.packed = None
        self.decoded = []

    def at(self, importer: str, origin: str, digits: str, when: datetime) -> Layers | None:
        """The layers of a code at ``when`` (None: not compiled, use the engine)."""
        found = self.find((importer, origin, digits))
        if found is None:
            return None
        starts, ids = found
        index = bisect.bisect_right(starts, when) - 1
        return self.layer(ids[index]) if index >= 0 else None

    def rows(self) -> Iterator[tuple[str, str, str, datetime, datetime | None, Layers]]:
        """(importer, origin, code, start, end or None, layers) for every interval."""
        self.complete()
        for (importer, origin, digits), (starts, ids) in sorted(self.codes.items()):
            ends: list[datetime | None] = [*starts[1:], None]
            for start, end, index in zip(starts, ends, ids, strict=True):
                yield importer, origin, digits, start, end, self.layer(index)

    def to_bytes(self) -> bytes:
        """The table in its cache format: a JSON header line, then the payload.

        The payload is plain data, never code: the code names (JSON), then little-endian
        64-bit integer arrays (interval offsets per code, interval starts in microseconds
        since :data:`START`, layer-set indexes, byte offsets of each layer set), then each
        layer set as JSON, one after the other, then the layer sets' summaries as 64-bit
        integer columns and their texts as JSON (:class:`SummaryColumns`). The header gives
        every part's length and the summaries' duty-line slots."""
        self.complete()
        names, code_at, starts, ids = [], array.array("q", [0]), array.array("q"), array.array("q")
        for (i, o, d), (when, refs) in self.codes.items():
            names.append(f"{i}|{o}|{d}")
            starts.extend(micros_of(s) for s in when)
            ids.extend(refs)
            code_at.append(len(starts))
        blobs = [_COMPACT.encode(x.to_json()).encode() for x in self.layers]
        layer_at = array.array("q", [0])
        for blob in blobs:
            layer_at.append(layer_at[-1] + len(blob))
        summaries = SummaryColumns.of(
            [self.summary(i) for i in range(len(self.layers))],
            [layers.engine == NO_BASE for layers in self.layers],
        )
        parts = [json.dumps(names, separators=(",", ":")).encode()]
        for numbers in (code_at, starts, ids, layer_at, summaries.values):
            if sys.byteorder != "little":
                numbers = array.array("q", numbers)
                numbers.byteswap()
            parts.append(numbers.tobytes())
        parts.insert(5, b"".join(blobs))
        parts.append(summaries.texts_bytes())
        payload = b"".join(parts)
        head: dict[str, object] = {"format": FORMAT, "version": _code_version(), "key": self.key}
        head["parts"] = [len(p) for p in parts]
        head["slots"] = summaries.slots
        head["payload_sha256"] = hashlib.sha256(payload).hexdigest()
        return json.dumps(head).encode() + b"\n" + payload

    @classmethod
    def from_bytes(cls, data: bytes, key: str) -> RateTable:
        """Read :meth:`to_bytes` output written for ``key`` (NotATableError otherwise);
        codes and layer sets are checked when first decoded."""
        end = data.find(b"\n")
        if end < 0:
            raise NotATableError("no header")
        head_text, payload = data[:end], memoryview(data)[end + 1 :]  # no copy of the payload
        try:
            head = json.loads(head_text)
        except ValueError:
            raise NotATableError("no header") from None
        if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("key") != key:
            raise NotATableError("another table")
        if head.get("version") != _code_version():
            raise NotATableError("another version")
        if head.get("payload_sha256") != hashlib.sha256(payload).hexdigest():
            raise NotATableError("damaged")
        sizes = [_n(n) for n in _l(head.get("parts"))]
        if len(sizes) != 8 or any(n < 0 for n in sizes) or sum(sizes) != len(payload):
            raise NotATableError("bad parts")
        parts, at = [], 0
        for size in sizes:
            parts.append(payload[at : at + size])
            at += size
        names = [_s(n) for n in _l(json.loads(bytes(parts[0])))]
        numbers = []
        for part in (*parts[1:5], parts[6]):
            if len(part) % 8:
                raise NotATableError("bad array")
            found = array.array("q")
            found.frombytes(part)
            if sys.byteorder != "little":
                found.byteswap()
            numbers.append(found)
        code_at, starts, ids, layer_at, values = numbers
        if len(code_at) != len(names) + 1 or len(starts) != len(ids) or not layer_at:
            raise NotATableError("bad lengths")
        count = len(layer_at) - 1
        summaries = SummaryColumns.read(count, _n(head.get("slots")), values, bytes(parts[7]))
        packed = _Packed(names, code_at, starts, ids, layer_at, parts[5], summaries)
        placeholder = Layers((), (), ())
        return cls(key, [placeholder] * count, {}, packed, [False] * count)


def _n(value: object) -> int:
    if type(value) is not int:
        raise NotATableError("expected an integer")
    return value


# ----------------------------------------------------------------------------- compiling


@record
class _Scope:
    """One measure's scope, pre-normalised: prefixes, lists and headings, per side."""

    prefixes: tuple[tuple[str, ...], tuple[str, ...]]
    lists: tuple[tuple[ProductList, ...], tuple[ProductList, ...]]
    headings: tuple[frozenset[str], frozenset[str]]
    any_include: bool


def _prepare_scope(schedule: Schedule, measure: Measure) -> _Scope:
    sides = []
    for entries in (measure.scope.include, measure.scope.exclude):
        prefixes: list[str] = []
        lists: list[ProductList] = []
        heads: set[str] = set()
        for entry in entries:
            if entry.startswith(HEADING_SCOPE):
                heads.add(entry.removeprefix(HEADING_SCOPE))
            elif entry.startswith("@"):
                plist = schedule.product_lists.get(entry[1:])
                if plist is not None:
                    lists.append(plist)
            else:
                prefixes.append(code_digits(entry))
        sides.append((tuple(prefixes), tuple(lists), frozenset(heads)))
    inc, exc = sides
    return _Scope(
        (inc[0], exc[0]),
        (inc[1], exc[1]),
        (inc[2], exc[2]),
        bool(measure.scope.include),
    )


@dataclass(slots=True)
class _CodeScope:
    """A measure's scope seen from one code: fixed prefix hits, then what still varies."""

    measure: Measure
    index: int
    prefix_in: bool
    prefix_out: bool
    lists_in: tuple[ProductList, ...]
    lists_out: tuple[ProductList, ...]
    heads_in: frozenset[str]
    heads_out: frozenset[str]
    any_include: bool

    fixed: bool | None = None
    """The answer when nothing about it varies (no list, no heading), else None."""

    def __post_init__(self) -> None:
        if not (self.lists_in or self.lists_out or self.heads_in or self.heads_out):
            self.fixed = not self.prefix_out and (not self.any_include or self.prefix_in)

    def matches(self, digits: str, headings: tuple[str, ...], when: datetime) -> bool:
        """Exactly :func:`tradecalc.engine.assessment.scope_matches` for this code."""
        if self.prefix_out:
            return False
        for plist in self.lists_out:
            if plist.holds(digits, when):
                return False
        if self.heads_out and not self.heads_out.isdisjoint(headings):
            return False
        if not self.any_include or self.prefix_in:
            return True
        if self.heads_in and not self.heads_in.isdisjoint(headings):
            return True
        return any(plist.holds(digits, when) for plist in self.lists_in)


def _list_signature(plist: ProductList, digits: str) -> tuple[object, ...]:
    """Whether ``plist`` holds ``digits`` by a plain code, and its dated rows for it."""
    inline, rows = plist.rows_for(digits)
    return (inline, tuple((row.start, row.end) for row in rows))


def _list_instants(plist: ProductList, digits: str) -> list[datetime]:
    return [t for row in plist.rows_for(digits)[1] for t in (row.start, row.end) if t is not None]


class _Compiler:
    """Compiles the rows of one route (origin -> importer)."""

    def __init__(
        self, schedule: Schedule, origin: str, importer: str, base_rates: BaseRates | None
    ) -> None:
        self.schedule = schedule
        self.origin = origin
        self.importer = importer
        self.party: Party = schedule.parties[importer]
        self.measures = [m for m in schedule.measures if m.importer == importer]
        self.scopes = [_prepare_scope(schedule, m) for m in self.measures]
        self.provider = for_importer(base_rates, importer)
        self.fast_hts = (
            isinstance(self.provider, UsSchedule)
            and self.provider.bundle is not None
            and (self.provider.imported is None or not self.provider.imported.revisions)
        )
        self.rates: dict[str, Rate] = {}
        self.rate_texts: dict[Rate, tuple[str, str, tuple[str, ...]]] = {}
        starts = list(self.provider.starts()) if self.provider is not None else []
        self.china_lines = False
        """The provider is the bundled China lines (asked at every instant, see _imports)."""
        if self.provider is not None and self.provider.importer == "CN":
            from tradecalc.hts.cn_lines import NEW_SCHEDULE, ChinaLines

            starts.append(NEW_SCHEDULE)
            self.china_lines = isinstance(self.provider, ChinaLines)
        self.provider_starts = starts
        self.memo: dict[tuple[object, ...], list[tuple[datetime, Layers]]] = {}
        self.parts: dict[object, int] = {}
        """A number per distinct code-independent part of a signature (a short memo key)."""
        self.moments: dict[tuple[object, ...], tuple[Layers, int, Rate | None]] = {}
        """Per signature part, instant, taxes and imported line less its rate: the layers
        resolved, the position of the imported base's row in them (-1: none) and its rate."""
        self.rerated: dict[tuple[int, Rate], Layers] = {}
        """Layers of :attr:`moments` with the imported base's row at another rate."""
        self.claims = [c for c in schedule.claims.values() if c.importer == importer]
        self.claim_instants = {
            t for c in self.claims for e in c.effects for t in (e.from_, e.to) if t is not None
        }
        self.claim_scopes = [
            scope for c in self.claims for scope in (c.scope, c.ask) if scope is not None
        ]
        self.claim_entries: list[ProductList | str | None] = []
        """Each entry of the claims' scopes: its list, its prefix digits, None (a heading)."""
        for scope in self.claim_scopes:
            for entry in (*scope.include, *scope.exclude):
                if entry.startswith(HEADING_SCOPE):
                    self.claim_entries.append(None)
                elif entry.startswith("@"):
                    self.claim_entries.append(schedule.product_lists.get(entry[1:]))
                else:
                    self.claim_entries.append(code_digits(entry))
        self.claim_lists = [e for e in self.claim_entries if isinstance(e, ProductList)]
        self.fixed_instants = set(self.claim_instants)
        """The instants every code of the route is visited at (claim windows, tax periods)."""
        for tax in self.party.taxes:
            for tperiod in tax.periods:
                self.fixed_instants.add(tperiod.from_)
                if tperiod.to is not None:
                    self.fixed_instants.add(tperiod.to)
        self.tables = [tuple(p for p in m.periods if p.rates) for m in self.measures]
        """The periods of each measure with a rate table (the others rate every code alike)."""
        self.period_instants = [
            frozenset(
                t for period in measure.periods for t in (period.from_, period.to) if t is not None
            )
            for measure in self.measures
        ]
        self.heads = self._heads_index()
        self.scopes_by_hits: dict[frozenset[tuple[int, int, int]], list[_CodeScope]] = {}
        self.scope_instants: dict[
            int, tuple[Sequence[_CodeScope], frozenset[datetime], list[datetime]]
        ] = {}
        """Per list of scopes (by identity, kept with it): the instants of its measures."""
        self.from_origin = {i for i, m in enumerate(self.measures) if m.from_origin(origin)}
        self.always = [
            i
            for i in sorted(self.from_origin)
            if not self.scopes[i].any_include or self.scopes[i].headings[0]
        ]

    # -- per code

    def _heads_index(self) -> dict[str, list[tuple[int, int, int]]]:
        """Prefix -> (scope index, side 0 include / 1 exclude, list position or -1)."""
        index: dict[str, list[tuple[int, int, int]]] = {}
        for i, scope in enumerate(self.scopes):
            for side in (0, 1):
                for prefix in scope.prefixes[side]:
                    index.setdefault(prefix, []).append((i, side, -1))
                for position, plist in enumerate(scope.lists[side]):
                    keys = {code_digits(c) for c in plist.codes} | {r.digits for r in plist.rows}
                    for key in keys:
                        index.setdefault(key, []).append((i, side, position))
        return index

    def code_scopes(self, digits: str) -> list[_CodeScope]:
        """The measures that can cover ``digits`` at some moment, with their scopes."""
        index = self.heads
        hits = frozenset(
            hit for end in range(1, len(digits) + 1) for hit in index.get(digits[:end], ())
        )
        found = self.scopes_by_hits.get(hits)
        if found is None:
            found = self.scopes_by_hits[hits] = self._code_scopes(hits)
        return found

    def _code_scopes(self, hits: frozenset[tuple[int, int, int]]) -> list[_CodeScope]:
        """:meth:`code_scopes` of a code whose prefixes hit these entries of the index (all
        that the scopes depend on: codes with the same hits share them)."""
        prefix_hit: set[tuple[int, int]] = set()
        list_hit: set[tuple[int, int, int]] = set()
        for i, side, position in hits:
            if position < 0:
                prefix_hit.add((i, side))
            else:
                list_hit.add((i, side, position))
        candidates = set(self.always)
        candidates.update(i for i, side in prefix_hit if side == 0)
        candidates.update(i for i, side, _ in list_hit if side == 0)
        candidates &= self.from_origin
        found = []
        for i in sorted(candidates):
            measure, scope = self.measures[i], self.scopes[i]
            prefix_in = (i, 0) in prefix_hit
            lists_in = tuple(p for n, p in enumerate(scope.lists[0]) if (i, 0, n) in list_hit)
            if scope.any_include and not prefix_in and not lists_in and not scope.headings[0]:
                continue
            code_scope = _CodeScope(
                measure,
                i,
                prefix_in,
                (i, 1) in prefix_hit,
                lists_in,
                tuple(p for n, p in enumerate(scope.lists[1]) if (i, 1, n) in list_hit),
                scope.headings[0],
                scope.headings[1],
                scope.any_include,
            )
            if code_scope.fixed is not False:
                found.append(code_scope)
        return found

    @staticmethod
    def _rows(bundle: Bundle, digits: str) -> list[list[str]]:
        """The bundled rows of a tariff line, read with those of its subheading (one search
        of the bundle for a few siblings)."""
        return [row for row in bundle.rows(digits[:6]) if row[0] == digits]

    def hts_intervals(self, digits: str) -> list[tuple[datetime, ImportedRate | None]] | None:
        """The bundled line of a tariff line over time, or None (use the provider)."""
        if not self.fast_hts or len(digits) != 10:
            return None
        assert isinstance(self.provider, UsSchedule) and self.provider.bundle is not None
        bundle: Bundle = self.provider.bundle
        rows = self._rows(bundle, digits)
        if not rows or any(r[0] != digits for r in rows):
            return None
        out: list[tuple[datetime, ImportedRate | None]] = []
        for row in sorted(rows, key=lambda r: r[1]):
            code, start, end, revision, _indent, kind, general, rate, rate_from = row[:9]
            parsed = None
            if rate:
                parsed = self.rates.get(rate)
                if parsed is None:
                    parsed = self.rates[rate] = parse_rate(rate)
            imported = ImportedRate(
                code=hts_number(rate_from or code),
                text=general,
                rate=parsed,
                headings=tuple(h for h in row[10].split(",") if h),
                source=f"usitc-hts-{revision}",
                kind=kind,
            )
            out.append((datetime.fromisoformat(start), imported))
            if end:
                out.append((datetime.fromisoformat(end), None))
        return out

    def _signature(
        self,
        digits: str,
        scopes: Sequence[_CodeScope],
        instants: Sequence[datetime],
        imports: Sequence[ImportedRate | None],
        taxes: _CodeTaxes,
    ) -> tuple[object, ...]:
        """Everything the intervals of ``digits`` depend on, without the code itself: codes
        with equal signatures have equal intervals."""
        parts: list[object] = [self._claims_signature(digits)]
        for cs in scopes:
            lists = tuple(_list_signature(plist, digits) for plist in (*cs.lists_in, *cs.lists_out))
            rates = tuple(engine._table_rate(period, digits) for period in self.tables[cs.index])
            parts.append((cs.index, cs.fixed, cs.prefix_in, cs.prefix_out, lists, rates))
        seen: dict[int, tuple[object, ...] | None] = {}  # a code has a line or two over time
        for imported in imports:
            if id(imported) not in seen:
                seen[id(imported)] = (
                    None
                    if imported is None
                    else (
                        imported.text,
                        imported.rate,
                        imported.headings,
                        imported.source,
                        imported.kind,
                        imported.unconfirmed,
                        imported.code if imported.rate is None else "",
                    )
                )
        series = tuple(seen[id(imported)] for imported in imports)
        taxed = tuple(taxes.at(t) for t in instants) if self.party.taxes else ()
        return (tuple(parts), tuple(instants), series, taxed)

    def _claims_signature(self, digits: str) -> tuple[object, ...]:
        """What the claims' scopes say about ``digits``, without the code itself."""
        return tuple(
            entry
            if entry is None
            else digits.startswith(entry)
            if isinstance(entry, str)
            else _list_signature(entry, digits)
            for entry in self.claim_entries
        )

    def compile_code(self, digits: str) -> list[tuple[datetime, Layers]]:
        """The intervals of one code: (start, layers), a new one only where they differ.

        Codes whose signature (:meth:`_signature`) is known share its intervals."""
        scopes = self.code_scopes(digits)
        hts = self.hts_intervals(digits)
        ship = engine.Shipment(digits, Decimal(0), self.origin, self.importer)
        taxes = _CodeTaxes(self, ship)
        instants = self._instants(digits, scopes, hts)
        imports = self._imports(digits, instants, hts)
        if imports is None:
            return self._compile_code(ship, instants, scopes, None, taxes)
        signature = self._signature(digits, scopes, instants, imports, taxes)
        known = self.memo.get(signature)
        if known is None:
            parts = self.parts.setdefault(signature[0], len(self.parts))
            known = self.memo[signature] = self._compile_shared(
                ship, instants, scopes, imports, taxes, parts
            )
        return known

    def _instants(
        self,
        digits: str,
        scopes: Sequence[_CodeScope],
        hts: list[tuple[datetime, ImportedRate | None]] | None,
    ) -> list[datetime]:
        """Every instant where something the code depends on may change, in order."""
        base = self.scope_instants.get(id(scopes))
        if base is None:  # the instants of the measures (codes with these scopes share them)
            common = {START, *self.fixed_instants}
            for cs in scopes:
                common.update(self.period_instants[cs.index])
            ordered = sorted(t for t in common if t >= START)
            base = self.scope_instants[id(scopes)] = (scopes, frozenset(ordered), ordered)
        extra: set[datetime] = set()
        for cs in scopes:
            for plist in (*cs.lists_in, *cs.lists_out):
                extra.update(_list_instants(plist, digits))
        for plist in self.claim_lists:
            extra.update(_list_instants(plist, digits))
        if hts is not None:
            extra.update(t for t, _ in hts)
        else:
            extra.update(self.provider_starts)
        if extra <= base[1]:
            return base[2]
        return sorted(t for t in base[1].union(extra) if t >= START)

    def _imports(
        self,
        digits: str,
        instants: Sequence[datetime],
        hts: list[tuple[datetime, ImportedRate | None]] | None,
    ) -> list[ImportedRate | None] | None:
        """The imported line of the code at each instant, from the bundled HTS history or
        the China lines (which answer for any code, never raise, and change only at their
        starts); None: ask the provider at each instant that needs it."""
        if self.provider is None:
            return [None] * len(instants)
        if hts is not None:
            starts = [t for t, _ in hts]
            found = []
            for when in instants:
                at = bisect.bisect_right(starts, when) - 1
                found.append(hts[at][1] if at >= 0 else None)
            return found
        if self.china_lines:
            return [self.provider.lookup(digits, when) for when in instants]
        if self.fast_hts and len(digits) == 10:
            assert isinstance(self.provider, UsSchedule) and self.provider.bundle is not None
            if not self._rows(self.provider.bundle, digits):  # no line of any revision
                return [None] * len(instants)
        return None

    def _compile_code(
        self,
        ship: engine.Shipment,
        instants: Sequence[datetime],
        scopes: Sequence[_CodeScope],
        imports: Sequence[ImportedRate | None] | None,
        taxes: _CodeTaxes,
    ) -> list[tuple[datetime, Layers]]:
        out: list[tuple[datetime, Layers]] = []
        for position, when in enumerate(instants):
            imported = None if imports is None else imports[position]
            layers = self.resolve(ship, when, scopes, imports is None, imported, taxes)[0]
            if not out or out[-1][1] != layers:
                out.append((when, layers))
        return out

    def _compile_shared(
        self,
        ship: engine.Shipment,
        instants: Sequence[datetime],
        scopes: Sequence[_CodeScope],
        imports: Sequence[ImportedRate | None],
        taxes: _CodeTaxes,
        parts: int,
    ) -> list[tuple[datetime, Layers]]:
        """:meth:`_compile_code` for a code with a signature (``parts``: the number of its
        code-independent part), resolving each instant once for all codes alike there.

        At one instant, codes with the same signature part, taxes and imported line apart
        from its rate resolve alike but for the imported base's row (its rate only enters
        that row: the measures in force, claims, reviews and order do not depend on it), so
        the layers resolved for the first such code are re-rated for the others."""
        out: list[tuple[datetime, Layers]] = []
        for position, when in enumerate(instants):
            imported = imports[position]
            taxed = taxes.at(when)
            if imported is None:
                shape: tuple[object, ...] | None = None
            else:
                rateless = None if imported.rate is not None else (imported.text, imported.code)
                shape = (imported.headings, imported.source, imported.unconfirmed, rateless)
            key = (parts, when, shape, taxed)
            known = self.moments.get(key)
            if known is None:
                layers, row = self.resolve(ship, when, scopes, False, imported, taxes)
                rate = None if row < 0 or imported is None else imported.rate
                known = self.moments[key] = (layers, row, rate)
            layers, row, rate = known
            if row >= 0 and imported is not None and imported.rate is not rate:
                assert imported.rate is not None  # the shape tells a missing rate apart
                layers = self._rerate(layers, row, imported.rate)
            if not out or out[-1][1] != layers:
                out.append((when, layers))
        return out

    def _rerate(self, layers: Layers, row: int, rate: Rate) -> Layers:
        """``layers`` with the imported base's row (at ``row``) charged at ``rate``."""
        key = (id(layers), rate)
        found = self.rerated.get(key)
        if found is None:
            text, fraction, units = self._rate_texts(rate)
            duty = layers.duties[row]
            duties = list(layers.duties)
            duties[row] = (*duty[:4], text, fraction, *duty[6:10], units)
            found = self.rerated[key] = Layers(
                tuple(duties), layers.review, layers.taxes, layers.engine,
                layers.claimable, layers.entry_only,
            )  # fmt: skip
        return found

    # -- per code and instant

    def resolve(
        self,
        ship: engine.Shipment,
        when: datetime,
        scopes: Sequence[_CodeScope],
        ask: bool,
        imported: ImportedRate | None,
        taxes: _CodeTaxes,
    ) -> tuple[Layers, int]:
        """The layers at ``when``: :func:`tradecalc.engine.assessment.resolve_plan`, no trace;
        the imported line is ``imported``, or the provider's when ``ask``; and the position
        of the imported base's row in the duties (-1: none; the only layer without a period,
        as the compiler sets no override)."""
        lookup: Callable[[str, datetime], ImportedRate | None] | None = None
        if ask and self.provider is not None:
            lookup = self.provider.lookup
        elif imported is not None:
            lookup = lambda _digits, _when: imported  # noqa: E731
        plan = engine.resolve_plan(
            self.schedule, ship, when, self.party, self.measures, lookup, scopes=scopes
        )
        rows: list[Duty] = []
        row = -1
        for a in plan.duties:
            if a.period is None:
                assert row < 0 and a.measure.group == "base", a.measure.id
                row = len(rows)
            kind = engine._base_kind(a)
            metal = a.measure.metal if kind == "metal" else None
            rate_text, fraction, units = self._rate_texts(a.rate)
            rows.append(
                (a.measure.id, a.measure.name, a.measure.group, a.heading, rate_text,
                 fraction, kind, a.source, a.unconfirmed, metal, units)
            )  # fmt: skip
        layers = Layers(
            tuple(rows),
            (*plan.review, *plan.asked),
            taxes.at(when),
            "" if plan.has_base else NO_BASE,
            plan.claimable,
            plan.entry_only,
        )
        return layers, row

    def _rate_texts(self, rate: Rate) -> tuple[str, str, tuple[str, ...]]:
        """A rate's text, its ad valorem fraction as text, and the units of its specific
        parts (remembered per rate: a few hundred rates recur over every code)."""
        found = self.rate_texts.get(rate)
        if found is None:
            units = tuple(part.unit for part in rate.specifics if part.amount != 0)
            found = self.rate_texts[rate] = (str(rate), str(rate.ad_valorem), units)
        return found


class _CodeTaxes:
    """The taxes of one code over time: they change only where a tax period starts or ends
    or a product list in a tax's scope has a dated row for the code, so they are worked out
    once between two such instants."""

    def __init__(self, compiler: _Compiler, ship: engine.Shipment) -> None:
        self.compiler = compiler
        self.ship = ship
        edges: set[datetime] = set()
        schedule = compiler.schedule
        for tax in compiler.party.taxes:
            for period in tax.periods:
                edges.add(period.from_)
                if period.to is not None:
                    edges.add(period.to)
            for entry in (*tax.scope.include, *tax.scope.exclude):
                plist = schedule.product_lists.get(entry[1:]) if entry.startswith("@") else None
                if plist is not None:
                    edges.update(_list_instants(plist, ship.digits))
        self.edges = sorted(edges)
        self.found: dict[int, tuple[TaxLayer, ...]] = {}

    def at(self, when: datetime) -> tuple[TaxLayer, ...]:
        """The taxes at ``when`` (consumption first, then VAT)."""
        if not self.compiler.party.taxes:
            return ()
        segment = bisect.bisect_right(self.edges, when)
        found = self.found.get(segment)
        if found is None:
            digits = self.ship.digits
            found = self.found[segment] = tuple(
                (tax.id, tax.name, tax.kind, str(rate), str(rate.ad_valorem), source,
                 unconfirmed, review)
                for tax, rate, source, unconfirmed, review in engine.tax_layers(
                    self.compiler.schedule, self.compiler.party, digits, digits, when
                )
            )  # fmt: skip
        return found


def route_codes(importer: str, base_rates: BaseRates | None, schedule: Schedule) -> list[str]:
    """The codes compiled for an importer: its tariff lines and the curated codes."""
    codes: set[str] = set()
    for measure in schedule.measures:
        if measure.importer == importer and measure.group == "base":
            for period in measure.periods:
                codes.update(code_digits(c) for c in period.rates)
    provider = for_importer(base_rates, importer)
    if isinstance(provider, UsSchedule) and provider.bundle is not None:
        mapped = provider.bundle._mapped()
        start = 0
        while start < len(mapped):
            end = mapped.find(b"\n", start)
            end = len(mapped) if end < 0 else end
            tab = mapped.find(b"\t", start, end)
            if tab == start + 10 and mapped[start : start + 1] != b"#":
                codes.add(mapped[start:tab].decode("ascii"))
            start = end + 1
    elif provider is not None and provider.importer == "CN":
        lines = getattr(provider, "lines", None)
        if callable(lines):
            codes.update(c for c in lines() if len(c) >= 8)
    return sorted(c for c in codes if len(c) >= 4 and len(c) % 2 == 0)


def compile_table(
    schedule: Schedule,
    base_rates: BaseRates | None,
    key: str = "",
    codes: Mapping[str, Iterable[str]] | None = None,
) -> RateTable:
    """Compile every code of every route (or only ``codes``: importer -> digits)."""
    layers: list[Layers] = []
    ids: dict[Layers, int] = {}
    table: dict[tuple[str, str, str], tuple[list[datetime], list[int]]] = {}
    with exact():
        for origin, importer in ROUTES:
            if importer not in schedule.parties:
                continue
            compiler = _Compiler(schedule, origin, importer, base_rates)
            chosen = (
                sorted({code_digits(c) for c in codes.get(importer, ())})
                if codes is not None
                else route_codes(importer, base_rates, schedule)
            )
            shared: dict[int, tuple[list[tuple[datetime, Layers]], list[int]]] = {}
            """Layer indexes of the intervals codes share (by identity; the intervals are
            kept with them, so an id is never reused while in this dict)."""
            for digits in chosen:
                try:
                    intervals = compiler.compile_code(digits)
                except (TradecalcError, ValueError, KeyError):
                    continue  # not compiled: the engine answers (and names any error)
                known = shared.get(id(intervals))
                if known is None:
                    refs = []
                    for _start, found in intervals:
                        ref = ids.get(found)
                        if ref is None:
                            ref = ids[found] = len(layers)
                            layers.append(found)
                        refs.append(ref)
                    known = shared[id(intervals)] = (intervals, refs)
                table[(importer, origin, digits)] = ([t for t, _ in intervals], list(known[1]))
    return RateTable(key, layers, table)


class Tables:
    """A rate table that compiles a code the first time it is asked, and remembers it.

    ``compile_table`` over every code takes a while; a batch needs only its own codes. The
    codes compiled are kept in the on-disk cache (:meth:`save`), so the next run only looks
    them up.
    """

    def __init__(
        self,
        schedule: Schedule,
        base_rates: BaseRates | None,
        table: RateTable | None = None,
        path: Path | None = None,
        reading: _Reading | None = None,
    ) -> None:
        self.schedule = schedule
        self.base_rates = base_rates
        self._table = table or RateTable("", [], {})
        self._reading = reading
        """The cached table being read (:func:`open_tables`), until :attr:`table` is asked."""
        self.path = path
        self._ids: dict[Layers, int] | None = None
        self._shared: dict[int, tuple[list[tuple[datetime, Layers]], list[int]]] = {}
        """Layer indexes of the intervals codes share (:func:`compile_table`'s)."""
        self.generation = 0
        """Bumped when a damaged cached table is dropped: layer indexes are then new."""
        self._compilers: dict[tuple[str, str], _Compiler] = {}
        self._failed: set[tuple[str, str, str]] = set()
        self.added = 0

    @property
    def table(self) -> RateTable:
        """The table: the cached one once read (:func:`open_tables` reads it on a thread)."""
        if self._reading is not None:
            self._table, self._reading = self._reading.result(), None
        return self._table

    @table.setter
    def table(self, table: RateTable) -> None:
        self._table, self._reading = table, None

    @property
    def count(self) -> int:
        """How many layer sets the table holds (every layer index is below it)."""
        return len(self.table.layers)

    def at(self, importer: str, origin: str, digits: str, when: datetime) -> Layers | None:
        """The layers of a code at ``when``; None when only the engine can tell."""
        index = self.index_at(importer, origin, digits, when)
        return None if index is None else self.layer(index)

    def layer(self, index: int) -> Layers:
        """The layer set at ``index`` of :meth:`index_at`."""
        try:
            return self.table.layer(index)
        except (NotATableError, ValueError, TypeError, KeyError):
            raise DamagedTableError from None

    def index_at(self, importer: str, origin: str, digits: str, when: datetime) -> int | None:
        """The index of :meth:`at`'s layers in ``table.layers`` (equal layers, one index).

        A cached table found damaged on the way is dropped (and its codes compiled again)."""
        try:
            return self._index_at(importer, origin, digits, when)
        except DamagedTableError:
            self.drop()
            return self._index_at(importer, origin, digits, when)

    def spans(self, importer: str, origin: str, digits: str) -> tuple[list[int], list[int]] | None:
        """A code's interval starts (microseconds since :data:`START`) and layer indexes,
        compiled if need be; None when only the engine can tell. A damaged cached table is
        dropped on the way (:attr:`generation` then changes: earlier indexes are void)."""
        key = (importer, origin, digits)
        try:
            found = self.table.spans(key)
        except (NotATableError, ValueError, TypeError, KeyError, IndexError):
            self.drop()
            found = None
        if found is None:
            if not self._add(key):
                return None
            found = self.table.spans(key)
        return found

    def summary(self, index: int) -> LayerSummary:
        """The :class:`LayerSummary` of the layer set at ``index`` of :meth:`index_at` or
        :meth:`columns` (DamagedTableError: call :meth:`drop`; indexes are then void)."""
        try:
            return self.table.summary(index)
        except (NotATableError, ValueError, TypeError, KeyError, IndexError):
            raise DamagedTableError from None

    def summary_columns(self) -> SummaryColumns | None:
        """:meth:`RateTable.summary_columns` (the reader checks the values it takes)."""
        return self.table.summary_columns()

    def columns(
        self, importer: str, origin: str, codes: Iterable[str] | None = None
    ) -> tuple[list[str], list[int], list[int]]:
        """:meth:`RateTable.columns`: the intervals of the codes compiled so far (of
        ``codes``, when given; DamagedTableError: call :meth:`drop`)."""
        try:
            return self.table.columns(importer, origin, codes)
        except (NotATableError, ValueError, TypeError, KeyError, IndexError):
            raise DamagedTableError from None

    def packed_intervals(
        self,
    ) -> tuple[list[str], array.array[int], array.array[int], array.array[int]]:
        """:meth:`RateTable.packed_intervals` (the reader checks what it reads)."""
        return self.table.packed_intervals()

    def drop(self) -> None:
        """Forget the table (a damaged cached one): codes are compiled again when asked, and
        :attr:`generation` changes (layer indexes given before are void)."""
        self.table = RateTable(self.table.key, [], {})
        self._ids = None
        self._shared = {}
        self.generation += 1
        self.added += 1

    def _index_at(self, importer: str, origin: str, digits: str, when: datetime) -> int | None:
        key = (importer, origin, digits)
        try:
            found = self.table.find(key)
            if found is not None:
                starts, ids = found
                position = bisect.bisect_right(starts, when) - 1
                if position >= 0:
                    self.layer(ids[position])
                return ids[position] if position >= 0 else None
        except (NotATableError, ValueError, TypeError, KeyError):
            raise DamagedTableError from None
        if not self._add(key):
            return None
        starts, ids = self.table.codes[key]
        position = bisect.bisect_right(starts, when) - 1
        return ids[position] if position >= 0 else None

    def _add(self, key: tuple[str, str, str]) -> bool:
        importer, origin, digits = key
        if key in self._failed:
            return False
        compiler = self._compiler(importer, origin)
        if compiler is None:
            return False
        try:
            with exact():
                intervals = compiler.compile_code(digits)
        except (TradecalcError, ValueError, KeyError):
            self._failed.add(key)
            return False
        self._store(key, intervals)
        return True

    def _compiler(self, importer: str, origin: str) -> _Compiler | None:
        """The compiler of a route (None: a route the table does not hold)."""
        if (origin, importer) not in ROUTES or importer not in self.schedule.parties:
            return None
        compiler = self._compilers.get((origin, importer))
        if compiler is None:
            compiler = _Compiler(self.schedule, origin, importer, self.base_rates)
            self._compilers[(origin, importer)] = compiler
        return compiler

    def _store(self, key: tuple[str, str, str], intervals: list[tuple[datetime, Layers]]) -> None:
        """Add a compiled code to the table (new layer sets take the next indexes)."""
        if self._ids is None:
            try:
                self.table.complete()
            except (NotATableError, ValueError, TypeError, KeyError):
                self.table = RateTable(self.table.key, [], {})
                self.generation += 1
            self._ids = {layers: i for i, layers in enumerate(self.table.layers)}
            self._shared = {}
        known = self._shared.get(id(intervals))
        if known is None:
            refs = []
            for _start, found in intervals:
                ref = self._ids.get(found)
                if ref is None:
                    ref = self._ids[found] = len(self.table.layers)
                    self.table.layers.append(found)
                refs.append(ref)
            known = self._shared[id(intervals)] = (intervals, refs)
        self.table.codes[key] = ([t for t, _ in intervals], list(known[1]))
        self.added += 1

    def prepare(
        self, importer: str, origin: str, codes: Iterable[str], processes: int | None = None
    ) -> None:
        """Compile those of ``codes`` not in the table yet, in their order: the table is then
        the one asking for each in turn makes, byte for byte.

        With at least :data:`PARALLEL_CODES` of them and two cores, they are compiled in
        chunks of their sorted order (siblings together), a forked helper taking chunks
        from the last one back while this process takes them from the first one on, until
        they meet (``processes``: 1 for no helper, None for as many as there are cores, at
        most 2); every code is then added in the order asked. Should the helper fail, this
        process compiles its chunks too."""
        compiler = self._compiler(importer, origin)
        if compiler is None:
            return
        packed = self.table.packed
        todo = []
        for digits in dict.fromkeys(codes):
            key = (importer, origin, digits)
            if key in self._failed or key in self.table.codes:
                continue
            if packed is not None and packed.find("|".join(key)) is not None:
                continue
            todo.append(digits)
        if processes is None:
            processes = min(2, _cores())
        if processes < 2 or len(todo) < PARALLEL_CODES:
            for digits in todo:
                self._add((importer, origin, digits))
            return
        ordered = sorted(todo)  # siblings together: each process meets fewer signatures
        chunks = [ordered[at : at + _CHUNK] for at in range(0, len(ordered), _CHUNK)]
        # the first chunk before forking: the helper inherits the indexes it built
        here = dict(zip(chunks[0], _compile_chunk(compiler, chunks[0]), strict=True))
        helper = _Helper.start(compiler, chunks, 1)
        try:
            for number in range(1, len(chunks)):
                if helper is not None and not helper.claim(number):
                    break  # the helper has it, and every chunk after it
                here.update(
                    zip(chunks[number], _compile_chunk(compiler, chunks[number]), strict=True)
                )
            found = helper.results() if helper is not None else {}
        except BaseException:
            if helper is not None:
                helper.stop()
            raise
        there = {
            digits: intervals
            for number, compiled in found.items()
            if 0 <= number < len(chunks) and len(compiled) == len(chunks[number])
            for digits, intervals in zip(chunks[number], compiled, strict=True)
        }
        for digits in todo:  # added in the order asked
            key = (importer, origin, digits)
            if digits in here:
                intervals = here[digits]
            elif digits in there:
                intervals = there[digits]
            else:  # the helper failed: compiled here
                self._add(key)
                continue
            if intervals is None:
                self._failed.add(key)
            else:
                self._store(key, intervals)

    def save(self) -> None:
        """Write the table to the cache when codes were added (errors only cost speed)."""
        if not self.added or self.path is None:
            return
        try:
            data = self.table.to_bytes()
        except NotATableError:
            return
        if len(data) > MAX_TABLE_BYTES:
            return
        with contextlib.suppress(WriteError, OSError):
            replace_file(self.path, data)
            self.added = 0


PARALLEL_CODES = 2048
"""The fewest codes :meth:`Tables.prepare` compiles in two processes (forking one and sending
its half back costs about what compiling a few hundred codes does)."""


def _cores() -> int:
    """The cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


_PR_SET_PDEATHSIG = 1


_CHUNK = 64
"""Codes a process claims at a time in :meth:`Tables.prepare`."""

_Compiled = dict[int, list[list[tuple[datetime, Layers]] | None]]
"""A helper's chunks: number -> each code's intervals (None: not compiled, the engine answers)."""


class _Helper:
    """A forked process compiling chunks of codes of one route from the last one back, as
    long as :meth:`claim` has not taken them, and sending back their intervals.

    Each chunk has a byte in memory both processes share: 0 free, 1 claimed by the parent,
    2 by the helper. Each process claims chunks in its own direction and stops at the first
    one already claimed, so every chunk is claimed by one of them at least (a chunk both
    claim at the same moment is compiled twice, to the same intervals).

    The helper ignores Ctrl-C (the parent alone reports it and stops it), dies with the
    parent (``PR_SET_PDEATHSIG``; Linux only: elsewhere there is no helper), prints nothing
    and leaves by ``os._exit`` (the parent's clean-up never runs twice)."""

    def __init__(self, pid: int, read: int, claims: mmap.mmap) -> None:
        self.pid = pid
        self.read: int | None = read
        self.claims = claims

    @classmethod
    def start(cls, compiler: _Compiler, chunks: list[list[str]], done: int) -> _Helper | None:
        """Fork a helper compiling ``chunks`` but the first ``done`` ones, which the parent
        has (None: it could not be started)."""
        if not sys.platform.startswith("linux") or done >= len(chunks):
            return None  # elsewhere forking a process with threads (polars') is not safe
        try:
            claims = mmap.mmap(-1, len(chunks))
        except OSError:
            return None
        claims[:done] = b"\x01" * done
        try:
            read, write = os.pipe()
        except OSError:
            claims.close()
            return None
        parent = os.getpid()
        blocked = hasattr(signal, "pthread_sigmask")
        if blocked:  # a Ctrl-C while forking waits for the parent; the helper never sees it
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with warnings.catch_warnings():  # 3.12+ warns of threads: the helper uses none
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            _helper_main(compiler, chunks, claims, parent, read, write)
        os.close(write)
        helper = None
        if pid < 0:
            os.close(read)
            claims.close()
        else:
            helper = cls(pid, read, claims)
        if blocked:  # a Ctrl-C from here on finds the helper to stop
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return helper

    def claim(self, number: int) -> bool:
        """Claim chunk ``number`` for the parent (False: the helper has it)."""
        if self.claims[number]:
            return False
        self.claims[number] = 1
        return True

    def results(self) -> _Compiled:
        """The chunks the helper compiled, once it is done (none when it failed)."""
        assert self.read is not None
        with os.fdopen(self.read, "rb") as handle:
            self.read = None
            data = handle.read()
        _, status = os.waitpid(self.pid, 0)
        self.claims.close()
        if os.waitstatus_to_exitcode(status) != 0:
            return {}
        try:
            found = pickle.loads(data)  # our own child's bytes over a pipe, never a file
        except Exception:  # a helper cut short: its chunks are compiled here
            return {}
        return found if isinstance(found, dict) else {}

    def stop(self) -> None:
        """End the helper at once (the parent is interrupted or failed)."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)
        if self.read is not None:
            os.close(self.read)
            self.read = None
        self.claims.close()


def _compile_chunk(
    compiler: _Compiler, codes: list[str]
) -> list[list[tuple[datetime, Layers]] | None]:
    """Each code's intervals (None: not compiled, the engine answers and names any error)."""
    found: list[list[tuple[datetime, Layers]] | None] = []
    with exact():
        for digits in codes:
            try:
                found.append(compiler.compile_code(digits))
            except (TradecalcError, ValueError, KeyError):
                found.append(None)
    return found


def _helper_main(
    compiler: _Compiler,
    chunks: list[list[str]],
    claims: mmap.mmap,
    parent: int,
    read: int,
    write: int,
) -> NoReturn:
    """The forked helper: compile chunks from the last one back until one is claimed, write
    them (pickled) and leave."""
    status = 1
    try:
        gc.disable()  # short-lived: a collection would only copy the parent's pages
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for each in (signal.SIGTERM, signal.SIGHUP):  # the parent's clean-up is not ours
            signal.signal(each, signal.SIG_DFL)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        _die_with(parent)
        os.close(read)
        found: _Compiled = {}
        for number in range(len(chunks) - 1, -1, -1):
            if claims[number]:
                break
            claims[number] = 2
            found[number] = _compile_chunk(compiler, chunks[number])
        data = memoryview(pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))
        while data:  # into the pipe to the parent (no file is written)
            data = data[os.write(write, data) :]
        os.close(write)
        status = 0
    finally:
        os._exit(status)


def _die_with(parent: int) -> None:
    """Have the kernel end this process when ``parent`` ends, or end it now if ``parent``
    is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


MAX_TABLE_BYTES = 256 * 1024 * 1024
"""Largest rate-table cache file read or written (the whole bundled data is about 40 MB)."""


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes: no link followed, no FIFO waited on, at most MAX_TABLE_BYTES."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_TABLE_BYTES:
        os.close(fd)
        raise NotATableError("not a regular file of a table's size")
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_TABLE_BYTES + 1)


class DamagedTableError(Exception):
    """A cached table turned out damaged when a part of it was decoded (:meth:`Tables.drop`
    it)."""


def open_tables(
    schedule: Schedule, base_rates: BaseRates | None, data_sha256: str, folder: Path | None
) -> Tables:
    """The cached table for this data and these revisions (empty when none), compiling on
    demand; with no ``data_sha256`` or ``folder``, an in-memory table only. The cached
    table is read and checked on a thread (:class:`_Reading`) until first used."""
    if not data_sha256 or folder is None:
        return Tables(schedule, base_rates)
    key = table_key(data_sha256, base_rates)
    path = folder / f"rate-table-{key[:32]}.bin"
    return Tables(schedule, base_rates, RateTable(key, [], {}), path, _Reading(path, key))


class _Reading:
    """A cached table read and checked on a thread of its own: reading the file and its
    sha256 (most of the time) release the GIL, so they overlap what the caller does next
    (a batch imports polars); :meth:`result` waits for it. An unreadable or damaged file
    gives an empty table, as reading it in place would; any other error is raised by
    :meth:`result`."""

    def __init__(self, path: Path, key: str) -> None:
        self._key = key
        self._found: RateTable | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._read, args=(path,), name="tradecalc-table", daemon=True
        )
        self._thread.start()

    def _read(self, path: Path) -> None:
        try:
            self._found = RateTable.from_bytes(_read_regular(path), self._key)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            pass
        except BaseException as exc:  # e.g. MemoryError: raised where the table is used
            self._error = exc

    def result(self) -> RateTable:
        """The table read (empty if the file was missing, unreadable or damaged)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._found if self._found is not None else RateTable(self._key, [], {})


@functools.cache
def _code_version() -> str:
    """The sha256 of the code that resolves layers (this module and the engine): a table
    compiled by other rules is never read."""
    digest = hashlib.sha256()
    for module in (__file__, engine.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def table_key(data_sha256: str, base_rates: BaseRates | None) -> str:
    """The cache key: the data's digest and every HTS revision the providers know."""
    digest = hashlib.sha256(f"{FORMAT}\n{_code_version()}\n{data_sha256}".encode())
    for importer in ("US", "CN"):
        provider = for_importer(base_rates, importer)
        if provider is None:
            continue
        sources = getattr(provider, "sources", None)
        names = sorted(sources()) if callable(sources) else []
        digest.update(f"\n{importer}:{','.join(names)}".encode())
        path = getattr(provider, "path", None)
        if isinstance(path, Path) and path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
        if isinstance(provider, UsSchedule) and provider.bundle is not None:
            revisions = provider.bundle.revisions
            digest.update(",".join(r.sha256 for r in revisions).encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- money


FeeAt = tuple[str, Decimal, Decimal | None, Decimal | None]
"""A fee charged: id, ad valorem fraction, minimum, maximum."""


def fees_at(party: Party, mode: str, when: datetime) -> tuple[tuple[FeeAt, ...], tuple[str, ...]]:
    """The fees charged for ``mode`` at ``when``, and review texts for fees without a rate."""
    fees = []
    review = []
    for fee, period, text in engine._fee_periods(party, mode, when):
        if period is None:
            review.append(text)
        else:
            fees.append((fee.id, period.rate.ad_valorem, period.min, period.max))
    return tuple(fees), tuple(review)


def intraday_at(schedule: Schedule, importer: str, entry: datetime) -> tuple[str, ...]:
    """The review a bare entry date gets when a rate changes during that day."""
    measures = [m for m in schedule.measures if m.importer == importer]
    found: list[str] = []
    engine._check_intraday(measures, schedule.parties[importer], entry, found)
    return tuple(found)


@record
class Charged:
    """The money of one shipment charged against its layers."""

    customs_value: Decimal
    landed_extra: Decimal
    duty: Decimal
    fees: Decimal
    taxes: Decimal
    review: tuple[str, ...]
    claimable: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        """Duty + fees + taxes."""
        return money_sum((self.duty, self.fees, self.taxes))


def review_of(
    layers: Layers,
    fees: tuple[tuple[FeeAt, ...], tuple[str, ...]],
    intraday: tuple[str, ...],
    entry: bool = True,
) -> tuple[str, ...]:
    """The review items of a shipment charged against ``layers``, in the engine's order
    (they never depend on the amounts); ``entry``: at an entry's moment, not a named
    regime's (claims that count only in a window of entry dates are asked about then)."""
    found = [r for r in layers.review if entry or r not in layers.entry_only]
    found.extend(engine.metal_unknown(metal, name) for metal, name in _metals(layers).items())
    found.extend(
        engine.quantity_needed(duty[1], duty[4], unit)
        for duty in layers.duties
        for unit in duty[10]
    )
    found.extend(fees[1])
    for tax in layers.taxes:
        found.extend(tax[7])
    found.extend(intraday)
    return tuple(dict.fromkeys(found))


def _metals(layers: Layers) -> dict[str, str]:
    """Metal -> the name of its first layer, for the metals charged on content."""
    found: dict[str, str] = {}
    for duty in layers.duties:
        if duty[9] is not None and duty[9] not in found:
            found[duty[9]] = duty[1]
    return found


def charge(
    party: Party,
    layers: Layers,
    value: Decimal,
    freight: Decimal | None,
    insurance: Decimal | None,
    fees: tuple[tuple[FeeAt, ...], tuple[str, ...]],
    intraday: tuple[str, ...] = (),
    entry: bool = True,
) -> Charged:
    """Charge a shipment in the importer's currency against resolved layers.

    The engine's arithmetic, line by line: valuation (transaction or CIF with the default
    insurance), each duty rounded half-up, fees clamped then rounded, consumption tax then
    VAT. ``layers.engine`` must be empty (the caller assesses those with the engine), and
    the shipment declares no metal content when :attr:`Layers.metal`, and no quantity with
    a unit when :attr:`Layers.specific` (the layers are then charged as the engine does
    without them: metal layers on the full value, specific parts not charged, for review).
    """
    with exact():
        zero = Decimal(0)
        if party.valuation == "transaction":
            extra_in = (freight or zero) if insurance is None else (freight or zero) + insurance
            customs, extra = round_money(value), round_money(extra_in)
        else:
            cost = value + (freight or zero)
            if insurance is None and party.insurance_default is not None:
                insurance = cost * party.insurance_default.ad_valorem
            customs = round_money(cost if insurance is None else cost + insurance)
            extra = zero
        metals = _metals(layers)
        remainder = max(customs - len(metals) * customs, zero)
        duty = money_sum(
            round_money((remainder if d[6] == "remainder" else customs) * Decimal(d[5]))
            for d in layers.duties
        )
        fee_lines = []
        for _id, rate, low, high in fees[0]:
            amount = customs * rate
            if low is not None:
                amount = max(amount, low)
            if high is not None:
                amount = min(amount, high)
            fee_lines.append(round_money(amount))
        tax_lines = []
        consumption = zero
        for tax in layers.taxes:
            fraction = Decimal(tax[4])
            if tax[2] == "consumption":
                if fraction >= 1:
                    continue
                amount = consumption_tax(customs + duty, fraction)[1]
                consumption += amount
            else:
                amount = round_money((customs + duty + consumption) * fraction)
            tax_lines.append(amount)
        return Charged(
            customs,
            extra,
            duty,
            money_sum(fee_lines),
            money_sum(tax_lines),
            review_of(layers, fees, intraday, entry),
            layers.claimable,
        )


def result_values(
    code: str,
    regime: str,
    as_of: str,
    currency: str,
    route: tuple[str, str],
    charged: Charged,
) -> tuple[str, ...]:
    """The batch result columns (``batch.RESULT_COLUMNS``) of a charged shipment."""
    with exact():
        total = charged.total
        customs = charged.customs_value
        return (
            code,
            regime,
            as_of,
            currency,
            str(customs),
            str(charged.duty),
            str(charged.fees),
            str(charged.taxes),
            str(total),
            str(effective_rate(charged.duty, customs)),
            str(customs + charged.landed_extra + total),
            status(charged.review),
            "; ".join(charged.review),
            "",
            "; ".join(charged.claimable),
            *route,
        )
