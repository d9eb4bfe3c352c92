"""China's counter-tariff layers on US goods, per 2025 tariff line, as dated product lists.

Called by ``build_china_lines.py`` (which knows the line set); writes data/lists/cn-*.csv.

Layers and where each line's membership comes from:

- 2 Apr 2018, counter to US Sec. 232 (15% / 25%): the official 128-item list.
- 6 Jul / 23 Aug / 24 Sep 2018 and 1 Jun 2019, counter to US Sec. 301: Bown's HS8 levels
  (2018 codes; a 2025 line split from a 2018 line takes that line's levels). The auto lines
  Bown marks as suspended from 1 Jan 2019 end there.
- 1 Sep 2019 12:01 (Ann. [2019] No. 4, 10% / 5%), halved from 14 Feb 2020 13:01: no HS8
  list in the sources. Derived per line as the ITA matrix total (28 Mar 2025) less every
  other known layer: a remainder of 5 points is the 10% list, 2.5 points the 5% list.
- 10 Feb 2025 (No. 1): Annex 1 (15%) from the transcribed list; Annex 2 (10%, 72 lines) only
  partly known: 27090000 and 84193310 confirmed, the rest derived from a 10-point ITA
  remainder in the chapters the announcement names (crude oil, farm machinery, cars, pickups).
- 10 Mar 2025 (No. 2) to 10 Nov 2025 13:01: the official annexes, line by line.
- A remainder that fits none of these is listed as unattributed, at its ITA rate.
"""

# ruff: noqa: E501  (titles and notes of generated data stay on one line)

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import cn_sources as src

LISTS = src.ROOT / "data" / "lists"
FEB_CONFIRMED = ("27090000", "84193310")
FEB_CHAPTERS = (
    "2709",
    "8419",
    "8424",
    "8432",
    "8433",
    "8434",
    "8435",
    "8436",
    "8437",
    "8479",
    "8701",
    "8703",
    "8704",
    "8716",
)
HALVING = "2020-02-14T13:01"


@dataclass(frozen=True, order=True)
class Row:
    """One period of one code in one list."""

    code: str
    start: str
    end: str
    source: str
    note: str = ""


LIST_TITLES = {
    "cn-2018-232-15pct": "Counter-measure to US Sec. 232 (2 Apr 2018), 15% items",
    "cn-2018-232-25pct": "Counter-measure to US Sec. 232 (2 Apr 2018), 25% items (pork, aluminium scrap)",
    "cn-301-2018-25pct": "Counter-tariffs to US Sec. 301 (Jul/Aug 2018 lists; Sep 2018 items raised 1 Jun 2019): lines at 25%",
    "cn-301-2018-20pct": "Counter-tariffs to US Sec. 301 (Sep 2018 list, raised 1 Jun 2019): lines at 20%",
    "cn-301-2018-10pct": "Counter-tariffs to US Sec. 301 (Sep 2018 list; some raised 1 Jun 2019): lines at 10%",
    "cn-301-2018-5pct": "Counter-tariffs to US Sec. 301 (Sep 2018 list; some raised 1 Jun 2019): lines at 5%",
    "cn-301-2019-10pct": "Counter-tariffs of Ann. [2019] No. 4 (1 Sep 2019), 10% lines (halved to 5% on 14 Feb 2020), derived",
    "cn-301-2019-5pct": "Counter-tariffs of Ann. [2019] No. 4 (1 Sep 2019), 5% lines (halved to 2.5% on 14 Feb 2020), derived",
    "cn-feb-2025-annex1": "Tariff Commission No. 1 of 2025, Annex 1 (+15%): coal, LNG",
    "cn-feb-2025-annex2": "Tariff Commission No. 1 of 2025, Annex 2 (+10%): crude oil, farm machinery, large cars, pickups",
    "cn-mar-2025-annex1": "Tariff Commission No. 2 of 2025, Annex 1 (+15%): chicken, wheat, corn, cotton",
    "cn-mar-2025-annex2": "Tariff Commission No. 2 of 2025, Annex 2 (+10%): soybeans, pork, beef, aquatic products, fruit, vegetables, dairy",
}


def title(list_id: str) -> str:
    """The title of a generated list."""
    if list_id in LIST_TITLES:
        return LIST_TITLES[list_id]
    rate = list_id.removeprefix("cn-2018-19-unattributed-").removesuffix("pct")
    return f"Additional {rate}% in the ITA matrix (28 Mar 2025) not attributable to a known list"


def _levels(
    code: str, bown: dict[str, src.BownLine], remainder: Decimal
) -> tuple[src.BownLine | None, str]:
    """Bown's levels for a 2025 line: its own, or those of the 2018 line(s) it came from.

    Without its own 2018 line, the 2018 lines sharing the longest prefix (7, 6 or 4 digits)
    are candidates; one whose level leaves an ITA remainder that a known later layer
    explains (0, 2.5, 5, or 10 more in the Feb 2025 chapters) is taken, the most common first.
    """
    if code in bown:
        return bown[code], ""
    for n in (7, 6, 4):
        parents = sorted(k for k in bown if k[:n] == code[:n])
        if not parents:
            continue
        fits = [bown[k] for k in parents if _fits(remainder - _counted(bown[k]), code)]
        if not fits and remainder == 0:
            return None, ""
        if fits:
            best = max(set(fits), key=lambda line: (fits.count(line), _counted(line)))
            shown = ", ".join(k for k in parents if bown[k] == best)[:40]
            return best, f"levels of 2018 line(s) {shown} (code changed; fits the ITA total)"
    return None, ""


def _counted(line: src.BownLine) -> Decimal:
    """The level the ITA matrix counts for a 2018 line (it keeps the suspended auto rates)."""
    return line.first[1] if line.suspended else (line.jun19 or line.first[1])


def _fits(rest: Decimal, code: str) -> bool:
    if code.startswith(FEB_CHAPTERS) and rest >= 10:
        rest -= 10
    return rest in (Decimal(0), Decimal("2.5"), Decimal(5))


def memberships(codes: list[str]) -> dict[str, list[Row]]:
    """List id -> rows, for every 8-digit line in ``codes``."""
    ita = src.ita()
    bown = src.bown()
    s232 = src.list_232()
    feb1 = src.feb_annex1()
    mar = src.mar_annexes()
    out: dict[str, list[Row]] = defaultdict(list)
    zero = Decimal(0)
    for code in codes:
        if len(code) != 8:
            continue
        known = zero
        if code in s232:
            out[f"cn-2018-232-{s232[code]}pct"].append(
                Row(code, "2018-04-02", "", "cn-mof-2018-232")
            )
            known += s232[code]
        later = feb1.get(code, zero) + mar.get(code, zero)
        line, how = _levels(code, bown, ita.get(code, zero) - known - later)
        if line is not None:
            known += _bown_rows(code, line, how, out)
        if code in feb1:
            out["cn-feb-2025-annex1"].append(
                Row(code, "2025-02-10", "", "cn-tc-2025-1;cn-feb-list-english")
            )
            known += feb1[code]
        if code in mar:
            out[f"cn-mar-2025-annex{1 if mar[code] == 15 else 2}"].append(
                Row(code, "2025-03-10", "2025-11-10T13:01", "cn-tc-2025-2")
            )
            known += mar[code]
        rest = ita.get(code, zero) - known
        if code in FEB_CONFIRMED or (code.startswith(FEB_CHAPTERS) and rest >= 10):
            note = "" if code in FEB_CONFIRMED else "derived: 10-point remainder in the ITA matrix"
            out["cn-feb-2025-annex2"].append(
                Row(code, "2025-02-10", "", "cn-tc-2025-1;cn-ita-matrix-2025", note)
            )
            rest -= 10
        if rest in (Decimal(5), Decimal("2.5")):
            pct = "10" if rest == 5 else "5"
            out[f"cn-301-2019-{pct}pct"].append(
                Row(
                    code,
                    "2019-09-01T12:01",
                    "",
                    "cn-tc-2019-4;cn-ita-matrix-2025",
                    f"derived: {src.fmt(rest)}-point remainder in the ITA matrix",
                )
            )
        elif rest > 0:
            out[f"cn-2018-19-unattributed-{src.fmt(rest)}pct"].append(
                Row(
                    code,
                    HALVING,
                    "",
                    "cn-ita-matrix-2025",
                    f"+{src.fmt(rest)}% in force on 28 Mar 2025; start and legal basis unknown",
                )
            )
    return out


def _bown_rows(code: str, line: src.BownLine, how: str, out: dict[str, list[Row]]) -> Decimal:
    """Add the 2018-19 Sec. 301 rows of one line; return the level the ITA matrix counts."""
    start, first = line.first
    source = "cn-bown-301-hs8"
    if line.suspended:
        note = "suspended from 1 Jan 2019 (autos and parts); ITA and WTO still count it"
        out[f"cn-301-2018-{src.fmt(first)}pct"].append(
            Row(code, start, "2019-01-01", source, _join(how, note))
        )
        return first
    if start == "2018-09-24" and line.jun19 != first:
        out[f"cn-301-2018-{src.fmt(first)}pct"].append(Row(code, start, "2019-06-01", source, how))
        if line.jun19:
            out[f"cn-301-2018-{src.fmt(line.jun19)}pct"].append(
                Row(code, "2019-06-01", "", source, how)
            )
        return line.jun19
    out[f"cn-301-2018-{src.fmt(first)}pct"].append(Row(code, start, "", source, how))
    return first


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def compress(rows: list[Row], codes: list[str]) -> list[Row]:
    """Replace the rows of every line under an HS-4 or HS-6 prefix by one row for the prefix
    when all lines of the set under it carry the same periods (so 4- and 6-digit codes match)."""
    by_code: dict[str, set[tuple[str, str, str, str]]] = defaultdict(set)
    for row in rows:
        by_code[row.code].add((row.start, row.end, row.source, row.note))
    under: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        if len(code) == 8:
            under[code[:4]].append(code)
            under[code[:6]].append(code)
    done: set[str] = set()
    result: list[Row] = []
    for prefix in sorted(under, key=lambda p: (len(p), p)):
        group = under[prefix]
        if any(c in done for c in group):
            continue
        periods = {frozenset(by_code.get(c, set())) for c in group}
        if len(periods) == 1 and next(iter(periods)):
            result += [Row(prefix, *p) for p in sorted(next(iter(periods)))]
            done.update(group)
    result += [r for r in rows if r.code not in done]
    return sorted(result)


def write(codes: list[str], lists: dict[str, list[Row]], inputs: list[Path]) -> None:
    """Write one CSV per list (sorted by code, then start)."""
    for old in LISTS.glob("cn-*.csv"):
        if old.stem in LIST_TITLES or old.stem.startswith("cn-2018-19-unattributed-"):
            old.unlink()
    for list_id, rows in sorted(lists.items()):
        body = compress(rows, codes)
        head = [f"# {title(list_id)}.", "# Generated by scripts/build_china_lines.py from:"]
        head += src.provenance(inputs)
        head.append("code,from,to,source,note")
        lines = [
            ",".join(_csv(v) for v in (r.code, r.start, r.end, r.source, r.note)) for r in body
        ]
        (LISTS / f"{list_id}.csv").write_text("\n".join(head + lines) + "\n", encoding="utf-8")


def _csv(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value
