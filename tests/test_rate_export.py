"""The rate table export and its DuckDB recipe, checked against ``batch`` to the cent."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime
from pathlib import Path

import pytest

from tradecalc.batch import rows as batch
from tradecalc.batch.export import COLUMNS, RECIPE, write_csv, write_parquet
from tradecalc.engine.compiled import Tables, route_codes
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.cn_lines import ChinaLines
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import load_schedule

duckdb = pytest.importorskip("duckdb", reason="the recipe test needs DuckDB (the test extra)")

DATES = ("2025-01-15", "2025-03-10", "2025-04-10", "2025-05-20", "2025-08-15", "2026-01-15")


def _world(sample: int = 120) -> tuple[Tables, list[str]]:
    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True)
    assert us is not None
    providers = Providers(us, ChinaLines())
    codes = random.Random(5).sample(route_codes("US", providers, schedule), sample)
    tables = Tables(schedule, providers)
    for code in codes:
        tables.at("US", "CN", code, datetime(2025, 1, 1))
    return tables, codes


def test_recipe_equals_batch_to_the_cent(tmp_path: Path) -> None:
    """The docs' SQL over the exported Parquet gives batch's duty, fees and total per row."""
    tables, codes = _world()
    table = tmp_path / "rates.parquet"
    assert write_parquet(tables, table, every_code=False) > len(codes)
    rng = random.Random(9)
    entries = tmp_path / "entries.csv"
    lines = ["ref,hs,value,date"]
    for ref in range(1, 1201):
        cents = rng.randrange(0, 10**10)
        code = rng.choice(codes)
        lines.append(f"{ref},{code},{cents // 100}.{cents % 100:02d},{rng.choice(DATES)}")
    entries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = duckdb.connect()
    peer = con.execute(RECIPE, {"entries": str(entries), "rates": str(table), "mode": "ocean"})
    sql = {str(r[0]): r for r in peer.fetchall()}
    assert len(sql) == 1200
    rows = batch.read_csv(io.StringIO(entries.read_text(encoding="utf-8")))
    charged = 0
    for item in batch.assess_rows(tables.schedule, rows, (), None, None, tables.base_rates, tables):
        if isinstance(item, batch.RowError):
            assert sql[str(item.row)][5], item  # only the engine can say
            continue
        ref, _customs, duty, fees, total, engine, _why = sql[str(item.passthrough[0])]
        if engine:
            continue
        charged += 1
        values = dict(zip(batch.RESULT_COLUMNS, item.values, strict=True))
        assert (str(duty), str(fees), str(total)) == (
            values["duty"],
            values["fees"],
            values["total"],
        ), ref
    assert charged > 600


def test_export_has_the_documented_columns_and_one_interval_row_per_interval() -> None:
    tables, codes = _world(20)
    out = io.StringIO()
    write_csv(tables, out, every_code=False)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == COLUMNS
    doc = (Path(__file__).resolve().parents[1] / "docs" / "rate-table.md").read_text()
    assert all(f"`{name}`" in doc.split("## Schema")[1] for name in COLUMNS)
    intervals = sum(len(starts) for starts, _ in tables.table.codes.values())
    assert sum(1 for r in rows[1:] if r[5] == "interval") == intervals
    assert {r[2] for r in rows[1:] if r[5] != "fee"} == set(codes)
    assert any(r[5] == "fee" and r[7] == "us-mpf" for r in rows[1:])
