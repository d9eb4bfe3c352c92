"""The one regime selection every command uses (``tradecalc.select_views``)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tradecalc import select_views
from tradecalc.core.errors import UsageError
from tradecalc.engine.selection import entry_views, known_views
from tradecalc.schedule.load import LoadedSchedule
from tradecalc.schedule.models import Override

from conftest import FIXTURES

HALF = FIXTURES / "scenarios" / "half.yaml"


def test_nothing_chosen_is_every_named_regime(mini: LoadedSchedule) -> None:
    views = select_views(mini.schedule)
    assert [v.id for v in views] == [r.id for r in mini.schedule.regimes]


def test_the_entry_date_is_the_column_only_when_nothing_is_chosen(mini: LoadedSchedule) -> None:
    (dated,) = select_views(mini.schedule, entry="2025-04-10")
    assert (dated.id, dated.as_of, dated.follows_entry) == (
        "2025-04-10",
        datetime(2025, 4, 10),
        True,
    )
    assert [v.id for v in select_views(mini.schedule, ["geneva"], entry="2025-04-10")] == ["geneva"]


def test_regimes_scenario_files_dates_then_set_in_order(mini: LoadedSchedule) -> None:
    views = select_views(mini.schedule, ["before"], [HALF], ["us-fentanyl=off"], ["2025-06-01"])
    assert [v.id for v in views] == ["before", "half", "2025-06-01", "custom"]
    custom = views[-1]
    assert custom.as_of == views[-2].as_of  # based on the last column chosen
    assert custom.overrides[-1] == Override(measure="us-fentanyl", off=True)


def test_unknown_names_are_usage_errors_naming_what_exists(mini: LoadedSchedule) -> None:
    with pytest.raises(UsageError, match="unknown regime 'nope'; known: before, "):
        select_views(mini.schedule, ["nope"])
    with pytest.raises(UsageError, match="--set: unknown measure 'us-fent'; nearest ids: us-fen"):
        select_views(mini.schedule, sets=["us-fent=5%"])


def test_known_views_name_a_scenario_file_by_its_path(mini: LoadedSchedule) -> None:
    views = known_views(mini.schedule, [HALF])
    assert views[str(HALF)] is views["half"]
    assert {"before", "pre-geneva", "geneva", "lapse"} <= views.keys()


def test_entry_views_add_the_set_column() -> None:
    entry = datetime(2025, 5, 20)
    plain, custom = entry_views(entry, [Override(measure="us-fentanyl", off=True)])
    assert plain.as_of == custom.as_of == entry and custom.id == "custom"
    assert len(entry_views(entry)) == 1
