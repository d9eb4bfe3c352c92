"""Batch as a join: plain rows looked up in the compiled rate table, money in integer cents.

A row is *plain* when it is a US import from China with a code of 4 to 10 digits (dotted or
not), a value
with at most cents, a bare entry date or none, an optional transport mode and nothing else
(no currency, freight, insurance, quantity or metal), under regimes without overrides (the
entry date's schedule, or named regimes at their own moments). Its layers come from the
rate table by code and instant (:class:`tradecalc.engine.compiled.Tables`, a hash lookup and a
binary search);
what depends only on the layers, the date and the mode (fees, review items, status) is
worked out once per distinct combination; the money is integer cents with the engine's
half-up per line (:func:`money_columns`, exact: no float anywhere). Every other row, and
every plain row whose layers only the engine can charge, goes through
:class:`tradecalc.batch.rows._Assessor` in its place, so the output order and the messages are
those of the reference path.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import itertools
import os
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from tradecalc.batch.rows import (
    _DATED_VIEW,
    ENTRY_DATE,
    Block,
    Chunk,
    RegimeTotals,
    ResultRow,
    RowError,
    Rows,
    Summary,
    _Assessor,
    _Item,
    _items,
    _named_views,
    checked_cells,
    join_rule,
    simple_cells,
)
from tradecalc.core.errors import TradecalcError, UsageError, failure_reason
from tradecalc.core.money import FxTable, money_sum
from tradecalc.core.records import record
from tradecalc.core.status import status
from tradecalc.engine.assessment import (
    RegimeView,
    low_value_limit,
    not_in_schedule,
    within_de_minimis,
)
from tradecalc.engine.compiled import (
    CHARGES_COLUMNS,
    HAS_NO_BASE,
    NO_BASE,
    START,
    SUMMARY_FIELDS,
    DamagedTableError,
    FeeAt,
    Layers,
    SummaryColumns,
    Tables,
    day_review,
    fees_at,
    intraday_at,
    micros_of,
    moment_of,
    review_of,
    scaled,
)
from tradecalc.engine.inputs import parse_entry
from tradecalc.hts.base_rates import for_importer
from tradecalc.hts.history import UsSchedule
from tradecalc.schedule.models import Schedule, format_when

if TYPE_CHECKING:
    import polars as pl

Output = ResultRow | RowError | Chunk
"""A result row, a bad row, or UTF-8 CSV text of whole rows (the vectorised path; made, or
made by the writer)."""

_CODE = re.compile(r"\d\d(?:\.?\d\d){1,4}\Z", re.ASCII)
_VALUE = re.compile(r"\d{1,13}(?:\.\d{1,2})?\Z")
_DATE = re.compile(r"\d{4}-\d\d-\d\d\Z")
FeesAt = tuple[tuple[FeeAt, ...], tuple[str, ...]]
CHUNK = 8192
"""Rows assessed together (memory stays bounded by this many rows)."""


@record
class Plan:
    """What a plain row's money needs, per distinct code, date and mode."""

    duties: tuple[tuple[int, int, bool], ...]
    """Each duty line as ``(n, 10**k, on_remainder)``: rate ``n / 10**k``."""
    metals: int
    """Metals charged on content (undeclared: the full value, so the remainder is 0)."""
    fees: tuple[tuple[int, int, int | None, int | None], ...]
    """Each fee as ``(n, 10**k, minimum cents, maximum cents)``."""
    prefix: tuple[str, str, str, str]
    review: str
    status: str
    claimable: str = ""


def _cents(amount: Decimal | None) -> int | None:
    if amount is None:
        return None
    return int(amount.scaleb(2).to_integral_value())


def _exact_cents(amount: Decimal | None) -> bool:
    return amount is None or amount.scaleb(2) == amount.scaleb(2).to_integral_value()


def money_columns(
    customs: Sequence[int], plans: Sequence[Plan]
) -> tuple[list[int], list[int], list[int]]:
    """Duty, fees and effective rate (millionths) of each row, in cents, exactly.

    Each line is rounded half-up to the cent as :func:`tradecalc.core.money.round_money` does;
    a fee is clamped to its minimum and maximum before it is rounded."""
    duties, fees, rates = [], [], []
    for value, plan in zip(customs, plans, strict=True):
        remainder = value if not plan.metals else max(value - plan.metals * value, 0)
        duty = 0
        for number, scale, on_remainder in plan.duties:
            product = (remainder if on_remainder else value) * number
            duty += (2 * product + scale) // (2 * scale)
        fee = 0
        for number, scale, low, high in plan.fees:
            product = value * number  # cents times scale
            if low is not None and product < low * scale:
                product = low * scale
            if high is not None and product > high * scale:
                product = high * scale
            fee += (2 * product + scale) // (2 * scale)
        if value:
            units, rest = divmod(duty * 1_000_000, value)
            units += 2 * rest >= value
        else:
            units = 0
        duties.append(duty)
        fees.append(fee)
        rates.append(units)
    return duties, fees, rates


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class Joined:
    """Assesses rows: plain ones through the table and :func:`money_columns`, the rest
    through the reference path, in input order."""

    def __init__(
        self,
        schedule: Schedule,
        header: Sequence[str],
        extra: Sequence[str],
        tables: Tables,
        fx: FxTable,
        views: Sequence[RegimeView] = (),
    ) -> None:
        self.schedule = schedule
        self.tables = tables
        self.header = tuple(header)
        self.extra = tuple(extra)
        self.views = tuple(views)
        self.reference = _Assessor(schedule, views, fx, header, extra, tables.base_rates, tables)
        self.party = schedule.parties.get("US")
        self._plans: dict[tuple[str, str, str], tuple[Plan, ...] | None] = {}
        self._dates: dict[str, datetime | None] = {}
        self._days: dict[tuple[datetime, str], tuple[FeesAt, tuple[str, ...]]] = {}
        self._shared: dict[tuple[int, int, datetime, str, str, bool], Plan | None] = {}
        at = {name: i for i, name in enumerate(self.header)}
        self._at = at
        self.rule = join_rule()
        self._must_blank = tuple(at[name] for name in self.rule.blank if name in at)
        self._lows: dict[str, Decimal] = {}

    def _plan(self, code: str, day: str, mode: str) -> tuple[Plan, ...] | None:
        key = (code, day, mode)
        if key in self._plans:
            return self._plans[key]
        plans = None
        try:
            plans = self._make(code, day, mode)
        except (TradecalcError, ValueError, ArithmeticError):
            plans = None
        if len(self._plans) >= 200_000:
            self._plans.clear()
        self._plans[key] = plans
        return plans

    def _make(self, code: str, day: str, mode: str) -> tuple[Plan, ...] | None:
        party = self.party
        if party is None or party.valuation != "transaction" or party.taxes:
            return None
        entry = None
        if day:
            if day not in self._dates:
                moment, is_date = parse_entry(day)
                self._dates[day] = moment if is_date else None
            entry = self._dates[day]
            if entry is None:
                return None
        views = self.views or ((_DATED_VIEW,) if entry else _named_views(self.schedule))
        plans = []
        for view in views:
            if view.overrides or view.added:
                return None
            dated = entry is not None and view.follows_entry
            when = entry if entry is not None and view.follows_entry else view.as_of
            plan = self._view_plan(code, when, mode, view.id, dated)
            if plan is None:
                return None
            plans.append(plan)
        return tuple(plans)

    def _view_plan(
        self, code: str, when: datetime, mode: str, regime: str, dated: bool
    ) -> Plan | None:
        party = self.party
        assert party is not None
        index = self.tables.index_at("US", "CN", code.replace(".", ""), when)
        if index is None:
            return None
        key = (self.tables.generation, index, when, mode, regime, dated)
        if key not in self._shared:
            self._shared[key] = self._shared_plan(index, when, mode, regime, dated)
        shared = self._shared[key]
        if shared is None:
            return None
        return Plan(shared.duties, shared.metals, shared.fees, (code, *shared.prefix[1:]),
                    shared.review, shared.status, shared.claimable)  # fmt: skip

    def _shared_plan(
        self, index: int, when: datetime, mode: str, regime: str, dated: bool
    ) -> Plan | None:
        """The plan of every code whose layers are ``table.layers[index]`` (code left out)."""
        party = self.party
        assert party is not None
        layers: Layers = self.tables.layer(index)
        if layers.engine or layers.taxes:
            return None
        day_key = (when, mode)
        if day_key not in self._days:
            self._days[day_key] = (
                fees_at(party, mode, when),
                intraday_at(self.schedule, "US", when),
            )
        fees, intraday = self._days[day_key]
        if not dated:
            intraday = ()
        if not all(_exact_cents(low) and _exact_cents(high) for _, _, low, high in fees[0]):
            return None
        review = review_of(layers, fees, intraday, dated)
        duties = []
        for duty in layers.duties:
            number, scale = scaled(Decimal(duty[5]))
            duties.append((number, scale, duty[6] == "remainder"))
        metals = len({d[9] for d in layers.duties if d[9] is not None})
        fee_specs = tuple(
            (*scaled(rate), _cents(low), _cents(high)) for _, rate, low, high in fees[0]
        )
        return Plan(
            tuple(duties),
            metals,
            fee_specs,
            ("", regime, format_when(when), party.currency),
            "; ".join(review),
            status(review),
            "; ".join(layers.claimable),
        )

    def _engine_only(self, code: str, day: str) -> bool:
        """True when, at the row's moment under one of the views, the table has no layers
        for ``code`` or layers only the engine charges (an unknown code, say): the
        reference path has no table plan for such a row either, only the engine."""
        try:
            entry = parse_entry(day)[0] if day else None
            views = self.views or ((_DATED_VIEW,) if entry else _named_views(self.schedule))
            for view in views:
                if view.overrides or view.added:
                    return False
                when = entry if entry is not None and view.follows_entry else view.as_of
                index = self.tables.index_at("US", "CN", code.replace(".", ""), when)
                if index is None or self.tables.layer(index).engine:
                    return True
        except Exception:  # a bad date, a damaged table: the reference path decides
            return False
        return False

    def _plain(self, cells: list[str]) -> tuple[str, str, str, str, bool] | None:
        """``(code, value, date, mode, low)`` of a plain row, else None; ``low``: valued
        within de minimis, so the engine assesses it (its entry type), not the join nor
        the reference path's table plans."""
        at = self._at
        try:
            code, value = cells[at["hs"]], cells[at["value"]]
            day = cells[at["date"]] if "date" in at else ""
            origin = cells[at["origin"]] if "origin" in at else ""
            dest = cells[at["dest"]] if "dest" in at else ""
            mode = cells[at["mode"]] if "mode" in at else ""
        except (KeyError, IndexError):
            return None
        if type(code) is not str or type(value) is not str or type(day) is not str:
            return None
        if not (_CODE.match(code) and _VALUE.match(value) and (day == "" or _DATE.match(day))):
            return None
        if origin not in ("", "CN") or dest not in ("", "US"):
            return None
        if mode == "":
            mode = "ocean"
        if mode not in self.rule.modes:
            return None
        if any(cells[i] != "" for i in self._must_blank):
            return None
        return code, value, day, mode, Decimal(value) <= self._low(day)

    def _low(self, day: str) -> Decimal:
        """Rows of ``day`` valued at or under this go to the engine (``low_value_limit``)."""
        low = self._lows.get(day)
        if low is None:
            try:
                entry = parse_entry(day)[0] if day else None
            except TradecalcError:  # the plan fails too: the reference path says why
                entry = None
            views = self.views or ((_DATED_VIEW,) if entry else _named_views(self.schedule))
            moments = [entry if entry and view.follows_entry else view.as_of for view in views]
            low = self._lows[day] = low_value_limit(self.party, "CN", moments)
        return low

    chunk_size = CHUNK

    def assess(self, items: Iterator[_Item], summary: Summary) -> Iterator[Output]:
        """Every row of ``items`` (see ``batch._items``), in input order, into ``summary``."""
        extra_at = tuple(self._at[name] for name in self.extra)
        sums: dict[tuple[str, str], list[int]] = {}
        try:
            while chunk := list(itertools.islice(items, self.chunk_size)):
                yield from self._chunk(chunk, summary, extra_at, sums)
        finally:
            _add_sums(summary, sums)

    def _chunk(
        self,
        chunk: list[_Item],
        summary: Summary,
        extra_at: tuple[int, ...],
        sums: dict[tuple[str, str], list[int]],
    ) -> Iterator[Output]:
        found: list[tuple[Plan, ...] | None] = []
        customs: list[int] = []
        flat: list[Plan] = []
        engine: set[int] = set()  # rows only the engine assesses (the reference path's too)
        for position, item in enumerate(chunk):
            plans = None
            if not isinstance(item, RowError):
                plain = self._plain(item[1])
                if plain is not None and plain[4]:
                    engine.add(position)
                elif plain is not None:
                    whole, _, frac = plain[1].partition(".")
                    cents = int(whole) * 100 + int(frac.ljust(2, "0"))
                    if cents >= self.rule.min_cents:
                        plans = self._plan(plain[0], plain[2], plain[3])
                    if plans is not None:
                        customs.extend([cents] * len(plans))
                        flat.extend(plans)
                    elif self._engine_only(plain[0], plain[2]):
                        engine.add(position)
            found.append(plans)
        duties, fees, rates = money_columns(customs, flat)
        index = 0
        for position, (item, plans) in enumerate(zip(chunk, found, strict=True)):
            if plans is None or isinstance(item, RowError):
                if position in engine and not isinstance(item, RowError):
                    yield from self.reference.plainly(item, summary)
                else:
                    yield from self.reference.assess(iter([item]), summary)
                continue
            number, cells, _ = item
            passthrough = tuple([cells[i] for i in extra_at])
            summary.rows += 1
            for plan in plans:
                value, duty, fee, rate = customs[index], duties[index], fees[index], rates[index]
                index += 1
                total = duty + fee
                summary.results += 1
                review = plan.status != "ok"
                summary.needs_review += review
                _tally(summary, sums, (plan.prefix[1], plan.prefix[3]), (1, value, duty, review))
                yield ResultRow(
                    number,
                    passthrough,
                    (
                        *plan.prefix,
                        _money(value),
                        _money(duty),
                        _money(fee),
                        "0.00",
                        _money(total),
                        f"{rate // 1_000_000}.{rate % 1_000_000:06d}",
                        _money(value + total),
                        plan.status,
                        plan.review,
                        "",
                        plan.claimable,
                        "CN",
                        "US",
                    ),
                    review,
                )


def _tally(
    summary: Summary,
    sums: dict[tuple[str, str], list[int]],
    key: tuple[str, str],
    amounts: tuple[int, int, int, int],
) -> None:
    """Add results, customs value and duty in cents, and results needing review to the
    running sums of ``key`` (regime, currency); a key first met here joins ``summary``'s
    totals in the order rows meet them."""
    acc = sums.get(key)
    if acc is None:
        acc = sums[key] = [0, 0, 0, 0]
        if key not in summary.totals:
            summary.totals[key] = RegimeTotals(*key)
    for i, amount in enumerate(amounts):
        acc[i] += amount


def _add_sums(summary: Summary, sums: dict[tuple[str, str], list[int]]) -> None:
    """Add the running sums in cents (per regime and currency) to ``summary``'s totals."""
    for key, (count, customs, duty, review) in sums.items():
        acc = summary.totals[key]
        acc.shipments += count
        acc.customs_value = money_sum((Decimal(customs).scaleb(-2),), acc.customs_value)
        acc.duty = money_sum((Decimal(duty).scaleb(-2),), acc.duty)
        acc.needs_review += review


def _row_of(item: _Item) -> int:
    return item.row if isinstance(item, RowError) else item[0]


def by_columns(view: RegimeView) -> bool:
    """True when :class:`Vectorised` charges rows under ``view`` (its own moment, nothing
    overridden or added)."""
    return not view.overrides and not view.added and not view.follows_entry


def assess_joined(
    schedule: Schedule,
    rows: Rows,
    tables: Tables,
    fx: FxTable,
    summary: Summary,
    views: Sequence[RegimeView] = (),
    provenance: tuple[str, str] | None = None,
    vectorised: bool | None = None,
) -> Iterator[Output]:
    """Assess ``rows`` as :func:`tradecalc.batch.rows.assess_rows` does, plain rows joined.

    With CSV input (every cell text), ``provenance`` (CSV output), ``views`` that are each
    a regime's own moment (:func:`by_columns`; none: the entry date's) and the ``fast``
    extra installed, plain rows are charged by :class:`Vectorised` and come out as UTF-8
    CSV text (bytes items);
    ``vectorised`` forces the choice (None: when available, unless the environment says
    ``TRADECALC_VECTORISED=0``)."""
    header, items = _items(rows)
    if provenance is not None and columns_path(schedule, rows, views, vectorised):
        fast = Vectorised(schedule, header, rows.extra, tables, fx, provenance, views)
        if rows.blocks is not None:
            return fast.assess_blocks(rows.blocks, summary, rows.ahead)
        return fast.assess(items, summary)
    joined = Joined(schedule, header, rows.extra, tables, fx, views)
    return joined.assess(items, summary)


def columns_path(
    schedule: Schedule,
    rows: Rows,
    views: Sequence[RegimeView] = (),
    vectorised: bool | None = None,
) -> bool:
    """Whether :func:`assess_joined`, given CSV output, charges plain rows as columns
    (:class:`Vectorised`): CSV input, ``views`` each a regime's own moment
    (:func:`by_columns`), the importer's rules (transaction value, no taxes) and the ``fast``
    extra installed; ``vectorised`` forces the last (None: unless the environment says
    ``TRADECALC_VECTORISED=0``)."""
    if vectorised is None:
        vectorised = os.environ.get("TRADECALC_VECTORISED", "1") != "0" and vectorised_available()
    party = schedule.parties.get("US")
    return (
        vectorised
        and rows.cells is not None
        and all(by_columns(view) for view in views)
        and party is not None
        and party.valuation == "transaction"
        and not party.taxes
    )


# ----------------------------------------------------------------------------- vectorised


def _csv_specials() -> str:
    """The characters that make :mod:`csv` quote a cell (lines end with ``\\n``)."""
    found = []
    for char in ',"\n\r\t ;':
        stream = io.StringIO()
        csv.writer(stream, lineterminator="\n").writerow((f"a{char}b", "c"))
        if stream.getvalue().startswith('"'):
            found.append(char)
    return "".join(found)


_SPECIALS = _csv_specials()
_SPECIALS_CLASS = (
    "[" + "".join(c if c.isspace() or c in ',"' else "\\" + c for c in _SPECIALS) + "]"
)
"""A regular expression of one character of :data:`_SPECIALS`."""
TEXT_THREADS = 2
"""Threads making the charged blocks' text, part by part, while the next blocks are charged
(one under several regimes, whose slices keep memory bounded): with two, the last block's
parts are made two at a time once the charging is done."""

_TEXT_ROWS = 16_384
"""Rows of a part of a block's text: a part is written while the next is made. On the
realistic file 8,192 and 32,768 rows took 1.02x and 1.00x the time (30 rounds)."""
_RESULTS = 16_000
"""About how many results a piece of a block gives under several regimes (each result's
line is about 500 bytes: memory stays bounded whatever the number of regimes). On
bench_batch's 1,000,000 rows under two regimes: 20,000 gave a peak of 208 MiB, 16,000 gave
196 MiB at 1.02x the time, 12,000 gave 187 MiB at 1.10x."""
_INTERVALS_KEPT = 4_000_000
"""Most intervals :class:`Vectorised` keeps across chunks (about 25 bytes each)."""
_DayColumns = tuple["pl.DataFrame", int, int]
""":meth:`Vectorised._day_columns`: a frame of the days' fees, its fee slots, the largest
fee rate numerator."""
_VALUE_MARK = "\x00"
"""Stands for the customs value in a review text made once for many rows (never in a CSV
cell of its own: :func:`_cell` quotes the same with the value put in)."""
_DATE_MARK = "\x00" * 10
"""Stands for an entry date (``YYYY-MM-DD``) in an error made once for many rows."""
_PY_LIMIT = 10**15 - 1
"""The most cents a row charged as columns may have: 13 digits of units, all the plain value
pattern lets through (bounds on the rates keep every product within 64 bits)."""
_SPLIT = 10**9
"""Amounts are summed as ``amount // _SPLIT`` and ``amount % _SPLIT``: neither sum of a
block's rows can leave 64 bits (polars' integer sums wrap)."""


def _cell(text: str) -> str:
    """``text`` as :mod:`csv` writes it as one cell of a row."""
    if any(c in text for c in _SPECIALS):
        return '"' + text.replace('"', '""') + '"'
    return text


def vectorised_available() -> bool:
    """True when the ``fast`` extra (polars) is installed."""
    import importlib.util

    return importlib.util.find_spec("polars") is not None


class Vectorised(Joined):
    """:class:`Joined` with the plain rows of a chunk joined and charged by polars.

    Rows come as chunks of cells, or (:meth:`assess_blocks`) as blocks of simple lines that
    polars reads into columns itself. A chunk's rows that are plain, dated (or, under
    ``--regime``, at each regime's moment: :meth:`_moments`), found in the table with
    layers the table can charge, and valued under :data:`_PY_LIMIT` cents (and within
    64-bit products) are charged as whole columns
    (an as-of lookup of the table's intervals by code and instant, each layer set's
    :class:`tradecalc.engine.compiled.LayerSummary`, each duty line and fee in a column of
    its own, integer cents with half-up per line, summed across) and written as CSV text;
    every other row takes
    :meth:`Joined._chunk` in its place. The text is byte for byte what
    :class:`tradecalc.batch.rows.ResultWriter` writes for the same rows."""

    chunk_size = 65_536

    def __init__(
        self,
        schedule: Schedule,
        header: Sequence[str],
        extra: Sequence[str],
        tables: Tables,
        fx: FxTable,
        provenance: tuple[str, str],
        views: Sequence[RegimeView] = (),
    ) -> None:
        import polars as pl

        super().__init__(schedule, header, extra, tables, fx, views)
        self.provenance = provenance
        self.tail = ",".join(_cell(p) for p in provenance)
        self._generation = tables.generation
        self._unknown: set[str] = set()
        """Codes the table cannot compile (the engine says why)."""
        self._entries: dict[str, tuple[int, str] | None] = {}
        self._fees: dict[tuple[int, str, bool], tuple[FeesAt, tuple[str, ...]] | None] = {}
        self._day_rows: dict[
            tuple[int, str, bool], tuple[bool | None, tuple[tuple[int, int, int, int], ...]]
        ] = {}
        """:meth:`_day_row` by moment, mode and whether it is an entry's."""
        self._last_moments: tuple[frozenset[str], pl.DataFrame] | None = None
        self._last_days: tuple[frozenset[tuple[int, str, bool]], _DayColumns | None] | None = None
        """The last result of :meth:`_moments` and of :meth:`_day_columns`, by what they were
        asked (the blocks of a file mostly meet the same dates as the block before)."""
        self._review_frame: pl.DataFrame | None = None
        """:meth:`_review_columns` of the keys met so far."""
        self._info: pl.DataFrame | None = None
        """:meth:`_layer_info` of the layer sets seen so far."""
        self._layers_seen: set[int] = set()
        """The layer sets seen from :attr:`_seen_below` on."""
        self._seen_below = 0
        """Every layer set below this index has been seen (read from the cache at once), so
        a chunk's are looked for among the others only."""
        self._no_base: set[int] = set()
        self._no_base_ids: pl.Series | None = None
        """:attr:`_no_base` as a column (None: to be made again)."""
        self._packed_reviews: tuple[list[int], list[tuple[str, ...]]] | None = None
        """The review of each layer set read from the cache: an index per layer set, and
        the reviews (set by :meth:`_layer_info`, read by :meth:`_reviews_read`)."""
        self._review_cells: dict[tuple[str, ...], tuple[str, bool]] = {}
        """:meth:`_review`'s text of each review met (a few hundred recur)."""
        self._missing_errors: dict[tuple[str, str], str | None] = {}
        """(code as written, HS revision) -> the error of a row of that code under that
        revision, the date as :data:`_DATE_MARK` (None: the reference path decides)."""
        self._templates: pl.DataFrame | None = None
        """The errors of :attr:`_missing_errors` that are not None, as a frame (code as
        written, revision, template), added to as errors are met."""
        self._revisions: dict[int, str] = {}
        """Moment -> the title of the HTS revision in force ("" for none)."""
        self._intervals: _Intervals | None = None
        """The intervals of the codes in :attr:`_known` (chunks repeat codes: each code's
        intervals are read off the table once, not once per chunk)."""
        self._known: set[str] = set()
        self._asked = pl.Series("digits", [], dtype=pl.String)
        """Codes in :attr:`_known` or :attr:`_unknown`, as a column: a chunk's codes are
        looked for among the others only."""
        self._packed: tuple[pl.DataFrame, pl.Series, pl.Series] | None = None
        """:meth:`_packed_codes`, read when first needed."""

    def assess_blocks(
        self, parts: Iterator[Block | _Item], summary: Summary, ahead: bool = False
    ) -> Iterator[Output]:
        """As :meth:`assess`, rows read as :class:`tradecalc.batch.rows.Block` runs of simple
        lines (read and checked as columns, never row by row) and single rows. A block's
        text is made in parts on other threads (:data:`TEXT_THREADS`) while the next block
        is charged, each part written as it is made, and (``ahead``: a read never waits for
        a writer) the block after is read (:func:`_read_ahead`); under several regimes a
        block is charged in slices of about :data:`_RESULTS` results."""
        extra_at = tuple(self._at[name] for name in self.extra)
        sums: dict[tuple[str, str], list[int]] = {}
        pending: list[_Item] = []
        per_row = max(1, len(self.views))  # results per row
        threads = TEXT_THREADS if per_row == 1 else 1
        later = ThreadPoolExecutor(threads, thread_name_prefix="tradecalc-text")
        width = len(self.header)
        read = _read_ahead(parts, width) if ahead else _read(parts, width)
        stopped = True
        try:
            for part, cells in read:
                if not isinstance(part, Block):
                    pending.append(part)
                    if len(pending) < self.chunk_size:
                        continue
                if pending:  # after the block before them
                    yield from self._chunk(pending, summary, extra_at, sums)
                    pending = []
                if isinstance(part, Block):
                    most = _RESULTS // per_row if per_row > 1 else None
                    for charged in self._block(part, cells, later, most):
                        yield from self._merge(*charged, summary, extra_at, sums)
            if pending:
                yield from self._chunk(pending, summary, extra_at, sums)
            stopped = False
        finally:
            read.close()  # stopped early: the read in hand ends now, not at exit
            # the parts not yet made are made for the writer; stopped early: dropped
            later.shutdown(wait=stopped, cancel_futures=stopped)
            _add_sums(summary, sums)

    def _block(
        self, block: Block, cells: pl.DataFrame | None, later: Executor, most: int | None
    ) -> Iterator[tuple[Charged | None, list[_Item]]]:
        """A block's rows, read into columns (``cells``: None where its lines are uneven),
        charged as in :meth:`_chunk` in slices of ``most`` rows (None: all at once), their
        text made by ``later``; each slice with the rest of its rows (bad, or left to the
        reference path) for :meth:`_merge`."""
        bad: list[_Item] = []
        frame = cells
        if frame is None:  # a line of another number of cells, or a blank one
            frame, bad = _cells_line_by_line(block, len(self.header))
        step = most or max(1, frame.height)
        numbers = frame.get_column("number")
        for offset in range(0, max(1, frame.height), step):
            following = offset + step < frame.height
            upto = numbers[offset + step] if following else None  # the next slice's first row
            taken = [item for item in bad if upto is None or _row_of(item) < upto]
            bad = bad[len(taken) :]  # in row order: the slice's are a prefix
            yield self._slice(frame.slice(offset, step), later, taken)

    def _slice(
        self, frame: pl.DataFrame, later: Executor, rest: list[_Item]
    ) -> tuple[Charged | None, list[_Item]]:
        """The rows of ``frame`` charged, and with ``rest`` those the table did not charge."""
        try:
            charged = self._charge_frame(frame)
        except DamagedTableError:
            self.tables.drop()
            charged = None
        if charged is not None:  # the rows left, found before the text's work is started
            frame = frame.join(charged.numbers(), on="number", how="anti")
            charged = charged.start(later)
        rest.extend((row[0], list(row[1:]), None) for row in frame.iter_rows())
        rest.sort(key=_row_of)
        return charged, rest

    def _chunk(
        self,
        chunk: list[_Item],
        summary: Summary,
        extra_at: tuple[int, ...],
        sums: dict[tuple[str, str], list[int]],
    ) -> Iterator[Output]:
        try:
            charged = self._charge(chunk)
        except DamagedTableError:
            self.tables.drop()
            charged = None
        if charged is None:
            yield from super()._chunk(chunk, summary, extra_at, sums)
            return
        done = set(charged.numbers().get_column("number").to_list())
        rest = [item for item in chunk if isinstance(item, RowError) or item[0] not in done]
        yield from self._merge(charged, rest, summary, extra_at, sums)

    def _merge(
        self,
        charged: Charged | None,
        rest: list[_Item],
        summary: Summary,
        extra_at: tuple[int, ...],
        sums: dict[tuple[str, str], list[int]],
    ) -> Iterator[Output]:
        """The charged rows' text and the ``rest`` assessed by :meth:`Joined._chunk`, in row
        order (bad rows yielded first); the totals keep the order in which rows meet them."""
        if charged is None:
            yield from super()._chunk(rest, summary, extra_at, sums)
            return
        errors = list(charged.errors)
        summary.rows += len(errors)
        summary.errors += len(errors)
        first = charged.charged.get_column("number")[0] if charged.charged.height else None
        split = next(
            (i for i, item in enumerate(rest) if first is not None and _row_of(item) > first),
            len(rest),
        )
        numbers: list[int] = []
        lines: list[str] = []
        stream = io.StringIO()
        writer = csv.writer(stream, lineterminator="\n")
        for part, is_first in ((rest[:split], True), (rest[split:], False)):
            if not is_first:
                self._tally_counts(charged.counts, summary, sums)
            for found in super()._chunk(part, summary, extra_at, sums):
                if isinstance(found, RowError):
                    errors.append(found)
                    continue
                assert isinstance(found, ResultRow)
                writer.writerow((found.row, *found.passthrough, *found.values, *self.provenance))
                numbers.append(found.row)
                lines.append(stream.getvalue())
                stream.seek(0)
                stream.truncate()
        yield from sorted(errors, key=_row_of)
        # each part of the text with the reference path's lines in their places, made (or
        # waited for) by the writer: the first is written while the next is made
        bounds = [bisect.bisect_left(numbers, split) for split in charged.splits]
        starts, ends = [0, *bounds], [*bounds, len(numbers)]
        for made, start, end in zip(charged.made, starts, ends, strict=True):
            if charged.charged.height or end > start:
                between = numbers[start:end], lines[start:end]
                yield functools.partial(_part_data, made, *between)

    def _tally_counts(
        self, counts: Counts, summary: Summary, sums: dict[tuple[str, str], list[int]]
    ) -> None:
        """``counts`` added to ``summary`` and ``sums``."""
        assert self.party is not None
        summary.rows += counts.rows
        for regime, results, reviewed, customs, duty in counts.totals:
            _tally(summary, sums, (regime, self.party.currency), (results, customs, duty, reviewed))
            summary.results += results
            summary.needs_review += reviewed

    def _reset(self) -> None:
        """Forget what referred to layer indexes of a table since dropped."""
        self._unknown.clear()
        self._review_frame = None
        self._forget_layers()
        self._packed_reviews = None
        self._intervals = None
        self._known.clear()
        self._asked = self._asked.clear()
        self._packed = None
        self._generation = self.tables.generation

    def _table_intervals(self, digits: pl.Series) -> _Intervals:
        """The intervals of the codes ``digits`` (distinct) in the table (and of codes of
        earlier chunks), read off the table's columns; codes not compiled yet are compiled
        on the way (DamagedTableError for a damaged table)."""
        import polars as pl

        if self.tables.generation != self._generation:
            self._reset()
        if self._intervals is not None and self._intervals.height > _INTERVALS_KEPT:
            self._intervals = None  # a stream of ever new codes: start over
            self._known.clear()
            self._asked = self._asked.clear()
        if self._intervals is None:
            self._intervals = _Intervals()
        if self._packed is None:
            self._packed = self._packed_codes()
        fresh = digits.rename("digits")
        if not self._asked.is_empty():
            fresh = fresh.to_frame().join(
                self._asked.to_frame(), on="digits", how="anti", maintain_order="left"
            )["digits"]
        codes = [c for c in fresh.to_list() if c not in self._known and c not in self._unknown]
        if codes:
            self._add_intervals(codes, asked=digits)
            seen = [c for c in codes if c in self._known or c in self._unknown]
            self._asked.append(pl.Series("digits", seen, dtype=pl.String))
        return self._intervals

    def _add_intervals(self, codes: list[str], asked: pl.Series) -> None:
        """Read (or compile) the intervals of ``codes``, new to :attr:`_intervals`, of a
        chunk whose codes are ``asked``."""
        import polars as pl

        assert self._intervals is not None and self._packed is not None
        route = self._packed[0]
        if codes and not route.is_empty():
            held = pl.DataFrame({"digits": codes}, schema={"digits": pl.String}).join(
                route, on="digits", how="inner", maintain_order="left"
            )
            if not held.is_empty():
                packed = held.get_column("digits").to_list()
                self._intervals.add(packed, self._packed_intervals(held))
                self._known.update(packed)
                codes = [c for c in codes if c not in self._known]
        if not codes:
            return
        self.tables.prepare("US", "CN", codes)  # many new codes: on both cores
        digits, starts, ids = self.tables.columns("US", "CN", codes)
        found = set(digits)
        for code in codes:
            if code in found or code in self._unknown:
                continue
            spans = self.tables.spans("US", "CN", code)
            if self.tables.generation != self._generation:
                self._reset()  # dropped on the way: read the table again
                self._table_intervals(asked)
                return
            if spans is None:
                if len(self._unknown) > 1_000_000:  # a stream of made-up codes
                    self._unknown.clear()
                    self._asked = self._asked.clear()
                self._unknown.add(code)
                continue
            digits.extend([code] * len(spans[0]))
            starts.extend(spans[0])
            ids.extend(spans[1])
        added = list(dict.fromkeys(digits))
        index = {code: i for i, code in enumerate(added)}
        schema = {"code": pl.Int64, "start": pl.Int64, "layer": pl.Int64}
        self._intervals.add(
            added,
            pl.DataFrame(
                {"code": [index[d] for d in digits], "start": starts, "layer": ids}, schema=schema
            ),
        )
        self._known.update(c for c in codes if c not in self._unknown)

    def _packed_codes(self) -> tuple[pl.DataFrame, pl.Series, pl.Series]:
        """The route's codes the cached table holds packed (``digits``, and ``low`` and
        ``high``: the offsets of their first and after-last intervals), and every
        interval's start and layer index, none decoded (DamagedTableError for offsets out of
        order or range)."""
        import polars as pl

        names, code_at, starts, ids = self.tables.packed_intervals()
        offsets = pl.Series(code_at, dtype=pl.Int64)
        if (
            len(code_at) != len(names) + 1
            or len(ids) != len(starts)
            or offsets[0] != 0
            or offsets[-1] > len(starts)
            or not offsets.is_sorted()
        ):
            raise DamagedTableError
        prefix = "US|CN|"
        route = (
            pl.DataFrame(
                [
                    pl.Series("name", names, dtype=pl.String),
                    offsets.head(-1).alias("low"),
                    offsets.slice(1).alias("high"),
                ]
            )
            .filter(pl.col("name").str.starts_with(prefix))
            .select(pl.col("name").str.slice(len(prefix)).alias("digits"), "low", "high")
        )
        return route, pl.Series(starts, dtype=pl.Int64), pl.Series(ids, dtype=pl.Int64)

    def _packed_intervals(self, codes: pl.DataFrame) -> pl.DataFrame:
        """The intervals of packed ``codes`` (rows of :meth:`_packed_codes`' route) as whole
        columns (``code``, the row of ``codes``, ``start``, ``layer``). DamagedTableError for
        a layer index out of range."""
        import polars as pl

        assert self._packed is not None
        _, starts, ids = self._packed
        at = (
            codes.select(
                pl.int_range(pl.len(), dtype=pl.Int64).alias("code"),
                pl.int_ranges("low", "high").alias("at"),
            )
            .explode("at")
            .drop_nulls("at")
        )
        found = at.select(
            "code",
            starts.gather(at.get_column("at")).alias("start"),
            ids.gather(at.get_column("at")).alias("layer"),
        )
        low, high = found.select(pl.col("layer").min().alias("low"), pl.col("layer").max()).row(0)
        if low is not None and not 0 <= low <= high < self.tables.count:
            raise DamagedTableError
        return found

    def _entry(self, day: str) -> tuple[int, str] | None:
        """An entry date's moment (microseconds since the table's start) and its text."""
        if day not in self._entries:
            found = None
            try:
                moment, is_date = parse_entry(day)
            except TradecalcError:
                is_date = False
            if is_date and moment >= START:
                found = (micros_of(moment), format_when(moment))
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[day] = found
        return self._entries[day]

    def _moments(self, days: list[str]) -> pl.DataFrame:
        """The moments the rows of each date text of ``days`` are charged at, a row per
        moment: ``day_``, ``view`` (the regime's place), ``regime``, ``micros``, ``as_of``,
        ``dated`` (an entry's moment), ``low`` (the de minimis limit in cents) and
        ``charges`` (how many moments a row of that date has). Without ``--regime`` a dated
        row is charged at its entry's moment (an undated one, under every named regime, is
        left to the reference path); with it, every row under each regime, at the regime's
        own moment. Dates not parsed (or before the table's start) are left out: the
        reference path says why."""
        asked = frozenset(days)
        if self._last_moments is None or self._last_moments[0] != asked:
            self._last_moments = (asked, self._new_moments(days))
        return self._last_moments[1]

    def _new_moments(self, days: list[str]) -> pl.DataFrame:
        """:meth:`_moments` of days other than those asked just before."""
        import polars as pl

        rows = []
        for day in days:
            entry = self._entry(day) if day else None
            if (day and entry is None) or not (day or self.views):  # undated: every regime
                continue
            low = int(self._low(day) * 100)
            if entry is not None and not self.views:
                rows.append((day, 0, ENTRY_DATE, *entry, True, low, 1))
                continue
            for place, view in enumerate(self.views):
                when = (micros_of(view.as_of), format_when(view.as_of))
                rows.append((day, place, view.id, *when, False, low, len(self.views)))
        return pl.DataFrame(
            rows,
            schema={
                "day_": pl.String, "view": pl.Int64, "regime": pl.String, "micros": pl.Int64,
                "as_of": pl.String, "dated": pl.Boolean, "low": pl.Int64, "charges": pl.Int64,
            },
            orient="row",
        )  # fmt: skip

    def _day(self, micros: int, mode: str, dated: bool) -> tuple[FeesAt, tuple[str, ...]] | None:
        """The fees at a moment for a mode and the review items they and the day add (an
        entry's day, ``dated``, its intraday caveat too; None: a fee bound is not whole
        cents, the reference path charges those rows)."""
        key = (micros, mode, dated)
        if key not in self._fees:
            party = self.party
            assert party is not None
            when = moment_of(micros)
            fees = fees_at(party, mode, when)
            intraday = intraday_at(self.schedule, "US", when) if dated else ()
            exact = all(_exact_cents(low) and _exact_cents(high) for _, _, low, high in fees[0])
            self._fees[key] = (fees, intraday) if exact else None
        found = self._fees[key]
        if found is None:
            return None
        return found[0], (*found[0][1], *found[1])

    def _day_columns(self, keys: list[tuple[int, str, bool]]) -> _DayColumns | None:
        """The fees of each (moment, mode, entry's day or not) of ``keys`` as columns:
        ``micros``, ``mode_``, ``dated``, ``plain_day`` (the day adds no review item) and
        per fee slot ``fnN``, ``fkN``, ``loN``, ``hiN`` (rate ``fn / fk``, minimum and
        maximum cents, -1 for none; an empty slot charges 0); the number of slots and the
        largest fee rate numerator. Days whose fee bounds are not whole cents are left out
        (None: all of them)."""
        asked = frozenset(keys)
        if self._last_days is None or self._last_days[0] != asked:
            self._last_days = (asked, self._new_day_columns(keys))
        return self._last_days[1]

    def _new_day_columns(self, keys: list[tuple[int, str, bool]]) -> _DayColumns | None:
        """:meth:`_day_columns` of keys other than those asked just before."""
        import polars as pl

        if len(self._day_rows) > 100_000:
            self._day_rows.clear()
        found = []
        for key in keys:
            row = self._day_rows.get(key)
            if row is None:
                row = self._day_rows[key] = self._day_row(*key)
            if row[0] is not None:
                found.append((key, row))
        if not found:
            return None
        columns: dict[str, list[object]] = {
            "micros": [micros for (micros, _, _), _ in found],
            "mode_": [mode for (_, mode, _), _ in found],
            "dated": [dated for (_, _, dated), _ in found],
            "plain_day": [plain for _, (plain, _) in found],
        }
        schema: dict[str, type[pl.DataType]] = {
            "micros": pl.Int64, "mode_": pl.String, "dated": pl.Boolean, "plain_day": pl.Boolean,
        }  # fmt: skip
        width = _slots(
            [fees for _, (_, fees) in found],
            (("fn", 0, pl.Int64), ("fk", 1, pl.Int64), ("lo", -1, pl.Int64), ("hi", -1, pl.Int64)),
            columns,
            schema,
        )
        biggest = max([fee[0] for _, (_, fees) in found for fee in fees] + [1])
        return pl.DataFrame(columns, schema=schema), width, biggest

    def _day_row(
        self, micros: int, mode: str, dated: bool
    ) -> tuple[bool | None, tuple[tuple[int, int, int, int], ...]]:
        """:meth:`_day_columns`' row of a moment and mode: whether the day adds no review
        item (None: its fee bounds are not whole cents) and each fee as
        ``(n, k, min, max)``."""
        found = self._day(micros, mode, dated)
        if found is None:
            return None, ()
        fees, extra_review = found
        rows = []
        for _, rate, low, high in fees[0]:
            low_c, high_c = _cents(low), _cents(high)
            rows.append((*scaled(rate), -1 if low_c is None else low_c,
                         -1 if high_c is None else high_c))  # fmt: skip
        return not extra_review, tuple(rows)

    def _review_columns(self, keys: pl.DataFrame) -> pl.DataFrame:
        """``status,review`` as CSV text (``review``) and whether a row needs review
        (``needs``) for each of ``keys`` (columns ``layer``, ``r_micros``, ``r_mode``,
        ``low_``, ``dated``: see :meth:`_review`), with those of earlier chunks: each key is worked
        out once."""
        import polars as pl

        names = keys.columns
        kept = self._review_frame
        if kept is not None and kept.height > 200_000:
            kept = None  # a stream of ever new layer sets and days: start over
        if kept is not None:
            keys = keys.join(kept.select(names), on=names, how="anti")
        if not keys.is_empty() or kept is None:
            keys, by_review = self._reviews_read(keys)
            found = pl.DataFrame(
                [(*key, *self._review(*key)) for key in keys.iter_rows()],
                schema={
                    "layer": pl.Int64, "r_micros": pl.Int64, "r_mode": pl.String,
                    "low_": pl.Boolean, "dated": pl.Boolean, "review": pl.String,
                    "needs": pl.Boolean,
                },
                orient="row",
            )  # fmt: skip
            found = pl.concat([found, by_review]) if by_review is not None else found
            kept = found if kept is None else pl.concat([kept, found], rechunk=True)
        self._review_frame = kept
        return kept

    def _reviews_read(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """:meth:`_review_columns` of those of ``keys`` whose review is the layer set's own
        (an entry's day that adds nothing, a value past de minimis) read from the cache,
        worked out once per review rather than per key; the other keys."""
        import polars as pl

        packed = self._packed_reviews
        if packed is None or keys.is_empty():
            return keys, None
        ids, reviews = packed
        col = pl.col
        own = (col("r_micros") == 0) & (col("r_mode") == "") & ~col("low_") & col("dated")
        own &= col("layer") < len(ids)
        taken = keys.filter(own)
        if taken.is_empty():
            return keys, None
        review = pl.Series("id", ids, dtype=pl.Int64).gather(taken.get_column("layer"))
        distinct = review.unique().to_list()
        cells = [self._review_cell(reviews[i]) for i in distinct]
        texts = pl.DataFrame(
            {"id": distinct, "review": [c[0] for c in cells], "needs": [c[1] for c in cells]},
            schema={"id": pl.Int64, "review": pl.String, "needs": pl.Boolean},
        )
        found = taken.with_columns(review).join(texts, on="id", how="left").drop("id")
        return keys.filter(~own), found

    def _review(
        self, index: int, micros: int, mode: str, low: bool, dated: bool
    ) -> tuple[str, bool]:
        """``status,review`` as CSV text, and whether the row needs review (``mode`` ""
        for a day whose fees and caveats add nothing); ``low``: valued within de minimis,
        the customs value left as :data:`_VALUE_MARK`; ``dated``: at an entry's moment,
        else a named regime's (no intraday caveat, no claim asked about only at entry)."""
        fees, intraday = self._fees.get((micros, mode, dated)) or ((((), ()), ()))
        if not dated:
            review = review_of(self.tables.layer(index), fees, (), False)
            found = status(review)
            return f"{found},{_cell('; '.join(review))}", found != "ok"
        entered: tuple[str, ...] = ()
        if low:
            rules = self.party.low_value if self.party is not None else None
            assert rules is not None  # a limit was found
            when = moment_of(micros)
            entered = (within_de_minimis(_VALUE_MARK, rules.de_minimis.amount, format_when(when)),)
        review = day_review(self.tables.summary(index).review, fees, intraday, entered)
        return self._review_cell(review)

    def _review_cell(self, review: tuple[str, ...]) -> tuple[str, bool]:
        """``status,review`` as CSV text, and whether it needs review (each review worked
        out once)."""
        found_cell = self._review_cells.get(review)
        if found_cell is None:
            if len(self._review_cells) > 100_000:
                self._review_cells.clear()
            found = status(review)
            found_cell = self._review_cells[review] = (
                f"{found},{_cell('; '.join(review))}",
                found != "ok",
            )
        return found_cell

    def _charge(self, chunk: list[_Item]) -> Charged | None:
        """:meth:`_charge_frame` of the chunk's rows."""
        import polars as pl

        rows = [item for item in chunk if not isinstance(item, RowError)]
        if not rows:
            return None
        frame = pl.DataFrame(
            [item[1] for item in rows],
            schema={f"c{i}": pl.String for i in range(len(self.header))},
            orient="row",
        ).with_columns(pl.Series("number", [item[0] for item in rows], dtype=pl.Int64))
        return self._charge_frame(frame)

    def _charge_frame(self, frame: pl.DataFrame) -> Charged | None:
        """The rows of ``frame`` (its cells as ``c0``, ``c1``... and the row ``number``)
        that the table charges: their CSV lines by number, and their review count, customs
        and duty in cents, to be made (None: no row qualifies)."""
        import polars as pl

        at = self._at
        if frame.is_empty():
            return None
        col = {name: pl.col(f"c{i}") for name, i in at.items()}
        day = col["date"] if "date" in col else pl.lit("")
        plain = (
            col["hs"].str.contains(r"^[0-9]{2}(?:\.?[0-9]{2}){1,4}$")
            & col["value"].str.contains(r"^[0-9]{1,13}(?:\.[0-9]{1,2})?$")
            & ((day == "") | day.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        )
        for name, allowed in (("origin", ("", "CN")), ("dest", ("", "US"))):
            if name in col:
                plain &= col[name].is_in(list(allowed))
        if "mode" in col:
            plain &= col["mode"].replace("", "ocean").is_in(list(self.rule.modes))
        elif "ocean" not in self.rule.modes:
            return None
        for index in self._must_blank:
            plain &= pl.col(f"c{index}") == ""
        frame = frame.filter(plain)
        if frame.is_empty():
            return None
        mode = col["mode"].replace("", "ocean") if "mode" in col else pl.lit("ocean")
        # a plain value is at most 13 digits and 2 decimals: exactly a decimal of scale 2,
        # whose integer form is the cents
        cents = col["value"].cast(pl.Decimal(15, 2)).to_physical().cast(pl.Int64)
        frame = frame.with_columns(
            col["hs"].str.replace_all(".", "", literal=True).alias("digits"),
            mode.alias("mode_"),
            day.alias("day_"),
            cents.alias("cents"),
        ).filter((pl.col("cents") <= _PY_LIMIT) & (pl.col("cents") >= self.rule.min_cents))
        # the moments each row is charged at: its entry's, or each regime's (:meth:`_moments`)
        moments = self._moments(frame.get_column("day_").unique().to_list())
        if moments.is_empty():
            return None
        frame = frame.join(moments, on="day_", how="inner")
        frame = frame.with_columns((pl.col("cents") <= pl.col("low")).alias("low_")).filter(
            pl.col("dated") | ~pl.col("low_")  # within de minimis under a regime: the engine's
        )
        # each row's layer set: an as-of lookup by code and instant (_Intervals)
        intervals = self._table_intervals(frame.get_column("digits").unique(maintain_order=True))
        frame = frame.with_columns(
            intervals.layers(frame.get_column("digits"), frame.get_column("micros"))
        )
        # the layer sets (their summaries, never the layers) and the days' fees
        info, no_base, width = self._layer_info(frame.get_column("layer").drop_nulls().unique())
        fee_days = self._day_columns(frame.select("micros", "mode_", "dated").unique().rows())
        unknown = pl.col("layer").is_null() | pl.col("layer").is_in(no_base)
        errors = self._missing(frame.filter(unknown & pl.col("dated")))
        # the other rows of unknown layer sets (under a regime: the reference path's) are
        # left out by the join with ``info``, which holds none of them
        if info is None or fee_days is None:
            return Charged.bad(errors) if errors else None
        days_ok, fee_width, biggest = fee_days
        # 64 bits hold every product: 2 * cents * n <= 2**62 for each rate n / k (exact);
        # the duty (at most cents times the rates summed, and a cent a line) and its ratio to
        # the value in millionths, both at most (cents + 10**6) * rates: within 2**60 (an
        # estimate in floating point, with room to spare)
        rates = pl.sum_horizontal(
            pl.lit(width + 1.0), *(pl.col(f"n{s}") / pl.col(f"k{s}") for s in range(width))
        )
        frame = (
            frame.join(info, on="layer", how="inner")
            .join(days_ok, on=["micros", "mode_", "dated"], how="inner")
            .filter(
                (pl.col("cents") <= _PY_LIMIT)
                & (pl.col("cents") <= (2**61) // pl.max_horizontal(pl.col("biggest"), biggest))
                & ((pl.col("cents") + 1_000_000) * rates <= 2.0**60)
            )
        )
        if self.views:  # every moment or none
            frame = frame.filter(pl.len().over("number") == pl.col("charges"))
        if frame.is_empty():
            return Charged.bad(errors) if errors else None
        cents = pl.col("cents")
        duty = pl.lit(0, dtype=pl.Int64)
        for slot in range(width):
            rate_n, rate_k = pl.col(f"n{slot}"), pl.col(f"k{slot}")
            base = pl.when(pl.col(f"r{slot}") & (pl.col("metals") > 0)).then(0).otherwise(cents)
            duty = duty + (2 * base * rate_n + rate_k) // (2 * rate_k)
        fee = pl.lit(0, dtype=pl.Int64)
        for slot in range(fee_width):
            fee_n, fee_k = pl.col(f"fn{slot}"), pl.col(f"fk{slot}")
            floor, ceiling = pl.col(f"lo{slot}") * fee_k, pl.col(f"hi{slot}") * fee_k
            raw = cents * fee_n
            raw = pl.when((floor >= 0) & (raw < floor)).then(floor).otherwise(raw)
            raw = pl.when((ceiling >= 0) & (raw > ceiling)).then(ceiling).otherwise(raw)
            fee = fee + (2 * raw + fee_k) // (2 * fee_k)
        # review and status: per layer, or per layer and day where the day adds items
        # (within de minimis: the day's own item, with the row's customs value put in);
        # only what the text needs is kept
        same_day = pl.col("plain_day") & ~pl.col("low_")
        cells = dict.fromkeys(f"c{at[name]}" for name in (*self.extra, "hs"))
        frame = frame.select(
            "number", "view", *cells, "regime", "as_of", "cents", "low_", "dated", "layer",
            "claimable", duty.alias("duty"), fee.alias("fee"),
            pl.when(same_day).then(0).otherwise(pl.col("micros")).alias("r_micros"),
            pl.when(same_day).then(pl.lit("")).otherwise(pl.col("mode_")).alias("r_mode"),
        )  # fmt: skip
        keys = ["layer", "r_micros", "r_mode", "low_", "dated"]
        frame = frame.join(self._review_columns(frame.select(keys).unique()), on=keys)
        frame = frame.sort("number", "view")
        # text
        cents = pl.col("cents")
        total = pl.col("duty") + pl.col("fee")
        # duty / cents in millionths, half-up, three digits at a time (within 64 bits)
        whole = pl.when(cents > 0).then(cents).otherwise(1)
        thousandths = (pl.col("duty") % whole) * 1000
        units = (
            pl.when(cents > 0)
            .then(
                pl.col("duty") // whole * 1_000_000
                + thousandths // whole * 1000
                + (2 * (thousandths % whole) * 1000 + whole) // (2 * whole)
            )
            .otherwise(0)
        )
        assert self.party is not None
        parts = [pl.col("number").cast(pl.String)]
        parts += [_quoted(pl.col(f"c{i}")) for i in (at[name] for name in self.extra)]
        parts += [
            pl.col(f"c{at['hs']}"),
            pl.col("regime"),
            pl.col("as_of"),
            pl.lit(self.party.currency),
            _money_text(cents),
            _money_text(pl.col("duty")),
            _money_text(pl.col("fee")),
            pl.lit("0.00"),
            _money_text(total),
            _ratio_text(units),
            _money_text(cents + total),
            pl.when(pl.col("low_"))
            .then(pl.col("review").str.replace(_VALUE_MARK, _money_text(cents), literal=True))
            .otherwise(pl.col("review")),
            pl.lit(""),
            pl.col("claimable"),
            pl.lit("CN"),
            pl.lit("US"),
            pl.lit(self.tail + "\n"),  # the line's end with its last cells
        ]
        step = _TEXT_ROWS if len(self.views) < 2 else frame.height  # else: slices already
        numbers = frame.get_column("number")
        made = tuple(
            functools.partial(_text, frame.slice(start, step), parts)
            for start in range(0, frame.height, step)
        )
        splits = tuple(numbers.gather(list(range(step, frame.height, step))).to_list())
        return Charged(numbers.to_frame(), made, _counts(frame), errors, splits)

    def _forget_layers(self) -> None:
        """Forget the layer sets seen (and what :meth:`_layer_info` made of them)."""
        self._info, self._layers_seen, self._no_base = None, set(), set()
        self._seen_below, self._no_base_ids = 0, None

    def _layer_info(self, layers: pl.Series) -> tuple[pl.DataFrame | None, pl.Series, int]:
        """What the money needs of the layer sets the table charges (of ``layers``, distinct
        indexes, and of earlier chunks: ``layer``, ``metals``, ``claimable``, ``biggest``
        rate numerator and each duty line in slots ``n0, k0, r0``... of
        :attr:`LayerSummary.lines`, a missing one ``0, 1, False``), the ids of those seen
        whose code the schedule has no line for (:data:`NO_BASE`), and the number of
        slots."""
        import polars as pl

        if len(self._layers_seen) > 1_000_000:  # a stream of ever new layer sets
            self._forget_layers()
        if self._info is None and not self._layers_seen:
            packed = self.tables.summary_columns()
            if packed is not None:  # every layer set read from the cache, at once
                self._info, self._no_base = _packed_info(packed)
                self._seen_below, self._no_base_ids = packed.count, None
                self._packed_reviews = (packed.column(SUMMARY_FIELDS.index("review")).tolist(),
                                        packed.reviews)  # fmt: skip
        columns: dict[str, list[object]] = {
            "layer": [],
            "metals": [],
            "biggest": [],
            "claimable": [],
        }
        lines: list[tuple[tuple[int, int, bool], ...]] = []
        for index in layers.filter(layers >= self._seen_below).to_list():
            if index in self._layers_seen:
                continue
            self._layers_seen.add(index)
            summary = self.tables.summary(index)
            if not summary.columns:
                if self.tables.layer(index).engine == NO_BASE:
                    self._no_base.add(index)
                    self._no_base_ids = None
                continue
            columns["layer"].append(index)
            columns["metals"].append(summary.metals)
            columns["biggest"].append(max([n for n, _, _ in summary.lines] + [1]))
            columns["claimable"].append(_cell(summary.claimable))
            lines.append(summary.lines)
        if lines:
            schema: dict[str, type[pl.DataType]] = {
                "layer": pl.Int64, "metals": pl.Int64, "biggest": pl.Int64, "claimable": pl.String,
            }  # fmt: skip
            _slots(lines, (("n", 0, pl.Int64), ("k", 1, pl.Int64), ("r", False, pl.Boolean)),
                   columns, schema)  # fmt: skip
            found = pl.DataFrame(columns, schema=schema)
            if self._info is not None:
                found = pl.concat([self._info, found], how="diagonal")
            slots = sum(1 for name in found.columns if name[0] == "n")
            self._info = found.with_columns(
                *(pl.col(f"n{i}").fill_null(0) for i in range(slots)),
                *(pl.col(f"k{i}").fill_null(1) for i in range(slots)),
                *(pl.col(f"r{i}").fill_null(False) for i in range(slots)),
            )
        info = self._info
        width = 0 if info is None else sum(1 for name in info.columns if name[0] == "n")
        if self._no_base_ids is None:
            self._no_base_ids = pl.Series("layer", sorted(self._no_base), dtype=pl.Int64)
        return info, self._no_base_ids, width

    def _missing(self, frame: pl.DataFrame) -> list[RowError]:
        """The errors of the rows of ``frame``, whose code the table has no base rate for at
        their moment: those the schedule in force does not hold (the error
        :func:`tradecalc.batch.rows.refuse_unknown` gives first, worked out once per code
        and HTS revision). The other rows are left to the reference path."""
        import polars as pl

        provider = for_importer(self.tables.base_rates, "US")
        if frame.is_empty() or not isinstance(provider, UsSchedule):
            return []
        code = f"c{self._at['hs']}"
        if len(self._missing_errors) > 200_000:
            self._missing_errors.clear()
            self._templates = None
        if len(self._revisions) > 100_000:
            self._revisions.clear()
        try:
            for micros in frame.get_column("micros").unique().to_list():
                if micros not in self._revisions:
                    rev = provider.in_force(moment_of(micros))
                    self._revisions[micros] = rev.title if rev is not None else ""
        except Exception:  # an unreadable revision: each row says so on the reference path
            return []
        revisions = list(self._revisions.items())
        frame = frame.join(
            pl.DataFrame(revisions, schema={"micros": pl.Int64, "rev": pl.String}, orient="row"),
            on="micros",
        ).filter((pl.col("rev") != "") & (pl.col("as_of").str.len_chars() == len(_DATE_MARK)))
        keys = frame.group_by(code, "digits", "rev").agg(pl.col("micros").first())
        new: list[tuple[str, str, str]] = []
        for text, digits, rev, micros in keys.iter_rows():
            if (text, rev) in self._missing_errors:
                continue
            try:
                found = provider.resolve(digits, moment_of(micros))
            except Exception:  # an unreadable revision: each row says so on the reference path
                self._missing_errors[(text, rev)] = None
                continue
            reason = None
            if not found.exists:
                reason = not_in_schedule(text, "US", _DATE_MARK, found)
                if failure_reason(UsageError(reason)) != reason:
                    reason = None  # shortened: each row its own
            self._missing_errors[(text, rev)] = reason
            if reason is not None:
                new.append((text, rev, reason))
        templates = self._templates
        if new or templates is None:
            schema = {code: pl.String, "rev": pl.String, "template": pl.String}
            added = pl.DataFrame(new, schema=schema, orient="row")
            templates = added if templates is None else pl.concat([templates, added], rechunk=True)
            self._templates = templates
        found_errors = (
            frame.join(templates, on=[code, "rev"])
            .select(
                "number",
                pl.col("template").str.replace(_DATE_MARK, pl.col("as_of"), literal=True),
            )
            .sort("number")
        )
        return [RowError(n, r) for n, r in found_errors.iter_rows()]


def _packed_info(packed: SummaryColumns) -> tuple[pl.DataFrame, set[int]]:
    """:meth:`Vectorised._layer_info` of every layer set of ``packed`` (the summaries read
    from the cache), taken as whole columns and checked as such (DamagedTableError for a
    value no summary has), and the indexes of those whose code has no line
    (:data:`NO_BASE`)."""
    import polars as pl

    names = packed.names()
    frame = pl.DataFrame(
        [pl.Series(name, packed.column(i), dtype=pl.Int64) for i, name in enumerate(names)]
    ).with_row_index("layer")
    col = pl.col
    wrong = [
        ~col("flags").is_between(0, CHARGES_COLUMNS | HAS_NO_BASE),
        col("metals") < 0,
        ~col("claimable").is_between(0, len(packed.claimables) - 1),
        ~col("review").is_between(0, len(packed.reviews) - 1),
        ~col("lines").is_between(0, packed.slots),
    ]
    for slot in range(packed.slots):
        n, k, r = col(f"n{slot}"), col(f"k{slot}"), col(f"r{slot}")
        unused = (col("lines") <= slot) & ((n != 0) | (k != 1) | (r != 0))
        wrong.append((n < 0) | (k < 1) | ~r.is_between(0, 1) | unused)
    if frame.height and frame.select(pl.any_horizontal(wrong).any()).item():
        raise DamagedTableError
    columns = (col("flags") & CHARGES_COLUMNS) != 0
    no_base = frame.filter(~columns & ((col("flags") & HAS_NO_BASE) != 0)).get_column("layer")
    claimables = pl.Series([_cell(c) for c in packed.claimables], dtype=pl.String)
    frame = frame.filter(columns)
    info = frame.select(
        col("layer").cast(pl.Int64),
        "metals",
        pl.max_horizontal(*(col(f"n{s}") for s in range(packed.slots)), pl.lit(1)).alias("biggest"),
        claimables.gather(frame.get_column("claimable")).alias("claimable"),
        *(c for s in range(packed.slots)
          for c in (col(f"n{s}"), col(f"k{s}"), (col(f"r{s}") == 1).alias(f"r{s}"))),
    )  # fmt: skip
    return info, set(no_base.to_list())


_BLANK_LINE = re.compile("\n\n")
"""A blank line within a block (a pattern's search skips to each ``\\n\\n`` faster than
``in`` does on text where every line ends in ``\\n``)."""


def _read(
    parts: Iterator[Block | _Item], width: int
) -> Generator[tuple[Block | _Item, pl.DataFrame | None], None, None]:
    """Each part of ``parts``, a block with its cells (:func:`_even_cells`)."""
    for part in parts:
        yield _with_cells(part, width)


def _with_cells(part: Block | _Item, width: int) -> tuple[Block | _Item, pl.DataFrame | None]:
    """``part``, with its cells if it is a block (:func:`_even_cells`)."""
    return part, _even_cells(part, width) if isinstance(part, Block) else None


def _read_ahead(
    parts: Iterator[Block | _Item], width: int
) -> Generator[tuple[Block | _Item, pl.DataFrame | None], None, None]:
    """As :func:`_read`, with the parts read and each block's cells parsed on a thread of
    its own, the next while the caller works on the one before; the rows after the blocks
    come on the caller's thread. For parts whose reads never wait for a writer: a caller
    that stops early waits for the read in hand to end."""
    asked: queue.SimpleQueue[bool] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple[Block | _Item | None, pl.DataFrame | None] | BaseException]
    done = queue.SimpleQueue()

    def read() -> None:
        while asked.get():
            try:
                part = next(parts, None)
                done.put(_with_cells(part, width) if part is not None else (None, None))
            except BaseException as exc:  # raised by the caller, in its own thread
                done.put(exc)
                return
            if not isinstance(part, Block):
                return

    # a daemon: a caller never closed (at exit) leaves it waiting to be asked
    reader = threading.Thread(target=read, name="tradecalc-read", daemon=True)
    reader.start()
    asked.put(True)
    try:
        while True:
            found = done.get()
            if isinstance(found, BaseException):
                raise found
            part, cells = found
            if not isinstance(part, Block):
                break
            asked.put(True)
            yield part, cells
    finally:
        asked.put(False)
        reader.join()  # not in polars (nor reading) as the interpreter ends
    if part is not None:
        yield part, None
        yield from ((rest, None) for rest in parts)


def _even_cells(block: Block, width: int) -> pl.DataFrame | None:
    """A block's rows as columns ``number``, ``c0``, ``c1``... when every line has
    ``width`` cells (None: a line has another number, or is blank), read by polars' CSV
    reader (the lines are simple: no quote, so a comma always ends a cell)."""
    import polars as pl

    text, lines = block.text, block.count
    if (
        width < 2
        or text.count(",") != (width - 1) * lines
        or _BLANK_LINE.search(text)
        or text.startswith(("\n", "\ufeff"))
    ):
        return None
    names = [f"c{i}" for i in range(width)]
    try:
        frame = _read_cells(text, names)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None  # a line with more cells (or text the reader fails on: line by line)
    # no line has more cells and the commas add up: every line has ``width`` cells
    if frame.height != lines:
        return None
    first = block.first  # numbered here: polars' own row index is 32-bit
    return frame.select(
        pl.int_range(first, first + frame.height, dtype=pl.Int64).alias("number"), *names
    )


def _read_cells(text: str, names: list[str]) -> pl.DataFrame:
    """Simple lines read by polars' CSV reader: every cell's text (PolarsError for a line
    of more cells: the last line is given its end, without which polars 2.1 drops an empty
    cell too many there, a trailing comma, instead of failing)."""
    import polars as pl

    data = text.encode()
    return pl.read_csv(
        data if data.endswith(b"\n") else data + b"\n",
        has_header=False,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
        quote_char=None,
        empty_string_is_null=False,
        truncate_ragged_lines=False,
        raise_if_empty=False,
    )


def _cells_line_by_line(block: Block, width: int) -> tuple[pl.DataFrame, list[_Item]]:
    """A block's rows of ``width`` cells as columns ``number``, ``c0``, ``c1``..., and its
    other lines as bad rows (a blank line is none)."""
    import polars as pl

    lines = pl.Series("line", [block.text], dtype=pl.String).str.split("\n").explode()
    if block.text.endswith("\n"):
        lines = lines.head(-1)
    frame = pl.DataFrame(lines).with_columns(
        pl.int_range(block.first, block.first + lines.len(), dtype=pl.Int64).alias("number"),
        (pl.col("line").str.count_matches(",", literal=True) + 1).alias("cells"),
    )
    rest: list[_Item] = []
    for number, line in frame.filter(pl.col("cells") != width).select("number", "line").rows():
        item = checked_cells(number, simple_cells(line), width)
        if item is not None:  # a bad row (a blank line is none)
            rest.append(item)
    names = [f"c{i}" for i in range(width)]
    frame = (
        frame.filter(pl.col("cells") == width)
        .select(
            pl.col("number"),
            pl.col("line").str.split_exact(",", width - 1).struct.rename_fields(names),
        )
        .unnest("line")
    )
    return frame, rest


class _Intervals:
    """The intervals of the codes read off the table so far, looked up as whole columns.

    Each code has a position (in the order added); its intervals are kept by position, then
    start, under the key ``position * R + rank of the start`` among every distinct start
    (``R`` of them). A row's layer set is then one binary search for ``position * R + rank
    of the latest start at or before its moment``: the last key at or below it is the
    code's interval in force if it has the code's position (an as-of join by code, with no
    hash of the intervals per chunk). A rank stands for an instant exactly, so nothing
    rounds."""

    def __init__(self) -> None:
        import polars as pl

        self._codes = pl.DataFrame(schema={"digits": pl.String, "position": pl.Int64})
        self._kept = pl.DataFrame(
            schema={"position": pl.Int64, "start": pl.Int64, "layer": pl.Int64}
        )
        self._instants = pl.Series("start", [], dtype=pl.Int64)
        self._keys = pl.Series("key", [], dtype=pl.Int64)

    @property
    def height(self) -> int:
        """How many intervals are kept."""
        return self._kept.height

    def add(self, codes: list[str], found: pl.DataFrame) -> None:
        """Keep the intervals of new ``codes``: ``found`` has a row per interval, ``code``
        (an index into ``codes``), ``start`` and ``layer``."""
        import polars as pl

        if not codes:
            return
        first = self._codes.height
        self._codes = pl.concat(
            [
                self._codes,
                pl.DataFrame(
                    {"digits": codes, "position": range(first, first + len(codes))},
                    schema={"digits": pl.String, "position": pl.Int64},
                ),
            ],
            rechunk=True,
        )
        found = found.select((pl.col("code") + first).alias("position"), "start", "layer")
        self._kept = pl.concat([self._kept, found], rechunk=True)
        self._keys = self._keyed()
        if not self._keys.is_sorted():  # a code's intervals out of order: put them in order
            self._kept = self._kept.sort("position", "start")
            self._keys = self._keyed()

    def _keyed(self) -> pl.Series:
        """The key of each interval kept (and the distinct starts, for the ranks)."""
        import polars as pl

        starts = self._kept.get_column("start")
        self._instants = starts.unique().sort()
        rank = self._instants.search_sorted(starts, side="left").cast(pl.Int64)
        return self._kept.get_column("position") * self._instants.len() + rank

    def layers(self, digits: pl.Series, micros: pl.Series) -> pl.Series:
        """The layer set in force for each row's code at its moment (null: none)."""
        import polars as pl

        if self._keys.is_empty():
            return pl.Series("layer", [None] * digits.len(), dtype=pl.Int64)
        position = (
            digits.to_frame("digits")
            .join(self._codes, on="digits", how="left", maintain_order="left")
            .get_column("position")
            .fill_null(-1)
        )
        rank = self._instants.search_sorted(micros, side="right").cast(pl.Int64) - 1
        at = self._keys.search_sorted(position * self._instants.len() + rank, side="right")
        at = at.cast(pl.Int64) - 1
        safe = at.clip(lower_bound=0)
        return (
            pl.DataFrame(
                {
                    "hit": (at >= 0)
                    & (position >= 0)
                    & (self._kept.get_column("position").gather(safe) == position),
                    "layer": self._kept.get_column("layer").gather(safe),
                }
            )
            .select(pl.when("hit").then("layer").alias("layer"))
            .get_column("layer")
        )


class Text(NamedTuple):
    """Charged rows as CSV lines joined as UTF-8 ``data`` (by number, then regime), each
    line's row number (``numbers``) and the byte offset at which it ends (``ends``)."""

    numbers: pl.Series
    ends: pl.Series
    data: bytes

    def with_lines(self, numbers: list[int], lines: list[str]) -> bytes:
        """``data`` with ``lines`` of other rows (their ``numbers``, ascending) each put
        after the charged lines of its row number and below: as a stable sort by number."""
        import polars as pl

        if not lines:
            return self.data
        bounds = pl.concat([pl.Series([0], dtype=pl.Int64), self.ends])
        after = self.numbers.search_sorted(pl.Series(numbers, dtype=pl.Int64), side="right")
        view = memoryview(self.data)
        pieces: list[bytes | memoryview] = []
        start = 0
        for place, line in zip(bounds.gather(after).to_list(), lines, strict=True):
            pieces += (view[start:place], line.encode())
            start = place
        pieces.append(view[start:])
        return b"".join(pieces)


class Counts(NamedTuple):
    """How many rows were charged; per regime in the order the rows meet them: the results,
    how many need review, their customs value and duty in cents."""

    rows: int
    totals: list[tuple[str, int, int, int, int]]


def _counts(frame: pl.DataFrame) -> Counts:
    """:class:`Counts` of the charged rows of ``frame``."""
    import polars as pl

    halves = [
        half.alias(f"{name}{i}")
        for name in ("cents", "duty")
        for i, half in enumerate((pl.col(name) // _SPLIT, pl.col(name) % _SPLIT))
    ]
    totals = frame.group_by("regime", maintain_order=True).agg(
        pl.len(), pl.col("needs").sum(), *(half.sum() for half in halves)
    )
    found = [
        (regime, results, reviewed, high_c * _SPLIT + low_c, high_d * _SPLIT + low_d)
        for regime, results, reviewed, high_c, low_c, high_d, low_d in totals.rows()
    ]
    return Counts(frame.get_column("number").n_unique(), found)


def _text(frame: pl.DataFrame, parts: list[pl.Expr]) -> Text:
    """:class:`Text` of the charged rows of ``frame`` (by number), a line of ``parts`` each
    (each part is already a CSV cell, the last ending the line): one expression joined into
    one string on this thread, leaving polars' threads to the charging."""
    import polars as pl

    line = frame.select(pl.concat_str(parts, separator=",")).to_series()
    numbers = frame.get_column("number")
    ends = line.str.len_bytes().cast(pl.Int64).cum_sum()
    data = bytes(line.str.join("").cast(pl.Binary).item())
    return Text(numbers, ends, data)


def _part_data(
    made: Future[Text] | Callable[[], Text], numbers: list[int], lines: list[str]
) -> bytes:
    """The data of the :class:`Text` ``made`` (made now, or waited for) with ``lines`` of
    the reference path (rows ``numbers``) in their places (:meth:`Text.with_lines`)."""
    text = made.result() if isinstance(made, Future) else made()
    return text.with_lines(numbers, lines)


def _done(text: Text) -> Future[Text]:
    """``text`` as a finished future."""
    found: Future[Text] = Future()
    found.set_result(text)
    return found


class Charged(NamedTuple):
    """The rows the table charged (``charged``: their numbers, ascending; their
    :class:`Text` made in parts by ``made``, or made on other threads once :meth:`start` is
    called; their :class:`Counts`) and the rows known to be bad (a code not in the schedule
    in force, see :meth:`Vectorised._missing`)."""

    charged: pl.DataFrame
    made: tuple[Future[Text] | Callable[[], Text], ...]
    """The text's parts, in row order (a part can be written while the next is made)."""
    counts: Counts
    errors: list[RowError]
    splits: tuple[int, ...] = ()
    """The first row number of each part after the first."""

    def start(self, later: Executor) -> Charged:
        """These rows with their text made by ``later``, while other work goes on."""
        made = tuple(m if isinstance(m, Future) else later.submit(m) for m in self.made)
        return self._replace(made=made)

    @classmethod
    def bad(cls, errors: list[RowError]) -> Charged:
        """No row charged; ``errors`` known."""
        import polars as pl

        numbers = pl.Series("number", [], dtype=pl.Int64)
        text = Text(numbers, numbers.alias("end"), b"")
        return cls(numbers.to_frame(), (_done(text),), Counts(0, []), errors)

    def numbers(self) -> pl.DataFrame:
        """The row numbers of the charged and the bad rows (column ``number``)."""
        import polars as pl

        bad = pl.DataFrame({"number": [e.row for e in self.errors]}, schema={"number": pl.Int64})
        return pl.concat([self.charged, bad])


def _slots(
    rows: Sequence[Sequence[tuple[object, ...]]],
    parts: tuple[tuple[str, object, type[pl.DataType]], ...],
    columns: dict[str, list[object]],
    schema: dict[str, type[pl.DataType]],
) -> int:
    """Each row's items spread over numbered columns: part ``i`` of a row's item in slot
    ``s`` goes to column ``parts[i][0] + s`` (of type ``parts[i][2]``; ``parts[i][1]`` for
    a row with no item there), added to ``columns`` and ``schema``. The number of slots."""
    width = max((len(items) for items in rows), default=0)
    for slot in range(width):
        for part, (name, empty, kind) in enumerate(parts):
            columns[f"{name}{slot}"] = [
                items[slot][part] if slot < len(items) else empty for items in rows
            ]
            schema[f"{name}{slot}"] = kind
    return width


def _quoted(text: pl.Expr) -> pl.Expr:
    """A text column as :mod:`csv` writes its cells."""
    import polars as pl

    special = text.str.contains(_SPECIALS_CLASS)
    wrapped = pl.concat_str([pl.lit('"'), text.str.replace_all('"', '""', literal=True),
                             pl.lit('"')])  # fmt: skip
    return pl.when(special).then(wrapped).otherwise(text)


def _money_text(cents: pl.Expr) -> pl.Expr:
    """Cents as ``units.cc``: an exact decimal product (scale 0 times scale 2), as text."""
    return _scaled_text(cents, Decimal("0.01"))


def _ratio_text(units: pl.Expr) -> pl.Expr:
    """Millionths as ``units.dddddd``."""
    return _scaled_text(units, Decimal("0.000001"))


def _scaled_text(whole: pl.Expr, unit: Decimal) -> pl.Expr:
    """``whole`` (an integer column) times ``unit``, written with ``unit``'s decimals: a
    decimal product is exact (its scale is the sum of the scales), so nothing rounds."""
    import polars as pl

    scale = -int(unit.as_tuple().exponent)
    factor = pl.lit(str(unit)).cast(pl.Decimal(38, scale))  # a Decimal literal costs an import
    return (whole.cast(pl.Decimal(38, 0)) * factor).cast(pl.String)
