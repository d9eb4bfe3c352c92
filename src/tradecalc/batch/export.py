"""``tradecalc rates export``: the compiled rate table as CSV or Parquet, for other engines.

One row per code interval (``kind = interval``: its review items and whether only tradecalc's
engine can charge it), one per duty layer and tax of that interval (``duty``, ``tax``), and
one per fee, mode and fee period (``fee``, code ``*``). The schema is documented in
``docs/rate-table.md`` with :data:`RECIPE`, the DuckDB SQL that charges entries from it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from tradecalc.core.errors import UsageError
from tradecalc.engine.compiled import ROUTES, Tables, route_codes
from tradecalc.schedule.models import MODES, Schedule

COLUMNS = (
    "importer",
    "origin",
    "code",
    "start",
    "end",
    "kind",
    "seq",
    "measure",
    "name",
    "group",
    "heading",
    "rate",
    "ad_valorem",
    "base",
    "mode",
    "fee_min",
    "fee_max",
    "sources",
    "unconfirmed",
    "review",
    "engine",
)
"""The columns, in order (see docs/rate-table.md)."""


RECIPE = """
WITH e AS (
  SELECT ref, replace(hs, '.', '') AS code, CAST(value AS DECIMAL(38, 2)) AS customs,
         CAST(date AS TIMESTAMP) AS at
  FROM read_csv($entries, header = true, all_varchar = true)
),
r AS (
  SELECT * REPLACE (CAST(ad_valorem AS DECIMAL(38, 12)) AS ad_valorem,
                    CAST(fee_min AS DECIMAL(38, 2)) AS fee_min,
                    CAST(fee_max AS DECIMAL(38, 2)) AS fee_max)
  FROM read_parquet($rates)
  WHERE importer = 'US' AND origin IN ('CN', '*')
),
iv AS (
  SELECT e.ref, e.customs, e.at, r.code, r.start,
         CASE WHEN r.code IS NULL THEN 'not in the table' ELSE coalesce(r.engine, '') END AS why
  FROM e LEFT JOIN r ON r.kind = 'interval' AND r.code = e.code
   AND r.start <= e.at AND (r."end" IS NULL OR e.at < r."end")
),
duty AS (
  SELECT iv.ref, coalesce(sum(round(iv.customs * d.ad_valorem, 2)), 0) AS duty
  FROM iv LEFT JOIN r d ON d.kind = 'duty' AND d.code = iv.code AND d.start = iv.start
  GROUP BY iv.ref
),
fee AS (
  SELECT iv.ref, sum(round(CASE
           WHEN f.fee_min IS NOT NULL AND iv.customs * f.ad_valorem < f.fee_min THEN f.fee_min
           WHEN f.fee_max IS NOT NULL AND iv.customs * f.ad_valorem > f.fee_max THEN f.fee_max
           ELSE iv.customs * f.ad_valorem END, 2)) AS fees
  FROM iv JOIN r f ON f.kind = 'fee' AND f.mode = $mode
   AND f.start <= iv.at AND (f."end" IS NULL OR iv.at < f."end")
  GROUP BY iv.ref
)
SELECT iv.ref, iv.customs, duty.duty, coalesce(fee.fees, 0) AS fees,
       duty.duty + coalesce(fee.fees, 0) AS total, iv.why <> '' AS engine, iv.why
FROM iv JOIN duty USING (ref) LEFT JOIN fee USING (ref)
ORDER BY iv.ref
"""
"""Entries (``ref, hs, value, date``: US imports from China, transaction value in USD with
cents, a date or moment) joined to an exported Parquet table in DuckDB: duty per layer
rounded half-up to the cent, fees clamped then rounded. Rows with ``engine`` true need
tradecalc itself (``why`` says why). Parameters: ``$entries``, ``$rates``, ``$mode``."""


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(sep=" ")


def table_rows(tables: Tables, every_code: bool = True) -> Iterator[tuple[object, ...]]:
    """Every row of the export, compiling the codes the cache lacks (only the codes already
    compiled when not ``every_code``)."""
    schedule: Schedule = tables.schedule
    for origin, importer in ROUTES if every_code else ():
        if importer not in schedule.parties:
            continue
        for digits in route_codes(importer, tables.base_rates, schedule):
            tables.at(importer, origin, digits, datetime(1900, 1, 1))
    for importer, origin, code, start, end, layers in tables.table.rows():
        head = (importer, origin, code, _when(start), _when(end))
        why = layers.engine
        if not why and layers.metal:
            why = "a layer is charged on metal content"
        if not why and layers.specific:
            why = "a specific or compound rate needs a quantity"
        yield (*head, "interval", 0, *[""] * 12, "; ".join(layers.review), why)
        for seq, duty in enumerate(layers.duties, start=1):
            measure, name, group, heading, rate, fraction, base, sources, unconfirmed = duty[:9]
            yield (
                *head, "duty", seq, measure, name, group, heading or "", rate, fraction, base,
                "", "", "", "; ".join(sources), unconfirmed or "", "", "",
            )  # fmt: skip
        for seq, tax in enumerate(layers.taxes, start=1):
            tax_id, name, kind, rate, fraction, sources, unconfirmed, review = tax
            yield (
                *head, "tax", seq, tax_id, name, kind, "", rate, fraction, "full", "", "", "",
                "; ".join(sources), unconfirmed or "", "; ".join(review), "",
            )  # fmt: skip
    yield from _fee_rows(schedule)


def _fee_rows(schedule: Schedule) -> Iterator[tuple[object, ...]]:
    for importer, party in sorted(schedule.parties.items()):
        for fee in party.fees:
            for mode in MODES:
                if fee.modes and mode not in fee.modes:
                    continue
                for seq, period in enumerate(fee.periods, start=1):
                    yield (
                        importer, "*", "*", _when(period.from_), _when(period.to), "fee", seq,
                        fee.id, fee.name, "fee", "", str(period.rate),
                        str(period.rate.ad_valorem), "full", mode,
                        "" if period.min is None else str(period.min),
                        "" if period.max is None else str(period.max),
                        "; ".join(period.source), period.unconfirmed or "", "", "",
                    )  # fmt: skip


def write_csv(tables: Tables, out: IO[str], every_code: bool = True) -> int:
    """Write the export as CSV; the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in table_rows(tables, every_code):
        writer.writerow(row)
        count += 1
    return count


def write_parquet(tables: Tables, target: Path, every_code: bool = True) -> int:
    """Write the export as Parquet (through DuckDB, in a private temporary folder, then onto
    ``target`` atomically); the rows."""
    try:
        import duckdb
    except ImportError:
        raise UsageError(
            "--format parquet needs DuckDB: pip install 'tradecalc[fast]' (or use --format csv)"
        ) from None
    import tempfile

    from tradecalc.core.files import atomic_text, write_atomic

    with tempfile.TemporaryDirectory(prefix="tradecalc-export-") as folder:
        source, parquet = Path(folder) / "table.csv", Path(folder) / "table.parquet"
        with atomic_text(source) as handle:
            count = write_csv(tables, handle, every_code)
        types = dict.fromkeys(COLUMNS, "VARCHAR")
        types.update({"seq": "INTEGER", "start": "TIMESTAMP", "end": "TIMESTAMP"})
        con = duckdb.connect()
        con.execute(
            "COPY (SELECT * FROM read_csv($src, header = true, columns = $types)) "
            "TO $dst (FORMAT parquet)",
            {"src": str(source), "types": types, "dst": str(parquet)},
        )
        con.close()
        write_atomic(target, parquet.read_bytes())
    return count
