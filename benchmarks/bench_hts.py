"""HTS import: time to import one revision, and ``duty`` with an imported revision vs without.

Import: one USITC revision (2025 Rev 11, gzip) parsed and compiled to SQLite, in process.
Duty: ``tradecalc duty`` in fresh processes, alternately with an imported revision
(``$TRADECALC_HOME`` holding it) and with none (curated data only), pair by pair; the ratio
of medians is reported for a curated code (the import is not opened) and for a code only
the import knows. Targets: import <= 10 s, ratio <= 1.1.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, child_env, schedule_path, wall_time

SOURCE = ROOT.parent / "shared" / "data" / "usitc-hts-json" / "hts_2025_rev_11.json.gz"
CODES = {
    "curated code 9503.00.0073": "9503.00.0073",
    "import-only code 0709.51.0100": "0709.51.0100",
}


def main(runs: int = 15, data: str | None = None) -> None:
    """Print the import time and the duty-call ratios."""
    from tradecalc.hts.store import import_revision

    if not SOURCE.is_file():
        print(f"HTS benchmark skipped: {SOURCE} is absent (no USITC export to import)")
        return
    schedule = schedule_path(data)
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as empty:
        start = time.perf_counter()
        rev, parsed = import_revision(str(SOURCE), None, None, Path(home) / "hts")
        took = time.perf_counter() - start
        print(
            f"import {rev.name}: {parsed.rows} rows, {parsed.tariff_lines} tariff lines in "
            f"{took:.2f} s (target <= 10 s), {rev.path.stat().st_size / 2**20:.1f} MiB"
        )
        with_hts = {**child_env(), "TRADECALC_HOME": home}
        without = {**child_env(), "TRADECALC_HOME": empty}
        for label, code in CODES.items():
            cmd = [sys.executable, "-m", "tradecalc", "duty", "1000", "--hs", code]
            cmd += ["--date", "2025-06-01", "--data", str(schedule)]
            wall_time(cmd, with_hts)  # warm the schedule caches and byte-code
            wall_time(cmd, without)
            a, b = [], []
            for _ in range(runs):  # alternated, a ratio per round: drift in speed cancels
                a.append(wall_time(cmd, with_hts))
                b.append(wall_time(cmd, without))
            ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
            print(
                f"duty, {label}: imported {statistics.median(a) * 1000:.0f} ms vs curated only "
                f"{statistics.median(b) * 1000:.0f} ms: ratio {ratio:.3f}, the median of the "
                f"rounds' ratios (target <= 1.1)"
            )


if __name__ == "__main__":
    main()
