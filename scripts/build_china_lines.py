"""Build data/cn/tariff-lines.csv (China's MFN, TRQ and VAT by tariff line) and the
product lists data/lists/cn-vat-9pct.csv and data/lists/cn-trq.csv from ../shared/data.

Run: ``python scripts/build_china_lines.py`` (rewrites the three files; byte-for-byte
reproducible, checked by tests/test_cn_lines.py).

The line set is every 2025 8-digit line named by a 2025 source (ITA matrix, the Feb and
Mar 2025 annexes) plus every 2018 line of the Bown-Jung-Zhang table whose code was not
split (no 2025 line shares its first 7 digits), plus an HS-6 row for each WTO HS-6 with
no known line. MFN per line, in order of preference:

1. the 2019 MFN (Bown-Jung-Zhang: 1 Jan 2018 rate plus the 2018 and 1 Jan 2019 changes)
   of the same code, else of the 2018 line(s) it was split from;
2. checked against the WTO applied rate of 1 Jan 2025 for its HS-6 (the average over the
   HS-6's lines of MFN plus the 2018-19 layers, which the ITA matrix gives per line): where
   the HS-6 is uniform and WTO disagrees, the rate implied by WTO replaces the 2019 rate.

A line is confirmed (``unconfirmed`` empty) only where WTO's 2025 HS-6 figure pins it: the
HS-6's lines share one rate and WTO agrees with it. Everything else says why it is not.
"""

# ruff: noqa: E501  (titles and notes of generated data stay on one line)

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import build_china_lists as layers_of
import cn_sources as src

OUT = src.ROOT / "data" / "cn" / "tariff-lines.csv"
VAT_LIST = src.ROOT / "data" / "lists" / "cn-vat-9pct.csv"
TRQ_LIST = src.ROOT / "data" / "lists" / "cn-trq.csv"
TOLERANCE = Decimal("0.05")

# In-quota rates by code prefix: (rate, source key). Other TRQ lines: in-quota rate unknown.
IN_QUOTA = {
    "1001": ("1", "cn-fao-giews-trq"),
    "1005": ("1", "cn-fao-giews-trq"),
    "1006": ("1", "cn-fao-giews-trq"),
    "1701": ("15", "cn-trq-efeedlink"),
    "5101": ("1", "cn-trq-wto-accession"),
    "5201": ("1", "cn-chinesetariff"),
    "310210": ("1", "cn-2026-tariff-plan"),
    "310520": ("1", "cn-2026-tariff-plan"),
    "310530": ("1", "cn-2026-tariff-plan"),
}

# VAT Law Art. 10 (and the pre-2026 rules it continues): 9% for agricultural products,
# edible vegetable oils and salt, natural gas and LPG, books and newspapers, feed,
# fertilisers, pesticides, agricultural machinery and film. Mapped to headings here;
# GACC's table of 8-digit lines split between 9% and 13% (Ann. [2026] No. 15) was not seen.
VAT_9 = (
    "01",
    "02",
    "03",
    "0401",
    "0407",
    "0408",
    "0409",
    "06",
    "07",
    "08",
    "09",
    "10",
    "11",
    "1201",
    "1202",
    "1203",
    "1204",
    "1205",
    "1206",
    "1207",
    "1208",
    "1209",
    "1210",
    "1211",
    "1212",
    "1213",
    "1214",
    "13",
    "14",
    "1507",
    "1508",
    "1509",
    "1510",
    "1511",
    "1512",
    "1513",
    "1514",
    "1515",
    "2301",
    "2302",
    "2303",
    "2304",
    "2305",
    "2306",
    "2308",
    "230990",
    "2401",
    "250100",
    "271111",
    "271112",
    "271113",
    "271121",
    "3101",
    "3102",
    "3103",
    "3104",
    "3105",
    "4901",
    "4902",
    "4903",
    "5101",
    "5201",
    "5301",
    "5302",
    "8432",
    "8433",
    "8434",
    "8436",
)
VAT_9_PARTS = ("843290", "843390", "843490", "843699")
"""Parts of agricultural machinery: general rate."""


def trq_rates(code: str, out: Decimal) -> tuple[str, str, str, str]:
    """(mfn, in_quota, out_of_quota, source) for a TRQ line; mfn is the in-quota rate if known."""
    for prefix in sorted(IN_QUOTA, key=len, reverse=True):
        if code.startswith(prefix):
            rate, key = IN_QUOTA[prefix]
            return rate, rate, fmt(out), key
    return fmt(out), "", fmt(out), ""


def vat(code: str) -> tuple[str, str]:
    """(rate, unconfirmed reason) of the import VAT on a line."""
    if code.startswith(VAT_9) and not code.startswith(VAT_9_PARTS):
        return "9", "VAT 9% inferred from the heading (VAT Law Art. 10 category)"
    return "13", ""


fmt = src.fmt


def mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def main() -> None:
    bjz_lines = src.bjz()
    ita = src.ita()
    feb = src.feb_annex1()
    mar = src.mar_annexes()
    wto = src.wto()["2025-01-01"]

    hs8: dict[str, set[Decimal | None]] = defaultdict(set)
    trq: dict[str, Decimal] = {}
    for line in bjz_lines:
        if "quota" in line.description.lower() and "interim" not in line.description.lower():
            trq[line.hs10[:8]] = line.mfn or Decimal(0)
        elif line.hs10[:8] not in trq:
            hs8[line.hs10[:8]].add(line.mfn)
    for code in trq:
        hs8[code] = {trq[code]}

    new_codes = set(ita) | set(feb) | set(mar)
    split = {c for c in hs8 if c not in new_codes and any(n[:7] == c[:7] for n in new_codes)}
    codes = sorted(new_codes | (set(hs8) - split))

    by7: dict[str, set[Decimal | None]] = defaultdict(set)
    by6: dict[str, list[Decimal]] = defaultdict(list)
    for code, found in hs8.items():
        by7[code[:7]] |= found
        by6[code[:6]].extend(r for r in found if r is not None)

    # 1. a candidate MFN per line from the 2019 table
    base: dict[str, tuple[Decimal | None, str]] = {}
    for code in codes:
        found = hs8.get(code)
        if found is not None and len(found) == 1:
            base[code] = (next(iter(found)), "2019 MFN (Bown-Jung-Zhang) carried forward")
        elif found and any(r is not None for r in found):
            values = sorted(r for r in found if r is not None)
            shown = ", ".join(fmt(v) for v in values)
            base[code] = (
                mean(values),
                f"average of the 2019 rates of its 10-digit lines ({shown})",
            )
        elif found:
            base[code] = (
                None,
                "the 2019 table gives no ad valorem rate (specific or compound duty)",
            )
        elif len(by7.get(code[:7], set())) == 1:
            base[code] = (next(iter(by7[code[:7]])), "2019 MFN of the 2018 line it was split from")
        elif by6.get(code[:6]):
            base[code] = (mean(by6[code[:6]]), "HS-6 average of the 2019 MFN (code is new)")
        else:
            base[code] = (None, "no MFN source for this line")

    # 2. the WTO check per HS-6 (TRQ lines count at the out-of-quota rate, as WTO does)
    lists = layers_of.memberships(codes)
    feb2 = {r.code for r in lists.get("cn-feb-2025-annex2", [])}
    zero = Decimal(0)
    layers = {
        c: ita.get(c, zero) - feb.get(c, zero) - mar.get(c, zero) - (10 if c in feb2 else 0)
        for c in codes
    }
    members: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        members[code[:6]].append(code)
    rows: list[tuple[str, ...]] = []
    for h6, group in sorted(members.items()):
        rates = [base[c][0] for c in group]
        applied = wto.get(h6, (None, Decimal(0)))[0]
        verdict = _check(applied, rates, [layers[c] for c in group])
        known = [r for r in rates if r is not None]
        for code in group:
            line = base[code]
            if line[0] is None and verdict[1] is None and known and verdict[0] != "none":
                line = (mean(known), f"{line[1]}; average of the other lines of its HS-6")
            rows.append(_row(code, line, verdict, code in new_codes, trq.get(code)))
    for h6, (applied, _) in sorted(wto.items()):
        if h6 not in members and applied is not None:
            note = "HS-6 rate of WTO TTD 1 Jan 2025: national lines unknown"
            rate = fmt(applied)
            if applied != applied.quantize(Decimal("0.001")):  # an average of unknown lines
                note = f"WTO TTD 1 Jan 2025 gives only an HS-6 average ({fmt(applied.quantize(Decimal('0.01')))}%): national lines unknown"
                rate = ""
            rows.append((h6, rate, "", "", vat(h6)[0], "cn-wto-ttd-usa-2025", note))
    rows.sort()
    names: dict[str, list[str]] = defaultdict(list)
    for list_id, members_ in sorted(lists.items()):
        for item in members_:
            if list_id.removeprefix("cn-") not in names[item.code]:
                names[item.code].append(list_id.removeprefix("cn-"))
    rows = [(*r[:6], ";".join(names.get(r[0], [])), r[6]) for r in rows]
    _write(rows, codes, trq)
    inputs = [src.BJZ, src.ITA, src.BOWN, src.LIST_232, src.FEB_ANNEX1, src.MAR_ANNEXES]
    layers_of.write(codes, lists, inputs)


def _check(
    applied: Decimal | None, rates: list[Decimal | None], layers: list[Decimal]
) -> tuple[str, Decimal | None, str]:
    """How WTO's 1 Jan 2025 HS-6 rate bears on the group: (verdict, implied MFN, note).

    Verdicts: ``agrees`` (uniform group, WTO equal with or without the 2018-19 layers),
    ``average`` (mixed group whose average agrees), ``implied`` (uniform group and layers,
    WTO disagrees: its figure less the layers replaces the 2019 rate), ``differs``, ``none``.
    """
    if applied is None:
        return "none", None, ""
    known = [r for r in rates if r is not None]
    layer = mean(layers)
    implied = applied - layer if applied >= layer else None  # WTO omits some layer: no inference
    if known:
        avg = mean(known)
        if abs(applied - avg - layer) <= TOLERANCE or abs(applied - avg) <= TOLERANCE:
            if len(set(known)) == 1 and len(known) == len(rates):
                return "agrees", implied, ""
            return "average", implied, "HS-6 average agrees with WTO TTD 1 Jan 2025"
        if implied == 0 and len(set(layers)) == 1:
            return "implied", implied, ""  # no rate is negative: every line is free
        if len(set(known)) > 1 or len(set(layers)) > 1 or implied is None:
            note = (
                f"WTO TTD 1 Jan 2025 HS-6 rate {fmt(applied)}% does not match the lines "
                f"({fmt(avg.quantize(Decimal('0.01')))}% MFN + {fmt(layer.quantize(Decimal('0.01')))}% 2018-19 layers on average)"
            )
            return "differs", implied, note
    return ("implied", implied, "") if implied is not None else ("none", None, "")


def _row(
    code: str,
    base: tuple[Decimal | None, str],
    verdict: tuple[str, Decimal | None, str],
    seen_2025: bool,
    out_of_quota: Decimal | None,
) -> tuple[str, ...]:
    rate, why = base
    kind, implied, check = verdict
    source = "cn-bjz-2019"
    notes = []
    if implied is not None and (kind == "implied" or rate is None):
        was = f"2019 MFN was {fmt(rate)}%" if rate is not None else why
        rate, source = implied, "cn-wto-ttd-usa-2025"
        notes.append(f"WTO TTD 1 Jan 2025 HS-6 rate less the 2018-19 layers ({was})")
    elif kind == "agrees" and why.startswith("2019 MFN (") and seen_2025:
        pass
    else:
        notes += [why, check]
    if not seen_2025:
        notes.append("2018 code, not seen in a 2025 source")
    if rate is not None:
        rate = rate.quantize(Decimal("0.001"))
    mfn = fmt(rate) if rate is not None else ""
    in_quota = out = ""
    if out_of_quota is not None:
        mfn, in_quota, out, key = trq_rates(code, out_of_quota)
        if key:
            source += f";{key}"
        else:
            notes.append("in-quota rate not found: the out-of-quota rate is given")
    elif rate is not None and rate != rate.quantize(Decimal("0.1")):
        notes.append(
            "rate looks like the ad valorem equivalent of a specific or compound duty, or an average"
        )
    return (code, mfn, in_quota, out, vat(code)[0], source, _join(*notes))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _csv(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def _write(rows: list[tuple[str, ...]], codes: list[str], trq: dict[str, Decimal]) -> None:
    inputs = [src.BJZ, src.ITA, src.FEB_ANNEX1, src.MAR_ANNEXES, src.WTO]
    head = [
        "# China's import tariff lines for goods of US origin: MFN (%), TRQ in/out of quota (%), import VAT (%).",
        "# Generated by scripts/build_china_lines.py from (see ../shared/data/*/SOURCE.md):",
        *src.provenance(inputs),
        "# Sources (keys of data/rates.yaml): cn-bjz-2019 = Bown, Jung & Zhang (PIIE, 12 Jun 2019), MFN as of",
        "# 1 Jan 2019; cn-wto-ttd-usa-2025 = WTO TTD applied rates by HS-6 on 1 Jan 2025; TRQ in-quota rates:",
        "# cn-fao-giews-trq, cn-trq-efeedlink, cn-trq-wto-accession, cn-chinesetariff, cn-2026-tariff-plan.",
        "# VAT: cn-vat-law-art10 (categories taxed at 9%), mapped to headings by this script.",
        "# Not found: the 2025 and 2026 national schedules (8,972 lines in 2026; 935 interim rates): rates",
        "# changed after 2019 show only where WTO's HS-6 figure reveals them. Specific duties are not in",
        "# the sources (the 2019 table gives ad valorem equivalents); an empty mfn means no usable rate.",
        "# layers: the counter-tariff lists (data/lists/cn-*.csv) that name the line at some date.",
        "code,mfn,in_quota,out_of_quota,vat,source,layers,unconfirmed",
    ]
    body = [",".join(_csv(v) for v in row) for row in rows]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(head + body) + "\n", encoding="utf-8")

    curated = _curated_vat()
    nine = [r[0] for r in rows if r[4] == "9" and not r[0].startswith(curated)]
    _write_list(
        VAT_LIST,
        "Lines taxed at the 9% import VAT rate (agricultural products, edible oils, gas, books, "
        "feed, fertiliser, farm machinery), inferred from the heading. Lines whose VAT data/rates.yaml "
        "curates (cn-vat rates) are left out",
        [layers_of.Row(c, "", "", "cn-vat-law-art10") for c in nine],
        codes,
        inputs,
    )
    _write_list(
        TRQ_LIST,
        "Lines under tariff-rate quota (wheat, maize, rice, sugar, wool, cotton, fertilisers)",
        [layers_of.Row(c, "", "", "cn-bjz-2019") for c in sorted(trq) if c in set(codes)],
        codes,
        [src.BJZ],
    )


def _curated_vat() -> tuple[str, ...]:
    """Code prefixes whose VAT the schedule curates (the cn-vat tax's ``rates``)."""
    from tradecalc.schedule.loader import include_parts, read_document

    entry = src.ROOT / "data" / "rates.yaml"
    data = include_parts(read_document(entry), entry.parent)[0].data
    tax = next(t for t in data["parties"]["CN"]["taxes"] if t["id"] == "cn-vat")
    keys = {k.replace(".", "") for period in tax["periods"] for k in period.get("rates", {})}
    return tuple(sorted(keys))


def _write_list(
    path: Path, title: str, rows: list[layers_of.Row], codes: list[str], inputs: list[Path]
) -> None:
    head = [f"# {title}.", "# Generated by scripts/build_china_lines.py from:"]
    head += src.provenance(inputs)
    head.append("code,from,to,source,note")
    body = [
        ",".join(_csv(v) for v in (r.code, r.start, r.end, r.source, r.note))
        for r in layers_of.compress(rows, codes)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(head + body) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
