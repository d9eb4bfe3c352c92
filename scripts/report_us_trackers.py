"""Trade-weighted US tariffs on China over 2025-26, through `impact`, against published trackers.

Run: ``python scripts/report_us_trackers.py`` (writes docs/us-trackers.md; reproducible byte
for byte, checked by tests/test_impact.py). Inputs: the bundled 2024 basket
``data/baskets/us-imports-from-cn-2024.csv`` (Census imports for consumption from China by
HTS10, see scripts/build_baskets.py), the bundled schedule and the bundled US tariff history
only (revisions a user imported are left out, so the report does not depend on the machine).

Every change instant of the data from 1 Jan 2025 to 2 Dec 2026 is computed with
:func:`tradecalc.analysis.impact.measure_impact` (the library behind ``tradecalc impact``); a date
takes the regime of the last instant at or before it (nothing changes in between: a test
checks it). The increment is the average at a date minus the average on 1 Jan 2025. The
published figures below are copied from the cited files and pages, with their dates; a
tracker whose China figure with 2024 weights could not be found is listed as such.
"""

# ruff: noqa: E501  (sources and notes stay on one line)

from __future__ import annotations

import argparse
import csv
import sys
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from report_us_coverage import kind

from tradecalc.analysis.impact import (
    ESTIMATE_NOTE,
    RegimeImpact,
    change_instants,
    default_basket,
    measure_impact,
    metal_estimates,
    read_basket,
)
from tradecalc.batch.rows import RowError
from tradecalc.engine.assessment import MetalContent, RegimeView, Shipment
from tradecalc.engine.selection import instant_view
from tradecalc.hts.history import Bundle, UsSchedule
from tradecalc.render.impact import ImpactReport, write_chart
from tradecalc.schedule.load import bundled_path, load_schedule
from tradecalc.schedule.models import Schedule

ROOT = Path(__file__).resolve().parents[1]
SUCCESSORS = ROOT / "data" / "baskets" / "us-imports-from-cn-2024-successors.csv"
REF = Decimal(1_000_000)
"""Value a successor line is priced at once; its sums are scaled to each 2024 code's value."""
DIFFER = "2024 code whose successor lines give different results"
SPLIT = (
    "2024 code split since into lines on and off a Chapter 99 product list: which line the goods "
    "fall under is the importer's to state"
)
"""Successor lines that differ only in measures scoped by a product list (e.g. a derivative
inclusion named at 10 digits under a suffix created after 2024): a fact of the goods, as a
product-list claim is, not a gap in the data."""
Estimates = dict[str, dict[str, Decimal]]
NONE = "2024 code with no successor line in force"
OUT = ROOT / "docs" / "us-trackers.md"
CHART = ROOT / "docs" / "impact-us-timeline.svg"
START, END = datetime(2025, 1, 1), datetime(2026, 12, 2)
HUNDRED = Decimal(100)
FACTS = {
    "metal content (shipment fact)",
    "possible AD/CVD (shipment fact)",
    "quantity needed (specific rate)",
    "product list / claim",
}
"""Review kinds that only the importer can settle: a shipment fact or a claim."""

WAUGH = "Waugh's trade-war tracker, `country-by-time.csv` row CHINA, column `effective tariff` (the 2025 increase in points over the 2024 rate, 2024 HTS10 import weights), github.com/tradewartracker/trade-war-redux-2025 at commit 726c5958 (2026-07-23)"
PIIE = "Bown (PIIE), *US-China Trade War Tariffs: An Up-to-Date Chart*, https://www.piie.com/research/piie-charts/2019/us-china-trade-war-tariffs-date-chart"
PIIE_MAY = "Packard (Cato), 23 May 2025, quoting PIIE's chart after the Geneva truce: https://futureretirementsuccess.com/2025/05/23/tariffs-on-imports-from-china-are-still-too-high"

# (tracker, its date, its figure in points, the date whose regime it describes, explanation of a gap)
# The tracker's date is when it moved; where that is an announcement, the legal effective
# date of the same action is used for the comparison and the note says so.
PUBLISHED: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Waugh",
        "2025-02-04",
        "20.0",
        "2025-02-04",
        "Waugh's first row already carries 20%: the second 10% of the fentanyl IEEPA (EO 14228) took effect on 4 Mar 2025; from then on both agree (next rows).",
    ),
    ("Waugh", "2025-03-06", "20.0", "2025-03-06", ""),
    ("Waugh", "2025-03-12", "20.29", "2025-03-12", ""),
    ("Waugh", "2025-04-03", "20.64", "2025-04-03", ""),
    (
        "Waugh",
        "2025-04-05",
        "50.28",
        "2025-04-05",
        "Waugh's row applies the 34% announced for China on 2 Apr (due 9 Apr); it never took effect (raised to 84% before 9 Apr). On 5 Apr only the 10% baseline was in force, which is what tradecalc charges. Waugh's method (WAUGH-METHOD below) reproduced on this basket gives his 50.28 exactly.",
    ),
    (
        "Waugh",
        "2025-04-08",
        "93.88",
        "2025-04-09",
        "EXPLAINED by his method (WAUGH-METHOD): the 84% (EO 14259) took effect at 12:01 a.m. on 9 Apr; Waugh dates it 8 Apr and applies Annex II and the electronics memo only from 11 Apr (his registry), where tradecalc applies Annex II from 5 Apr (EO 14257) and the memo from 5 Apr (retroactive), so the reciprocal duty reaches about 66% of the value here (table above) against about 87% in his row; 71% before the 2025 derivative lists: 5.2% of the value is listed steel and aluminium derivatives, which from 12 Mar to 3 Jun 2025 pay the Section 232 duty in place of the whole reciprocal duty (9903.01.33, EO 14257 s. 3(b)) and which his masks (steel list at HS8, aluminium at HS8/HS10) do not hold. His method on this basket gives his 93.88 exactly.",
    ),
    (
        "Waugh",
        "2025-04-09",
        "112.19",
        "2025-04-10",
        "EXPLAINED by his method (WAUGH-METHOD): the 125% took effect on 10 Apr. His row charges China 125% in all (his `_apply_90day_pause` sets the IEEPA layer to 125, dropping the 20% fentanyl duty that CBP kept collecting, 145% in all) and exempts neither Annex II nor the electronics before 11 Apr; the two differences roughly offset, and the rest is the 2025 derivative lists: 5.2% of the value taken out of the 125% reciprocal duty until 3 Jun 2025 (9903.01.33), 6.5 points of it (table above: 82.64 points of reciprocal duty against 89.11 without those lists), which his masks do not hold. His method on this basket gives his 112.19 exactly.",
    ),
    (
        "Waugh",
        "2025-04-11",
        "88.14",
        "2025-04-11",
        "EXPLAINED by his method (WAUGH-METHOD). On this basket his method gives his 88.14 with his own lists, 84.48 with tradecalc's Annex II and electronics lists (his lists match exact 2025 10-digit codes, tradecalc's match by prefix); putting back the 20% fentanyl duty his 125% row drops adds 12.16 points (96.64), charging it also on the goods his Section 232 masks take out adds 2.49 (99.13); the remaining 4.16 points are the Section 232 goods: his masks take 12.8% of the value out of every IEEPA duty at 25%, chiefly an HS6 auto-parts mask applied from 3 Apr where the parts duty began on 3 May (Proclamation 10908) and which his README calls coarse (10.30 points), while tradecalc's articles and 2025 derivative lists take 5.2% of the value out of the reciprocal duty (9903.01.33; 6.5 points, table above) and keep the 20% fentanyl duty on it.",
    ),
    (
        "Waugh",
        "2025-05-12",
        "27.05",
        "2025-05-14",
        "Geneva (EO 14298) took effect on 14 May; Waugh's row is dated at the announcement, 12 May.",
    ),
    ("Waugh", "2025-06-03", "28.54", "2025-06-04", "Steel and aluminium at 50% from 4 Jun."),
    (
        "Waugh",
        "2025-08-07",
        "31.06",
        "2025-08-07",
        "EXPLAINED by his method (WAUGH-METHOD), which on this basket gives his 31.06. The gap is, in points (tradecalc minus Waugh; each rounded, unrounded they add up to -2.170): -2.55 his IEEPA layer: from 7 Aug his `_apply_august_base_rates` sets it to the country's `rtariff-aug`, and China is not in his `clean-august-7-tariffs.csv`, so it falls back to the Annex I 34% (no fentanyl added) where 30% stayed in force (20% fentanyl and the 10% reciprocal of EO 14298, extended on 11 Aug), on the 63.67% of the value his masks and exemptions leave at that layer (his method with 30% gives 28.51); -2.41 the metals duty on content: tradecalc charges the 50% steel and aluminium duties (from 4 Jun 2025) and the 50% copper duty (from 1 Aug 2025) on the metal content only (estimated with the BEA shares the Yale Budget Lab's tariff-rate-tracker uses, `metal_content_shares_bea_hs10.csv`), the rest of the value paying the 10% reciprocal duty, as CBP instructed (CSMS #65236374, #65236645), where his Section 232 is a 'sector override' (his README, Phase 2) on the whole value of his masks (with `--metal-shares none`, the full value, tradecalc gives 31.30); +2.70 the fentanyl duty: his masks replace the whole IEEPA layer (steel and aluminium 5.22% of the value at 50% from 3 Jun, copper 0.67% at 50% from 7 Aug, autos and parts 7.59% at 25%), where the 20% fentanyl duty stacks on Section 232 goods (tradecalc: 20.00 points, on all the value; his row: 20% of his layer on the 86.52% of the value outside his masks, 17.30); then, at full value: -0.55 the reach of the 10% reciprocal duty (the rest of his 30% layer), 58.20% of the value in tradecalc (its dated Annex II, electronics and Section 232 lists, 9903.01.33) against 63.67% in his row; +0.59 steel and aluminium, tradecalc's dated Section 232 lists (chapters 72, 73, 76 and the derivative lists) giving 3.20 points against his masks' 2.61; +0.01 copper (0.34 against 0.33); +0.05 autos and parts (1.95 against 1.90); -0.00 Section 301 and MFN (tradecalc's priced value is 0.05% larger than on 1 Jan 2025).",
    ),
    ("Waugh", "2025-10-14", "31.02", "2025-10-14", ""),
    (
        "Waugh",
        "2025-11-01",
        "22.17",
        "2025-11-10",
        "The fentanyl cut from 20% to 10% took effect on 10 Nov (EO of 4 Nov); Waugh's 1 Nov row takes about 8.9 points off where tradecalc takes 10 (the duty covers all goods from China). By his 14 Nov row (after the 13 Nov agricultural exemptions) the two agree within 0.5 points.",
    ),
    ("Waugh", "2025-11-14", "18.90", "2025-11-14", ""),
    ("Waugh", "2025-12-04", "18.90", "2025-12-04", ""),
    ("Waugh", "2026-02-07", "18.90", "2026-02-07", ""),
    (
        "Waugh",
        "2026-02-20",
        "4.78",
        "2026-02-20",
        "Waugh drops the IEEPA duties on 20 Feb 2026, the day of the Supreme Court ruling; CBP kept collecting them until the Section 122 surcharge replaced them at 12:01 a.m. on 24 Feb, which is the date tradecalc uses.",
    ),
    ("Waugh", "2026-02-24", "10.77", "2026-02-24", ""),
    ("Waugh", "2026-04-06", "10.26", "2026-04-06", ""),
    ("Waugh", "2026-07-22", "10.26", "2026-07-22", ""),
    (
        "Waugh",
        "2026-07-24",
        "11.94",
        "2026-07-24",
        "Within 2 points. From 24 Jul 2026 the forced-labour Section 301 (12.5%) replaces the Section 122 surcharge (10%); both sides exempt the Section 122 Annex I lines from it (Waugh: his README, 'Annex A is the Section 122 exemption list'; tradecalc: the stand-in for CBP's 9903.05.86 list, unconfirmed in the data) and take Section 232 goods out on the whole line (tradecalc: note 52, unconfirmed; Yale's scenario displaces it only on the metal share, peers-2026-12.md section 1).",
    ),
    (
        "Waugh",
        "2026-08-19",
        "11.94",
        "2026-08-19",
        "Same as the row above (nothing changed in between on either side).",
    ),
    (
        "PIIE",
        "2025-04-10",
        "103.3",
        "2025-04-10",
        "PARTLY EXPLAINED: weights and carve-outs. PIIE's increase is from 20.8% on 20 Jan 2025 to 124.1%; its 103.3 points are 20 (fentanyl), a little Section 232, and 125 points of reciprocal duty on about 66% of the value ((103.3 - 20.5) / 125), as tradecalc's (66%, table above: the listed steel and aluminium derivatives pay Section 232 in place of the reciprocal duty until 3 Jun 2025, 9903.01.33); the figures agree. PIIE's level of 20.8% on 20 Jan 2025 against tradecalc's statutory 12.6% on the same rules with 2024 weights means PIIE weights the goods differently (an import year before the trade war moved trade out of the Section 301 lists; the weights are not stated on the page), and its product data is not published there, so the split is not reproduced. The same page, updated later, puts the April peak at 126.5% (early May, after the 3 May auto parts), i.e. PIIE revised this figure itself.",
    ),
    (
        "PIIE",
        "2025-05-14",
        "30.3",
        "2025-05-14",
        "51.1% after Geneva minus PIIE's 20.8% of 20 Jan 2025; reported second-hand (Cato), weights not stated.",
    ),
)
WAUGH_METHOD = (
    "**WAUGH-METHOD**: the Waugh rows marked so were reproduced by applying the rules of his `make-tariff-by-country-by-time.ipynb` "
    "(github.com/tradewartracker/trade-war-redux-2025 at commit 003befbd, cells 'Product-group masks', 'Phase 1', 'Phase 2', the `TARIFF_ACTIONS` registry and the panel loop) "
    "to this basket (the same Census 2024 HTS10 values): one IEEPA layer per line (20% fentanyl; +34% from 5 Apr, +84% from 8 Apr, 125% in all from 9 Apr, 30% from 12 May, "
    "34% from 7 Aug: China's `rtariff-aug`, China being absent from his `clean-august-7-tariffs.csv`, falls back to the Annex I 34%), "
    "then his Section 232 masks in its place (steel list at HS8, aluminium at HS8/HS10: 25% from 12 Mar, 50% from 3 Jun; autos and parts at HS6/HS8/HS10: 25% from 3 Apr, stamped again on 7 Aug; copper at HS8: 50% from 7 Aug), "
    "and 20% on the electronics memo and Annex II lines from 11 Apr, in his registry's order (a later stamp wins); Section 301 and MFN are in his 2024 base and do not move. "
    "With his lists (`steel-tariffs.csv`, `alu-tariffs.csv`, `auto-tariffs.csv`, `annex-II-exemptions.csv` at commit a22d0b58, `copper-list.csv` at a5a91a3e, `clean-august-7-tariffs.csv` at 6a860f29; "
    "for the electronics memo `41225_exemptions.csv` at 0307d5f1, the file his notebook at 003befbd names, `consumer_electronics_EO14257_apr11.csv`, not being in the searchable index) "
    "all eleven of his China rows from 4 Feb to 7 Aug 2025 come out to the second decimal (among them 50.28, 93.88, 112.19 and 88.14 on 5, 8, 9 and 11 Apr, 27.05, 28.54 and 31.06 on 12 May, 3 Jun and 7 Aug, the last three to within 1e-12 of his CSV). "
    "The check, with the 7 Aug decomposition, is `scripts/check_waugh_method.py FOLDER --decompose` (his lists are not bundled), not part of this report."
)
KEY_DATES = ("2025-04-09", "2025-04-11", "2025-11-10", "2026-02-24", "2026-07-24")
PUBLISHED_SOURCES = {"Waugh": WAUGH, "PIIE": PIIE}
NOT_FOUND = (
    "**Yale Budget Lab tariff-rate-tracker**: no China series with 2024 weights was found. Its "
    "published daily series (`release/data/daily_by_country_*.csv`, described in "
    "https://raw.githubusercontent.com/Budget-Lab-Yale/tariff-rate-tracker/master/release/README.md) "
    "is not in the searchable index, nor in `../shared` (see `../shared/data/trade/SOURCE.md`). The Budget "
    "Lab's *State of Tariffs* interactive gives China only as an end-of-horizon scenario figure "
    "(`tools/state-of-tariffs/data/default-scenario/etr-by-country/data.csv` in "
    "github.com/Budget-Lab-Yale/budget-lab-interactives: 21.8 points pre-substitution, undated), "
    "and its `current-update` tables are marked as placeholders, so none of them is compared here."
)


def pct(value: Decimal) -> str:
    """A rate as a percentage with two decimals."""
    return f"{value * HUNDRED:.2f}%"


def points(value: Decimal) -> str:
    """A difference of rates in percentage points."""
    return f"{value * HUNDRED:+.2f}"


def day(text: str) -> datetime:
    """A date as the instant at its end (the regime in force that day)."""
    return datetime.fromisoformat(text).replace(hour=23, minute=59)


def main(argv: Sequence[str] | None = None) -> int:
    """Compute, compare and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--metal-shares",
        choices=("estimate", "none"),
        default="estimate",
        help="'estimate' (default): metal content of the lines that need it from the BEA-based "
        "shares, as `tradecalc impact --metal-shares estimate`; 'none': the stated default (full value)",
    )
    args = parser.parse_args(argv)
    estimates = metal_estimates() if args.metal_shares == "estimate" else None
    path = default_basket("US")
    lines = path.read_text(encoding="utf-8").splitlines()
    shipments = [item[1] for item in read_basket(lines) if not isinstance(item, RowError)]
    loaded = load_schedule(bundled_path())
    schedule = loaded.schedule
    us = UsSchedule(Bundle(), None)
    instants = change_instants(schedule, "US", START, END, us)
    views = [instant_view(t) for t in instants]
    impacts, mapped = with_successors(schedule, shipments, views, us, estimates)
    base = impacts[0].total.rate
    total = sum((s.value for s in shipments), Decimal(0))

    def at(text: str) -> RegimeImpact:
        return impacts[bisect_right(instants, day(text)) - 1]

    out: list[str] = []
    put = out.append
    put(
        "# US side: tradecalc's trade-weighted tariff on 2024 imports from China against published trackers\n"
    )
    put(
        "Generated by `scripts/report_us_trackers.py` (do not edit). Inputs: the bundled basket `data/baskets/us-imports-from-cn-2024.csv` "
        f"({len(shipments)} HTS10 lines, {total / 10**9:.2f} bn USD: Census imports for consumption from China in 2024, the weights Waugh's tracker uses), "
        f"the bundled schedule `data/rates.yaml` (data version {schedule.version}, sha256 `{loaded.sha256[:12]}`) and the bundled US tariff history only.\n"
    )
    put(
        "Each regime is computed by `measure_impact`, the function behind `tradecalc impact` (same as `tradecalc impact --timeline --from 2025-01-01`); "
        "the average is duty over customs value of the lines the engine prices; the increment is over 1 Jan 2025. "
        + (
            f"Metal content is estimated the way the trackers do (`--metal-shares estimate`, {ESTIMATE_NOTE}: "
            "`data/baskets/metal-shares-estimate.csv` from the Yale Budget Lab's `metal_content_shares_bea_hs10.csv`): "
            "a Section 232 steel, aluminium or copper duty on content is charged on the line's estimated share of its value "
            f"({pct(impacts[-1].estimated_metal_value / total)} of the basket's value has an estimate), the rest of the value pays the duties on the remainder; "
            "a line with no estimate is charged on the stated default (the full value) and counted as review value, metal content being a shipment fact. "
            "A 2024 code priced through its successor lines (below) keeps its own estimate.\n"
            if estimates is not None
            else "Metal content is not estimated (`--metal-shares none`): lines whose duty depends on it are charged on the stated default and counted as review value.\n"
        )
    )
    put("## Trade-weighted average at every change instant\n")
    put(
        "| instant | average | increment over 1 Jan 2025 | needs review | of which not a shipment fact or claim | not priced | priced through successor lines |"
    )
    put("|---|---:|---:|---:|---:|---:|---:|")
    worst = Decimal(0)
    for impact, through in zip(impacts, mapped, strict=True):
        value = impact.total.value + impact.unpriced_value
        other = sum(
            (
                v
                for kinds, v in impact.review_sets.items()
                if not all(kind(k) in FACTS for k in kinds)
            ),
            Decimal(0),
        )
        worst = max(worst, other / value)
        put(
            f"| {impact.view.id} | {pct(impact.total.rate)} | {points(impact.total.rate - base)} | {pct(impact.review_value / value)} | {pct(other / value)} | {pct(impact.unpriced_value / value)} | {pct(through / value)} |"
        )
    put("")
    put(
        f"The value needing review for anything but a shipment fact or a claim (metal content, AD/CVD, a quantity for a specific rate, a product-list claim) peaks at {pct(worst)} of the basket; the issue's target is at most 2%. "
        "Kinds are classified with `scripts/report_us_coverage.py`. "
        "A 2024 code that is not in the schedule in force at an instant (a statistical suffix retired or split since 2024) is priced under its successor lines, "
        "`data/baskets/us-imports-from-cn-2024-successors.csv` (generated by `scripts/build_baskets.py` from the bundled schedule history: the lines of the same 8-digit line that replaced it, "
        "else every line of that 8-digit line), where they all give the same result (duty, measures, review kinds); the column 'priced through successor lines' is that value. "
        "Where they differ, or no line is in force, the value is not priced: left out of the average (as `batch` leaves rows it cannot price out of its sums) and counted as review value. "
        "The largest part of it is 9999.95.0000, Census's estimate of low-value transactions, which is not a tariff line (1.20% of the basket). "
        "`tradecalc impact` itself does not use the successor file: there such a code stays unpriced, as `duty` rejects a code not in force.\n"
    )
    last = impacts[-1]
    put(
        f"### Review reasons on {last.view.id} (share of the basket's value; one line can have several)\n"
    )
    put("| kind | share |")
    put("|---|---:|")
    grouped: dict[str, Decimal] = defaultdict(Decimal)
    for kinds, value in last.review_sets.items():
        for name in {kind(k) for k in kinds}:
            grouped[name] += value
    for name, value in sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        put(f"| {name[:100]} | {pct(value / (last.total.value + last.unpriced_value))} |")
    put("")
    put("## Share of the basket's value each measure charges, at the dates the gaps turn on\n")
    put(
        "Value of the lines a measure charges duty on, as a share of the priced value, and that duty in points of the average.\n"
    )
    put("| regime of | measure | share of value | points |")
    put("|---|---|---:|---:|")
    for date in KEY_DATES:
        impact = at(date)
        for measure, sums in sorted(impact.measures.items(), key=lambda kv: -kv[1].duty):
            if sums.duty * 1000 >= impact.total.value:  # at least 0.1 point
                put(
                    f"| {date} | {measure} | {pct(sums.value / impact.total.value)} | {sums.duty / impact.total.value * HUNDRED:.2f} |"
                )
    put("")
    put("## Against published trackers (increments in points over 1 Jan 2025, 2024 weights)\n")
    put(
        "| tracker | tracker's date | published | tradecalc regime of | tradecalc | gap | why the gap |"
    )
    put("|---|---|---:|---|---:|---:|---|")
    gaps = []
    for tracker, date, figure, ours_date, note in PUBLISHED:
        ours = (at(ours_date).total.rate - base) * HUNDRED
        gap = ours - Decimal(figure)
        gaps.append(abs(gap))
        why = note if note else ("within 2 points" if abs(gap) <= 2 else "NOT EXPLAINED")
        put(
            f"| {tracker} | {date} | {Decimal(figure):.2f} | {ours_date} | {ours:.2f} | {gap:+.2f} | {why} |"
        )
    put("")
    put(f"{sum(1 for g in gaps if g <= 2)} of {len(gaps)} comparisons are within 2 points.\n")
    put("Sources of the published figures:\n")
    for name, source in PUBLISHED_SOURCES.items():
        put(f"- {name}: {source}.")
    put(f"- PIIE after Geneva: {PIIE_MAY}.")
    put(f"- {NOT_FOUND}")
    put(f"- {WAUGH_METHOD}")
    put("")
    put(
        "General differences: Waugh's 2024 rate (10.87%) is duty actually collected in 2024 over imports, while tradecalc's 1 Jan 2025 average "
        f"({pct(base)}) is the statutory rate on the same lines (no Section 301 product exclusions beyond those in the data, no de minimis, no duty-free programmes claimed); "
        "the increments compare the changes, which is what both trackers publish.\n"
    )
    OUT.write_text("\n".join(out), encoding="utf-8")
    chart(ImpactReport(impacts, impacts[0], path.name, "USD", schedule.version, loaded.sha256))
    return 0


def chart(report: ImpactReport) -> None:
    """The picture the README shows (what ``impact --timeline --chart`` draws), if matplotlib is there."""
    try:
        import matplotlib
    except ImportError:
        print(f"report_us_trackers: no matplotlib, {CHART.name} not redrawn", file=sys.stderr)
        return
    matplotlib.rcParams["svg.hashsalt"] = "tradecalc"  # stable ids in the SVG
    write_chart(report, CHART)


Spans = list[tuple[datetime, datetime | None, tuple[str, ...]]]


def read_successors() -> dict[str, Spans]:
    """2024 code -> the stretches in which it is not in force and the lines carrying its goods."""
    found: dict[str, Spans] = defaultdict(list)
    lines = [x for x in SUCCESSORS.read_text(encoding="utf-8").splitlines() if x[:1] != "#"]
    for row in csv.DictReader(lines):
        end = datetime.fromisoformat(row["to"]) if row["to"] else None
        found[row["hs"]].append(
            (datetime.fromisoformat(row["from"]), end, tuple(row["successors"].split()))
        )
    return found


def successors_at(spans: Spans, when: datetime) -> tuple[str, ...] | None:
    """The successor lines at ``when`` (None: the code itself is in force)."""
    for start, end, codes in spans:
        if start <= when and (end is None or when < end):
            return codes
    return None


def merge(target: RegimeImpact, part: RegimeImpact, factor: Decimal, code: str) -> None:
    """Add ``part``'s sums, times ``factor``, to ``target`` (one regime)."""
    target.shipments += part.shipments
    target.total.value += part.total.value * factor
    target.total.duty += part.total.duty * factor
    target.review_value += part.review_value * factor
    target.unpriced_value += part.unpriced_value * factor
    target.estimated_metal_value += part.estimated_metal_value * factor
    for reason, value in part.review.items():
        target.review[reason] += value * factor
    for kinds, value in part.review_sets.items():
        target.review_sets[kinds] += value * factor
    for name, sums in part.measures.items():
        target.measures[name].value += sums.value * factor
        target.measures[name].duty += sums.duty * factor
    if factor != 1:
        target.by_code[code] += part.total.duty * factor
    else:
        for key, duty in part.by_code.items():
            target.by_code[key] += duty


def _signature(part: RegimeImpact) -> object:
    """What makes two lines' results the same: duty, measures charged, review kinds."""
    return (
        part.unpriced_value,
        part.total.duty,
        sorted((k, v.duty) for k, v in part.measures.items()),
        sorted(sorted(k) for k in part.review_sets),
    )


def _listed_only(schedule: Schedule, parts: Sequence[RegimeImpact]) -> bool:
    """Whether the successor lines' results differ by a measure scoped by product lists only
    (lines on and off a list; a measure it displaces differs with it)."""
    scopes = {m.id: m.scope.include for m in schedule.measures}
    charged = [set(p.measures) for p in parts]
    differing = set.union(*charged) - set.intersection(*charged)
    return any(
        scopes.get(name) and all(item.startswith("@") for item in scopes[name])
        for name in differing
    )


def with_successors(
    schedule: Schedule,
    shipments: Sequence[Shipment],
    views: Sequence[RegimeView],
    us: UsSchedule,
    estimates: Estimates | None = None,
) -> tuple[list[RegimeImpact], list[Decimal]]:
    """``measure_impact`` over the basket, where a 2024 code not in force at an instant is
    priced under its successor lines (``data/baskets/us-imports-from-cn-2024-successors.csv``)
    if they all give the same result, else counted as review value not priced. Also returns,
    per instant, the value priced through successors. With ``estimates``, metal content is
    estimated per line; successor lines take the 2024 code's estimate (they carry its goods)."""
    spans = read_successors()
    kept = [s for s in shipments if s.digits not in spans]
    impacts = measure_impact(schedule, kept, views, base_rates=us, estimates=estimates)
    mapped = [Decimal(0)] * len(views)
    own: dict[tuple[int, ...], list[Shipment]] = defaultdict(list)
    gaps: list[tuple[Shipment, int, tuple[str, ...]]] = []
    for shipment in shipments:
        if shipment.digits not in spans:
            continue
        live = []
        for index, view in enumerate(views):
            codes = successors_at(spans[shipment.digits], view.as_of)
            if codes is None:
                live.append(index)
            else:
                gaps.append((shipment, index, codes))
        own[tuple(live)].append(shipment)
    for indexes, group in own.items():
        if indexes:
            parts = measure_impact(
                schedule, group, [views[i] for i in indexes], base_rates=us, estimates=estimates
            )
            for index, part in zip(indexes, parts, strict=True):
                merge(impacts[index], part, Decimal(1), "")

    def shares(shipment: Shipment) -> tuple[tuple[str, Decimal], ...]:
        found = (estimates or {}).get(shipment.digits[:10])
        return tuple(sorted(found.items())) if found else ()

    needed: dict[tuple[str, tuple[tuple[str, Decimal], ...]], set[int]] = defaultdict(set)
    for shipment, index, codes in gaps:
        for code in codes:
            needed[code, shares(shipment)].add(index)
    priced: dict[tuple[str, tuple[tuple[str, Decimal], ...], int], RegimeImpact] = {}
    for (code, own), wanted in sorted(needed.items()):
        order = sorted(wanted)
        metal = {m: MetalContent(v) for m, v in own}
        line = Shipment(code, REF, "CN", "US", metal=metal)
        for index, part in zip(
            order,
            measure_impact(
                schedule,
                [line],
                [views[i] for i in order],
                base_rates=us,
                estimates=None if own else estimates,
            ),
            strict=True,
        ):
            priced[code, own, index] = part
    for shipment, index, codes in gaps:
        parts = [priced[code, shares(shipment), index] for code in codes]
        target = impacts[index]
        if parts and len({repr(_signature(p)) for p in parts}) == 1 and not parts[0].unpriced_value:
            merge(target, parts[0], shipment.value / REF, shipment.digits)
            if shares(shipment):
                target.estimated_metal_value += shipment.value
            mapped[index] += shipment.value
            continue
        if parts and not any(p.unpriced_value for p in parts) and _listed_only(schedule, parts):
            reason = SPLIT
        else:
            reason = DIFFER if parts else NONE
        target.shipments += 1
        target.unpriced_value += shipment.value
        target.review_value += shipment.value
        target.review[reason] += shipment.value
        target.review_sets[frozenset((reason,))] += shipment.value
    return impacts, mapped


if __name__ == "__main__":
    sys.exit(main())
