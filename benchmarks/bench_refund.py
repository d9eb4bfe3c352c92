"""Refund: N generated ACE ES-003 rows through ``tradecalc refund``, against reading the CSV alone.

1. Generate ``benchmarks/out/es003-N-TAG.csv`` (seeded): entries of 1-6 lines of US imports
   from China, each line a commodity row plus the Chapter 99 rows the engine expects for its
   code on its entry date (Section 301, IEEPA, Section 122), with realistic perturbations: 2%
   of lines lose a heading, 2% carry an amount 3% off, 1% a wrong-period IEEPA heading.
   Entry numbers are distinct (one filer code per 10 m entries), dates spread over every
   day from 2025-02-04 to 2026-07-23, types mostly 01 with some 11, 08, 09 and 47, and a
   third of the entries liquidated at some date before the as-of date.
2. Baseline, in this process: the same file read by the ``csv`` module, row by row (the
   least any tool reading it must do).
3. ``tradecalc refund FILE --as-of 2026-07-31 --format csv`` in a fresh process: wall time,
   rows per second, peak resident memory (the child's own: ``common.run_measured``).
   Target: 1 M rows
   in <= 60 s, with memory bounded: by default the run is done for 100,000 and 1,000,000
   rows (smallest first, so each peak is the child's own) and the two peaks compared.
"""

from __future__ import annotations

import csv
import hashlib
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchmarks.common import OUT, ROOT, child_env, run_measured, schedule_path

AS_OF = date(2026, 7, 31)
FIRST, LAST = date(2025, 2, 4), date(2026, 7, 23)
CODES = (
    "9503.00.0073",  # toys
    "8471.30.0100",  # laptops (reciprocal exempt from April 2025)
    "8517.13.0000",  # smartphones
    "6110.20.2079",  # cotton sweaters
    "9403.60.8093",  # furniture
    "4202.92.3120",  # travel bags
    "8516.60.4060",  # cooking stoves
    "4202.92.3131",  # bags
    "8504.40.9580",  # power supplies
    "6402.99.3165",  # footwear
    "9405.42.8440",  # LED lamps
    "8481.80.9050",  # valves
)
HEADER = (
    "Entry Summary Number",
    "Entry Summary Line Number",
    "Entry Type Code",
    "Entry Date",
    "Country of Origin Code",
    "Tariff Ordinal Number",
    "HTS Number - Full",
    "Line Tariff Goods Value Amount",
    "Line Tariff Duty Amount",
    "Liquidation Date",
    "Liquidation Status",
)
TYPES = ("01",) * 90 + ("11",) * 6 + ("08", "09", "47", "01")


def _expected_table(data: Path) -> dict[tuple[str, date], list[tuple[str, Decimal]]]:
    """(code, day) -> the Chapter 99 headings and rates the engine expects (on $1,000)."""
    from tradecalc.engine.assessment import Shipment, assess, dated_view
    from tradecalc.hts.providers import imported_schedule
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(data).schedule
    base = imported_schedule()
    table = {}
    day = FIRST
    thousand = Decimal(1000)
    while day <= LAST:
        when = datetime(day.year, day.month, day.day)
        for code in CODES:
            result = assess(
                schedule, Shipment(code, thousand, entry=when), dated_view(when), None, base
            )
            table[code, day] = [
                (line.heading.replace(".", ""), line.amount / thousand)
                for line in result.lines
                if line.heading and line.heading.startswith("99")
            ]
        day += timedelta(days=1)
    return table


def generate(rows: int, data: Path, target: Path) -> int:
    """Write at least ``rows`` ES-003 rows (whole entries); returns the number written."""
    table = _expected_table(data)
    rng = random.Random(20260220)
    days = (LAST - FIRST).days
    written = 0
    number = 0
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        while written < rows:
            number += 1
            filer = f"{'ABCDEFGHJK'[number // 10_000_000]}{number % 100:02d}"
            entry = f"{filer}{number:08d}"
            entered = FIRST + timedelta(days=rng.randrange(days + 1))
            kind = rng.choice(TYPES)
            liquidated, status = "", "Unliquidated"
            if rng.random() < 0.35:
                when = entered + timedelta(days=rng.randrange(200, 340))
                if when < AS_OF:
                    liquidated, status = when.strftime("%m/%d/%Y"), "Liquidated"
            stamp = entered.strftime("%m/%d/%Y")
            for line in range(1, rng.randint(1, 6) + 1):
                code = rng.choice(CODES)
                cents = int(10 ** rng.uniform(2, 6.5) * 100)
                value = Decimal(cents) / 100
                head = (entry, f"{line:03d}", kind, stamp, "CN")
                tail = (liquidated, status)
                writer.writerow((*head, 1, code.replace(".", ""), f"{value:.2f}", "0.00", *tail))
                written += 1
                chapter99 = list(table[code, entered])
                luck = rng.random()
                if luck < 0.02 and chapter99:
                    chapter99.pop(rng.randrange(len(chapter99)))
                elif luck < 0.03 and any(h.startswith("9903012") for h, _ in chapter99):
                    wrong = {"99030125": "99030163"}  # the April 2025 heading on a later entry
                    chapter99 = [(wrong.get(h, h), r) for h, r in chapter99]
                for ordinal, (heading, rate) in enumerate(chapter99, start=2):
                    amount = (value * rate).quantize(Decimal("0.01"))
                    if 0.03 <= luck < 0.05:
                        amount = (amount * Decimal("1.03")).quantize(Decimal("0.01"))
                    writer.writerow((*head, ordinal, f"{heading}00", "0", f"{amount}", *tail))
                    written += 1
    return written


def baseline(path: Path) -> float:
    """Seconds to read every row of ``path`` with the csv module (nothing else)."""
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        count = sum(1 for _ in csv.reader(handle))
    seconds = time.perf_counter() - start
    print(f"baseline: csv module reads {count - 1:,} rows in {seconds:.2f} s")
    return seconds


def run_refund(path: Path, data: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak MiB of ``tradecalc refund`` in a fresh process."""
    cmd = [sys.executable, "-m", "tradecalc", "refund", str(path), "--as-of", str(AS_OF)]
    cmd += ["--format", "csv", "--data", str(data)]
    found = run_measured(cmd, child_env(), stdout=subprocess.DEVNULL)
    if found.code not in (0, 1):
        raise SystemExit(f"refund failed: {found.stderr}")
    return found.wall, found.cpu, found.peak


def main(rows: int = 1_000_000, data: str | None = None) -> float:
    """Generate, read with csv, run refund, print figures and the ratio; returns peak MiB."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = schedule_path(data)
    tag = hashlib.sha256(path.read_bytes() + repr(CODES).encode()).hexdigest()[:8]
    entries = OUT / f"es003-{rows}-{tag}.csv"
    if not entries.exists():
        start = time.perf_counter()
        count = generate(rows, path, entries)
        print(
            f"generated {entries.relative_to(ROOT)} ({count:,} rows, "
            f"{entries.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s"
        )
    with entries.open(encoding="utf-8") as handle:
        count = sum(1 for _ in handle) - 1
    print(f"refund: {count:,} ES-003 rows, schedule {path.name}")
    base = baseline(entries)
    wall, cpu, peak = run_refund(entries, path)
    verdict = "meets" if wall * 1_000_000 / count <= 60 else "MISSES"
    print(
        f"tradecalc refund: {wall:.2f} s wall ({cpu:.2f} s CPU), {count / wall:,.0f} rows/s "
        f"({verdict} <= 60 s per 1 M rows), peak {peak:.0f} MiB"
    )
    print(f"  ratio refund / csv module: {wall / base:.1f}x")
    return peak


if __name__ == "__main__":
    # python -m benchmarks.bench_refund [ROWS ...]   (default: 100,000 then 1,000,000)
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000]
    peaks = {size: main(rows=size) for size in sorted(sizes)}
    if len(peaks) > 1:
        print(
            "peak memory by input size (bounded: it should not grow with the input): "
            + ", ".join(f"{size:,} rows {peak:.0f} MiB" for size, peak in peaks.items())
        )
