"""What a regime does to a whole trade flow: trade-weighted duty over a basket of goods.

A basket is a list of shipments (``hs, value`` and optionally ``origin, dest, qty, unit,
metal``), read with the batch reader and charged through the compiled rate table where it
can (the engine for the rest; see :func:`measure_impact`). Per regime the sums
are the customs value, the duty, the value whose result needs review (and why), the value
and duty under each measure, and breakdowns by HS section, chapter or heading. The average
rate is duty over customs value; the increment is the difference to a baseline regime.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradecalc.batch.rows import RowError, read_rows, to_shipment
from tradecalc.core.errors import TradecalcError
from tradecalc.core.money import EXACT, FxTable, money_sum, round_money
from tradecalc.core.records import record
from tradecalc.engine.assessment import Assessment, MetalContent, RegimeView, Shipment, assess
from tradecalc.engine.compiled import FeeAt, Layers, Tables, charge, fees_at, open_tables, review_of
from tradecalc.hts.base_rates import BaseRates, for_importer
from tradecalc.hts.history import UsSchedule
from tradecalc.schedule.models import Measure, Party, Schedule, code_digits

ZERO = Decimal("0.00")
ONE = Decimal(1)
LEVELS = ("section", "chapter", "heading")
BASKETS = {"US": "us-imports-from-cn-2024.csv", "CN": "us-exports-to-cn-2024.csv"}
"""The bundled default basket of each importer."""
ESTIMATE_NOTE = (
    "metal content estimated from BEA input-output shares (Yale Budget Lab), not declared"
)
_NUMBERS = re.compile(r"\d[\d.,:T-]*")


def basket_folder() -> Path:
    """The bundled ``data/baskets`` folder (installed copy, else the source tree's)."""
    here = Path(__file__).resolve().parents[1]
    installed = here / "data" / "baskets"
    return installed if installed.is_dir() else here.parent.parent / "data" / "baskets"


def _rows(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]


def default_basket(importer: str) -> Path:
    """The bundled basket of ``importer``'s imports (2024 trade of the pair)."""
    return basket_folder() / BASKETS[importer]


def chapter_sections() -> dict[str, str]:
    """HS chapter -> ``"XI Textiles and textile articles"``."""
    return {
        row["chapter"]: f"{row['numeral']} {row['name']}"
        for row in csv.DictReader(_rows(basket_folder() / "hs-sections.csv"))
    }


def metal_estimates() -> dict[str, dict[str, Decimal]]:
    """Estimated metal shares of value per HTS10 (only non-zero shares).

    The BEA-based estimate is a ratio of input costs to output and exceeds 1 for some lines
    (1,111 of them, e.g. steel in the flat-rolled products of 7208: 1.1923); a metal's content
    cannot exceed the goods' value, so each share is capped at 1 (the whole value), as CBP's
    full-value fallback would charge them."""
    found: dict[str, dict[str, Decimal]] = {}
    for row in csv.DictReader(_rows(basket_folder() / "metal-shares-estimate.csv")):
        shares = {
            m: min(Decimal(row[m]), ONE)
            for m in ("steel", "aluminum", "copper")
            if row[m] != "0.0000"
        }
        if shares:
            found[row["hs"]] = shares
    return found


def read_basket(
    lines: Iterable[str], fmt: str = "csv"
) -> Iterator[tuple[int, Shipment] | RowError]:
    """Shipments of a basket file (CSV or JSONL, as ``batch`` reads them); bad rows as errors."""
    rows = read_rows((line for line in lines if line[:1] != "#"), fmt)
    for item in rows.items:
        if isinstance(item, RowError):
            yield item
            continue
        number, fields = item
        try:
            shipment = to_shipment(fields)
        except TradecalcError as exc:
            yield RowError(number, str(exc))
            continue
        yield number, shipment if shipment.entry is None else replace(shipment, entry=None)


def with_estimated_metal(
    shipment: Shipment, estimates: Mapping[str, Mapping[str, Decimal]]
) -> tuple[Shipment, bool]:
    """``shipment`` with estimated metal shares where it declares none (and whether it got any)."""
    if shipment.metal:
        return shipment, False
    shares = estimates.get(shipment.digits[:10])
    if not shares:
        return shipment, False
    return replace(shipment, metal={m: MetalContent(s) for m, s in shares.items()}), True


@dataclass(slots=True)
class Sums:
    """Customs value and duty of a part of the basket."""

    value: Decimal = ZERO
    duty: Decimal = ZERO

    @property
    def rate(self) -> Decimal:
        """Duty over value (0 for no value)."""
        return self.duty / self.value if self.value else Decimal(0)


@dataclass(slots=True)
class RegimeImpact:
    """Everything one regime does to the basket."""

    view: RegimeView
    total: Sums = field(default_factory=Sums)
    review_value: Decimal = ZERO
    review: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    """Value needing review per reason (codes and numbers in the reason replaced by ``#``)."""
    groups: dict[str, Sums] = field(default_factory=lambda: defaultdict(Sums))
    measures: dict[str, Sums] = field(default_factory=lambda: defaultdict(Sums))
    """Per measure: the value it charged duty on, and that duty."""
    estimated_metal_value: Decimal = ZERO
    unpriced_value: Decimal = ZERO
    """Value of shipments the engine could not price at all (e.g. a code not in the schedule
    in force): counted in the review value, left out of the customs value and duty, as
    ``batch`` leaves such rows out of its sums."""
    review_sets: dict[frozenset[str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    """Value needing review per set of reason kinds (one shipment counts once)."""
    shipments: int = 0
    codes: Callable[[], dict[str, Decimal]] | None = field(default=None, repr=False)
    """Works out :attr:`by_code` when first asked (None: it is filled as shipments are added)."""
    _by_code: dict[str, Decimal] | None = field(default=None, repr=False)

    @property
    def by_code(self) -> dict[str, Decimal]:
        """Duty per code (in the order the codes first appear among the priced shipments)."""
        if self._by_code is None:
            self._by_code = defaultdict(Decimal)
            if self.codes is not None:
                self._by_code.update(self.codes())
        return self._by_code

    @property
    def as_of(self) -> datetime:
        """The instant the regime is computed at."""
        return self.view.as_of


def reason_kind(reason: str) -> str:
    """A review reason without the codes, dates and numbers that make each one unique."""
    return _NUMBERS.sub("#", reason.split(";", 1)[0])


def group_key(digits: str, level: str | None, sections: Mapping[str, str]) -> str | None:
    """The section, chapter or heading a code falls in (None: no breakdown)."""
    if level == "chapter":
        return digits[:2]
    if level == "heading":
        return digits[:4]
    if level == "section":
        return sections.get(digits[:2], "unknown section")
    return None


def measure_impact(
    schedule: Schedule,
    shipments: Sequence[Shipment],
    views: Sequence[RegimeView],
    *,
    fx: FxTable | None = None,
    base_rates: BaseRates | None = None,
    level: str | None = None,
    estimates: Mapping[str, Mapping[str, Decimal]] | None = None,
    reuse: bool = True,
    tables: Tables | None = None,
) -> list[RegimeImpact]:
    """Assess every shipment under every view and add up the results per view.

    With ``reuse`` (the default) the compiled rate table charges every shipment it can
    (``tables``, else one compiled in memory for these codes), summed per group of
    shipments whose layers are the same at every view (see :class:`_Sweep`); the engine
    assesses the rest, once per stretch of time in which nothing that can touch the code
    changes (see :class:`_Reuse`). The sums, their digits and the order of every breakdown
    are those of assessing each shipment under each view with the engine (``reuse=False``;
    a test compares the two).

    Each shipment is a trade flow, entered formally: de minimis and the postal duty are
    facts of one parcel, so an entry type given is replaced by ``formal``.
    """
    sections = chapter_sections() if level == "section" else {}
    prepared = [
        with_estimated_metal(s, estimates) if estimates is not None else (s, False)
        for s in map(_formal, shipments)
    ]
    if reuse:
        table = tables if tables is not None else Tables(schedule, base_rates)
        sweep = _Sweep(schedule, views, fx, base_rates, table, level, sections)
        with gc_paused():
            return sweep.run(prepared)
    results = [RegimeImpact(view) for view in views]
    for shipment, estimated in prepared:
        for impact in results:
            outcome: Assessment | TradecalcError
            try:
                outcome = assess(schedule, shipment, impact.view, fx, base_rates)
            except TradecalcError as exc:
                outcome = exc
            _add(impact, shipment, outcome, estimated, level, sections)
    return results


def _formal(shipment: Shipment) -> Shipment:
    """``shipment`` entered formally (see :func:`measure_impact`)."""
    if shipment.entry_type == "formal" and shipment.items is None:
        return shipment
    return replace(shipment, entry_type="formal", items=None)


def open_impact_tables(
    schedule: Schedule, base_rates: BaseRates | None, data_sha256: str
) -> Tables:
    """The rate table cached for this data (see :func:`tradecalc.engine.compiled.open_tables`)."""
    from tradecalc.schedule.load import cache_dir

    try:
        folder: Path | None = cache_dir()
    except (OSError, TradecalcError):
        folder = None
    with gc_paused():
        return open_tables(schedule, base_rates, data_sha256, folder)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: the rate table is millions of small objects that
    every collection would walk again (most of the time of a timeline); the work inside
    makes no cycles worth collecting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _add(
    impact: RegimeImpact,
    shipment: Shipment,
    result: Assessment | TradecalcError,
    estimated: bool,
    level: str | None,
    sections: Mapping[str, str],
) -> None:
    """Add one shipment's result (or the error that left it unpriced) to ``impact``."""
    impact.shipments += 1
    if isinstance(result, TradecalcError):
        impact.unpriced_value += shipment.value
        impact.review_value += shipment.value
        kind = reason_kind(str(result).split(" (", 1)[0])
        impact.review[kind] += shipment.value
        impact.review_sets[frozenset((kind,))] += shipment.value
        return
    value, duty = result.customs_value, result.duty
    impact.total.value += value
    impact.total.duty += duty
    impact.by_code[shipment.digits] += duty
    if estimated:
        impact.estimated_metal_value += value
    if result.needs_review:
        impact.review_value += value
        kinds = dict.fromkeys(reason_kind(r) for r in result.review)
        for reason in kinds:
            impact.review[reason] += value
        impact.review_sets[frozenset(kinds)] += value
    key = group_key(shipment.digits, level, sections)
    if key is not None:
        impact.groups[key].value += value
        impact.groups[key].duty += duty
    charged: dict[str, Decimal] = defaultdict(Decimal)
    for line in result.lines:
        if line.amount:
            charged[line.measure] += line.amount
    for measure, amount in charged.items():
        impact.measures[measure].value += value
        impact.measures[measure].duty += amount


@record
class _CodePlan:
    """For one shipment: the instants at which anything that can touch it changes, and the
    schedule reduced to the measures that can touch it."""

    points: tuple[datetime, ...]
    schedule: Schedule

    def key(self, view: RegimeView) -> object | None:
        """Views with equal keys give the shipment the same result (None: no reuse)."""
        if view.overrides or view.added:
            return None
        return bisect_right(self.points, view.as_of)


class _Reuse:
    """What may change a shipment's result over time, worked out once per code.

    A plain view (no overrides, no added measures) gives a shipment without an entry date
    a result that depends on the instant only through: the periods of the measures whose
    scope can include the code, the dated rows of product lists holding the code, the
    tariff lines under the code in the base-rate history, and the fee periods. Between two
    of those instants nothing can change, so one assessment serves every view in between.
    Measures whose scope can never include the code (nor list it in a scope) only add
    "not in scope" steps to the trace; they are left out of the reduced schedule.
    """

    def __init__(self, schedule: Schedule, base_rates: BaseRates | None) -> None:
        self.schedule = schedule
        self.base_rates = base_rates
        self.rows: dict[str, list[tuple[datetime | None, datetime | None]]] = defaultdict(list)
        for plist in schedule.product_lists.values():
            for row in plist.rows:
                self.rows[row.digits].append((row.start, row.end))
        self.fees = [
            t
            for party in schedule.parties.values()
            for fee in party.fees
            for p in fee.periods
            for t in (p.from_, p.to)
            if t is not None
        ]
        self.reduced: dict[tuple[str, ...], Schedule] = {}

    def plan(self, shipment: Shipment) -> _CodePlan | None:
        """The plan of one shipment (None: assess it under every view)."""
        if shipment.entry is not None:
            return None
        provider = for_importer(self.base_rates, shipment.dest)
        lines = _line_points(provider, shipment.digits)
        if lines is None:
            return None
        digits = shipment.digits
        points = set(self.fees) | set(lines)
        for end in range(2, len(digits) + 1):
            for start, stop in self.rows.get(digits[:end], ()):
                points.update(t for t in (start, stop) if t is not None)
        kept = []
        for measure in self.schedule.measures:
            if measure.importer != shipment.dest or not measure.from_origin(shipment.origin):
                continue
            base = measure.group == "base" and measure.kind == "duty"
            if base or self._may_touch(measure, digits):
                kept.append(measure.id)
                points.update(t for p in measure.periods for t in (p.from_, p.to) if t)
        key = tuple(kept)
        reduced = self.reduced.get(key)
        if reduced is None:
            chosen = set(kept)
            measures = tuple(m for m in self.schedule.measures if m.id in chosen)
            reduced = replace(self.schedule, measures=measures)
            self.reduced[key] = reduced
        return _CodePlan(tuple(sorted(points)), reduced)

    def _may_touch(self, measure: Measure, digits: str) -> bool:
        """True if the measure's scope can include the code, or lists it, at some time."""
        scope = measure.scope
        if not scope.include:
            return True
        for entry in (*scope.include, *scope.exclude):
            if entry.startswith("@hts:"):
                return True
            if entry.startswith("@"):
                plist = self.schedule.product_lists.get(entry[1:])
                if plist is not None and plist.holds(digits, None):
                    return True
            elif entry in scope.include and digits.startswith(code_digits(entry)):
                return True
        return False


def _line_points(provider: BaseRates | None, digits: str) -> list[datetime] | None:
    """The instants at which the base-rate lines under ``digits`` change (None: unknown)."""
    if provider is None:
        return []
    if not isinstance(provider, UsSchedule):
        return list(provider.starts())
    if provider.imported is not None and provider.imported.revisions:
        return list(provider.starts())
    points = [
        datetime(r.effective.year, r.effective.month, r.effective.day)
        for r in (provider.bundle.revisions[:1] if provider.bundle is not None else ())
    ]
    if provider.bundle is not None:
        days = (day for row in provider.bundle.rows(digits) for day in row[1:3] if day)
        points.extend(datetime.fromisoformat(day) for day in days)
    return points


def top_changes(
    impact: RegimeImpact, baseline: RegimeImpact, count: int
) -> list[tuple[str, Decimal]]:
    """The ``count`` codes whose duty rose (or fell) most against ``baseline``."""
    codes = impact.by_code.keys() | baseline.by_code.keys()
    changes = ((code, impact.by_code[code] - baseline.by_code[code]) for code in codes)
    return sorted(changes, key=lambda item: (-abs(item[1]), item[0]))[:count]


def change_instants(
    schedule: Schedule, importer: str, start: datetime, end: datetime, base_rates: BaseRates | None
) -> list[datetime]:
    """Every instant in ``[start, end]`` at which the importer's data changes, with ``start``."""
    found = {start}
    for measure in schedule.measures:
        if measure.importer != importer:
            continue
        for period in measure.periods:
            found.update(t for t in (period.from_, period.to) if t is not None)
    for plist in schedule.product_lists.values():
        found.update(t for row in plist.rows for t in (row.start, row.end) if t is not None)
    provider = for_importer(base_rates, importer)  # one provider, or the importer's in Providers
    if provider is not None:
        found.update(provider.starts())
    for party in schedule.parties.values():
        for fee in party.fees:
            found.update(t for p in fee.periods for t in (p.from_, p.to) if t is not None)
    return sorted(t for t in found if start <= t <= end)


# ----------------------------------------------------------------------------- the sweep

Order = tuple[int, int]
"""Where a key of a breakdown first appears: (shipment index, place among its keys)."""
Term = tuple[bool, str]
"""One duty layer's money: charged on nothing (a remainder left empty by metal layers),
and its ad valorem fraction."""


@record
class _Part:
    """What one shipment, or a group of shipments alike at a view, adds to that view."""

    first: int
    """Index of the (first) shipment: the order its breakdown keys take."""
    count: int
    value: Decimal
    """Customs value, or the shipment's value when ``unpriced``."""
    duty: Decimal
    kinds: tuple[str, ...]
    """Review reasons (kinds), in order; empty when nothing needs review."""
    group: str | None
    measures: tuple[tuple[str, Decimal, Decimal, Order], ...]
    """Measure, value it charged duty on, that duty, where the measure first appears."""
    estimated: bool = False
    unpriced: bool = False


class _Sums:
    """One view's running sums, with the order each breakdown key first appeared in."""

    __slots__ = (
        "count", "duty", "estimated", "groups", "measures", "review", "review_value",
        "sets", "unpriced", "value",
    )  # fmt: skip

    def __init__(self) -> None:
        self.count = 0
        self.value = ZERO
        self.duty = ZERO
        self.review_value = ZERO
        self.estimated = ZERO
        self.unpriced = ZERO
        self.review: dict[str, list[Any]] = {}
        self.sets: dict[frozenset[str], list[Any]] = {}
        self.groups: dict[str, list[Any]] = {}
        self.measures: dict[str, list[Any]] = {}

    def add(self, part: _Part) -> None:
        """Add ``part`` as :func:`_add` adds a shipment's result."""
        value = part.value
        self.count += part.count
        first = (part.first, 0)
        if part.unpriced:
            self.unpriced += value
            self.review_value += value
            _put(self.review, part.kinds[0], value, first, Decimal(0))
            _put(self.sets, frozenset(part.kinds), value, first, Decimal(0))
            return
        self.value += value
        self.duty += part.duty
        if part.estimated:
            self.estimated += value
        if part.kinds:
            self.review_value += value
            for place, kind in enumerate(part.kinds):
                _put(self.review, kind, value, (part.first, place), Decimal(0))
            _put(self.sets, frozenset(part.kinds), value, first, Decimal(0))
        if part.group is not None:
            _put(self.groups, part.group, value, first, ZERO, part.duty)
        for measure, charged, duty, order in part.measures:
            _put(self.measures, measure, charged, order, ZERO, duty)

    def impact(self, view: RegimeView, codes: Callable[[], dict[str, Decimal]]) -> RegimeImpact:
        """The sums as the :class:`RegimeImpact` adding each shipment in turn would give."""
        review: dict[str, Decimal] = defaultdict(Decimal, _ordered(self.review))
        sets: dict[frozenset[str], Decimal] = defaultdict(Decimal, _ordered(self.sets))
        groups: dict[str, Sums] = defaultdict(Sums)
        for key, (value, duty) in _ordered_pairs(self.groups):
            groups[key] = Sums(value, duty)
        measures: dict[str, Sums] = defaultdict(Sums)
        for key, (value, duty) in _ordered_pairs(self.measures):
            measures[key] = Sums(value, duty)
        return RegimeImpact(
            view,
            Sums(self.value, self.duty),
            self.review_value,
            review,
            groups,
            measures,
            self.estimated,
            self.unpriced,
            sets,
            self.count,
            codes,
        )


def _put(
    into: dict[Any, list[Any]],
    key: object,
    value: Decimal,
    order: Order,
    start: Decimal,
    duty: Decimal | None = None,
) -> None:
    """Add to one key of a breakdown: [value, order, duty]; the earliest order is kept."""
    cell = into.get(key)
    if cell is None:
        into[key] = [start + value, order, None if duty is None else start + duty]
        return
    cell[0] += value
    if order < cell[1]:
        cell[1] = order
    if duty is not None:
        cell[2] += duty


def _ordered(cells: Mapping[Any, list[Any]]) -> list[tuple[Any, Decimal]]:
    return [(k, c[0]) for k, c in sorted(cells.items(), key=lambda kc: kc[1][1])]


def _ordered_pairs(cells: Mapping[Any, list[Any]]) -> list[tuple[Any, tuple[Decimal, Decimal]]]:
    return [(k, (c[0], c[2])) for k, c in sorted(cells.items(), key=lambda kc: kc[1][1])]


@dataclass(slots=True)
class _Group:
    """Shipments with the same layers at every view (and the same route, mode, breakdown
    key and estimate): the table charges them alike, so their sums are added once."""

    lines: list[int]
    customs: list[Decimal]
    signature: tuple[int, ...]
    """Per view: the index of the layers in the table, or -1 (the engine assesses)."""
    party: Party
    importer: str
    mode: str
    group: str | None
    estimated: bool
    value: Decimal = ZERO
    """The customs value of all its shipments."""
    stats: dict[tuple[Term, ...], tuple[Decimal, Decimal, int]] = field(default_factory=dict)


class _Sweep:
    """Every shipment under every view, the table charging whatever it can.

    For each shipment the table gives the layers at every view (a plain view: no overrides,
    no added measures). Shipments with the same layers at every view form a group; at a
    view the group's duty is, per duty layer, the sum over its shipments of that layer's
    amount rounded half-up per shipment, exactly as :func:`tradecalc.engine.compiled.charge`
    charges each (a test checks the two agree), and the value, review reasons and measure
    shares are the group's. Views where the table cannot charge a shipment (a layer only
    the engine charges, a declared metal content or quantity the layers need, a view with
    overrides) are assessed by the engine, reusing results as :class:`_Reuse` allows.
    Every breakdown keeps the order in which its keys first appear among the shipments.
    """

    def __init__(
        self,
        schedule: Schedule,
        views: Sequence[RegimeView],
        fx: FxTable | None,
        base_rates: BaseRates | None,
        tables: Tables,
        level: str | None,
        sections: Mapping[str, str],
    ) -> None:
        self.schedule = schedule
        self.views = views
        self.fx = fx
        self.base_rates = base_rates
        self.tables = tables
        self.level = level
        self.sections = sections
        self.helper = _Reuse(schedule, base_rates)
        self.charged: dict[tuple[int, tuple[bool, bool]], bool] = {}
        self.fee_at: dict[tuple[str, str, int], int] = {}
        self.fee_ids: dict[tuple[tuple[FeeAt, ...], tuple[str, ...]], int] = {}
        self.fee_sets: dict[int, tuple[tuple[FeeAt, ...], tuple[str, ...]]] = {}
        self.kinds: dict[tuple[int, int], tuple[str, ...]] = {}
        self.shapes: dict[int, list[tuple[str, list[tuple[int, Term]]]]] = {}
        self.parts: dict[tuple[int, int, int], _Part] = {}
        self.engine: dict[tuple[int, int], tuple[_Part, Decimal | None]] = {}

    def run(self, prepared: Sequence[tuple[Shipment, bool]]) -> list[RegimeImpact]:
        """The impacts of ``prepared`` (shipment, metal estimated) under every view."""
        while True:
            generation = self.tables.generation
            groups, of_line, engine_views = self._group(prepared)
            if self.tables.generation == generation:
                break  # a damaged cached table was dropped: its layer indexes are stale
        self.tables.save()
        sums = [_Sums() for _ in self.views]
        for at, group in enumerate(groups):
            for view, index in enumerate(group.signature):
                if index >= 0:
                    sums[view].add(self._part(at, group, view, index))
        for line, chosen in engine_views.items():
            shipment, estimated = prepared[line]
            for view, part in self._assess(line, shipment, estimated, chosen):
                sums[view].add(part)

        def codes(view: int) -> Callable[[], dict[str, Decimal]]:
            return lambda: self._codes(prepared, groups, of_line, view)

        pairs = enumerate(zip(sums, self.views, strict=True))
        return [s.impact(v, codes(n)) for n, (s, v) in pairs]

    # -- grouping

    def _group(
        self, prepared: Sequence[tuple[Shipment, bool]]
    ) -> tuple[list[_Group], list[int], dict[int, list[int]]]:
        """The groups, each line's group (-1: none) and the views the engine assesses."""
        plain = [not (v.overrides or v.added) for v in self.views]
        found: dict[tuple[object, ...], int] = {}
        groups: list[_Group] = []
        of_line: list[int] = []
        engine_views: dict[int, list[int]] = {}
        every = list(range(len(self.views)))
        for line, (shipment, estimated) in enumerate(prepared):
            signature = self._signature(shipment, plain)
            if signature is None:
                of_line.append(-1)
                engine_views[line] = every
                continue
            missing = [v for v, index in enumerate(signature) if index < 0]
            if missing:
                engine_views[line] = missing
            party = self.schedule.parties[shipment.dest]
            group_of = group_key(shipment.digits, self.level, self.sections)
            key = (shipment.dest, shipment.origin, shipment.mode, group_of, estimated, signature)
            at = found.get(key)
            if at is None:
                at = found[key] = len(groups)
                groups.append(
                    _Group([], [], signature, party, shipment.dest, shipment.mode, group_of,
                           estimated)
                )  # fmt: skip
            customs = _customs(party, shipment)
            groups[at].lines.append(line)
            groups[at].customs.append(customs)
            groups[at].value += customs
            of_line.append(at)
        return groups, of_line, engine_views

    def _signature(self, shipment: Shipment, plain: Sequence[bool]) -> tuple[int, ...] | None:
        """Per view the table's layer index for ``shipment`` (-1: the engine), or None."""
        party = self.schedule.parties.get(shipment.dest)
        if (
            party is None
            or shipment.entry is not None
            or shipment.claims
            or shipment.currency not in (None, party.currency)
            or not any(plain)
        ):
            return None
        tables = self.tables
        dest, origin, digits = shipment.dest, shipment.origin, shipment.digits
        first = next(v.as_of for v, p in zip(self.views, plain, strict=True) if p)
        if tables.index_at(dest, origin, digits, first) is None:
            return None
        found = tables.table.find((dest, origin, digits))
        if found is None:
            return None
        starts, ids = found
        facts = (bool(shipment.metal), shipment.quantity is not None and shipment.unit is not None)
        signature = []
        for view, is_plain in zip(self.views, plain, strict=True):
            if not is_plain:
                signature.append(-1)
                continue
            position = bisect_right(starts, view.as_of) - 1
            if position < 0:
                signature.append(-1)
                continue
            index = ids[position]
            charged = self.charged.get((index, facts))
            if charged is None:
                charged = self.charged[(index, facts)] = self._charged(index, facts)
            signature.append(index if charged else -1)
        return tuple(signature)

    def _charged(self, index: int, facts: tuple[bool, bool]) -> bool:
        """True when :func:`compiled.charge` can charge a shipment with these facts (declared
        metal content, a quantity with its unit) against the layers at ``index``."""
        try:
            layers = self.tables.layer(index)
        except Exception:  # a damaged cached layer: the engine assesses (always right)
            return False
        metal, quantity = facts
        return not (layers.engine or (layers.metal and metal) or (layers.specific and quantity))

    # -- the table's part

    def _fees(self, group: _Group, view: int) -> int:
        """An id of the fees charged (and fee review) for the group's mode at ``view``."""
        key = (group.importer, group.mode, view)
        found = self.fee_at.get(key)
        if found is None:
            fees = fees_at(group.party, group.mode, self.views[view].as_of)
            found = self.fee_ids.setdefault(fees, len(self.fee_ids))
            self.fee_at[key] = found
            self.fee_sets[found] = fees
        return found

    def _kinds(self, index: int, fees: int) -> tuple[str, ...]:
        """The review kinds of a shipment charged against the layers at ``index``."""
        found = self.kinds.get((index, fees))
        if found is None:
            review = review_of(self.tables.layer(index), self.fee_sets[fees], (), entry=False)
            found = tuple(dict.fromkeys(reason_kind(r) for r in review))
            self.kinds[(index, fees)] = found
        return found

    def _shape(self, index: int) -> list[tuple[str, list[tuple[int, Term]]]]:
        """The duty layers at ``index`` per measure: (place, term) of each of its layers."""
        found = self.shapes.get(index)
        if found is None:
            layers = self.tables.layer(index)
            per_measure: dict[str, list[tuple[int, Term]]] = {}
            for place, (duty, term) in enumerate(zip(layers.duties, _terms(layers), strict=True)):
                per_measure.setdefault(duty[0], []).append((place, term))
            found = self.shapes[index] = list(per_measure.items())
        return found

    def _part(self, at: int, group: _Group, view: int, index: int) -> _Part:
        """What ``group`` adds to ``view`` charged against the layers at ``index``."""
        fees = self._fees(group, view)
        key = (at, index, fees)
        found = self.parts.get(key)
        if found is not None:
            return found
        duty_sum = ZERO
        measures = []
        for measure, layers in self._shape(index):
            amount, charged, first = self._stat(group, tuple(t for _, t in layers))
            duty_sum += amount
            if first >= 0:
                customs = group.customs[first]
                place = next(p for p, term in layers if _amount(customs, term))
                measures.append((measure, charged, amount, (group.lines[first], place)))
        measures.sort(key=lambda m: m[3])
        found = self.parts[key] = _Part(
            group.lines[0],
            len(group.lines),
            group.value,
            duty_sum,
            self._kinds(index, fees),
            group.group,
            tuple(measures),
            group.estimated,
        )
        return found

    def _stat(self, group: _Group, terms: tuple[Term, ...]) -> tuple[Decimal, Decimal, int]:
        """Over the group: the duty of these layers, the value they charge, the first
        shipment they charge (its place in the group, -1: none)."""
        found = group.stats.get(terms)
        if found is not None:
            return found
        duty = ZERO
        value = ZERO
        first = -1
        for place, customs in enumerate(group.customs):
            amount = ZERO
            for term in terms:
                amount += _amount(customs, term)
            if amount:
                duty += amount
                value += customs
                if first < 0:
                    first = place
        found = group.stats[terms] = (duty, value, first)
        return found

    # -- the engine's part

    def _assess(
        self, line: int, shipment: Shipment, estimated: bool, views: Sequence[int]
    ) -> Iterator[tuple[int, _Part]]:
        """The engine's result for one shipment at ``views``, one assessment per stretch."""
        plan = self.helper.plan(shipment)
        outcomes: dict[object, tuple[_Part, Decimal | None]] = {}
        for view in views:
            regime = self.views[view]
            key = plan.key(regime) if plan is not None else None
            found = outcomes.get(key) if key is not None else None
            if found is None:
                target = plan.schedule if plan is not None and key is not None else self.schedule
                try:
                    outcome: Assessment | TradecalcError = assess(
                        target, shipment, regime, self.fx, self.base_rates
                    )
                except TradecalcError as exc:
                    outcome = exc
                found = _engine_part(line, shipment, outcome, estimated, self.level, self.sections)
                if key is not None:
                    outcomes[key] = found
            self.engine[(line, view)] = found
            yield view, found[0]

    def _codes(
        self,
        prepared: Sequence[tuple[Shipment, bool]],
        groups: Sequence[_Group],
        of_line: Sequence[int],
        view: int,
    ) -> dict[str, Decimal]:
        """Duty per code at ``view``, shipment by shipment (for ``--top``)."""
        found: dict[str, Decimal] = defaultdict(Decimal)
        places = {line: place for group in groups for place, line in enumerate(group.lines)}
        for line, (shipment, _) in enumerate(prepared):
            at = of_line[line]
            index = groups[at].signature[view] if at >= 0 else -1
            if index >= 0:
                group = groups[at]
                customs = group.customs[places[line]]
                terms = _terms(self.tables.layer(index))
                duty = money_sum(_amount(customs, t) for t in terms)
            else:
                duty_or_none = self.engine[(line, view)][1]
                if duty_or_none is None:
                    continue
                duty = duty_or_none
            found[shipment.digits] += duty
        return found


def _terms(layers: Layers) -> list[Term]:
    """Each duty layer as a :data:`Term` (:func:`compiled.charge`'s bases)."""
    metals = {d[9] for d in layers.duties if d[9] is not None}
    return [(bool(metals) and d[6] == "remainder", d[5]) for d in layers.duties]


@functools.cache
def _fraction(text: str) -> Decimal:
    return Decimal(text)


def _amount(customs: Decimal, term: Term) -> Decimal:
    """One duty layer's amount on ``customs``, rounded as :func:`compiled.charge` rounds it
    (a test checks the two agree)."""
    return round_money(EXACT.multiply(Decimal(0) if term[0] else customs, _fraction(term[1])))


_NO_LAYERS = Layers((), (), ())


def _customs(party: Party, shipment: Shipment) -> Decimal:
    """The customs value of a shipment in the importer's currency (:func:`compiled.charge`'s:
    a transaction value is the value rounded; a test checks the shortcut)."""
    if party.valuation == "transaction":
        return round_money(shipment.value)
    return charge(
        party, _NO_LAYERS, shipment.value, shipment.freight, shipment.insurance, ((), ())
    ).customs_value


def _engine_part(
    line: int,
    shipment: Shipment,
    result: Assessment | TradecalcError,
    estimated: bool,
    level: str | None,
    sections: Mapping[str, str],
) -> tuple[_Part, Decimal | None]:
    """What one engine result adds (as :func:`_add`), and its duty (None: unpriced)."""
    if isinstance(result, TradecalcError):
        kind = reason_kind(str(result).split(" (", 1)[0])
        return _Part(line, 1, shipment.value, ZERO, (kind,), None, (), unpriced=True), None
    value, duty = result.customs_value, result.duty
    charged: dict[str, Decimal] = defaultdict(Decimal)
    for item in result.lines:
        if item.amount:
            charged[item.measure] += item.amount
    measures = tuple(
        (measure, value, amount, (line, place))
        for place, (measure, amount) in enumerate(charged.items())
    )
    kinds = tuple(dict.fromkeys(reason_kind(r) for r in result.review)) if result.review else ()
    part = _Part(
        line,
        1,
        value,
        duty,
        kinds,
        group_key(shipment.digits, level, sections),
        measures,
        estimated,
    )
    return part, duty
