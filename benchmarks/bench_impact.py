"""Impact: the default US basket over ``--timeline`` from 2025-01-01 to today (target <= 10 s).

1. ``tradecalc impact --timeline --from 2025-01-01 --format csv`` in a fresh process, wall time
   (the issue-15 target: at most 10 s on this machine).
2. Same-run baseline, in this process, on every ``SAMPLE``-th line of the same basket and the
   same instants: :func:`tradecalc.impact.measure_impact` assessing every line under every
   instant (``reuse=False``) against the default (one assessment per stretch of time in which
   nothing that touches the line changes). Both must give the same sums; the ratio and the
   full-basket time of the plain path extrapolated from the sample are printed.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

from benchmarks.common import ROOT, child_env, wall_time

SAMPLE = 25
START = datetime(2025, 1, 1)


def main(sample: int = SAMPLE) -> None:
    """Time the CLI run, then the in-process baseline on a sample."""
    from tradecalc.batch import RowError
    from tradecalc.hts_history import open_schedule
    from tradecalc.impact import change_instants, default_basket, measure_impact, read_basket
    from tradecalc.schedules import bundled_path, load_schedule
    from tradecalc.selection import instant_view

    cmd = [sys.executable, "-m", "tradecalc", "impact", "--timeline", "--from", "2025-01-01"]
    cmd += ["--format", "csv"]
    wall = wall_time(cmd, child_env())
    schedule = load_schedule(bundled_path()).schedule
    lines = default_basket("US").read_text(encoding="utf-8").splitlines()
    shipments = [i[1] for i in read_basket(lines) if not isinstance(i, RowError)]
    us = open_schedule()
    end = datetime.now().replace(second=0, microsecond=0)
    views = [instant_view(t) for t in change_instants(schedule, "US", START, end, us)]
    verdict = "meets" if wall <= 10 else "MISSES"
    print(
        f"impact --timeline: {len(shipments):,} lines x {len(views)} instants, "
        f"{wall:.1f} s wall ({verdict} <= 10 s; {ROOT.name})"
    )
    part = shipments[::sample]
    timings = {}
    sums = {}
    for reuse in (False, True):
        start = time.perf_counter()
        found = measure_impact(schedule, part, views, base_rates=us, reuse=reuse)
        timings[reuse] = time.perf_counter() - start
        sums[reuse] = [(i.total.value, i.total.duty, i.review_value) for i in found]
    same = "same sums" if sums[True] == sums[False] else "SUMS DIFFER"
    print(
        f"  baseline on 1 line in {sample} ({len(part):,} lines): every instant "
        f"{timings[False]:.1f} s, with reuse {timings[True]:.1f} s "
        f"({timings[False] / timings[True]:.1f}x, {same}); plain path on the full basket "
        f"about {timings[False] * sample:.0f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else SAMPLE)
