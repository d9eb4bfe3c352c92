"""Imported HTS revisions: store, lookups, the hts commands, and duty falling back to them."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradecalc.core.errors import UsageError
from tradecalc.engine.assessment import RegimeView, Shipment, assess
from tradecalc.hts.store import (
    ImportedSchedule,
    hts_dir,
    import_revision,
    name_from_source,
    remove_revision,
    revisions,
)
from tradecalc.schedule.load import LoadedSchedule
from tradecalc.schedule.models import Scope

GRAMMAR = Path(__file__).parent / "fixtures" / "hts_grammar.json"
MAY = datetime(2025, 5, 20)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImportedSchedule]:
    import_revision(str(GRAMMAR), "2025-rev-12", None, tmp_path)
    imported = ImportedSchedule.open(tmp_path)
    assert imported is not None
    yield imported
    imported.close()  # its connections, not left to the collector


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("hts_2025_rev_11.json.gz", "2025-rev-11"),
        ("/data/hts_2025_basic.json", "2025-basic"),
        ("https://example.org/x/HTS-2026-REV9.json", "2026-rev-9"),
        ("export.json", None),
    ],
)
def test_revision_name_from_file_name(source: str, name: str | None) -> None:
    assert name_from_source(source) == name


def test_lookup_exact_inherited_prefix_and_descendants(store: ImportedSchedule) -> None:
    sweater = store.lookup("6110110015", MAY)
    assert sweater is not None
    assert (sweater.code, sweater.text, str(sweater.rate)) == ("6110.11.00", "16%", "16%")
    assert (sweater.headings, sweater.source) == (("9903.88.15",), "usitc-hts-2025-rev-12")
    unknown_suffix = store.lookup("6110110099", MAY)  # not in the file: its 8-digit line
    assert unknown_suffix is not None and unknown_suffix.code == "6110.11.00"
    laptop = store.lookup("84713001", MAY)  # only a 10-digit row exists: the one line under it
    assert laptop is not None and (laptop.code, laptop.text) == ("8471.30.01.00", "Free")
    assert store.lookup("0101", MAY) is None  # several rates under it
    text = store.lookup("61032200", MAY)
    assert text is not None and text.rate is None and text.kind == "text"
    assert store.lookup("6110110015", datetime(2025, 5, 13)) is None  # not yet in force


def test_nearest_codes_share_the_longest_prefix(store: ImportedSchedule) -> None:
    assert store.nearest("6110190000", MAY) == ("6110.11.00", "6110.11.00.15", "6110.11.00.30")
    assert store.describe(MAY) == "USITC HTS 2025-rev-12 (imported; effective 2025-05-14)"


def test_reimport_replaces_and_remove_deletes(tmp_path: Path) -> None:
    data = gzip.compress(GRAMMAR.read_bytes())
    source = tmp_path / "hts_2025_rev_12.json.gz"
    source.write_bytes(data)
    folder = tmp_path / "hts"
    import_revision(str(source), None, None, folder)
    rev, _ = import_revision(str(source), None, date(2025, 6, 1), folder)
    assert [(r.name, r.effective) for r in revisions(folder)] == [("2025-rev-12", date(2025, 6, 1))]
    files = sorted(n for n in os.listdir(folder) if not n.endswith(".lock"))  # locks stay
    assert files == ["2025-06-01_2025-rev-12.sqlite"]  # no temp files
    meta = rev.meta()
    assert (meta["rows"], meta["tariff_lines"], meta["effective"]) == ("34", "20", "2025-06-01")
    assert len(meta["sha256"]) == 64
    remove_revision("2025-rev-12", folder)
    assert revisions(folder) == []
    with pytest.raises(UsageError, match="no imported HTS revision 'x'"):
        remove_revision("x", folder)


def test_unknown_date_or_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--effective"):
        import_revision(str(GRAMMAR), "2099-rev-1", None, tmp_path)
    with pytest.raises(UsageError, match="--revision"):
        import_revision(str(GRAMMAR), None, None, tmp_path)
    with pytest.raises(UsageError, match="not valid"):
        import_revision(str(GRAMMAR), "Rev 1", date(2025, 1, 1), tmp_path)


def test_hts_scope_entries_are_validated() -> None:
    from tradecalc.schedule.fields import validate

    assert validate(Scope, {"include": ["@hts:9903.88.03"]}).include == ("@hts:9903.88.03",)
    with pytest.raises(ValueError, match=r"@hts:9903\.88\.03"):
        validate(Scope, {"include": ["@hts:8471"]})


def _mini_with_hts_scopes(mini: LoadedSchedule) -> LoadedSchedule:
    """mini.yaml with its 301 measure scoped by the imported footnotes instead of a list."""
    schedule = mini.schedule
    measures = tuple(
        replace(m, scope=Scope(include=("@hts:9903.88.03",), exclude=("@hts:9903.88.69",)))
        if m.id == "us-301"
        else m
        for m in schedule.measures
    )
    return LoadedSchedule(replace(schedule, measures=measures), mini.path, mini.sha256)


def test_engine_uses_import_only_where_curated_data_has_no_rate(
    store: ImportedSchedule, mini: LoadedSchedule
) -> None:
    loaded = _mini_with_hts_scopes(mini)
    view = RegimeView("may", "May", MAY)
    curated = assess(
        loaded.schedule, Shipment("6110.11.0015", Decimal(1000), entry=MAY), view, None, store
    )
    base = [line for line in curated.lines if line.group == "base"]
    assert [(str(b.rate), b.source) for b in base] == [("16%", ("fx",))]  # curated wins
    mushrooms = assess(
        loaded.schedule, Shipment("0709.51.0100", Decimal(1000), entry=MAY), view, None, store
    )
    by_group = {line.group: line for line in mushrooms.lines}
    assert by_group["base"].source == ("usitc-hts-2025-rev-12",)
    assert by_group["base"].measure == "us-mfn"
    assert str(by_group["section-301"].rate) == "25%"
    cords = assess(
        loaded.schedule, Shipment("8544.42.9010", Decimal(1000), entry=MAY), view, None, store
    )
    assert "section-301" in {line.group for line in cords.lines}
    excluded = assess(
        loaded.schedule, Shipment("8544.42.9090", Decimal(1000), entry=MAY), view, None, store
    )
    assert "section-301" not in {line.group for line in excluded.lines}
    without = assess(loaded.schedule, Shipment("0709.51.0100", Decimal(1000), entry=MAY), view)
    assert without.needs_review and not any(line.group == "base" for line in without.lines)


def test_cli_import_list_duty_remove(cli: Callable[..., object], tmp_path: Path) -> None:
    run = cli("hts", "import", str(GRAMMAR), "--revision", "2025-rev-12")
    assert run.code == 0, run.err
    assert run.out.startswith(
        "imported 2025-rev-12 (effective 2025-05-14): 34 rows, 20 tariff lines, "
        "6 coded lines with a rate that needs review, in "
    )
    listed = cli("hts", "list")
    assert "2025-rev-12" in listed.out and "2025-05-14" in listed.out
    mini = str(Path(__file__).parent / "fixtures" / "mini.yaml")
    duty = cli(
        "duty",
        "1000",
        "--hs",
        "0101.30.0000",
        "--date",
        "2025-05-15",  # ties with bundled 2025 Rev 12 (14 May) and wins; Rev 13 is 16 May
        "--data",
        mini,
        "--format",
        "json",
        "--explain",
    )
    assert duty.code == 0, duty.err
    result = json.loads(duty.out)["results"][0]
    base = next(line for line in result["lines"] if line["measure"] == "us-mfn")
    assert (base["rate"], base["amount"], base["source"]) == (
        "6.8%",
        "68.00",
        ["usitc-hts-2025-rev-12"],
    )
    off = cli(
        "duty", "1000", "--hs", "0101.30.0000", "--date", "2025-05-15", "--data", mini, "--no-hts"
    )
    assert off.code == 1
    text = cli("duty", "1000", "--hs", "6103.22.00", "--date", "2025-05-15", "--data", mini)
    assert text.code == 1
    assert "'The rate applicable to each garment in the ensemble if separately entered'" in text.out
    assert cli("hts", "remove", "2025-rev-12").out == "removed 2025-rev-12 (effective 2025-05-14)\n"
    assert revisions(hts_dir()) == []
    bad = cli(
        "hts",
        "import",
        str(tmp_path / "missing.json"),
        "--revision",
        "a",
        "--effective",
        "2025-01-01",
    )
    assert (bad.code, bad.err) == (
        2,
        f"tradecalc: error: no such file: {tmp_path / 'missing.json'}\n",
    )
    bad_date = cli("hts", "import", str(GRAMMAR), "--revision", "a", "--effective", "May")
    assert bad_date.err == "tradecalc: error: --effective 'May' is not a date (YYYY-MM-DD)\n"


def test_rates_timeline_takes_base_rates_and_301_scope_from_the_import(
    store: ImportedSchedule, mini: LoadedSchedule
) -> None:
    from tradecalc.engine.timeline import timeline

    loaded = _mini_with_hts_scopes(mini)
    line = timeline(loaded.schedule, "0709.51.0100", "CN", "US", store)
    by_measure = {e.measure.id: e for e in line.entries}
    start = store.starts()[0]
    assert (by_measure["us-mfn"].start, by_measure["us-mfn"].source) == (
        start,
        ("usitc-hts-2025-rev-12",),
    )
    assert "us-301" in by_measure  # on List 3 by its footnote
    after = [p for p in line.points if p.when >= start]
    assert after and "us-mfn" in after[0].layers
    curated_only = timeline(loaded.schedule, "0709.51.0100", "CN", "US")
    assert not any(e.measure.group == "base" for e in curated_only.entries)


@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_uses_the_import_like_duty(
    store: ImportedSchedule, mini: LoadedSchedule, jobs: int
) -> None:
    import csv
    import io

    from tradecalc.batch.rows import read_rows, run

    loaded = _mini_with_hts_scopes(mini)
    view = RegimeView("may", "May", MAY)
    text = "hs,value\n0709.51.0100,1000\n6110.11.0015,1000\n"
    out = io.StringIO()
    summary = run(
        loaded.schedule,
        read_rows(io.StringIO(text), "csv"),
        out,
        "csv",
        [view],
        jobs=jobs,
        base_rates=store,
    )
    assert summary.errors == 0
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    for row, code in zip(rows, ("0709.51.0100", "6110.11.0015"), strict=True):
        expected = assess(loaded.schedule, Shipment(code, Decimal(1000)), view, None, store)
        status = "needs_review" if expected.needs_review else "ok"
        assert (row[1], row[6], row[12]) == (code, str(expected.duty), status)
