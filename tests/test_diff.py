"""``tradecalc diff``: regimes, scenarios and data files; table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tradecalc.engine.assessment import regime_views
from tradecalc.engine.diff import Change, diff_regimes, diff_schedules
from tradecalc.schedule.load import LoadedSchedule

from conftest import BUNDLED, MINI, ROOT, Run
from snapshot import assert_snapshot

Cli = Callable[..., Run]
DATA = ("--data", str(MINI))
GENEVA_CHANGES = {
    ("CN←US", "cn-counter", "rate", "125%", "10%"),
    ("US←CN", "us-recip", "rate", "125%", "10%"),
    ("US←CN", "us-recip", "heading", "9903.01.63", "9903.01.25"),
}


def _material(changes: tuple[Change, ...]) -> set[tuple[str, str, str, str, str]]:
    return {
        (c.direction, c.item, c.field, c.before, c.after) for c in changes if c.field != "period"
    }


def test_geneva_changes_exactly_the_two_headline_measures(mini: LoadedSchedule) -> None:
    views = regime_views(mini.schedule)
    result = diff_regimes(mini.schedule, views["pre-geneva"], views["geneva"])
    assert _material(result.changes) == GENEVA_CHANGES
    assert {c.change for c in result.changes} == {"changed"}


def test_diff_is_antisymmetric(mini: LoadedSchedule) -> None:
    views = regime_views(mini.schedule)
    forward = diff_regimes(mini.schedule, views["before"], views["geneva"])
    back = diff_regimes(mini.schedule, views["geneva"], views["before"])
    assert {(c.item, c.field) for c in forward.changes} == {(c.item, c.field) for c in back.changes}
    flip = {"added": "removed", "removed": "added", "changed": "changed"}
    assert sorted((flip[c.change], c.item, c.after, c.before) for c in forward.changes) == sorted(
        (c.change, c.item, c.before, c.after) for c in back.changes
    )


def test_same_regime_has_no_changes(mini: LoadedSchedule) -> None:
    views = regime_views(mini.schedule)
    assert diff_regimes(mini.schedule, views["geneva"], views["geneva"]).changes == ()


def test_scenario_overrides_show_as_changes(cli: Cli) -> None:
    run = cli("diff", "geneva", "lapse", *DATA, "--format", "csv")
    assert run.code == 0
    assert run.out.splitlines() == [
        "change,section,direction,item,field,before,after,code",
        "changed,measure,CN←US,cn-counter,rate,10%,34%,",
        "changed,measure,US←CN,us-recip,rate,10%,34%,",
        "changed,measure,US←CN,us-recip,heading,9903.01.25,9903.01.63,",
    ]


def test_added_and_removed_measures(cli: Cli) -> None:
    run = cli("diff", "before", "pre-geneva", *DATA, "--format", "json")
    data = json.loads(run.out)
    added = {c["item"] for c in data["changes"] if c["change"] == "added"}
    assert added == {"us-recip", "us-fentanyl", "us-232-steel", "us-232-autos", "cn-counter"}
    assert not [c for c in data["changes"] if c["change"] != "added"]


def test_diff_table_snapshot(cli: Cli) -> None:
    run = cli("diff", "pre-geneva", "geneva", *DATA)
    assert run.code == 0
    assert_snapshot("diff-regimes.txt", run.out)


def test_scenario_file_as_argument(cli: Cli, tmp_path: Path) -> None:
    scenario = tmp_path / "half.yaml"
    scenario.write_text(
        "scenario:\n  id: half\n  title: Half\n  based_on: geneva\n  description: x\n"
        '  overrides:\n    - { measure: us-recip, rate: "5%" }\n',
        encoding="utf-8",
    )
    run = cli("diff", "geneva", str(scenario), *DATA, "--format", "csv")
    assert run.code == 0, run.err
    assert run.out.splitlines()[1:] == ["changed,measure,US←CN,us-recip,rate,10%,5%,"]


def test_unknown_regime_is_a_usage_error(cli: Cli) -> None:
    run = cli("diff", "geneva", "nope", *DATA)
    assert run.code == 2
    assert run.err.startswith("tradecalc: error: unknown regime 'nope'; known: ")


def test_invalid_data_file_is_a_usage_error(cli: Cli) -> None:
    run = cli("diff", str(MINI), str(ROOT / "tests" / "invalid" / "unknown-source.yaml"))
    assert run.code == 2
    assert "unknown source 'usitc'" in run.err


def test_mixing_a_data_file_and_a_regime_is_refused(cli: Cli) -> None:
    run = cli("diff", str(MINI), "geneva")
    assert run.code == 2


# ----------------------------------------------------------------------------- files


def _edited(tmp_path: Path) -> Path:
    text = MINI.read_text(encoding="utf-8")
    text = text.replace('rate: "25%", heading: "9903.88.03"', 'rate: "7.5%", heading: "9903.88.15"')
    text = text.replace('"6110.11.0015": "16%"', '"6110.11.0015": "17%"')
    text = text.replace("  - id: us-adcvd-steel\n", "  - id: us-adcvd-steel-2\n")
    text = text.replace('as_of: "2025-05-13"', 'as_of: "2025-05-12"')
    path = tmp_path / "edited.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_diff_is_structural(cli: Cli, tmp_path: Path) -> None:
    edited = _edited(tmp_path)
    run = cli("diff", str(MINI), str(edited), "--format", "csv")
    assert run.code == 0, run.err
    assert run.out.splitlines()[1:] == [
        "changed,period,US←*,us-mfn @ 2024-01-01,rates,6 code rates,"
        '"6 code rates (1 changed, 0 added, 0 removed)",',
        "changed,period,US←*,us-mfn @ 2024-01-01,rate,16%,17%,6110.11.0015",
        "changed,period,US←CN,us-301 @ 2024-01-01,rate,25%,7.5%,",
        "changed,period,US←CN,us-301 @ 2024-01-01,heading,9903.88.03,9903.88.15,",
        "removed,measure,US←CN,us-adcvd-steel,,1 period,,",
        "added,measure,US←CN,us-adcvd-steel-2,,,1 period,",
        "changed,regime,,pre-geneva,as_of,2025-05-13,2025-05-12,",
    ]


def test_file_diff_names_each_code_with_both_rates(cli: Cli, tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8")
    text = text.replace('"6110.11.0015": "16%"', '"6110.11.0015": "17%"')
    text = text.replace('"9503.00.0073": "Free"', '"9503.00.0074": "Free"')
    edited = tmp_path / "edited.yaml"
    edited.write_text(text, encoding="utf-8")
    expected = {
        ("changed", "6110.11.0015", "16%", "17%"),
        ("removed", "9503.00.0073", "Free", ""),
        ("added", "9503.00.0074", "", "Free"),
    }
    as_json = json.loads(cli("diff", str(MINI), str(edited), "--format", "json").out)
    rates = [c for c in as_json["changes"] if c["field"] == "rate"]
    assert {(c["change"], c["code"], c["before"], c["after"]) for c in rates} == expected
    summary = next(c for c in as_json["changes"] if c["field"] == "rates")
    assert summary["after"] == "6 code rates (1 changed, 1 added, 1 removed)"
    rows = list(
        csv.DictReader(io.StringIO(cli("diff", str(MINI), str(edited), "--format", "csv").out))
    )
    assert {
        (r["change"], r["code"], r["before"], r["after"]) for r in rows if r["code"]
    } == expected
    table = cli("diff", str(MINI), str(edited)).out
    for line in (r"6110\.11\.0015:?\s+16%\s+(→ )?17%", r"9503\.00\.0073:?\s+Free\s+(→ )?—"):
        assert re.search("rate " + line, table), table
    assert re.search(r"rate 9503\.00\.0074:?\s+—\s+(→ )?Free", table), table


SIDES = ("before", "after")


def test_file_diff_covers_fees_taxes_parties_and_lists(cli: Cli, tmp_path: Path) -> None:
    """A VAT rate by code, a fee minimum, a party setting and a listed code once gave 'none'."""
    text = MINI.read_text(encoding="utf-8")
    edits = [
        ('rates: { "1201.90": "9%" }', 'rates: { "1201.90": "11%" }'),
        ('rate: "0.3464%", min: "33.58"', 'rate: "0.3464%", min: "34.00"'),
        ('codes: ["6110.11", "7326.90.86"]', 'codes: ["6110.11", "7326.90.87"]'),
        ('timezone: "America/New_York"', 'timezone: "America/Chicago"'),
    ]
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    edited = tmp_path / "edited.yaml"
    edited.write_text(text, encoding="utf-8")
    changes = json.loads(cli("diff", str(MINI), str(edited), "--format", "json").out)["changes"]
    found = {
        tuple(c[k] for k in ("change", "section", "direction", "item", "field", "code", *SIDES))
        for c in changes
    }
    assert (
        "changed",
        "period",
        "CN",
        "cn-vat @ 2024-01-01",
        "rate",
        "1201.90",
        "9%",
        "11%",
    ) in found
    assert ("changed", "period", "US", "us-mpf @ 2025-10-01", "min", "", "33.58", "34.00") in found
    assert ("removed", "list", "", "list3", "code", "7326.90.86", "always", "") in found
    assert ("added", "list", "", "list3", "code", "7326.90.87", "", "always") in found
    assert (
        "changed",
        "party",
        "US",
        "US",
        "timezone",
        "",
        "America/New_York",
        "America/Chicago",
    ) in found
    assert len(changes) == 7  # and the two summary rows (VAT table, list): nothing else moved
    assert diff_schedules(_loaded(edited), _loaded(edited), "a", "b").changes == ()


def _loaded(path: Path) -> object:
    from tradecalc.schedule.load import load_schedule

    return load_schedule(path, use_cache=False).schedule


def test_identical_files_have_no_changes(mini: LoadedSchedule) -> None:
    assert diff_schedules(mini.schedule, mini.schedule, "a", "b").changes == ()


def test_file_diff_table_snapshot(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _edited(tmp_path)
    (tmp_path / "mini.yaml").write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    run = cli("diff", "mini.yaml", "edited.yaml")
    assert_snapshot("diff-files.txt", run.out)


# ----------------------------------------------------------------------------- bundled


def test_bundled_geneva_diff_is_exactly_the_14_may_changes(cli: Cli) -> None:
    run = cli("diff", "pre-geneva", "geneva", "--data", str(BUNDLED), "--format", "json")
    assert run.code == 0, run.err
    changes = json.loads(run.out)["changes"]
    material = {
        (c["direction"][:5], c["field"], c["before"], c["after"])
        for c in changes
        if c["field"] != "period"
    }
    assert material == {
        ("US←CN", "rate", "125%", "10%"),
        ("US←CN", "heading", "9903.01.63", "9903.01.25"),
        ("CN←US", "rate", "125%", "10%"),
    }
    assert {c["item"] for c in changes} == {"us-ieepa-reciprocal", "cn-counter-2025"}
