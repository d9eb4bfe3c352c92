"""Run every benchmark: ``python -m benchmarks [--rows N] [--data FILE]``."""

from __future__ import annotations

import argparse

from benchmarks import (
    bench_batch,
    bench_compile,
    bench_hts,
    bench_impact,
    bench_realistic,
    bench_refund,
    bench_startup,
)


def main() -> None:
    """Start-up first (quick), the batch benchmark, HTS import and lookups, the compile of
    the bundled data, the realistic workload (every 2024 HTS10 line of US imports from China
    x 8 dates), refund, impact."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="shipments to generate")
    parser.add_argument("--runs", type=int, default=30, help="start-up runs per command")
    parser.add_argument("--data", default=None, help="schedule file (default: see bench_batch)")
    parser.add_argument("--jobs", type=int, default=1, help="batch --jobs for the batch run")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the full-row check against assess()"
    )
    parser.add_argument(
        "--generated", type=int, default=0, help="generated rows for the 10 M-row target (0: skip)"
    )
    args = parser.parse_args()
    bench_startup.main(runs=args.runs, data=args.data)
    print()
    bench_batch.main(rows=args.rows, data=args.data, jobs=args.jobs)
    print()
    bench_hts.main(runs=args.runs, data=args.data)
    print()
    bench_compile.main()
    print()
    bench_realistic.main(check_all=not args.no_check, generated_rows=args.generated)
    print()
    bench_refund.main(rows=args.rows, data=args.data)
    print()
    bench_impact.main()


if __name__ == "__main__":
    main()
