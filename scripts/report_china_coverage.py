"""Price US exports to China with tradecalc and compare with WTO and the ITA matrix.

Run: ``python scripts/report_china_coverage.py`` (writes docs/china-coverage.md and
docs/china-crosscheck.md; reproducible byte for byte, checked by tests/test_cn_lines.py).

Coverage: every HS-6 of the 2024 US exports to China (Comtrade, flow X) is priced at each of
the 9 WTO dates through the engine, with the bundled China lines as base rates. An HS-6
stands for the national lines under it, each taking an equal share of its value (WTO's
HS-6 figures are simple averages of lines too). A line "needs review" when the result asks
for anything other than a shipment fact or an importer's claim.

Cross-check: every line of the ITA matrix is priced on 28 Mar 2025 (the matrix's date);
the sum of China's counter-tariff lines (all layers but the reciprocal one, which did not
exist yet) is compared with the matrix's total, and each difference is classified.
"""

# ruff: noqa: E501  (titles and notes of generated data stay on one line)

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import cn_sources as src

from tradecalc.engine.assessment import Assessment, RegimeView, Shipment, assess
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.cn_lines import ChinaLines, dotted
from tradecalc.schedule.load import bundled_path, load_schedule

COVERAGE = src.ROOT / "docs" / "china-coverage.md"
CROSSCHECK = src.ROOT / "docs" / "china-crosscheck.md"
VALUE = Decimal(1_000_000)
ZERO = Decimal(0)
HUNDRED = Decimal(100)

FACTS_AND_CLAIMS = (
    "(claim)",  # the market-based exclusion
    "Tariff-rate quota",  # in or out of quota: the importer's quota certificate
    "Beef safeguard",  # whether the country quota is filled
    "needs a quantity",  # specific duties: the shipment's quantity
)
"""Review items that ask about the shipment or the importer, not about missing data."""

NOT_A_LINE = "999999"
"""Comtrade's "commodities not specified according to kind": no tariff line to price."""

DERIVED = ("cn-counter-2019-301", "cn-counter-2018-19-unattributed", "cn-counter-2025-feb")
"""Measures whose lists were (partly) derived from the ITA matrix."""

COUNTER_GROUPS = ("counter-2018", "counter-2025-lists")


def _when(day: str) -> datetime:
    """End of the WTO date in Beijing time: changes at 12:01 or 13:01 that day count."""
    return datetime.fromisoformat(day).replace(hour=23, minute=59)


def _price(schedule: object, rates: Providers, code: str, when: datetime) -> Assessment:
    shipment = Shipment(
        code,
        VALUE,
        origin="US",
        dest="CN",
        entry=when,
        entry_is_date=False,
        freight=ZERO,
        insurance=ZERO,
    )
    view = RegimeView(when.isoformat(), "", when)
    return assess(schedule, shipment, view, base_rates=rates)  # type: ignore[arg-type]


def _data_review(result: Assessment) -> list[str]:
    return [r for r in result.review if not any(k in r for k in FACTS_AND_CLAIMS)]


def _pct(value: Decimal, places: str = "0.01") -> str:
    return f"{value.quantize(Decimal(places)) + 0:f}"  # + 0: no "-0.00"


def main() -> None:
    schedule = load_schedule(bundled_path()).schedule
    lines = ChinaLines()
    rates = Providers(lines)
    table = lines.lines()
    keys = sorted(table)
    exports = {c: v for c, v in src.us_exports_2024().items() if c != NOT_A_LINE}
    wto = src.wto()
    total = sum(exports.values(), ZERO)

    under: dict[str, list[str]] = {}
    for h6 in exports:
        at = bisect_left(keys, h6)
        found = [k for k in keys[at : bisect_left(keys, h6 + ":")] if len(k) == 8]
        under[h6] = found or [h6]

    ours: dict[str, dict[str, Decimal]] = defaultdict(dict)
    review_value: dict[str, Decimal] = defaultdict(Decimal)
    fact_value: dict[str, Decimal] = defaultdict(Decimal)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for day in src.WTO_DATES:
        when = _when(day)
        for h6, value in sorted(exports.items()):
            share = value / len(under[h6])
            rates_here = []
            for code in under[h6]:
                result = _price(schedule, rates, code, when)
                rates_here.append(result.duty / result.customs_value * HUNDRED)
                data = _data_review(result)
                if data:
                    review_value[day] += share
                    reasons[day].update(_reason(r) for r in data)
                elif result.review:
                    fact_value[day] += share
            ours[day][h6] = sum(rates_here, ZERO) / len(rates_here)

    out = _coverage(exports, total, ours, wto, review_value, fact_value, reasons, under)
    COVERAGE.write_text(out, encoding="utf-8")
    CROSSCHECK.write_text(_crosscheck(schedule, rates), encoding="utf-8")
    print(out)


def _inputs(paths: list[Path]) -> list[str]:
    """Markdown bullets naming each input file and its sha256."""
    return [
        f"- `{line.split()[1]}` (sha256 `{line.split()[-1]}`)" for line in src.provenance(paths)
    ]


def _reason(text: str) -> str:
    if text.startswith("no CN base (MFN) rate"):
        return "no base rate for the code (lines under it differ, or unknown code)"
    if "cannot be computed" in text:
        return "no MFN rate in the sources for the line (specific duty or no source)"
    return text.split(":")[0]


def _weighted(
    exports: dict[str, Decimal], rates: dict[str, Decimal], codes: Iterable[str]
) -> Decimal:
    codes = list(codes)
    weight = sum((exports[c] for c in codes), ZERO)
    return sum((exports[c] * rates[c] for c in codes), ZERO) / weight


def _coverage(
    exports: dict[str, Decimal],
    total: Decimal,
    ours: dict[str, dict[str, Decimal]],
    wto: dict[str, dict[str, tuple[Decimal | None, Decimal]]],
    review_value: dict[str, Decimal],
    fact_value: dict[str, Decimal],
    reasons: dict[str, Counter[str]],
    under: dict[str, list[str]],
) -> str:
    both = sorted(c for c in exports if wto["2025-01-01"].get(c, (None,))[0] is not None)
    both_value = sum((exports[c] for c in both), ZERO)
    wto_rates = {d: {c: wto[d][c][0] or ZERO for c in both} for d in src.WTO_DATES}
    first = src.WTO_DATES[0]
    out = [
        "# China side: tradecalc prices 2024 US exports to China at the WTO dates",
        "",
        "Generated by `scripts/report_china_coverage.py` (do not edit). Inputs:",
        "",
        *_inputs([src.COMTRADE, src.WTO]),
        "- the bundled schedule `data/rates.yaml`, `data/lists/cn-*.csv` and `data/cn/tariff-lines.csv`.",
        "",
        f"US exports to China in 2024 (Comtrade, flow X, HS-6): {len(exports)} codes, "
        f"{_pct(total / 10**9)} bn USD (without code 999999, goods not specified). Each HS-6 is priced as the national lines under it "
        f"({sum(len(v) for v in under.values())} in all), each with an equal share of its value, "
        "through the engine with the bundled China lines as base rates, at 23:59 Beijing time of "
        "each date, origin US, no exclusion claimed, in-quota rates for TRQ goods.",
        "",
        "## Review share",
        "",
        "| date | needs review (data) | shipment facts and claims only | main reasons (lines) |",
        "|---|---:|---:|---|",
    ]
    for day in src.WTO_DATES:
        top = "; ".join(
            f"{k} ({n})" for k, n in sorted(reasons[day].items(), key=lambda x: (-x[1], x[0]))[:2]
        )
        out.append(
            f"| {day} | {_pct(review_value[day] / total * HUNDRED)}% | "
            f"{_pct(fact_value[day] / total * HUNDRED)}% | {top or '-'} |"
        )
    out += [
        "",
        '"Shipment facts and claims" are the market-based exclusion from the 2018-19 '
        "counter-tariffs (a claim), the TRQ certificate, the beef safeguard quota and quantities "
        "for specific duties. The target is at most 2% of value needing review for anything else.",
        "",
        "## Trade-weighted averages against WTO TTD",
        "",
        f"Weighted by the same 2024 US export values, over the {len(both)} HS-6 codes WTO rates on "
        f"1 Jan 2025 ({_pct(both_value / total * HUNDRED)}% of the value).",
        "",
        "| date | tradecalc | WTO | gap | tradecalc increment | WTO increment | increment gap |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    base_ours = _weighted(exports, ours[first], both)
    base_wto = _weighted(exports, wto_rates[first], both)
    for day in src.WTO_DATES:
        o = _weighted(exports, ours[day], both)
        w = _weighted(exports, wto_rates[day], both)
        out.append(
            f"| {day} | {_pct(o)} | {_pct(w)} | {_pct(o - w)} | {_pct(o - base_ours)} | "
            f"{_pct(w - base_wto)} | {_pct((o - base_ours) - (w - base_wto))} |"
        )
    out += ["", "## Where the levels differ (1 Jan 2025)", ""]
    gaps = sorted(
        ((exports[c] * (ours[first][c] - wto_rates[first][c]) / both_value, c) for c in both),
        key=lambda x: (-abs(x[0]), x[1]),
    )
    out += [
        "Contribution of each HS-6 to the level gap (points of the weighted average); the 15 largest:",
        "",
        "| HS-6 | value (m USD) | tradecalc | WTO | contribution | why |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for gap, code in gaps[:15]:
        out.append(
            f"| {dotted(code)} | {_pct(exports[code] / 10**6, '1')} | {_pct(ours[first][code])} | "
            f"{_pct(wto_rates[first][code])} | {_pct(gap, '0.001')} | {_why(code, gap)} |"
        )
    out += ["", *WHY_TEXT, ""]
    return "\n".join(out)


WHY = {
    "1001": "TRQ: tradecalc charges the in-quota 1%, WTO the out-of-quota 65%",
    "1005": "TRQ: tradecalc charges the in-quota 1%, WTO the out-of-quota 65%",
    "5201": "TRQ: tradecalc charges the in-quota 1%, WTO the out-of-quota 40%",
    "8703": "autos: the 2018 25% suspended since 1 Jan 2019 (Bown) is still in WTO's figure",
    "8708": "auto parts: the 2018 counter-tariff suspended since 1 Jan 2019 (Bown) is in WTO's figure",
    "1201": "soybeans: WTO's figure omits part of the 2018-19 layers (exclusions or averaging)",
    "2711": "gas: WTO and the lines disagree on the 2019 layers (HS-6 averaging)",
}
WHY_TEXT = [
    "Reasons, in general:",
    "",
    "- **TRQ goods**: WTO uses the out-of-quota rate; tradecalc charges the in-quota rate and "
    "flags the quota (a shipment fact).",
    "- **Suspended auto counter-tariffs**: Bown records the 2018 25%/5% on US cars and parts as "
    "suspended from 1 Jan 2019; WTO TTD (and the ITA matrix) still count it.",
    "- **2018-19 layers missing in WTO**: for many HS-6 codes WTO's 1 Jan 2025 figure equals the "
    "MFN alone although the ITA matrix lists a 2018-19 counter-tariff on the same lines "
    "(product exclusions in force for everyone, or WTO's own treatment); tradecalc charges the "
    "layer and flags the exclusion as a claim.",
    "- **HS-6 averaging and code changes**: WTO averages the national lines of an HS-6; the "
    "line set here is the 2025 lines named by the sources plus unchanged 2018 lines, so the "
    "averages can differ where lines were split or added.",
    "- **MFN vintage**: most MFN rates are the 2019 rates carried forward (unconfirmed), "
    "replaced by WTO's HS-6 figure where it reveals a change.",
]


def _why(code: str, gap: Decimal) -> str:
    known = next((v for k, v in WHY.items() if code.startswith(k)), None)
    if known:
        return known
    if gap > 0:
        return "WTO's figure lacks 2018-19 layers the ITA matrix shows on these lines"
    return "WTO's figure is higher: MFN change since 2019 or HS-6 averaging"


def _crosscheck(schedule: object, rates: Providers) -> str:
    ita = src.ita()
    when = datetime(2025, 3, 28, 12, 0)
    kinds: Counter[str] = Counter()
    derived = 0
    examples: dict[str, list[str]] = defaultdict(list)
    for code in sorted(ita):
        result = _price(schedule, rates, code, when)
        ours = sum(
            (
                Decimal(str(line.rate).rstrip("%"))
                for line in result.lines
                if line.group in COUNTER_GROUPS and str(line.rate).endswith("%")
            ),
            ZERO,
        )
        kind = _classify(code, ours, ita[code], result)
        kinds[kind] += 1
        if kind == "equal" and any(line.measure.startswith(DERIVED) for line in result.lines):
            derived += 1
        if len(examples[kind]) < 8:
            examples[kind].append(
                f"{dotted(code)} ({_pct(ours, '0.1')} vs {_pct(ita[code], '0.1')})"
            )
    out = [
        "# China side: counter-tariff layers against the ITA matrix (28 Mar 2025)",
        "",
        "Generated by `scripts/report_china_coverage.py` (do not edit). Input:",
        "",
        *_inputs([src.ITA]),
        "",
        f"Every China line of the matrix ({len(ita)}) priced on 28 Mar 2025 12:00 Beijing time; "
        "tradecalc's total is the sum of its 2018-19 and Feb/Mar 2025 counter-tariff lines "
        '(no exclusion claimed), the matrix\'s is its "Current Total Estimated Retaliatory Tariff".',
        "",
        "| outcome | lines | examples (tradecalc vs ITA, %) |",
        "|---|---:|---|",
    ]
    for kind, count in sorted(kinds.items(), key=lambda x: (-x[1], x[0])):
        out.append(f"| {kind} | {count} | {', '.join(examples[kind])} |")
    out += [
        "",
        f"Of the equal lines, {derived} carry a measure whose list is at least partly derived "
        "from the matrix itself (the Sep 2019 list, the Feb 2025 list, an unattributed "
        f"remainder); {kinds['equal'] - derived} agree from independent lists alone.",
        "",
        "Notes:",
        "",
        "- The Sep 2019 list (Ann. [2019] No. 4) and most of the Feb 2025 Annex 2 have no line list "
        "in the sources: they were derived from the matrix itself (a 2.5 or 5 point remainder, a "
        "10 point remainder in the named chapters), so those lines agree by construction and are "
        "marked unconfirmed in the data.",
        "- Remainders that no known list explains are kept as `cn-2018-19-unattributed-*` lists at "
        "the matrix's rate (unconfirmed; usually a code that changed since 2018).",
        "- Auto lines: the matrix counts the 2018 counter-tariff that China suspended from "
        "1 Jan 2019 (Bown); tradecalc follows the suspension, so these lines are lower by 25 or 5.",
        "",
    ]
    return "\n".join(out)


def _classify(code: str, ours: Decimal, theirs: Decimal, result: Assessment) -> str:
    if ours == theirs:
        return "equal"
    if code.startswith("87") and theirs - ours in (25, 5):
        return "lower: auto counter-tariff suspended since 1 Jan 2019"
    if not any(line.group == "base" for line in result.lines):
        return "no base rate (review): counter-tariffs still charged"
    return "higher" if ours > theirs else "lower"


if __name__ == "__main__":
    main()
