"""Readers for the China-side files in ../shared/data (see each folder's SOURCE.md).

Shared by ``build_china_lines.py``, ``build_china_lists.py`` and ``report_china_coverage.py``.
Every reader returns plain dicts keyed by the 8-digit (or HS-6) code as text. Rates are
``Decimal`` rounded to 3 places, which removes the float noise of the converted
spreadsheets (``14.000000000000002`` -> ``14``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARIFF = SHARED / "china-tariff"
TRADE = SHARED / "trade"

BJZ = TARIFF / "bown-jung-zhang-2019-06-12-china-tariff-rates-hs10.csv.gz"
ITA = TARIFF / "ita-retaliation-product-matrix-2025-03-28.csv.gz"
BOWN = TARIFF / "bown-china-301-retaliation-hs8-2018-2019.csv"
LIST_232 = TARIFF / "china-retaliation-2018-04-02-sec232-list-128.csv"
FEB_ANNEX1 = TARIFF / "china-retaliation-2025-02-10-annex1-15pct.csv"
MAR_ANNEXES = TARIFF / "china-retaliation-2025-03-10-annex-lists.csv"
WTO = TRADE / "wto-china-tariffs-on-usa-hs6-2025.csv.gz"
COMTRADE = TRADE / "comtrade-usa-chn-2022-2024.csv.gz"

WTO_DATES = (
    "2025-01-01",
    "2025-02-10",
    "2025-03-10",
    "2025-03-20",
    "2025-04-10",
    "2025-04-12",
    "2025-05-14",
    "2025-11-10",
    "2026-05-01",
)


def rate(text: str) -> Decimal:
    """A percentage from the sources, rounded to 3 places and normalised (``Decimal('14')``)."""
    value = Decimal(text.strip().rstrip("%") or "0").quantize(Decimal("0.001"))
    return value.normalize() if value else Decimal(0)


def fmt(value: Decimal) -> str:
    """A rate as plain text: ``Decimal('1E+1')`` -> ``"10"``."""
    return f"{value.normalize():f}"


def text(path: Path) -> str:
    """The file's text (gunzipped when it ends in ``.gz``)."""
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8-sig")


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text(path))))


def provenance(paths: list[Path]) -> list[str]:
    """``# file  sha256`` comment lines for the inputs of a generated file."""
    lines = []
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"#   ../shared/data/{path.parent.name}/{path.name}  sha256 {digest}")
    return lines


@dataclass(frozen=True)
class BjzLine:
    """One HS10 line of the Bown-Jung-Zhang table: MFN as of 1 Jan 2019 (None: not ad valorem)."""

    hs10: str
    description: str
    mfn: Decimal | None


def bjz() -> list[BjzLine]:
    """MFN of 1 Jan 2019 = 1 Jan 2018 level + the May, Jul and Nov 2018 and Jan 2019 MFN changes."""
    reader = csv.reader(io.StringIO(text(BJZ)))
    next(reader)
    found = []
    for row in reader:
        code = row[0]
        if not code.isdigit():
            continue  # "8521101100B": the second part of a compound duty, no rate of its own
        if row[2].strip() == "":
            found.append(BjzLine(code, row[1], None))
            continue
        mfn = sum((rate(row[i]) for i in (2, 4, 5, 9, 10)), Decimal(0))
        found.append(BjzLine(code, row[1], mfn.quantize(Decimal("0.001")).normalize() + 0))
    return found


def ita() -> dict[str, Decimal]:
    """China's lines in the ITA matrix: total additional tariff on US goods on 28 Mar 2025."""
    return {
        r[" Foreign National Tariff Line"].strip(): rate(
            r["Current Total Estimated Retaliatory Tariff"]
        )
        for r in rows(ITA)
        if r["Country"] == "China"
    }


@dataclass(frozen=True)
class BownLine:
    """Levels (%) of the 2018-19 Sec. 301 counter-tariffs on one 2018 HS8 line."""

    jul06: Decimal
    aug23: Decimal
    sep24: Decimal
    jan19: Decimal
    jun19: Decimal
    suspended: bool
    """True for the auto lines suspended from 1 Jan 2019."""

    @property
    def first(self) -> tuple[str, Decimal]:
        """The date the line joined and its first level."""
        if self.jul06:
            return "2018-07-06", self.jul06
        if self.aug23:
            return "2018-08-23", self.aug23
        return "2018-09-24", self.sep24


def bown() -> dict[str, BownLine]:
    return {
        r["hs08"]: BownLine(
            rate(r["reta_2018Jul06"]),
            rate(r["reta_2018Aug23"]),
            rate(r["reta_2018Sep24"]),
            rate(r["reta_2019Jan01"]),
            rate(r["reta_2019Jun01"]),
            bool(r["off_date"].strip()),
        )
        for r in rows(BOWN)
    }


def list_232() -> dict[str, Decimal]:
    return {r["税则号列"]: rate(r["加征关税税率(%)"]) for r in rows(LIST_232)}


def feb_annex1() -> dict[str, Decimal]:
    return {r["hs8"]: rate(r["additional_tariff_pct"]) for r in rows(FEB_ANNEX1)}


def mar_annexes() -> dict[str, Decimal]:
    return {r["税则号列"]: rate(r["additional_tariff_pct"]) for r in rows(MAR_ANNEXES)}


def wto() -> dict[str, dict[str, tuple[Decimal | None, Decimal]]]:
    """Date -> HS6 -> (best available rate or None, China's 2024 imports from the US)."""
    found: dict[str, dict[str, tuple[Decimal | None, Decimal]]] = defaultdict(dict)
    for r in rows(WTO):
        value = r["best_avlbl"].strip()
        found[r["year_dt"]][r["hs_code"]] = (
            Decimal(value) if value not in ("", "NA") else None,
            Decimal(r["imports"] or "0"),
        )
    return dict(found)


def us_exports_2024() -> dict[str, Decimal]:
    """Comtrade: US exports to China in 2024 by HS6 (flow X), USD (FOB)."""
    return {
        r["cmd_code"]: Decimal(r["primary_value"])
        for r in rows(COMTRADE)
        if r["year"] == "2024" and r["flow"] == "X" and r["aggr_level"] == "6"
    }
