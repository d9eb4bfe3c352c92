"""Compile: CPU seconds for a cold compile of the whole bundled data into the rate table.

The table (every code of both routes, every interval) is compiled in this process from a
freshly loaded schedule and fresh tariff-line providers; no rate-table cache is read or written.
The baseline, measured in the same run: the one-shot path (:func:`tradecalc.assess` on
the uncompiled schedule, plan not memoised) for a seeded sample of codes, each on the day
before and the day of every instant in the sample window where a US measure period starts.
The ratio says how much longer planning every interval of the table one by one would take
than compiling it. Target: compile <= 10 s CPU on the project's 2-core machine.

The sha256 of the table's payload (its cache bytes after the header line, which names the
code's version) is printed: a change that only makes the compile faster leaves it as it
was. Then the same codes are compiled through :meth:`Tables.prepare` (what a cold batch
does) in one process and in two: wall seconds, CPU seconds of both processes, and whether
the payloads are the same bytes.

Run alone: ``python -m benchmarks.bench_compile [--sample N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradecalc.hts.base_rates import Providers
    from tradecalc.schedule.models import Schedule

TARGET = 10.0
"""Seconds of CPU the whole compile may take."""
WINDOW = (datetime(2024, 1, 1), datetime(2026, 6, 1))
"""The instants the baseline samples: effective dates in this window."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_with_children() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _cpu() + children.ru_utime + children.ru_stime


def _payload_sha256(data: bytes) -> str:
    """The sha256 of a table's cache bytes after the header line."""
    return hashlib.sha256(data.partition(b"\n")[2]).hexdigest()


def _world() -> tuple[Schedule, Providers]:
    """A freshly loaded schedule and fresh providers (no memo shared with another run)."""
    from tradecalc.hts.base_rates import Providers
    from tradecalc.hts.cn_lines import ChinaLines
    from tradecalc.hts.history import open_schedule
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True, bundled=True)
    return schedule, Providers(*(p for p in (us, ChinaLines()) if p is not None))


def compile_cold() -> tuple[float, int, int, int, str]:
    """CPU seconds of a cold compile of every code, and its codes, intervals, layer sets
    and payload sha256."""
    from tradecalc.engine.compiled import compile_table

    schedule, providers = _world()
    start = _cpu()
    table = compile_table(schedule, providers, "bench")
    seconds = _cpu() - start
    intervals = sum(len(starts) for starts, _ in table.codes.values())
    sha = _payload_sha256(table.to_bytes())
    return seconds, len(table.codes), intervals, len(table.layers), sha


def prepare_cold(processes: int) -> tuple[float, float, str]:
    """Wall and CPU seconds (this process and its helper) of :meth:`Tables.prepare` over
    every code of both routes, in ``processes`` processes, and the payload's sha256."""
    from tradecalc.engine.compiled import ROUTES, RateTable, Tables, route_codes

    schedule, providers = _world()
    tables = Tables(schedule, providers, RateTable("bench", [], {}))
    start, wall = _cpu_with_children(), time.perf_counter()
    for origin, importer in ROUTES:
        tables.prepare(importer, origin, route_codes(importer, providers, schedule), processes)
    wall = time.perf_counter() - wall
    seconds = _cpu_with_children() - start
    return wall, seconds, _payload_sha256(tables.table.to_bytes())


def one_shot_per_plan(sample: int) -> tuple[float, int]:
    """CPU seconds per one-shot plan (``assess`` uncompiled), over ``sample`` US codes on
    the day before and the day of each effective date in :data:`WINDOW`; and the plans made."""
    from tradecalc.engine.assessment import Shipment, assess, dated_view
    from tradecalc.engine.compiled import route_codes

    schedule, providers = _world()
    codes = random.Random(12).sample(route_codes("US", providers, schedule), sample)
    days = sorted(
        {
            datetime(p.from_.year, p.from_.month, p.from_.day)
            for m in schedule.measures
            if m.importer == "US"
            for p in m.periods
            if WINDOW[0] <= p.from_ < WINDOW[1]
        }
    )
    moments = sorted({d + shift for d in days for shift in (timedelta(days=-1), timedelta(0))})
    plans = 0
    start = _cpu()
    for code in codes:
        for when in moments:
            shipment = Shipment(code, Decimal(1000), "CN", "US", when)
            assess(schedule, shipment, dated_view(when), None, providers)
            plans += 1
    return (_cpu() - start) / plans, plans


def main(sample: int = 40) -> None:
    """Print the compile's CPU seconds, the table's size and the ratio to the one-shot path."""
    per_plan, plans = one_shot_per_plan(sample)
    seconds, codes, intervals, layers, sha = compile_cold()
    load = os.getloadavg()[0]
    print(
        f"compile of the whole bundled data: {seconds:.2f} s CPU (target <= {TARGET:.0f} s: "
        f"{'met' if seconds <= TARGET else 'missed'}), load {load:.2f}"
    )
    print(f"  {codes:,} codes, {intervals:,} intervals, {layers:,} layer sets")
    print(f"  payload sha256 {sha}")
    one_by_one = per_plan * intervals
    print(
        f"  one-shot plan, same run: {per_plan * 1e6:.0f} us CPU each ({plans:,} plans); "
        f"planning every interval one by one ~{one_by_one:.0f} s: the compile is "
        f"{one_by_one / seconds:.1f}x faster"
    )
    shas = set()
    for processes in (1, 2):
        wall, cpu, found = prepare_cold(processes)
        shas.add(found)
        print(
            f"  Tables.prepare of every code, {processes} process{'es' if processes > 1 else ''}: "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU, load {os.getloadavg()[0]:.2f}"
        )
    same = "the same bytes" if len(shas) == 1 else "DIFFERENT bytes"
    print(f"  Tables.prepare in one process and in two: {same}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_compile", description=__doc__)
    parser.add_argument("--sample", type=int, default=40, help="codes in the one-shot baseline")
    main(parser.parse_args().sample)
