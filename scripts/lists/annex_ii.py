"""Reciprocal Annex II (9903.01.32) and the 11 Apr 2025 electronics memo, from U.S. note
2(v)(iii)(a).

The Rev 6 text prints Annex II as amended last (the list in force from 13 Nov 2025). The earlier
versions are dated from what the amending orders changed:
- the 14 Nov 2025 order added agricultural lines of chapters 02-22 and fertilizers of chapter 31,
  effective 13 Nov 2025 (CBP CSMS #66814923): lines of those food chapters start on 2025-11-13,
  and so do the chapter-31 lines of ``sources/annex-ii-amendments.csv``;
- EO 14346 of 5 Sep 2025 (CSMS #66151866) added and removed provisions from 8 Sep 2025: the added
  ones (in the Rev 6 text) start on 2025-09-08; the removed ones (not in it) come from that file
  alone and run from 2025-04-05 to 2025-09-08;
- the April lines of copper (7406-7419) and wood (4401-4413) that the Rev 6 text no longer prints
  left the list when their own Section 232 duties began (1 Aug and 14 Oct 2025): they too come
  from that file and end on those days;
- the memo of 11 Apr 2025 (retroactive to 5 Apr 2025) added the electronics lines it names;
  they form their own list;
- every other line is dated from 5 Apr 2025.

``sources/annex-ii-amendments.csv`` is a small cited extract (its header names the source and
the checks); this generator refuses it if an added line is missing from the Rev 6 text, a removed
line is still in it, or the 13 Nov 2025 additions do not add up to the 237 lines CBP counted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from scripts.lists.common import (
    NOTES_FILE,
    NOTES_SOURCE,
    REPO,
    ListFile,
    Row,
    digits,
    listed_codes,
    note_lines,
    sha256,
)

APRIL = "2025-04-05"
SEPTEMBER = "2025-09-08"
NOVEMBER = "2025-11-13"
AMENDMENTS = Path(__file__).resolve().parent / "sources" / "annex-ii-amendments.csv"
NOVEMBER_COUNT = 237
"""Agricultural lines the 14 Nov 2025 order added (CSMS #66814923)."""
REMOVAL_SOURCES = {
    "2025-08-01": "s232-csms-65794272",
    SEPTEMBER: "eo-14346;csms-66151866",
    "2025-10-14": "s232-csms-66492057",
}
"""Sources of each date on which lines left Annex II: copper Section 232 (Proclamation 10962),
EO 14346, timber and lumber Section 232 (Proclamation 10976)."""
NOVEMBER_CHAPTERS = {
    "02",
    "07",
    "08",
    "09",
    "10",
    "11",
    "12",
    "15",
    "16",
    "18",
    "19",
    "20",
    "21",
    "22",
}
"""HTS chapters all of whose listed lines the 14 Nov 2025 order added (CSMS #66814923); its
chapter-31 lines (only some of that chapter's) come from the amendments file."""

MEMO_CODES = (
    "8471",
    "8473.30",
    "8486",
    "8517.13.00",
    "8517.62.00",
    "8523.51.00",
    "8524",
    "8528.52.00",
    "8541.10.00",
    "8541.21.00",
    "8541.29.00",
    "8541.30.00",
    "8541.49.10",
    "8541.49.70",
    "8541.49.80",
    "8541.49.95",
    "8541.51.00",
    "8541.59.00",
    "8541.90.00",
    "8542",
)
"""The provisions the 11 Apr 2025 memo names (each is also printed in note 2(v)(iii)(a))."""


def annex_ii_codes() -> list[str]:
    """The provisions listed in U.S. note 2(v)(iii)(a) to subchapter III (Rev 6)."""
    return listed_codes(
        note_lines(),
        r"As provided for in heading 9903\.01\.32",
        r"^\(b\) As provided in heading 9903\.02\.78",
    )


@dataclass(frozen=True)
class Amendment:
    """One row of ``sources/annex-ii-amendments.csv``."""

    code: str
    change: str
    effective: str
    order: str


def amendments(path: Path = AMENDMENTS) -> list[Amendment]:
    """The dated additions to and removals from Annex II that the Rev 6 text cannot date."""
    text = "".join(
        line
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("#")
    )
    rows = [
        Amendment(r["code"], r["change"], r["effective"], r["order"])
        for r in csv.DictReader(io.StringIO(text))
    ]
    bad = [r for r in rows if r.change not in ("added", "removed")]
    if bad:
        raise ValueError(f"{path.name}: change must be 'added' or 'removed': {bad}")
    return rows


def _check(codes: list[str], changes: list[Amendment]) -> None:
    """Refuse an amendments file that disagrees with the Rev 6 text or CBP's count."""
    listed = set(codes)
    absent = [a.code for a in changes if a.change == "added" and a.code not in listed]
    if absent:
        raise ValueError(f"added provisions not printed in note 2(v)(iii)(a): {absent}")
    still = [a.code for a in changes if a.change == "removed" and a.code in listed]
    if still:
        raise ValueError(f"removed provisions still printed in note 2(v)(iii)(a): {still}")
    november = {c for c in codes if c[:2] in NOVEMBER_CHAPTERS}
    november |= {a.code for a in changes if a.effective == NOVEMBER and a.change == "added"}
    if len(november) != NOVEMBER_COUNT:
        raise ValueError(f"{len(november)} lines added on 13 Nov 2025, CBP counted 237")


def build() -> list[ListFile]:
    """The Annex II list and the electronics-memo list."""
    codes = annex_ii_codes()
    missing = [c for c in MEMO_CODES if c not in codes]
    if missing:
        raise ValueError(f"memo provisions not printed in note 2(v)(iii)(a): {missing}")
    changes = amendments()
    _check(codes, changes)
    added = {a.code: a for a in changes if a.change == "added"}
    memo = ListFile(
        "us-reciprocal-electronics",
        "provisions of the 11 Apr 2025 memo (9903.01.32, retroactive to 5 Apr 2025), as printed "
        "in note 2(v)(iii)(a)",
        "scripts/lists/annex_ii.py",
        [NOTES_FILE],
        [Row(c, APRIL, "", f"{NOTES_SOURCE};semiconductor-memo-2025-04-11") for c in MEMO_CODES],
    )
    annex = ListFile(
        "us-reciprocal-annex-ii",
        "U.S. note 2(v)(iii)(a) to subchapter III (9903.01.32), HTS 2026 Rev 6, less the memo "
        "provisions",
        "scripts/lists/annex_ii.py",
        [NOTES_FILE],
        remarks=[
            f"amendments file: {AMENDMENTS.relative_to(REPO).as_posix()} sha256 "
            f"{sha256(AMENDMENTS)}",
            "lines of chapters 02-22 and the chapter-31 lines of the amendments file were added "
            "by the order of 14 Nov 2025 (from 13 Nov 2025);",
            "EO 14346 added the lines from 2025-09-08 and removed those that end on 2025-09-08 "
            "(both named in the amendments file); the copper and wood lines that end on "
            "2025-08-01 and 2025-10-14 left with their Section 232 actions; all other lines from "
            "5 Apr 2025",
        ],
    )
    yale = "us-yale-annex-ii-dates"
    for code in codes:
        if any(digits(code).startswith(digits(m)) for m in MEMO_CODES):
            continue
        change = added.get(code)
        if code[:2] in NOVEMBER_CHAPTERS or (change and change.effective == NOVEMBER):
            source = f"{NOTES_SOURCE};csms-66814923" + (f";{yale}" if change else "")
            annex.rows.append(Row(code, NOVEMBER, "", source, "added by the order of 14 Nov 2025"))
        elif change and change.effective == SEPTEMBER:
            annex.rows.append(
                Row(
                    code,
                    SEPTEMBER,
                    "",
                    f"{NOTES_SOURCE};eo-14346;csms-66151866;{yale}",
                    "added by EO 14346",
                )
            )
        elif change:
            raise ValueError(f"{AMENDMENTS.name}: no rule for an addition on {change.effective}")
        else:
            annex.rows.append(Row(code, APRIL, "", f"{NOTES_SOURCE};eo-14257-ghy"))
    for change in changes:
        if change.change != "removed":
            continue
        if change.effective not in REMOVAL_SOURCES:
            raise ValueError(f"{AMENDMENTS.name}: no rule for a removal on {change.effective}")
        annex.rows.append(
            Row(
                change.code,
                APRIL,
                change.effective,
                f"eo-14257-ghy;{REMOVAL_SOURCES[change.effective]};{yale}",
                f"removed by {change.order} (not in the Rev 6 text)",
            )
        )
    return [annex, memo]
