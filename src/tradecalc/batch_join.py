"""Batch as a join: plain rows looked up in the compiled rate table, money in integer cents.

A row is *plain* when it is a US import from China with a code of 4 to 10 digits (dotted or
not), a value
with at most cents, a bare entry date or none, an optional transport mode and nothing else
(no currency, freight, insurance, quantity or metal), under regimes without overrides (the
entry date's schedule, or named regimes at their own moments). Its layers come from the
rate table by code and instant (:class:`tradecalc.compiled.Tables`, a hash lookup and a
binary search);
what depends only on the layers, the date and the mode (fees, review items, status) is
worked out once per distinct combination; the money is integer cents with the engine's
half-up per line (:func:`money_columns`, exact: no float anywhere). Every other row, and
every plain row whose layers only the engine can charge, goes through
:class:`tradecalc.batch._Assessor` in its place, so the output order and the messages are
those of the reference path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradecalc.batch import (
    _DATED_VIEW,
    RegimeTotals,
    ResultRow,
    RowError,
    Rows,
    Summary,
    _Assessor,
    _Item,
    _items,
    _named_views,
)
from tradecalc.compiled import FeeAt, Layers, Tables, fees_at, intraday_at, review_of
from tradecalc.engine import RegimeView
from tradecalc.errors import TradecalcError
from tradecalc.inputs import parse_entry
from tradecalc.models import MODES, Schedule, format_when
from tradecalc.money import FxTable, money_sum
from tradecalc.status import status

_CODE = re.compile(r"\d\d(?:\.?\d\d){1,4}\Z", re.ASCII)
_VALUE = re.compile(r"\d{1,13}(?:\.\d{1,2})?\Z")
_DATE = re.compile(r"\d{4}-\d\d-\d\d\Z")
FeesAt = tuple[tuple[FeeAt, ...], tuple[str, ...]]
CHUNK = 8192
"""Rows assessed together (memory stays bounded by this many rows)."""


def _scaled(fraction: Decimal) -> tuple[int, int]:
    """A non-negative decimal as ``(n, 10**k)`` with ``fraction == n / 10**k``."""
    sign, digits, exponent = fraction.as_tuple()
    assert isinstance(exponent, int) and not sign
    number = int("".join(map(str, digits)) or "0")
    if exponent >= 0:
        return number * 10**exponent, 1
    return number, 10**-exponent


@dataclass(frozen=True, slots=True)
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

    Each line is rounded half-up to the cent as :func:`tradecalc.money.round_money` does;
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
        self._must_blank = tuple(
            at[name]
            for name in ("currency", "freight", "insurance", "qty", "unit", "metal", "claims")
            if name in at
        )

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
            number, scale = _scaled(Decimal(duty[5]))
            duties.append((number, scale, duty[6] == "remainder"))
        metals = len({d[9] for d in layers.duties if d[9] is not None})
        fee_specs = tuple(
            (*_scaled(rate), _cents(low), _cents(high)) for _, rate, low, high in fees[0]
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

    def _plain(self, cells: list[str]) -> tuple[str, str, str, str] | None:
        """``(code, value, date, mode)`` of a plain row, else None."""
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
        elif mode not in MODES:
            return None
        if any(cells[i] != "" for i in self._must_blank):
            return None
        return code, value, day, mode

    def assess(self, items: Iterator[_Item], summary: Summary) -> Iterator[ResultRow | RowError]:
        """Every row of ``items`` (see ``batch._items``), in input order, into ``summary``."""
        extra_at = tuple(self._at[name] for name in self.extra)
        sums: dict[tuple[str, str], list[int]] = {}
        try:
            chunk: list[_Item] = []
            for item in items:
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    yield from self._chunk(chunk, summary, extra_at, sums)
                    chunk = []
            if chunk:
                yield from self._chunk(chunk, summary, extra_at, sums)
        finally:
            for key, (count, customs, duty, review) in sums.items():
                acc = summary.totals[key]
                acc.shipments += count
                acc.customs_value = money_sum((Decimal(customs).scaleb(-2),), acc.customs_value)
                acc.duty = money_sum((Decimal(duty).scaleb(-2),), acc.duty)
                acc.needs_review += review

    def _chunk(
        self,
        chunk: list[_Item],
        summary: Summary,
        extra_at: tuple[int, ...],
        sums: dict[tuple[str, str], list[int]],
    ) -> Iterator[ResultRow | RowError]:
        found: list[tuple[Plan, ...] | None] = []
        customs: list[int] = []
        flat: list[Plan] = []
        for item in chunk:
            plans = None
            if not isinstance(item, RowError):
                plain = self._plain(item[1])
                if plain is not None:
                    plans = self._plan(plain[0], plain[2], plain[3])
                    if plans is not None:
                        whole, _, frac = plain[1].partition(".")
                        cents = int(whole) * 100 + int(frac.ljust(2, "0"))
                        customs.extend([cents] * len(plans))
                        flat.extend(plans)
            found.append(plans)
        duties, fees, rates = money_columns(customs, flat)
        index = 0
        for item, plans in zip(chunk, found, strict=True):
            if plans is None or isinstance(item, RowError):
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
                key = (plan.prefix[1], plan.prefix[3])
                acc = sums.get(key)
                if acc is None:
                    acc = sums[key] = [0, 0, 0, 0]
                    if key not in summary.totals:  # first seen here: keep the order of keys
                        summary.totals[key] = RegimeTotals(*key)
                acc[0] += 1
                acc[1] += value
                acc[2] += duty
                acc[3] += review
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


def assess_joined(
    schedule: Schedule,
    rows: Rows,
    tables: Tables,
    fx: FxTable,
    summary: Summary,
    views: Sequence[RegimeView] = (),
) -> Iterator[ResultRow | RowError]:
    """Assess ``rows`` as :func:`tradecalc.batch.assess_rows` does, plain rows joined."""
    header, items = _items(rows)
    joined = Joined(schedule, header, rows.extra, tables, fx, views)
    return joined.assess(items, summary)
