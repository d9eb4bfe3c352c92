"""How much of the 2024 US imports from China needs review, per named regime.

Prices every HTS10 line of ``../shared/data/trade/us-imports-from-china-2024-hs10.csv``
(Census imports for consumption from China, 2024; see that folder's SOURCE.md) at its
2024 value, from China into the US, under each named regime of the bundled data and on
2026-12-02, twice: with the curated data only (``--no-hts``, the state before the bundled
schedule) and with the bundled US schedule history (the default). Prints, per regime, the
share of the basket's value whose result needs review and that share broken down by the
kind of reason (one result can have several reasons, so kinds can add up to more).

Usage: ``python scripts/report_us_coverage.py [--limit N]`` (N: the first N lines only).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tradecalc.core.errors import UsageError
from tradecalc.engine.assessment import RegimeView, Shipment, assess, regime_views
from tradecalc.hts.base_rates import BaseRates
from tradecalc.hts.history import UsSchedule, open_schedule
from tradecalc.schedule.load import bundled_path, load_schedule

ROOT = Path(__file__).resolve().parents[1]
BASKET = ROOT.parent / "shared" / "data" / "trade" / "us-imports-from-china-2024-hs10.csv"
TODAY = datetime(2026, 12, 2)
KINDS = (  # (kind, pattern of the review text), first match wins
    ("2024 code, its successor lines differ", re.compile(r"successor lines give different")),
    ("2024 code, no successor line in force", re.compile(r"no successor line in force")),
    (
        "code not in the schedule in force, its 8-digit line prices",
        re.compile(r"8-digit line prices"),
    ),
    ("code not in the schedule in force", re.compile(r"is not in the US tariff schedule")),
    ("no base (MFN) rate", re.compile(r"no US base \(MFN\) rate")),
    ("base rate text not computable", re.compile(r"cannot be computed|rate text")),
    ("quantity needed (specific rate)", re.compile(r"quantity|specific part not charged")),
    ("metal content (shipment fact)", re.compile(r"metal|steel|alumin|copper", re.I)),
    ("possible AD/CVD (shipment fact)", re.compile(r"AD/CVD")),
    ("product list / claim", re.compile(r"list|claim|exempt|annex|exclu", re.I)),
)


def kind(reason: str) -> str:
    """The kind of one review reason."""
    return next((name for name, pattern in KINDS if pattern.search(reason)), "other: " + reason)


def basket(limit: int | None) -> list[tuple[str, Decimal]]:
    """(HTS10, 2024 value in USD) of every basket line with a value."""
    with BASKET.open(encoding="utf-8", newline="") as handle:
        rows = [(r["hts10"], Decimal(r["con_val_2024_usd"])) for r in csv.DictReader(handle)]
    rows = [(code, value) for code, value in rows if value > 0]
    return rows[:limit] if limit else rows


def measure(
    lines: list[tuple[str, Decimal]], view: RegimeView, base_rates: BaseRates | None
) -> tuple[Decimal, dict[str, Decimal]]:
    """Value needing review, and value per kind of reason."""
    review = Decimal(0)
    kinds: dict[str, Decimal] = defaultdict(Decimal)
    for code, value in lines:
        shipment = Shipment(code, value, "CN", "US")
        try:
            result = assess(SCHEDULE, shipment, view, base_rates=base_rates)
            reasons = list(result.review)
        except UsageError as exc:
            reasons = [str(exc) + _parent(code, view, base_rates)]
        if reasons:
            review += value
            for name in {kind(r) for r in reasons}:
                kinds[name] += value
    return review, kinds


def _parent(code: str, view: RegimeView, base_rates: BaseRates | None) -> str:
    """Whether a code missing from the schedule (a 2024 statistical suffix since retired)
    has an 8-digit line that prices."""
    if not isinstance(base_rates, UsSchedule):
        return ""
    line = base_rates.resolve(code[:8], view.as_of).line
    return " [8-digit line prices]" if line is not None else " [no 8-digit line]"


SCHEDULE = load_schedule(bundled_path()).schedule


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N basket lines only")
    args = parser.parse_args(argv)
    if not BASKET.is_file():
        print(f"report_us_coverage: no basket file {BASKET}", file=sys.stderr)
        return 2
    lines = basket(args.limit)
    total = sum((value for _, value in lines), Decimal(0))
    views = [v for v in regime_views(SCHEDULE).values() if not v.hypothetical]
    views.append(RegimeView("2026-12-02", "today", TODAY))
    bundled = open_schedule()
    print(f"basket: {len(lines)} HTS10 lines, {total / 10**9:.2f} bn USD (2024, from China)")
    for view in views:
        print(f"\n{view.id} ({view.as_of:%Y-%m-%d})")
        for label, provider in (("curated only", None), ("bundled HTS", bundled)):
            review, kinds = measure(lines, view, provider)
            print(f"  {label:<13} needs review: {100 * review / total:6.2f}% of value")
            for name, value in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
                print(f"    {100 * value / total:6.2f}%  {name[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
