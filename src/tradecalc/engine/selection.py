"""Choose the regimes a command computes: named regimes, scenarios, ``--set`` and dates.

One rule for every command: each named regime, scenario and date is a column of its own,
computed at its own instant; ``--set`` adds one more column, the last chosen one with the
overrides. With nothing chosen, the entry date (when given) is the one column, else every
named regime of the schedule is a column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tradecalc.core.errors import UsageError
from tradecalc.engine.assessment import RegimeView, dated_view, regime_views, with_overrides
from tradecalc.engine.inputs import parse_entry, parse_overrides
from tradecalc.schedule.models import Override, Scenario, Schedule, format_when

__all__ = [
    "date_view",
    "entry_views",
    "instant_view",
    "known_views",
    "load_scenarios",
    "select_views",
]


def date_view(text: str) -> RegimeView:
    """The schedule in force at a date (``YYYY-MM-DD[THH:MM]``), labelled with ``text``."""
    when, _ = parse_entry(text)
    return dated_view(when, text)


def instant_view(when: datetime) -> RegimeView:
    """The schedule in force at an instant of the data."""
    return dated_view(when, format_when(when))


def entry_views(entry: datetime, overrides: Sequence[Override] = ()) -> list[RegimeView]:
    """The schedule in force at a shipment's entry, plus ``--set``'s column when given."""
    view = dated_view(entry)
    return [view, with_overrides(view, overrides, "custom")] if overrides else [view]


def load_scenarios(schedule: Schedule, scenarios: Sequence[Scenario | Path]) -> list[Scenario]:
    """Scenarios as given, scenario files loaded and checked against ``schedule``."""
    if not any(isinstance(s, Path) for s in scenarios):
        return [s for s in scenarios if isinstance(s, Scenario)]
    from tradecalc.schedule.load import load_scenario

    return [s if isinstance(s, Scenario) else load_scenario(s, schedule) for s in scenarios]


def known_views(
    schedule: Schedule, scenarios: Sequence[Scenario | Path] = ()
) -> dict[str, RegimeView]:
    """Every named regime and scenario by id; a scenario file also by its path as given."""
    loaded = load_scenarios(schedule, scenarios)
    known = _views(schedule, loaded)
    files = {str(given): s.id for given, s in zip(scenarios, loaded, strict=True)}
    return {**known, **{given: known[sid] for given, sid in files.items()}}


def select_views(
    schedule: Schedule,
    regimes: Sequence[str] = (),
    scenarios: Sequence[Scenario | Path] = (),
    sets: Sequence[str] = (),
    dates: Sequence[str] = (),
    *,
    entry: str | None = None,
) -> list[RegimeView]:
    """The views to compute, in the order chosen (see the module docstring).

    ``scenarios`` may be scenario files (loaded here). ``dates`` are columns of their own;
    ``entry`` (``duty --date``) is computed only when nothing else is chosen.
    """
    files = load_scenarios(schedule, scenarios)
    known = _views(schedule, files)
    chosen: list[RegimeView] = []
    for name in regimes:
        if name not in known:
            raise UsageError(f"unknown regime {name!r}; known: {', '.join(known)}")
        chosen.append(known[name])
    chosen += [known[s.id] for s in files if known[s.id] not in chosen]
    chosen += [date_view(text) for text in dates]
    if not chosen:
        if entry is not None:
            chosen = [date_view(entry)]
        else:
            chosen = [known[r.id] for r in schedule.regimes]
    overrides = parse_overrides(sets)
    if overrides:
        _check_measures(schedule, overrides)
        chosen.append(with_overrides(chosen[-1], overrides, "custom"))
    return chosen


def _views(schedule: Schedule, scenarios: Sequence[Scenario]) -> dict[str, RegimeView]:
    if scenarios:
        schedule = dataclasses.replace(schedule, scenarios=(*schedule.scenarios, *scenarios))
    return regime_views(schedule)


def _check_measures(schedule: Schedule, overrides: Sequence[Override]) -> None:
    measures = [m.id for m in schedule.measures]
    for o in overrides:
        if o.measure not in measures:
            from difflib import get_close_matches

            nearest = ", ".join(get_close_matches(o.measure, measures, n=3, cutoff=0))
            raise UsageError(
                f"--set: unknown measure {o.measure!r}; nearest ids: {nearest} "
                "(tradecalc rates CODE lists the measures on a code)"
            )
