"""Choose the regimes a command computes: named regimes, scenarios, ``--set`` and dates.

One rule for every command: each named regime, scenario and date is a column of its own,
computed at its own instant; ``--set`` adds one more column, the last chosen one with the
overrides; with nothing chosen, every named regime of the schedule is a column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tradecalc.engine import RegimeView, dated_view, regime_views, with_overrides
from tradecalc.errors import UsageError
from tradecalc.inputs import parse_entry, parse_overrides
from tradecalc.models import Scenario, Schedule, format_when


def date_view(text: str) -> RegimeView:
    """The schedule in force at a date (``YYYY-MM-DD[THH:MM]``)."""
    when, _ = parse_entry(text)
    return dated_view(when, text)


def instant_view(when: datetime) -> RegimeView:
    """The schedule in force at an instant of the data."""
    return dated_view(when, format_when(when))


def select_views(
    schedule: Schedule,
    regimes: Sequence[str] = (),
    scenarios: Sequence[Scenario] = (),
    sets: Sequence[str] = (),
    dates: Sequence[str] = (),
) -> list[RegimeView]:
    """The views to compute, in the order chosen (see the module docstring)."""
    known = regime_views(
        schedule.model_copy(update={"scenarios": (*schedule.scenarios, *scenarios)})
    )
    chosen: list[RegimeView] = []
    for name in regimes:
        if name not in known:
            raise UsageError(f"unknown regime {name!r}; known: {', '.join(known)}")
        chosen.append(known[name])
    chosen += [known[s.id] for s in scenarios if known[s.id] not in chosen]
    chosen += [date_view(text) for text in dates]
    if not chosen:
        chosen = [known[r.id] for r in schedule.regimes]
    overrides = parse_overrides(sets)
    if overrides:
        measures = {m.id for m in schedule.measures}
        for o in overrides:
            if o.measure not in measures:
                raise UsageError(f"--set: unknown measure {o.measure!r} (see: tradecalc regimes)")
        chosen.append(with_overrides(chosen[-1], overrides, "custom"))
    return chosen
