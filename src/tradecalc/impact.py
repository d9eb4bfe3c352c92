"""What a regime does to a whole trade flow: trade-weighted duty over a basket of goods.

A basket is a list of shipments (``hs, value`` and optionally ``origin, dest, qty, unit,
metal``), read with the batch reader and assessed with the one engine. Per regime the sums
are the customs value, the duty, the value whose result needs review (and why), the value
and duty under each measure, and breakdowns by HS section, chapter or heading. The average
rate is duty over customs value; the increment is the difference to a baseline regime.
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tradecalc.base_rates import BaseRates, for_importer
from tradecalc.batch import RowError, read_rows, to_shipment
from tradecalc.engine import Assessment, MetalContent, RegimeView, Shipment, assess
from tradecalc.errors import TradecalcError
from tradecalc.hts_history import UsSchedule
from tradecalc.models import Measure, Schedule, code_digits
from tradecalc.money import FxTable

ZERO = Decimal("0.00")
LEVELS = ("section", "chapter", "heading")
BASKETS = {"US": "us-imports-from-cn-2024.csv", "CN": "us-exports-to-cn-2024.csv"}
"""The bundled default basket of each importer."""
ESTIMATE_NOTE = (
    "metal content estimated from BEA input-output shares (Yale Budget Lab), not declared"
)
_NUMBERS = re.compile(r"\d[\d.,:T-]*")


def basket_folder() -> Path:
    """The bundled ``data/baskets`` folder (installed copy, else the source tree's)."""
    here = Path(__file__).resolve().parent
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
    """Estimated metal shares of value per HTS10 (only non-zero shares)."""
    found: dict[str, dict[str, Decimal]] = {}
    for row in csv.DictReader(_rows(basket_folder() / "metal-shares-estimate.csv")):
        shares = {m: Decimal(row[m]) for m in ("steel", "aluminum", "copper") if row[m] != "0.0000"}
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
            yield number, replace(to_shipment(fields), entry=None)
        except TradecalcError as exc:
            yield RowError(number, str(exc))


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
    by_code: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    estimated_metal_value: Decimal = ZERO
    unpriced_value: Decimal = ZERO
    review_sets: dict[frozenset[str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    """Value needing review per set of reason kinds (one shipment counts once)."""
    """Value of shipments the engine could not price at all (e.g. a code not in the schedule
    in force): counted in the review value, left out of the customs value and duty, as
    ``batch`` leaves such rows out of its sums."""
    shipments: int = 0

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
) -> list[RegimeImpact]:
    """Assess every shipment under every view and add up the results per view.

    With ``reuse`` (the default) a shipment is assessed once per stretch of time in which
    nothing that can touch its code changes (see :class:`_Reuse`), against a copy of the
    schedule holding only the measures that can touch it; the sums are the same as
    assessing it under every view (a test compares the two).
    """
    sections = chapter_sections() if level == "section" else {}
    prepared = [
        with_estimated_metal(s, estimates) if estimates is not None else (s, False)
        for s in shipments
    ]
    results = [RegimeImpact(view) for view in views]
    helper = _Reuse(schedule, base_rates) if reuse else None
    for shipment, estimated in prepared:
        outcomes: dict[object, Assessment | TradecalcError] = {}
        plan = helper.plan(shipment) if helper is not None else None
        for impact in results:
            view = impact.view
            key = plan.key(view) if plan is not None else None
            outcome = outcomes.get(key) if key is not None else None
            if outcome is None:
                target = plan.schedule if plan is not None and key is not None else schedule
                try:
                    outcome = assess(target, shipment, view, fx, base_rates)
                except TradecalcError as exc:
                    outcome = exc
                if key is not None:
                    outcomes[key] = outcome
            _add(impact, shipment, outcome, estimated, level, sections)
    return results


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


@dataclass(frozen=True, slots=True)
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
            reduced = self.schedule.model_copy(update={"measures": measures})
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
