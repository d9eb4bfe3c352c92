"""What a regime puts in force: each measure's period, rate, heading, base and scope at its moment.

Pure functions over a schedule and a resolved regime view; ``diff`` compares two snapshots and
``regimes`` sums their all-goods rates into headline figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal

from tradecalc.core.records import record
from tradecalc.engine.assessment import RegimeView
from tradecalc.schedule.models import Measure, Period, Schedule, Scope, format_when


@record
class InForce:
    """One measure as a regime sees it."""

    measure: Measure
    rate: str
    """The flat rate, or ``""`` when the period only has a table of rates by code."""
    heading: str | None
    base: str
    period: str
    table: Mapping[str, str] = field(default_factory=dict)
    ad_valorem: Decimal | None = None
    """The flat rate's ad valorem part, when the measure has a flat rate."""

    @property
    def direction(self) -> str:
        return direction(self.measure)

    @property
    def scope(self) -> str:
        return scope_text(self.measure.scope)


def direction(measure: Measure) -> str:
    """``US←CN``: importer, arrow, origins."""
    return f"{measure.importer}←{','.join(measure.origins)}"


def scope_text(scope: Scope) -> str:
    """A scope in one line: ``all goods``, ``7326, @list3 except 7326.90``."""
    text = ", ".join(scope.include) if scope.include else "all goods"
    if scope.exclude:
        text += f" except {', '.join(scope.exclude)}"
    return text


def period_text(period: Period) -> str:
    """``2025-04-10 to 2025-05-14`` or ``from 2025-05-14``."""
    if period.to is None:
        return f"from {format_when(period.from_)}"
    return f"{format_when(period.from_)} to {format_when(period.to)}"


def table_of(period: Period) -> dict[str, str]:
    """A period's rates by code as text."""
    return {code: str(entry.rate) for code, entry in period.rates.items()}


def in_force(schedule: Schedule, view: RegimeView) -> dict[str, InForce]:
    """Every duty or flag measure in force under ``view`` (scenario overrides applied)."""
    overrides = {o.measure: o for o in view.overrides}
    found: dict[str, InForce] = {}
    for measure in (*schedule.measures, *view.added):
        override = overrides.get(measure.id)
        if override is not None and override.off:
            continue
        period = next((p for p in measure.periods if p.covers(view.as_of)), None)
        if override is not None and override.rate is not None:
            found[measure.id] = InForce(
                measure,
                str(override.rate),
                override.heading or (period.heading if period else None),
                _base(measure, period),
                period_text(period) if period else "set by the scenario",
                ad_valorem=override.rate.ad_valorem,
            )
        elif period is not None:
            found[measure.id] = InForce(
                measure,
                str(period.rate) if period.rate is not None else "",
                period.heading,
                _base(measure, period),
                period_text(period),
                table_of(period),
                period.rate.ad_valorem if period.rate is not None else None,
            )
    return found


def _base(measure: Measure, period: Period | None) -> str:
    if period is not None and period.base is not None:
        return period.base
    return measure.base


@record
class Headline:
    """The sum of the all-goods ad valorem duties one importer charges one origin."""

    importer: str
    origin: str
    rate: Decimal

    @property
    def direction(self) -> str:
        return f"{self.importer}←{self.origin}"


def headlines(schedule: Schedule, view: RegimeView) -> list[Headline]:
    """Headline rates per direction between the schedule's parties.

    Counts duty measures with no ``include`` scope and a flat rate, other than the base
    (MFN) tariff: the rates a news report would quote (125% reciprocal + 20% fentanyl =
    145%), not product lists.
    """
    states = [s for s in in_force(schedule, view).values() if s.measure.kind == "duty"]
    found = []
    for importer in schedule.parties:
        for origin in schedule.parties:
            if origin == importer:
                continue
            total = sum(
                (
                    s.ad_valorem
                    for s in states
                    if s.measure.importer == importer
                    and (origin in s.measure.origins or "*" in s.measure.origins)
                    and not s.measure.scope.include
                    and s.measure.group != "base"
                    and s.ad_valorem is not None
                ),
                Decimal(0),
            )
            found.append(Headline(importer, origin, total))
    return found
