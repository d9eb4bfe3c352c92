"""Waugh's tracker method on the bundled 2024 China basket: the check behind WAUGH-METHOD.

Applies the China rules of Waugh's ``make-tariff-by-country-by-time.ipynb``
(github.com/tradewartracker/trade-war-redux-2025 at commit 003befbd: the product-group masks,
the phase 1 and phase 2 actions of ``TARIFF_ACTIONS`` in registry order, the panel loop) to
``data/baskets/us-imports-from-cn-2024.csv`` and compares each date with his published China
figure (``PUBLISHED`` in report_us_trackers.py). His lists are not bundled: put these files of
his ``tariff-lists/`` folder in one folder, ``steel-tariffs.csv``, ``alu-tariffs.csv``,
``auto-tariffs.csv``, ``annex-II-exemptions.csv`` (commit a22d0b58), ``copper-list.csv``
(a5a91a3e) and, for the electronics memo, ``41225_exemptions.csv`` (0307d5f1; the file the
notebook names, ``consumer_electronics_EO14257_apr11.csv``, is not in the searchable index).
China is not in his ``clean-august-7-tariffs.csv`` (6a860f29), so from 7 Aug 2025 his layer is
its Annex I 34% (:data:`ANNEX_I`). Run
``PYTHONPATH=src python scripts/check_waugh_method.py FOLDER [--decompose]``.
``--decompose`` also splits the 7 Aug 2025 gap by measure (``measure_impact`` on 1 Jan and
7 Aug 2025, with the metal-content estimate and with the full value; about 1 min).
Exit 1 if a figure differs from his at two decimals, 2 if a list is missing or unreadable.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from report_us_trackers import PUBLISHED, START, day, with_successors

from tradecalc.analysis.impact import (
    change_instants,
    default_basket,
    metal_estimates,
    read_basket,
)
from tradecalc.batch.rows import RowError
from tradecalc.engine.selection import instant_view
from tradecalc.hts.history import Bundle, UsSchedule
from tradecalc.schedule.load import bundled_path, load_schedule

FILES = ("steel", "alu", "auto", "copper", "annex2", "phones")
NAMES = {
    "steel": "steel-tariffs.csv",
    "alu": "alu-tariffs.csv",
    "auto": "auto-tariffs.csv",
    "copper": "copper-list.csv",
    "annex2": "annex-II-exemptions.csv",
    "phones": "41225_exemptions.csv",
}
LAST = "2025-08-07"
ANNEX_I = Decimal(34)
"""China's Annex I rate; also his ``rtariff-aug`` for China, which his August list lacks."""
Lists = dict[str, set[str]]


def read_lists(folder: Path) -> Lists:
    """His code lists (column HTSUS) by name."""
    found: Lists = {}
    for key in FILES:
        path = folder / NAMES[key]
        with path.open(encoding="utf-8") as handle:
            found[key] = {row["HTSUS"].strip() for row in csv.DictReader(handle)}
    return found


def masks(lists: Lists) -> dict[str, Callable[[str], bool]]:
    """His masks: which digits of a 10-digit code each list is matched on."""

    def by(key: str, *lengths: int) -> Callable[[str], bool]:
        codes = {n: {c for c in lists[key] if len(c) == n} for n in lengths}
        return lambda hs: any(hs[:n] in codes[n] for n in lengths)

    return {
        "steel": by("steel", 8),
        "alu": by("alu", 8, 10),
        "auto": by("auto", 6, 8, 10),
        "copper": by("copper", 8),
        "exempt": by("annex2", 10),
        "phones": by("phones", 10),
    }


def layer(date: str, hs: str, m: dict[str, Callable[[str], bool]], aug: Decimal) -> Decimal:
    """His China rate on a line at a date, in percent (phase 1, then phase 2 in his order)."""
    rate = Decimal(0)
    for start, value in (
        ("2025-02-04", Decimal(20)),
        ("2025-04-05", ANNEX_I + 20),
        ("2025-04-08", Decimal(104)),
        ("2025-04-09", Decimal(125)),
        ("2025-05-12", Decimal(30)),
        ("2025-08-07", aug),
    ):
        if date >= start:
            rate = value
    metal = m["steel"](hs) or m["alu"](hs)
    stamps = (
        ("2025-03-12", metal, Decimal(25)),
        ("2025-04-03", m["auto"](hs), Decimal(25)),
        ("2025-04-11", m["phones"](hs), Decimal(20)),
        ("2025-04-11", m["exempt"](hs), Decimal(20)),
        ("2025-06-03", metal, Decimal(50)),
        ("2025-08-07", m["copper"](hs), Decimal(50)),
        ("2025-08-07", m["auto"](hs), Decimal(25)),
    )
    for start, hit, value in stamps:
        if date >= start and hit:
            rate = value
    return rate


def his_figure(
    values: dict[str, Decimal],
    date: str,
    m: dict[str, Callable[[str], bool]],
    aug: Decimal = ANNEX_I,
) -> Decimal:
    """His 'effective tariff' at a date: the value-weighted mean of his line rates."""
    total = sum(values.values(), Decimal(0))
    return sum((layer(date, hs, m, aug) * v for hs, v in values.items()), Decimal(0)) / total


def his_parts(
    values: dict[str, Decimal], m: dict[str, Callable[[str], bool]]
) -> dict[str, Decimal]:
    """Shares of value by the stamp that sets each line's rate on 7 Aug 2025."""
    total = sum(values.values(), Decimal(0))
    shares = dict.fromkeys(("layer", "exempt", "metal", "copper", "auto"), Decimal(0))
    for hs, v in values.items():
        if m["auto"](hs):
            key = "auto"
        elif m["copper"](hs):
            key = "copper"
        elif m["steel"](hs) or m["alu"](hs):
            key = "metal"
        elif m["phones"](hs) or m["exempt"](hs):
            key = "exempt"
        else:
            key = "layer"
        shares[key] += v / total
    return shares


def group(measure: str) -> str:
    """Which part of the decomposition a tradecalc measure falls in."""
    if measure in ("us-ieepa-fentanyl", "us-ieepa-reciprocal", "us-232-copper"):
        return measure.rsplit("-", 1)[1]
    if measure in ("us-232-autos", "us-232-auto-parts"):
        return "auto"
    return "metal" if measure.startswith("us-232-") else "other"


def tradecalc_points(estimate: bool) -> tuple[Decimal, dict[str, Decimal]]:
    """tradecalc's increment on 7 Aug 2025 over 1 Jan 2025, in points, and its parts by group."""
    lines = default_basket("US").read_text(encoding="utf-8").splitlines()
    shipments = [item[1] for item in read_basket(lines) if not isinstance(item, RowError)]
    schedule = load_schedule(bundled_path()).schedule
    us = UsSchedule(Bundle(), None)
    instants = change_instants(schedule, "US", START, day(LAST), us)
    views = [instant_view(instants[0]), instant_view(instants[-1])]
    (base, last), _ = with_successors(
        schedule, shipments, views, us, metal_estimates() if estimate else None
    )
    parts = dict.fromkeys(
        ("fentanyl", "reciprocal", "metal", "copper", "auto", "other"), Decimal(0)
    )
    for name in set(base.measures) | set(last.measures):
        before = (
            base.measures[name].duty / base.total.value if name in base.measures else Decimal(0)
        )
        parts[group(name)] += (last.measures[name].duty / last.total.value - before) * 100
    return (last.total.rate - base.total.rate) * 100, parts


def decompose(
    values: dict[str, Decimal], m: dict[str, Callable[[str], bool]], his: Decimal
) -> None:
    """Print the parts of tradecalc's 7 Aug 2025 figure minus his."""
    s = his_parts(values, m)
    ours, _ = tradecalc_points(estimate=True)
    full, parts = tradecalc_points(estimate=False)
    steps = (
        ("his layer at 34% (China not in his August list) where 30% was in force", -4 * s["layer"]),
        ("metals on estimated content instead of the full value", ours - full),
        (
            "fentanyl 20% kept on the goods his masks take out",
            parts["fentanyl"] - 20 * (s["layer"] + s["exempt"]),
        ),
        ("reach of the 10% reciprocal duty (full value)", parts["reciprocal"] - 10 * s["layer"]),
        (
            "steel and aluminium: dated lists against his masks (full value)",
            parts["metal"] - 50 * s["metal"],
        ),
        ("copper (full value)", parts["copper"] - 50 * s["copper"]),
        ("autos and parts", parts["auto"] - 25 * s["auto"]),
        ("Section 301 and MFN", parts["other"]),
    )
    print(
        f"his shares of value on {LAST}: " + ", ".join(f"{k} {v * 100:.2f}%" for k, v in s.items())
    )
    print(f"his method with 30% kept on {LAST}: {his_figure(values, LAST, m, Decimal(30)):.4f}")
    print(
        f"tradecalc {ours:.4f} (estimate), {full:.4f} (full value); by group at full value: "
        + ", ".join(f"{k} {v:.4f}" for k, v in parts.items())
    )
    for text, points in steps:
        print(f"  {points:+.4f}  {text}")
    print(f"  {sum(p for _, p in steps):+.4f}  sum; gap {ours - his:+.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Reproduce his China rows to 7 Aug 2025; optionally decompose the last gap."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder holding his list files (see above)")
    parser.add_argument("--decompose", action="store_true", help="split the 7 Aug 2025 gap")
    args = parser.parse_args(argv)
    try:
        m = masks(read_lists(args.folder))
    except (OSError, KeyError) as exc:
        print(f"check_waugh_method: cannot read his lists in {args.folder}: {exc}", file=sys.stderr)
        return 2
    lines = default_basket("US").read_text(encoding="utf-8").splitlines()
    values = {
        s.digits: s.value
        for item in read_basket(lines)
        if not isinstance(item, RowError)
        for s in (item[1],)
    }
    worst = 0
    ours = Decimal(0)
    for tracker, date, figure, _, _ in PUBLISHED:
        if tracker != "Waugh" or date > LAST:
            continue
        ours = his_figure(values, date, m)
        same = f"{ours:.2f}" == f"{Decimal(figure):.2f}"
        worst = max(worst, 0 if same else 1)
        print(
            f"{date}  published {figure:>7}  his method {ours:.4f}  {'ok' if same else 'DIFFERS'}"
        )
    if args.decompose:
        decompose(values, m, ours)
    return worst


if __name__ == "__main__":
    sys.exit(main())
