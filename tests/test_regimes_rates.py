"""``tradecalc regimes`` (headline rates) and ``tradecalc rates CODE`` (timeline and chart)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from tradecalc.engine.assessment import regime_views
from tradecalc.engine.snapshot import headlines
from tradecalc.engine.timeline import timeline
from tradecalc.render.data import bar, headline_text
from tradecalc.schedule.load import LoadedSchedule

from conftest import BUNDLED, MINI, Run
from snapshot import assert_snapshot

Cli = Callable[..., Run]
DATA = ("--data", str(MINI))


@pytest.mark.parametrize(
    ("regime", "text"),
    [
        ("before", "US←CN 0% · CN←US 0%"),
        ("pre-geneva", "US←CN 145% · CN←US 125%"),
        ("geneva", "US←CN 30% · CN←US 10%"),
        ("lapse", "US←CN 54% · CN←US 34%"),
    ],
)
def test_headline_rates_are_computed(mini: LoadedSchedule, regime: str, text: str) -> None:
    view = regime_views(mini.schedule)[regime]
    assert headline_text(headlines(mini.schedule, view)) == text


def test_regimes_snapshot(cli: Cli) -> None:
    run = cli("regimes", *DATA)
    assert run.code == 0
    assert_snapshot("regimes.txt", run.out)


def test_bundled_headlines_tell_the_geneva_story(bundled: LoadedSchedule) -> None:
    views = regime_views(bundled.schedule)
    text = {k: headline_text(headlines(bundled.schedule, views[k])) for k in views}
    assert text["pre-geneva"].startswith("US←CN 145% · CN←US 125%")
    assert text["geneva"].startswith("US←CN 30% · CN←US 10%")


def test_timeline_lists_every_measure_touching_the_code(mini: LoadedSchedule) -> None:
    line = timeline(mini.schedule, "8703.80.0000", "CN", "US")
    assert [(e.measure.id, e.rate) for e in line.entries] == [
        ("us-mfn", "2.5%"),
        ("us-fentanyl", "20%"),
        ("us-232-autos", "25%"),
        ("us-recip", "125%"),
        ("us-recip", "10%"),
        ("us-recip", "10%"),
    ]
    # reciprocal never adds: section 232 autos displace it from 3 April
    assert [(str(p.when.date()), p.total) for p in line.points] == [
        ("2024-01-01", Decimal("0.025")),
        ("2025-03-04", Decimal("0.225")),
        ("2025-04-03", Decimal("0.475")),
    ]


def test_timeline_total_follows_the_china_side(mini: LoadedSchedule) -> None:
    line = timeline(mini.schedule, "1201.90", "US", "CN")
    assert [p.total for p in line.points] == [Decimal("0.03"), Decimal("1.28"), Decimal("0.13")]


def test_rates_snapshot(cli: Cli) -> None:
    run = cli("rates", "7326.90.8688", *DATA)
    assert run.code == 0, run.err
    assert_snapshot("rates.txt", run.out)


def test_rates_dest_china_defaults_origin_us(cli: Cli) -> None:
    run = cli("rates", "1201.90", "--dest", "CN", *DATA)
    assert run.code == 0
    assert "HS 1201.90 · US → CN" in run.out


def test_rates_bad_code_is_a_usage_error(cli: Cli) -> None:
    run = cli("rates", "12x", *DATA)
    assert run.code == 2
    assert run.err.startswith("tradecalc: error: HS code '12x' is not valid")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(0), ""),
        (Decimal(1), "█" * 40),
        (Decimal("0.5"), "█" * 20),
        (Decimal("0.01"), "▍"),  # 3.2 eighths of a cell
        (Decimal(2), "█" * 40),
    ],
)
def test_bar(value: Decimal, expected: str) -> None:
    assert bar(value, Decimal(1)) == expected


def test_bundled_rates_runs(cli: Cli) -> None:
    run = cli("rates", "9503.00.0073", "--data", str(BUNDLED))
    assert run.code == 0, run.err
    assert "Total ad valorem duty on 9503.00.0073 from CN into US:" in run.out


def test_regimes_as_json_and_csv_agree_with_the_table(cli: Cli) -> None:
    as_json = json.loads(cli("regimes", "--format", "json", *DATA).out)
    assert as_json["data_version"] == "test.1"
    ids = [r["id"] for r in as_json["regimes"]]
    assert ids[:3] == ["before", "pre-geneva", "geneva"]
    geneva = as_json["regimes"][2]
    assert geneva["as_of"] == "2025-05-14T12:01" and geneva["hypothetical"] is False
    assert {(h["importer"], h["origin"], h["rate"]) for h in geneva["headline"]} == {
        ("US", "CN", "0.3"),
        ("CN", "US", "0.1"),
    }
    rows = list(csv.DictReader(io.StringIO(cli("regimes", "--format", "csv", *DATA).out)))
    assert [r["regime"] for r in rows][::2] == ids
    table = cli("regimes", *DATA).out
    assert "30%" in table and "10%" in table


@pytest.mark.parametrize("command", [("duty", "1", "--hs", "9503.00.0073"), ("regimes",)])
def test_a_misspelt_format_is_one_clean_usage_line(cli: Cli, command: tuple[str, ...]) -> None:
    run = cli(*command, "--format", "jsn", *DATA)
    assert run.code == 2
    assert run.err.splitlines() == [
        "tradecalc: error: Invalid value for '--format': 'jsn' is not one of 'table', 'json', "
        f"'csv'. (see: tradecalc {command[0]} --help)"
    ]
