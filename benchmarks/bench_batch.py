"""Batch: N generated shipments x 2 regimes through ``tradecalc batch``, then through DuckDB SQL.

1. Generate ``benchmarks/out/shipments.csv`` (seeded): US imports from China, codes drawn
   from the schedule's ad valorem lines plus one code the schedule does not know, values
   from $1 to $500,000 (log-uniform, to the cent; many products land on a half cent).
2. Run ``tradecalc batch`` (its columns path) in a fresh process: wall time, shipment-regimes
   per second, peak resident memory (the child's own: ``common.run_measured``). Targets:
   >= 100k/s, <= 200 MiB.
3. The same computation as one DuckDB SQL statement over the same CSV (exact DECIMAL, round
   half away from zero = half-up for amounts >= 0): every line's amount rounded to the cent,
   MPF clamped to its minimum and maximum, HMF. Which layers apply to a code under a regime is
   rule resolution, done once per distinct (code, regime) by the engine and handed to SQL as
   a small table, as a columnar engine behind ``batch --engine`` would do; SQL does the money.
4. Compare duty, fees and total of every row, to the cent, and print the speed ratio.

DuckDB is optional (``pip install -e '.[bench]'``); without it step 3-4 are skipped.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.common import OUT, ROOT, child_env, run_measured, schedule_path

REGIMES = ("pre-geneva", "geneva")
CACHE = OUT / "cache-batch"
"""The run's own cache, holding only its codes: the shared one holds the codes other
benchmarks compiled (14,000 after ``bench_impact``), whose table, read whole, would add
about 35 MiB to this run's peak and make it depend on which benchmarks ran before."""
UNKNOWN_CODE = "8471.30.0100"


def _ad_valorem_codes(path: Path) -> list[str]:
    """US codes whose every line is ad valorem on the full customs value, in both regimes."""
    from tradecalc.engine.assessment import Shipment, assess, regime_views
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(path).schedule
    views = regime_views(schedule)
    codes = sorted(
        {
            code
            for m in schedule.measures
            if m.importer == "US" and m.group == "base"
            for p in m.periods
            for code in p.rates
            if len(code.replace(".", "")) >= 4
        }
    )
    good = []
    for code in dict.fromkeys([*codes, UNKNOWN_CODE]):
        ship = Shipment(code, Decimal("1000"))
        results = [assess(schedule, ship, views[r]) for r in REGIMES]
        if all(
            not line.rate.specifics and line.base == result.customs_value
            for result in results
            for line in result.lines
        ):
            good.append(code)
    return good


def generate(rows: int, codes: list[str], target: Path) -> None:
    """Write ``rows`` shipments with an ``sku`` pass-through column."""
    rng = random.Random(20250514)
    low, high = math.log(1.0), math.log(500_000.0)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("sku", "hs", "origin", "dest", "value", "mode"))
        for i in range(rows):
            cents = int(math.exp(rng.uniform(low, high)) * 100)
            value = f"{cents // 100}.{cents % 100:02d}"
            writer.writerow((f"S{i:07d}", rng.choice(codes), "CN", "US", value, "ocean"))


def run_core(shipments: Path, result: Path, data: Path, jobs: int) -> tuple[float, float]:
    """Wall seconds and peak MiB of ``tradecalc batch`` in a fresh process, its caches warm
    (a run over the file's first thousand rows fills them first)."""
    options = ["--data", str(data)]
    for regime in REGIMES:
        options += ["--regime", regime]
    if jobs > 1:
        options += ["--jobs", str(jobs)]
    env = child_env()
    env["TRADECALC_CACHE_DIR"] = str(CACHE)
    head = OUT / "shipments-head.csv"
    with shipments.open(encoding="utf-8") as source:
        head.write_text("".join(itertools.islice(source, 1001)), encoding="utf-8")
    batch = [sys.executable, "-m", "tradecalc", "batch"]
    run_measured([*batch, str(head), "-o", str(OUT / "results-head.csv"), *options], env)
    found = run_measured([*batch, str(shipments), "-o", str(result), *options], env)
    if found.code not in (0, 1):
        raise SystemExit(f"batch failed: {found.stderr}")
    return found.wall, found.peak


def _layer_tables(path: Path, codes: list[str]) -> tuple[list[tuple[str, str, str]], list[tuple]]:
    """(regime, hs, rate) for every duty line, and each regime's fee parameters."""
    from tradecalc.engine.assessment import Shipment, assess, regime_views
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(path).schedule
    views = regime_views(schedule)
    layers = []
    for code in codes:
        for regime in REGIMES:
            result = assess(schedule, Shipment(code, Decimal("1000")), views[regime])
            layers += [(regime, code, str(line.rate.ad_valorem)) for line in result.lines]
    fees = []
    party = schedule.parties["US"]
    for regime in REGIMES:
        when = views[regime].as_of
        mpf = next(p for f in party.fees if f.id == "us-mpf" for p in f.periods if p.covers(when))
        hmf = next(p for f in party.fees if f.id == "us-hmf" for p in f.periods if p.covers(when))
        fees.append(
            (regime, str(mpf.rate.ad_valorem), str(mpf.min), str(mpf.max), str(hmf.rate.ad_valorem))
        )
    return layers, fees


SQL = """
WITH s AS (
  SELECT row_number() OVER () AS row, hs, CAST(value AS DECIMAL(18,2)) AS v
  FROM read_csv(?, header=true, all_varchar=true)
),
duty AS (
  SELECT s.row, f.regime, s.v,
         COALESCE(SUM(round(s.v * l.rate, 2)), 0) AS duty
  FROM s CROSS JOIN fees f
  LEFT JOIN layers l ON l.hs = s.hs AND l.regime = f.regime
  GROUP BY s.row, f.regime, s.v
)
SELECT d.row, d.regime, d.duty,
       round(least(greatest(d.v * f.mpf, f.mpf_min), f.mpf_max), 2) + round(d.v * f.hmf, 2) AS fees
FROM duty d JOIN fees f USING (regime)
"""


def run_duckdb(shipments: Path, result: Path, data: Path, codes: list[str]) -> float | None:
    """Time the SQL, then compare it with the core's output row by row."""
    try:
        import duckdb
    except ImportError:
        print("duckdb: not installed, skipped (pip install -e '.[bench]')")
        return None
    layers, fees = _layer_tables(data, codes)
    con = duckdb.connect()
    con.execute("CREATE TABLE layers (regime VARCHAR, hs VARCHAR, rate DECIMAL(18,8))")
    con.executemany("INSERT INTO layers VALUES (?, ?, ?)", layers)
    con.execute(
        "CREATE TABLE fees (regime VARCHAR, mpf DECIMAL(18,8), mpf_min DECIMAL(18,2), "
        "mpf_max DECIMAL(18,2), hmf DECIMAL(18,8))"
    )
    con.executemany("INSERT INTO fees VALUES (?, ?, ?, ?, ?)", fees)
    start = time.perf_counter()
    con.execute(f"CREATE TABLE sql_result AS {SQL}", [str(shipments)])
    seconds = time.perf_counter() - start
    count = con.execute("SELECT count(*) FROM sql_result").fetchone()[0]  # type: ignore[index]
    diff = con.execute(
        """
        SELECT count(*) FROM sql_result q
        FULL JOIN (SELECT CAST("row" AS BIGINT) AS row, regime,
                          CAST(duty AS DECIMAL(18,2)) AS duty, CAST(fees AS DECIMAL(18,2)) AS fees,
                          CAST(total AS DECIMAL(18,2)) AS total
                   FROM read_csv(?, header=true, all_varchar=true)) c
          ON q.row = c.row AND q.regime = c.regime
        WHERE q.row IS NULL OR c.row IS NULL OR q.duty <> c.duty OR q.fees <> c.fees
           OR q.duty + q.fees <> c.total
        """,
        [str(result)],
    ).fetchone()[0]  # type: ignore[index]
    rate = count / seconds
    print(f"duckdb {duckdb.__version__} SQL: {seconds:.2f} s, {rate:,.0f} shipment-regimes/s")
    print(f"  rows differing from tradecalc batch (duty, fees, total): {diff:,} of {count:,}")
    return float(seconds)


def main(rows: int = 1_000_000, data: str | None = None, jobs: int = 1) -> None:
    """Generate, run the core, run DuckDB, print figures and ratios."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = schedule_path(data)
    codes = _ad_valorem_codes(path)
    import hashlib

    tag = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    shipments = OUT / f"shipments-{rows}-{tag}.csv"
    if not shipments.exists():
        start = time.perf_counter()
        generate(rows, codes, shipments)
        print(f"generated {shipments.relative_to(ROOT)} in {time.perf_counter() - start:.1f} s")
    result = OUT / f"results-{rows}-{tag}.csv"
    print(
        f"batch: {rows:,} shipments x {len(REGIMES)} regimes, {len(codes)} codes, "
        f"schedule {path.name}"
    )
    wall, peak = run_core(shipments, result, path, jobs)
    pairs = rows * len(REGIMES)
    verdict = "meets" if pairs / wall >= 100_000 else "MISSES"
    print(
        f"tradecalc batch (jobs={jobs}): {wall:.2f} s, {pairs / wall:,.0f} "
        f"shipment-regimes/s ({verdict} >= 100k), peak {peak:.0f} MiB "
        f"({'meets' if peak <= 200 else 'MISSES'} <= 200 MiB)"
    )
    sql = run_duckdb(shipments, result, path, codes)
    if sql:
        print(f"  ratio tradecalc batch / DuckDB wall: {wall / sql:.1f}x")


if __name__ == "__main__":
    # python -m benchmarks.bench_batch [ROWS [JOBS]]
    arguments = [int(a) for a in sys.argv[1:3]]
    main(rows=arguments[0] if arguments else 1_000_000, jobs=arguments[1] if arguments[1:] else 1)
