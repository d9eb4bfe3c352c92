"""The realistic workload: every HTS10 line of 2024 US imports from China x 8 entry dates.

1. Build ``benchmarks/out/realistic.csv`` from ``../shared/data/trade/us-imports-from-china-
   2024-hs10.csv`` (14,422 lines, real 2024 customs values): one row per line and entry date,
   115,376 rows, every one a distinct code-date pair.
2. ``tradecalc batch`` in a fresh process, cold (empty cache: the rate table of these codes
   is compiled on the way) and warm (the cached table; the median of :data:`WARM_RUNS` runs):
   wall time end to end, start-up included, rows per second and peak memory of the child.
3. The cold compile of the whole bundled data (every US and China code, every interval), in
   this process.
4. ``tradecalc rates export`` of the table, then the peer: hand-written DuckDB SQL joining the
   same rows to the exported table (docs/rate-table.md's recipe); its query time in this
   process, a comparison of every row with the batch to the cent, and the same job end to
   end as the batch is measured (a fresh process importing DuckDB, reading the shipments and
   writing its result file): the ratio is taken end to end against end to end, in rounds
   that alternate the two (the median of the rounds' ratios). Each round also runs the batch
   writing to stdout pointed at the file by the shell: ``-o`` fsyncs the file before it
   replaces the old one, the peer's COPY does not, and stdout does not either.
5. The money step vectorised both ways over the joined rows: DuckDB DECIMAL and polars
   integer cents with half-up (which is why batch may use either; skipped if absent).
6. A full-row check: every row of the batch output against a one-shot ``assess()``.
7. With ``--generated=N`` (``python -m benchmarks --generated N``): N generated rows over every
   code and two years of dates, warm (the 10 M-row target).

The warm run is repeated on the pure-Python path (``TRADECALC_VECTORISED=0``, the path before
the vectorised one) and both outputs are compared byte for byte.

Why polars and not DuckDB for the join (step 5 measures the money step both ways on every
run): the rows arrive as blocks of simple CSV lines that polars reads into columns, and the
rest of the batch (fees, review texts, the engine's rows in their place) is Python working per
distinct code, layer set and day on frames polars hands back cheaply; DuckDB's DECIMAL money
step alone is about as fast, but it is a small part of the run, and DuckDB's import costs
about as much as polars'.
The load average is printed with the figures: on a shared machine, compare CPU seconds.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from benchmarks.common import OUT, ROOT, child_env, parallel_capacity, run_measured

TRADE = ROOT.parent / "shared" / "data" / "trade" / "us-imports-from-china-2024-hs10.csv"
DATES = (
    "2025-01-15",
    "2025-02-10",
    "2025-03-10",
    "2025-04-10",
    "2025-05-20",
    "2025-08-15",
    "2025-11-20",
    "2026-01-15",
)


def build(target: Path) -> int:
    """Write the workload; the number of rows."""
    with TRADE.open(encoding="utf-8", newline="") as handle:
        lines = [(r["hts10"], r["con_val_2024_usd"]) for r in csv.DictReader(handle)]
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("ref", "hs", "origin", "dest", "value", "date", "mode"))
        ref = 0
        for day in DATES:
            for code, value in lines:
                ref += 1
                writer.writerow((ref, code, "CN", "US", value, day, "ocean"))
    return len(lines) * len(DATES)


CPU: list[float] = [0.0]
"""CPU seconds (user + system) of the last child: on a shared machine, wall time is noisy."""


def _child(cmd: list[str], env: dict[str, str], stdout: int | None = None) -> tuple[float, float]:
    """Wall seconds and peak MiB of one child run (exit 0 or 1); its CPU time in CPU[0].

    The peak and CPU time are this child's own (:func:`benchmarks.common.run_measured`)."""
    found = run_measured(cmd, env, stdout)
    if found.code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {found.stderr[-2000:]}")
    CPU[0] = found.cpu
    return found.wall, found.peak


WARM_RUNS = 5
"""Warm runs of the batch: the machine's speed drifts by a third within an hour, so one run
is not a figure."""
PEER_ROUNDS = 15
"""Rounds of batch against the peer (each runs batch with ``-o``, the peer and batch to
stdout): a round's ratio varies by about a tenth on this machine, so the median of five
rounds read anywhere from 0.98x to 1.21x across runs of the same code."""


def run_batch(
    shipments: Path,
    result: Path,
    env: dict[str, str],
    piped: bool = False,
    errors: Path | None = None,
) -> tuple[float, float]:
    """``tradecalc batch`` on the workload: the results written with ``-o`` (atomically:
    fsynced, then renamed over the file), or with ``piped`` to stdout, which the shell
    has pointed at the file (``> result``: written as the peer writes, not fsynced); bad
    rows to ``errors`` (default: beside the result)."""
    cmd = [sys.executable, "-m", "tradecalc", "batch", str(shipments)]
    cmd += ["--errors", str(errors or result.with_suffix(".errors.csv"))]
    if not piped:
        return _child([*cmd, "-o", str(result)], env)
    with result.open("wb") as handle:
        return _child(cmd, env, handle.fileno())


def compile_all() -> tuple[float, int, int]:
    """Seconds to compile every code of the bundled data, codes and intervals."""
    from tradecalc.engine.compiled import compile_table
    from tradecalc.hts.base_rates import Providers
    from tradecalc.hts.cn_lines import ChinaLines
    from tradecalc.hts.history import open_schedule
    from tradecalc.schedule.load import load_schedule

    start = time.perf_counter()
    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True)
    providers = Providers(*(p for p in (us, ChinaLines()) if p is not None))
    table = compile_table(schedule, providers, "bench")
    seconds = time.perf_counter() - start
    return seconds, len(table.codes), sum(len(s) for s, _ in table.codes.values())


PEER = """
import sys
from pathlib import Path

import duckdb

sql, entries, rates, out = sys.argv[1:]
recipe = Path(sql).read_text(encoding="utf-8")
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(
    f"COPY ({recipe}) TO '{out}' (HEADER)", {"entries": entries, "rates": rates, "mode": "ocean"}
)
"""
"""The peer as a user runs it: a fresh process that imports DuckDB, reads the shipments file,
runs the recipe and writes its result file (as ``batch`` is measured: end to end)."""


def run_peer_end_to_end(shipments: Path, table: Path) -> tuple[float, float, float] | None:
    """The recipe in a fresh process, start-up and result file included: wall, CPU, peak."""
    from tradecalc.batch.export import RECIPE

    sql, out = OUT / "peer.sql", OUT / "peer-out.csv"
    sql.write_text(RECIPE, encoding="utf-8")
    found = run_measured(
        [sys.executable, "-c", PEER, str(sql), str(shipments), str(table), str(out)], child_env()
    )
    if found.code != 0:
        print(f"peer end to end failed: {found.stderr[-2000:]}")
        return None
    return found.wall, found.cpu, found.peak


def run_peer(shipments: Path, table: Path, result: Path) -> float | None:
    """The docs' DuckDB recipe over the exported table: seconds, and rows differing."""
    try:
        import duckdb
    except ImportError:
        print("duckdb: not installed, peer skipped (pip install -e '.[bench]')")
        return None
    from tradecalc.batch.export import RECIPE

    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(
        f"CREATE TABLE peer AS {RECIPE}",
        {"entries": str(shipments), "rates": str(table), "mode": "ocean"},
    )
    seconds = time.perf_counter() - start
    count, diff = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE c.ref IS NULL OR p.duty <> c.duty
                                           OR p.fees <> c.fees OR p.total <> c.total)
        FROM peer p
        LEFT JOIN (SELECT ref, CAST(duty AS DECIMAL(38,2)) AS duty,
                          CAST(fees AS DECIMAL(38,2)) AS fees,
                          CAST(total AS DECIMAL(38,2)) AS total
                   FROM read_csv($result, header=true, all_varchar=true)) c
          ON p.ref = c.ref
        WHERE NOT p.engine
        """,
        {"result": str(result)},
    ).fetchone() or (0, 0)
    print(
        f"peer: hand-written DuckDB {duckdb.__version__} SQL over the exported table: "
        f"{seconds:.2f} s for {count:,} table-charged rows; rows differing from batch: {diff:,}"
    )
    return seconds


def money_both_ways(rows: int) -> None:
    """The vectorised money step alone, DuckDB DECIMAL vs polars integer cents, with what
    the batch also pays for either: taking Python columns in, and the import."""
    import random

    exact = 0
    rng = random.Random(7)
    values = [rng.randrange(0, 10**11) for _ in range(rows)]
    rates = [rng.choice((0, 25, 75, 100, 200, 250, 300)) for _ in range(rows)]  # per mille
    for value, rate in zip(values, rates, strict=True):
        exact += (2 * value * rate + 1000) // 2000
    print(f"  money, reference sum (Python integers): {exact} cents")
    try:
        import duckdb

        con = duckdb.connect()
        con.execute("CREATE TABLE t (cents BIGINT, permille BIGINT)")
        start = time.perf_counter()
        con.execute(
            "INSERT INTO t SELECT * FROM (SELECT unnest($v) AS cents, unnest($r) AS permille)",
            {"v": values, "r": rates},
        )
        print(
            f"  DuckDB: Python columns in: {rows / (time.perf_counter() - start):,.0f} rows/s; "
            f"import {_import_seconds('duckdb'):.2f} s (fresh process)"
        )
        start = time.perf_counter()
        found = con.execute(
            "SELECT sum(round(CAST(cents AS DECIMAL(18, 0)) * 0.01 "
            "* (CAST(permille AS DECIMAL(18, 0)) * 0.001), 2)) FROM t"
        ).fetchone()
        duck_s = time.perf_counter() - start
        duck = None if found is None else int(found[0] * 100)
        print(f"  money, DuckDB DECIMAL: {rows / duck_s:,.0f} rows/s (sum {duck} cents)")
    except ImportError:
        print("  money, DuckDB: not installed")
    try:
        import polars as pl

        start = time.perf_counter()
        frame = pl.DataFrame({"cents": values, "permille": rates})
        print(
            f"  polars: Python columns in: {rows / (time.perf_counter() - start):,.0f} rows/s; "
            f"import {_import_seconds('polars'):.2f} s (fresh process)"
        )
        start = time.perf_counter()
        product = pl.col("cents") * pl.col("permille")
        total = frame.select(((product + 500) // 1000).sum()).item()
        pl_s = time.perf_counter() - start
        print(f"  money, polars int cents half-up: {rows / pl_s:,.0f} rows/s (sum {total} cents)")
    except ImportError:
        print("  money, polars: not installed")


def _import_seconds(module: str) -> float:
    """Wall seconds a fresh interpreter takes to import ``module``, minus a bare start."""
    bare = min(_wall([sys.executable, "-c", "pass"]) for _ in range(3))
    return min(_wall([sys.executable, "-c", f"import {module}"]) for _ in range(3)) - bare


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def full_check(shipments: Path, result: Path, limit: int | None = None) -> tuple[int, int]:
    """Every batch row against one-shot ``assess()``: rows checked and rows differing."""
    from tradecalc.batch.rows import result_values
    from tradecalc.core.errors import TradecalcError
    from tradecalc.engine.assessment import Shipment, assess, dated_view
    from tradecalc.hts.providers import imported_schedule
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(use_cache=False).schedule
    providers = imported_schedule()
    with result.open(encoding="utf-8", newline="") as handle:
        got = {row["row"]: row for row in csv.DictReader(handle)}
    checked = differing = 0
    with shipments.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            if limit is not None and checked >= limit:
                break
            when = datetime.fromisoformat(row["date"])
            ship = Shipment(row["hs"], Decimal(row["value"]), entry=when)
            try:
                values = result_values(
                    ship, assess(schedule, ship, dated_view(when), None, providers)
                )
            except TradecalcError:
                values = None
            mine = got.get(str(number))
            checked += 1
            if values is None:
                differing += mine is not None
                continue
            if mine is None or [mine[k] for k in ("duty", "fees", "taxes", "total", "status")] != [
                values[5],
                values[6],
                values[7],
                values[8],
                values[11],
            ]:
                differing += 1
    return checked, differing


def generated(rows: int, table: Path | None = None) -> None:
    """``rows`` generated rows over every code of the realistic workload and dates from 2025
    to 2026 (seeded), through ``tradecalc batch`` with a warm cache: rows/s and peak; then,
    given the exported ``table``, the peer on the same file, end to end, for the ratio."""
    import random
    from datetime import date, timedelta

    if not TRADE.is_file():
        print(f"generated workload skipped: {TRADE} is absent")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    with TRADE.open(encoding="utf-8", newline="") as handle:
        codes = [r["hts10"] for r in csv.DictReader(handle)]
    rng = random.Random(12)
    days = [(date(2025, 1, 1) + timedelta(days=n)).isoformat() for n in range(730)]
    target = OUT / "generated.csv"
    with target.open("w", encoding="utf-8", newline="") as handle:
        handle.write("ref,hs,origin,dest,value,date,mode\n")
        for start in range(0, rows, 100_000):
            handle.writelines(
                f"{n},{rng.choice(codes)},CN,US,{rng.randrange(100, 10**8)}."
                f"{rng.randrange(100):02d},{rng.choice(days)},ocean\n"
                for n in range(start, min(rows, start + 100_000))
            )
    env = child_env()
    env["TRADECALC_CACHE_DIR"] = str(OUT / "cache-realistic")
    result = OUT / "generated-out.csv"
    wall, peak = run_batch(target, result, env)
    cpu, size = CPU[0], result.stat().st_size
    cores = parallel_capacity()
    print(
        f"generated: {rows:,} rows over {len(codes):,} codes x {len(days)} dates, warm cache: "
        f"{wall:.1f} s, {rows / wall:,.0f} rows/s "
        f"({'meets' if rows / wall >= 1_000_000 else 'MISSES'} >= 1M), peak {peak:.0f} MiB "
        f"({'meets' if peak <= 1024 else 'MISSES'} <= 1 GiB); CPU {cpu:.1f} s, "
        f"{rows / cpu:,.0f} rows per CPU-second; load average {_load()}\n"
        f"  bound by the CPU: this CPU time on both cores kept busy throughout (they do "
        f"{cores:.2f}x one core's work) is at least {cpu / cores:.1f} s, at most "
        f"{rows * cores / cpu:,.0f} rows/s"
    )
    result.unlink(missing_ok=True)
    null = Path(os.devnull)
    bad = OUT / "generated-null.errors.csv"
    unwritten, _ = run_batch(target, null, env, piped=True, errors=bad)
    bad.unlink(missing_ok=True)
    print(
        f"  the same to stdout on {null} (the {size / 1e9:.1f} GB of results not written to "
        f"a file): {unwritten:.1f} s, {rows / unwritten:,.0f} rows/s, CPU {CPU[0]:.1f} s; "
        f"writing the file cost {wall - unwritten:.1f} s and {cpu - CPU[0]:.1f} CPU-seconds"
    )
    found = run_peer_end_to_end(target, table) if table is not None else None
    if found is not None:
        print(
            f"  the peer (docs/rate-table.md's DuckDB recipe, end to end) on the same rows: "
            f"{found[0]:.1f} s, {rows / found[0]:,.0f} rows/s, CPU {found[1]:.1f} s, peak "
            f"{found[2]:.0f} MiB; batch / peer {wall / found[0]:.2f}x wall"
        )
    (OUT / "peer-out.csv").unlink(missing_ok=True)
    target.unlink(missing_ok=True)


def main(check_all: bool = True, generated_rows: int = 0) -> None:
    """Build, run cold and warm, compile all, the peer, the money step, the full check."""
    if not TRADE.is_file():
        print(f"realistic workload skipped: {TRADE} is absent")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    shipments = OUT / "realistic.csv"
    rows = build(shipments)
    result = OUT / "realistic-out.csv"
    env = child_env()
    cache = OUT / "cache-realistic"
    shutil.rmtree(cache, ignore_errors=True)
    env["TRADECALC_CACHE_DIR"] = str(cache)
    print(
        f"realistic: {rows:,} rows ({rows // len(DATES):,} HTS10 lines x {len(DATES)} dates); "
        f"load average {_load()}"
    )
    cold, cold_peak = run_batch(shipments, result, env)
    print(
        f"batch, cold cache (compiles these codes): {cold:.2f} s, {rows / cold:,.0f} rows/s, "
        f"peak {cold_peak:.0f} MiB ({'meets' if cold <= 5 else 'MISSES'} <= 5 s); "
        f"CPU {CPU[0]:.2f} s, {rows / CPU[0]:,.0f} rows per CPU-second"
    )
    runs = []
    for _ in range(WARM_RUNS):
        wall, peak = run_batch(shipments, result, env)
        runs.append((wall, CPU[0], peak))
    warm = statistics.median(wall for wall, _, _ in runs)
    warm_cpu = statistics.median(cpu for _, cpu, _ in runs)
    warm_peak = max(peak for _, _, peak in runs)
    fastest = min(wall for wall, _, _ in runs)
    print(
        f"batch, warm cache, median of {WARM_RUNS} runs: {warm:.2f} s, {rows / warm:,.0f} rows/s "
        f"({'meets' if rows / warm >= 100_000 else 'MISSES'} >= 100k; fastest {fastest:.2f} s, "
        f"{rows / fastest:,.0f} rows/s), peak {warm_peak:.0f} MiB "
        f"({'meets' if warm_peak <= 500 else 'MISSES'} <= 500 MiB); "
        f"CPU {warm_cpu:.2f} s, {rows / warm_cpu:,.0f} rows per CPU-second"
    )
    reference = OUT / "realistic-reference.csv"
    ref_wall, ref_peak = run_batch(shipments, reference, {**env, "TRADECALC_VECTORISED": "0"})
    same = reference.read_bytes() == result.read_bytes()
    print(
        f"batch, warm cache, pure-Python path (TRADECALC_VECTORISED=0, the path before): "
        f"{ref_wall:.2f} s, {rows / ref_wall:,.0f} rows/s, peak {ref_peak:.0f} MiB; "
        f"CPU {CPU[0]:.2f} s; output {'byte-identical' if same else 'DIFFERS'}\n"
        f"  ratio vectorised / pure Python: {ref_wall / warm:.1f}x faster wall, "
        f"{CPU[0] / warm_cpu:.1f}x less CPU"
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() + usage.ru_utime + usage.ru_stime
    seconds, codes, intervals = compile_all()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() + usage.ru_utime + usage.ru_stime - cpu
    print(
        f"compile of the whole bundled data (schedule read without its cache): {seconds:.1f} s, "
        f"{codes:,} codes, "
        f"{intervals:,} intervals ({'meets' if seconds <= 10 else 'MISSES'} <= 10 s); "
        f"CPU {cpu:.1f} s"
    )
    table = OUT / "rate-table.parquet"
    export = [sys.executable, "-m", "tradecalc", "rates", "export", "--format", "parquet"]
    # in a cache of its own: the export compiles every code, and a batch reading a table of
    # every code (55 MB, not 21) takes about 0.1 s and 40 MiB more; the rounds below run
    # batch as it was measured warm
    shared = OUT / "cache-export"
    shutil.rmtree(shared, ignore_errors=True)
    shutil.copytree(cache, shared)
    wall, _ = _child([*export, "-o", str(table)], {**env, "TRADECALC_CACHE_DIR": str(shared)})
    print(f"rates export (warm for these codes, compiles the rest): {wall:.1f} s")
    peer = run_peer(shipments, table, result)
    whole = run_peer_end_to_end(shipments, table) if peer else None
    if peer and whole:
        rounds = []  # batch and peer alternated, a ratio per round: drift in speed cancels
        piped = []  # and batch writing to stdout, the file not fsynced (as the peer's)
        for _ in range(PEER_ROUNDS):
            ours, _ = run_batch(shipments, result, env)
            ours_cpu = CPU[0]
            written = result.read_bytes()
            found = run_peer_end_to_end(shipments, table)
            assert found is not None
            rounds.append((found, ours / found[0], ours_cpu / found[1]))
            unsynced, _ = run_batch(shipments, result, env, piped=True)
            piped.append((unsynced / found[0], CPU[0] / found[1]))
            if result.read_bytes() != written:
                raise SystemExit("batch wrote other results to stdout than with -o")
        peer_wall = statistics.median(found[0] for found, _, _ in rounds)
        peer_cpu = statistics.median(found[1] for found, _, _ in rounds)
        ratio = statistics.median(wall for _, wall, _ in rounds)
        ratio_cpu = statistics.median(cpu for _, _, cpu in rounds)
        piped_ratio = statistics.median(wall for wall, _ in piped)
        piped_cpu = statistics.median(cpu for _, cpu in piped)
        verdict = "meets" if ratio <= 1 else "MISSES"
        print(
            f"peer end to end (a fresh process: DuckDB imported, the shipments read, the "
            f"recipe run, its result file written, as batch is measured), median of "
            f"{PEER_ROUNDS} rounds alternating with batch: {peer_wall:.2f} s wall, CPU "
            f"{peer_cpu:.2f} s\n"
            f"  ratio tradecalc batch (warm) / peer, both end to end, median of the rounds' "
            f"ratios: {ratio:.2f}x wall ({verdict} <= 1x; fastest round "
            f"{min(wall for _, wall, _ in rounds):.2f}x), {ratio_cpu:.2f}x CPU; against the "
            f"peer's query alone (in process, no start-up, no file written): {warm / peer:.1f}x"
            f"\n  batch writes its -o file durably (fsynced before it replaces the file); "
            f"the peer's COPY is not fsynced. "
            f"Batch writing to stdout, the shell pointing it at the file (not fsynced, as the "
            f"peer's), in the same rounds: {piped_ratio:.2f}x wall "
            f"({'meets' if piped_ratio <= 1 else 'MISSES'} <= 1x; fastest round "
            f"{min(wall for wall, _ in piped):.2f}x), {piped_cpu:.2f}x CPU"
        )
        print(
            f"  this machine's two cores do {parallel_capacity():.2f}x the work of one "
            f"(two CPU-bound processes at once against one alone): the most any job, the "
            f"peer's or batch's, gains from the second core"
        )
    money_both_ways(rows)
    if check_all:
        start = time.perf_counter()
        checked, differing = full_check(shipments, result)
        print(
            f"full-row check against assess(): {checked:,} rows, {differing:,} differing "
            f"({time.perf_counter() - start:.0f} s)"
        )
    if generated_rows:
        generated(generated_rows, table if peer else None)
    print(f"realistic: done; load average {_load()}")


def _load() -> str:
    """The 1, 5 and 15-minute load averages."""
    import os

    return " ".join(f"{n:.2f}" for n in os.getloadavg())


if __name__ == "__main__":
    count = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--generated=")), 0)
    main(check_all="--no-check" not in sys.argv, generated_rows=count)
