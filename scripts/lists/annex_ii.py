"""Reciprocal Annex II (9903.01.32) and the 11 Apr 2025 electronics memo, from U.S. note
2(v)(iii)(a).

The Rev 6 text prints Annex II as amended last (the list in force from 13 Nov 2025). The earlier
versions are dated from what the amending orders say they changed:
- the 14 Nov 2025 order added agricultural lines of chapters 02-22 (and fertilizers of ch. 31),
  effective 13 Nov 2025 (CBP CSMS #66814923): lines of those food chapters start on 2025-11-13;
- the memo of 11 Apr 2025 (retroactive to 5 Apr 2025) added the electronics lines it names;
  they form their own list;
- every other line is dated from 5 Apr 2025. The 8 Sep 2025 additions and removals (CSMS
  #66151866) are not in this source: that split stays unconfirmed in the schedule.
"""

from __future__ import annotations

from scripts.lists.common import (
    NOTES_FILE,
    NOTES_SOURCE,
    ListFile,
    Row,
    digits,
    listed_codes,
    note_lines,
)

APRIL = "2025-04-05"
NOVEMBER = "2025-11-13"
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
"""HTS chapters of the lines the 14 Nov 2025 order added (CSMS #66814923; its list names these
chapters and 31)."""

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


def build() -> list[ListFile]:
    """The Annex II list and the electronics-memo list."""
    codes = annex_ii_codes()
    missing = [c for c in MEMO_CODES if c not in codes]
    if missing:
        raise ValueError(f"memo provisions not printed in note 2(v)(iii)(a): {missing}")
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
            "lines of chapters 02-22 were added by the order of 14 Nov 2025 (from 13 Nov 2025);",
            "8 Sep 2025 additions/removals are not dated by this source (all other lines from 5 "
            "Apr 2025)",
        ],
    )
    for code in codes:
        if any(digits(code).startswith(digits(m)) for m in MEMO_CODES):
            continue
        if code[:2] in NOVEMBER_CHAPTERS:
            annex.rows.append(
                Row(
                    code,
                    NOVEMBER,
                    "",
                    f"{NOTES_SOURCE};csms-66814923",
                    "added by the order of 14 Nov 2025",
                )
            )
        else:
            annex.rows.append(Row(code, APRIL, "", f"{NOTES_SOURCE};eo-14257-ghy"))
    return [annex, memo]
