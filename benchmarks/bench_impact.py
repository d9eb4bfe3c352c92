"""Impact: the default US basket over ``--timeline`` from 2025-01-01 to today (target <= 10 s).

1. ``tradecalc impact --timeline --from 2025-01-01 --format csv`` in a fresh process, twice:
   first with no rate table cached (the run compiles the table for the basket's codes and
   keeps it), then as every later run goes (the table read from the cache). Wall and CPU
   time of each; the second is the issue-15 figure (at most 10 s on this machine).
2. Same-run baseline, in this process, on every ``SAMPLE``-th line of the same basket and the
   same instants: :func:`tradecalc.analysis.impact.measure_impact` assessing every line under every
   instant with the engine (``reuse=False``) against the default (the compiled table charging
   every line it can, compiled here in memory for the sample's codes; the engine for the
   rest). Both must give the same figures; the ratio and the full-basket time of the plain
   path extrapolated from the sample are printed.
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import datetime

from benchmarks.common import OUT, ROOT, child_env, wall_time

SAMPLE = 25
START = datetime(2025, 1, 1)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(sample: int = SAMPLE) -> None:
    """Time the CLI runs, then the in-process baseline on a sample."""
    from tradecalc.analysis.impact import (
        change_instants,
        default_basket,
        measure_impact,
        read_basket,
    )
    from tradecalc.batch.rows import RowError
    from tradecalc.engine.selection import instant_view
    from tradecalc.hts.history import open_schedule
    from tradecalc.schedule.load import bundled_path, load_schedule

    cmd = [sys.executable, "-m", "tradecalc", "impact", "--timeline", "--from", "2025-01-01"]
    cmd += ["--format", "csv"]
    for old in (OUT / "cache").glob("rate-table-*.json"):
        old.unlink()
    runs = []
    for _ in range(2):
        cpu = _child_cpu()
        runs.append((wall_time(cmd, child_env()), _child_cpu() - cpu))
    schedule = load_schedule(bundled_path()).schedule
    lines = default_basket("US").read_text(encoding="utf-8").splitlines()
    shipments = [i[1] for i in read_basket(lines) if not isinstance(i, RowError)]
    us = open_schedule()
    end = datetime.now().replace(second=0, microsecond=0)
    views = [instant_view(t) for t in change_instants(schedule, "US", START, end, us)]
    (cold, cold_cpu), (wall, cpu) = runs
    verdict = "meets" if wall <= 10 else "MISSES"
    print(
        f"impact --timeline: {len(shipments):,} lines x {len(views)} instants, "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU with the rate table cached ({verdict} <= 10 s); "
        f"first run, compiling the table: {cold:.1f} s wall, {cold_cpu:.1f} s CPU ({ROOT.name})"
    )
    part = shipments[::sample]
    timings = {}
    figures = {}
    for reuse in (False, True):
        start = time.perf_counter()
        found = measure_impact(schedule, part, views, base_rates=us, reuse=reuse)
        timings[reuse] = time.perf_counter() - start
        figures[reuse] = [
            (str(i.total.value), str(i.total.duty), str(i.review_value), list(i.review.items()))
            for i in found
        ]
    same = "same figures" if figures[True] == figures[False] else "FIGURES DIFFER"
    print(
        f"  baseline on 1 line in {sample} ({len(part):,} lines): the engine at every instant "
        f"{timings[False]:.1f} s, the table path {timings[True]:.1f} s "
        f"({timings[False] / timings[True]:.1f}x, {same}); the engine path on the full basket "
        f"about {timings[False] * sample:.0f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else SAMPLE)
