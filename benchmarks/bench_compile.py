"""Compile: CPU seconds for a cold compile of the whole bundled data into the rate table.

The table (every code of both routes, every interval) is compiled in this process from a
freshly loaded schedule and fresh tariff-line providers; no rate-table cache is read or written.
The baseline, measured in the same run: the one-shot path (:func:`tradecalc.assess` on
the uncompiled schedule, plan not memoised) for a seeded sample of codes, each on the day
before and the day of every instant in the sample window where a US measure period starts.
The ratio says how much longer planning every interval of the table one by one would take
than compiling it. Target: compile <= 10 s CPU on the project's 2-core machine.

Run alone: ``python -m benchmarks.bench_compile [--sample N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
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


def _world() -> tuple[Schedule, Providers]:
    """A freshly loaded schedule and fresh providers (no memo shared with another run)."""
    from tradecalc.hts.base_rates import Providers
    from tradecalc.hts.cn_lines import ChinaLines
    from tradecalc.hts.history import open_schedule
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True, bundled=True)
    return schedule, Providers(*(p for p in (us, ChinaLines()) if p is not None))


def compile_cold() -> tuple[float, int, int, int]:
    """CPU seconds of a cold compile of every code, and its codes, intervals, layer sets."""
    from tradecalc.engine.compiled import compile_table

    schedule, providers = _world()
    start = _cpu()
    table = compile_table(schedule, providers, "bench")
    seconds = _cpu() - start
    intervals = sum(len(starts) for starts, _ in table.codes.values())
    return seconds, len(table.codes), intervals, len(table.layers)


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
    seconds, codes, intervals, layers = compile_cold()
    load = os.getloadavg()[0]
    print(
        f"compile of the whole bundled data: {seconds:.2f} s CPU (target <= {TARGET:.0f} s: "
        f"{'met' if seconds <= TARGET else 'missed'}), load {load:.2f}"
    )
    print(f"  {codes:,} codes, {intervals:,} intervals, {layers:,} layer sets")
    one_by_one = per_plan * intervals
    print(
        f"  one-shot plan, same run: {per_plan * 1e6:.0f} us CPU each ({plans:,} plans); "
        f"planning every interval one by one ~{one_by_one:.0f} s: the compile is "
        f"{one_by_one / seconds:.1f}x faster"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_compile", description=__doc__)
    parser.add_argument("--sample", type=int, default=40, help="codes in the one-shot baseline")
    main(parser.parse_args().sample)
