"""``tradecalc impact``: trade-weighted sums equal batch's, breakdowns add up, the timeline."""

from __future__ import annotations

import csv
import functools
import itertools
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradecalc.analysis.impact import (
    RegimeImpact,
    Sums,
    change_instants,
    measure_impact,
    metal_estimates,
    reason_kind,
)
from tradecalc.engine.assessment import MetalContent, RegimeView, Shipment, regime_views
from tradecalc.engine.compiled import Tables
from tradecalc.engine.selection import select_views
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import code_digits

from conftest import BUNDLED, ROOT, SHARED_DATA, run_child

SCHEDULE = load_schedule(BUNDLED, use_cache=False).schedule


def _basket_codes(every: int = 350) -> list[str]:
    """Real HTS10 codes spread over the bundled 2024 basket (one in ``every``)."""
    lines = (ROOT / "data" / "baskets" / "us-imports-from-cn-2024.csv").read_text().splitlines()
    rows = [line.split(",")[0] for line in lines if line[:1].isdigit()]
    return rows[::every]


US_CODES = _basket_codes()


def _basket(tmp_path: Path, rows: list[tuple[str, str]], name: str = "basket.csv") -> Path:
    path = tmp_path / name
    path.write_text("hs,value\n" + "".join(f"{c},{v}\n" for c, v in rows), encoding="utf-8")
    return path


def test_impact_sums_equal_batch_sums(tmp_path: Path) -> None:
    rows = [(code, f"{1000 + 37 * i}.{i % 100:02d}") for i, code in enumerate(US_CODES)]
    basket = _basket(tmp_path, rows)
    regimes = ["pre-geneva", "geneva", "forced-labour-301"]
    args = [a for r in regimes for a in ("--regime", r)]
    out = tmp_path / "batch.csv"
    batch = run_child(["batch", str(basket), "-o", str(out), *args])
    assert batch.returncode in (0, 1), batch.stderr
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    with out.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            sums[row["regime"]][0] += Decimal(row["customs_value"])
            sums[row["regime"]][1] += Decimal(row["duty"])
    done = run_child(["impact", str(basket), *args, "--format", "json"])
    assert done.returncode == batch.returncode, done.stderr
    results = json.loads(done.stdout)["results"]
    assert [r["regime"] for r in results] == regimes
    for result in results:
        value, duty = sums[result["regime"]]
        assert Decimal(result["customs_value"]) == value
        assert Decimal(result["duty"]) == duty
        assert Decimal(result["average_rate"]) == (duty / value).quantize(Decimal("0.000001"))


def test_increment_is_against_the_baseline(tmp_path: Path) -> None:
    basket = _basket(tmp_path, [(c, "1000") for c in US_CODES[:20]])
    args = ["--regime", "pre-escalation", "--regime", "pre-geneva", "--regime", "geneva"]
    done = run_child(["impact", str(basket), *args, "--baseline", "geneva", "--format", "json"])
    document = json.loads(done.stdout)
    assert document["baseline"] == "geneva"
    rates = {r["regime"]: Decimal(r["average_rate"]) for r in document["results"]}
    for result in document["results"]:
        expected = rates[result["regime"]] - rates["geneva"]
        assert abs(Decimal(result["increment"]) - expected) <= Decimal("0.000001")
    assert len(document["data_sha256"]) == 64


@settings(max_examples=20, deadline=None)
@given(
    picks=st.lists(
        st.tuples(st.sampled_from(US_CODES), st.integers(min_value=1, max_value=10**9)),
        min_size=1,
        max_size=12,
    ),
    level=st.sampled_from(["section", "chapter", "heading"]),
)
def test_breakdowns_add_up_to_the_totals(picks: list[tuple[str, int]], level: str) -> None:
    shipments = [Shipment(code, Decimal(value)) for code, value in picks]
    views = list(regime_views(SCHEDULE).values())[:3]
    for impact in measure_impact(SCHEDULE, shipments, views, level=level):
        assert sum((s.value for s in impact.groups.values()), Decimal(0)) == impact.total.value
        assert sum((s.duty for s in impact.groups.values()), Decimal(0)) == impact.total.duty
        assert sum((s.duty for s in impact.measures.values()), Decimal(0)) == impact.total.duty
        assert sum(impact.by_code.values(), Decimal(0)) == impact.total.duty
        for sums in impact.measures.values():
            assert sums.value <= impact.total.value


def test_top_changes_and_by_chapter(tmp_path: Path) -> None:
    basket = _basket(tmp_path, [(c, "5000") for c in US_CODES[:15]])
    done = run_child(
        [
            "impact",
            str(basket),
            "--regime",
            "pre-escalation",
            "--regime",
            "pre-geneva",
            "--top",
            "3",
            "--by",
            "chapter",
            "--format",
            "json",
        ]
    )
    last = json.loads(done.stdout)["results"][-1]
    changes = [Decimal(t["duty_change"]) for t in last["top"]]
    assert len(changes) == 3 and changes == sorted(changes, key=lambda c: -abs(c))
    chapters = {code_digits(c)[:2] for c in US_CODES[:15]}
    assert set(last["by"]) == chapters


def test_review_value_is_the_value_of_rows_needing_review(tmp_path: Path) -> None:
    """Without the official schedule (--no-hts) no code has a base rate: all value needs review."""
    basket = _basket(tmp_path, [(US_CODES[0], "100"), (US_CODES[1], "900")])
    done = run_child(["impact", str(basket), "--regime", "geneva", "--format", "json", "--no-hts"])
    result = json.loads(done.stdout)["results"][0]
    assert done.returncode == 1
    assert Decimal(result["review_value"]) == Decimal("1000.00")
    assert sum(Decimal(v) for v in result["review"].values()) >= Decimal("1000.00")


def test_estimated_metal_is_labelled(tmp_path: Path) -> None:
    steel = "7326.90.8688"  # other articles of steel
    basket = _basket(tmp_path, [(steel, "10000")])
    args = ["impact", str(basket), "--date", "2025-06-10", "--format", "json"]
    plain = json.loads(run_child(args).stdout)
    estimated = json.loads(run_child([*args, "--metal-shares", "estimate"]).stdout)
    assert estimated["metal_shares"].startswith("metal content estimated")
    assert plain["metal_shares"] == "declared only"
    share = metal_estimates().get(code_digits(steel))
    if share:
        assert estimated["results"][0]["estimated_metal_value"] == "10000.00"
        assert estimated["results"][0]["duty"] != plain["results"][0]["duty"]


def test_nothing_changes_between_two_instants() -> None:
    """The defining property: between consecutive change instants, every result is constant."""
    start, end = datetime(2025, 1, 1), datetime(2026, 12, 2)
    instants = change_instants(SCHEDULE, "US", start, end, None)
    assert instants == sorted(set(instants)) and instants[0] == start
    minute = timedelta(minutes=1)
    for code in US_CODES[::7]:
        for first, following in itertools.pairwise([*instants, end]):
            at = [RegimeView("t", "", first), RegimeView("t", "", following - minute)]
            a, b = measure_impact(SCHEDULE, [Shipment(code, Decimal(1000))], at)
            assert a.total.duty == b.total.duty, (code, first, following)


def test_timeline_command(tmp_path: Path) -> None:
    basket = _basket(tmp_path, [(US_CODES[0], "1000")])
    done = run_child(
        ["impact", str(basket), "--timeline", "--from", "2025-04-01", "--format", "csv"]
    )
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert rows[0]["as_of"] == "2025-04-01"
    assert [r["as_of"] for r in rows] == sorted(r["as_of"] for r in rows)
    assert {r["data_sha256"] for r in rows} == {load_schedule(BUNDLED).sha256}


def test_reason_kind_drops_codes_and_dates() -> None:
    first = reason_kind("no US base rate for 0101.21.0010 on 2025-05-14; nearest: 0101.21")
    second = reason_kind("no US base rate for 8703.80.0000 on 2025-11-10; nearest: 8703")
    assert first == second == "no US base rate for # on #"


def test_chart_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    basket = _basket(tmp_path, [(US_CODES[0], "1000")])
    target = tmp_path / "chart.svg"
    done = run_child(["impact", str(basket), "--chart", str(target)])
    assert done.returncode == 0, done.stderr
    assert target.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_views_are_independent_of_basket_order() -> None:
    shipments = [Shipment(c, Decimal(1000 + i)) for i, c in enumerate(US_CODES[:10])]
    view: RegimeView = regime_views(SCHEDULE)["geneva"]
    forward = measure_impact(SCHEDULE, shipments, [view])[0]
    backward = measure_impact(SCHEDULE, shipments[::-1], [view])[0]
    assert (forward.total.value, forward.total.duty) == (backward.total.value, backward.total.duty)


@pytest.mark.shared
def test_basket_generator_reproduces_the_bundled_files(tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent: the generator's sources are not here")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_baskets.py"),
            "--shared",
            str(SHARED_DATA),
            "--out",
            str(tmp_path),
        ],
        check=True,
    )
    for made in sorted(tmp_path.iterdir()):
        assert made.read_bytes() == (ROOT / "data" / "baskets" / made.name).read_bytes(), made.name


def _everything(impact: RegimeImpact) -> tuple[object, ...]:
    """Every figure of an impact as text, every breakdown in its order."""

    def pairs(found: Mapping[Any, Sums]) -> list[tuple[Any, str, str]]:
        return [(k, str(s.value), str(s.duty)) for k, s in found.items()]

    return (
        impact.view.id,
        str(impact.total.value),
        str(impact.total.duty),
        str(impact.review_value),
        [(k, str(v)) for k, v in impact.review.items()],
        pairs(impact.groups),
        pairs(impact.measures),
        [(k, str(v)) for k, v in impact.by_code.items()],
        str(impact.estimated_metal_value),
        str(impact.unpriced_value),
        [(sorted(k), str(v)) for k, v in impact.review_sets.items()],
        impact.shipments,
    )


def _odd_shipments() -> list[Shipment]:
    """Shipments the table cannot charge alone, or charges with care."""
    steel, aluminium = "7326.90.8688", "7616.99.5190"
    return [
        Shipment("0603190195", Decimal(500)),  # a 2024 suffix retired in 2025: unpriced
        Shipment(steel, Decimal("1234.56"), metal={"steel": MetalContent(Decimal("0.4"))}),
        Shipment(steel, Decimal("99.99")),  # metal content unknown: review
        Shipment(aluminium, Decimal("0.01")),  # amounts that round to nothing
        Shipment("0201.30.5000", Decimal(800), quantity=Decimal(40), unit="kg"),
        Shipment("0201.30.5000", Decimal(800)),
        Shipment("8471.30.0100", Decimal(0)),
        Shipment("8471.30.0100", Decimal(1000), currency="EUR"),  # no --fx: unpriced
        Shipment("8471.30.0100", Decimal(1000), origin="HK"),  # a route the table skips
        Shipment("9503.00.0073", Decimal("5000.5"), entry=datetime(2025, 6, 1)),
        Shipment("9503.00.0073", Decimal(5000), mode="air", freight=Decimal(70)),
    ]  # fmt: skip


@pytest.mark.parametrize("level", [None, "section", "heading"])
def test_the_table_path_equals_assessing_every_instant(level: str | None) -> None:
    """The table path (groups of lines charged alike, the engine for the rest) gives every
    figure, to the digit, and every breakdown in the same order as the engine line by line."""
    from tradecalc.hts.history import open_schedule

    us = open_schedule(bundled=True)
    instants = change_instants(SCHEDULE, "US", datetime(2025, 1, 1), datetime(2026, 12, 2), us)
    views = [RegimeView(t.isoformat(), "", t) for t in instants[::3]]
    views += select_views(SCHEDULE, ["pre-geneva", "geneva"], sets=["us-ieepa-fentanyl=off"])
    shipments = [Shipment(c, Decimal(1000 + 37 * i)) for i, c in enumerate(US_CODES[::2])]
    shipments += [*_odd_shipments(), *shipments[:3]]  # a code twice
    estimates = metal_estimates() if level == "heading" else None
    kw: dict[str, Any] = {"base_rates": us, "level": level, "estimates": estimates}
    fast = measure_impact(SCHEDULE, shipments, views, **kw)
    plain = measure_impact(SCHEDULE, shipments, views, reuse=False, **kw)
    assert [_everything(a) for a in fast] == [_everything(b) for b in plain]


def test_the_china_direction_takes_the_same_path() -> None:
    from tradecalc.hts.providers import imported_schedule

    providers = imported_schedule(True)
    instants = change_instants(
        SCHEDULE, "CN", datetime(2025, 1, 1), datetime(2026, 12, 2), providers
    )
    views = [RegimeView(t.isoformat(), "", t) for t in instants[::2]]
    rows = (ROOT / "data" / "baskets" / "us-exports-to-cn-2024.csv").read_text().splitlines()
    codes = [line.split(",")[0] for line in rows if line[:1].isdigit()][::150]
    shipments = [Shipment(c, Decimal(700 + i), origin="US", dest="CN") for i, c in
                 enumerate(codes)]  # fmt: skip
    fast = measure_impact(SCHEDULE, shipments, views, base_rates=providers, level="chapter")
    plain = measure_impact(
        SCHEDULE, shipments, views, base_rates=providers, level="chapter", reuse=False
    )
    assert [_everything(a) for a in fast] == [_everything(b) for b in plain]


def test_a_code_not_in_force_is_review_value_not_a_crash(tmp_path: Path) -> None:
    basket = _basket(tmp_path, [("0603190195", "500"), (US_CODES[0], "1000")])
    done = run_child(["impact", str(basket), "--date", "2025-06-01", "--format", "json"])
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["unpriced_value"] == "500.00"
    assert Decimal(result["review_value"]) >= Decimal(500)
    assert Decimal(result["customs_value"]) == Decimal("1000.00")


@pytest.mark.slow
def test_the_tracker_report_reproduces_the_committed_report() -> None:
    """scripts/report_us_trackers.py (bundled data only) rewrites docs/us-trackers.md unchanged."""
    report = ROOT / "docs" / "us-trackers.md"
    before = report.read_bytes()
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "report_us_trackers.py")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        assert report.read_bytes() == before
    finally:
        report.write_bytes(before)


@settings(max_examples=60, deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**14),
    places=st.sampled_from([0, 1, 2, 3, 6]),
    pick=st.integers(min_value=0, max_value=10**6),
)
def test_layer_amounts_are_what_charge_charges(cents: int, places: int, pick: int) -> None:
    """The table path's customs value and per-layer amounts add up to :func:`charge`'s."""
    from tradecalc.analysis.impact import _amount, _customs, _terms
    from tradecalc.engine.compiled import charge

    tables = _TABLES()
    index = pick % len(tables.table.layers)
    layers = tables.layer(index)
    value = Decimal(cents).scaleb(-places)
    for importer in ("US", "CN"):
        party = SCHEDULE.parties[importer]
        origin = "CN" if importer == "US" else "US"
        shipment = Shipment("8471.30.0100", value, origin=origin, dest=importer)
        charged = charge(party, layers, value, None, None, ((), ()))
        customs = _customs(party, shipment)
        assert customs == charged.customs_value and str(customs) == str(charged.customs_value)
        duty = money_sum_of(_amount(customs, term) for term in _terms(layers))
        assert duty == charged.duty


def money_sum_of(amounts: Iterable[Decimal]) -> Decimal:
    found = Decimal("0.00")
    for amount in amounts:
        found += amount
    return found


@functools.cache
def _TABLES() -> Tables:  # noqa: N802
    """A table compiled for a spread of real codes (steel, metal shares, specific rates)."""
    from tradecalc.hts.providers import imported_schedule

    tables = Tables(SCHEDULE, imported_schedule(True))
    when = [
        datetime(2025, 1, 1),
        datetime(2025, 4, 10),
        datetime(2025, 6, 10),
        datetime(2026, 3, 1),
    ]
    for code in [*US_CODES[::5], "7326908688", "7616995190", "0201305000", "7408110000"]:
        for t in when:
            tables.index_at("US", "CN", code, t)
    for code in ("847130", "870323", "120190", "8802400000"):
        for t in when:
            tables.index_at("CN", "US", code, t)
    return tables
