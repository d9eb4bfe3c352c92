"""Section 232 lists from the Rev 6 note text: auto parts (note 33(g)), medium/heavy vehicles, buses
and their parts (note 38(b), (c), (i)), semiconductor articles (note 39(b)) and the April 2026
metals annex tiers (note 16(c)).

Dates are the legal effective dates the proclamations give for each list; the Rev 6 text is the
list as printed about April 2026, so a line added or removed between the first date and Rev 6 is
not told apart here (the schedule keeps that as ``unconfirmed``).
"""

from __future__ import annotations

import re

from scripts.lists.common import (
    NOTES_FILE,
    NOTES_SOURCE,
    ListFile,
    Row,
    find,
    listed_codes,
    note_lines,
)

AUTO_PARTS_FROM = "2025-05-03"  # Proc. 10908, parts: entries on or after 3 May 2025
MHDV_FROM = "2025-11-01"  # Proc. 10984: 1 Nov 2025
SEMI_FROM = "2026-01-15"  # 9903.79.01 from 15 Jan 2026
METALS_FROM = "2026-04-06"  # Proc. 11021: 6 Apr 2026

_TIERS = {
    # note 16(c) subdivisions -> (list id, heading, what it is)
    "1a": (("i", "ii", "iii", "iv", "v"), "9903.82.02", "Annex I-A: 50% on full value"),
    "1b": (("vi", "vii", "viii"), "9903.82.09", "Annex I-B: 25% on full value"),
    "3": (
        ("ix", "x"),
        "9903.82.10",
        "Annex III: derivatives with an MFN rate under 15% (15% floor)",
    ),
}
_TITLES = {
    "i": "Articles of aluminum",
    "ii": "Derivative aluminum articles",
    "iii": "Articles of steel",
    "iv": "Derivative steel articles",
    "v": "Articles of copper",
    "vi": "Derivative aluminum articles",
    "vii": "Derivative steel articles",
    "viii": "Articles of copper",
    "ix": "Derivative aluminum articles",
    "x": "Derivative steel articles",
}
_ORDER = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")


def metals_subdivisions() -> dict[str, list[str]]:
    """Codes of each list (i)-(x) of note 16(c), by roman numeral."""
    lines = note_lines()
    start = find(lines, "^" + re.escape("16. (a)"))
    out: dict[str, list[str]] = {}
    for k, roman in enumerate(_ORDER):
        end = (
            rf"^\s*\({_ORDER[k + 1]}\) " if k + 1 < len(_ORDER) else r"^\(d\) Headings 9903\.82\.04"
        )
        out[roman] = listed_codes(lines, rf"^\s*\({roman}\) {_TITLES[roman]}", end, start)
    return out


def _metals() -> list[ListFile]:
    subs = metals_subdivisions()
    files = []
    for tier, (romans, heading, title) in _TIERS.items():
        lf = ListFile(
            f"us-232-metals-annex-{tier}",
            f"U.S. note 16(c)({romans[0]})-({romans[-1]}), {heading}: {title}",
            "scripts/lists/s232.py",
            [NOTES_FILE],
            remarks=[
                "outside chapters 72, 73, 74 and 76 the heading applies only if the listed metal "
                "is at least",
                "15% of the article's weight (note 16(c), 9903.82.03): a fact only the importer "
                "can state",
            ],
        )
        for roman in romans:
            for code in subs[roman]:
                lf.rows.append(
                    Row(
                        code,
                        METALS_FROM,
                        "",
                        f"{NOTES_SOURCE};s232-proc-11021-annexes",
                        f"16(c)({roman}) {_TITLES[roman].lower()}",
                    )
                )
        files.append(lf)
    return files


def build() -> list[ListFile]:
    """The Section 232 list files."""
    lines = note_lines()
    note33 = find(lines, "^" + re.escape("33. (a)"))
    parts = listed_codes(
        lines,
        r"^\(g\) Subject to a manufacturer's import adjustment",
        r"^\(h\) Heading 9903\.94\.06",
        note33,
    )
    note38 = find(lines, r"headings 9903\.74\.01 and")
    trucks = listed_codes(
        lines,
        r"\(b\) The rate of duty set forth in heading 9903\.74\.01",
        r"\(c\) Heading 9903\.74\.02",
        note38,
    )
    buses = listed_codes(
        lines, r"\(c\) Heading 9903\.74\.02 applies to buses", r"\(d\) Heading 9903\.74\.03", note38
    )
    mhd_parts = listed_codes(
        lines,
        r"^\(i\) The rates of duty set forth in heading 9903\.74\.08",
        r"^\(j\) Heading 9903\.74\.09",
        note38,
    )
    semis = listed_codes(
        lines,
        r"\(b\) For the purposes of this note, \"semiconductor articles\"",
        r"To be included within the definition of semiconductor articles",
        note38,
    )
    auto = ListFile(
        "us-232-auto-parts",
        "U.S. note 33(g) (9903.94.05): parts of passenger vehicles and light trucks",
        "scripts/lists/s232.py",
        [NOTES_FILE],
        [Row(c, AUTO_PARTS_FROM, "", f"{NOTES_SOURCE};s232-autos-annex") for c in parts],
        [
            "9903.94.05 applies only to parts of passenger vehicles and light trucks; the same "
            "goods used",
            "otherwise take 9903.94.06 (note 33(h)), a fact only the importer can state",
        ],
    )
    return [
        auto,
        ListFile(
            "us-232-mhdv-trucks",
            "U.S. note 38(b) (9903.74.01): medium- and heavy-duty vehicles",
            "scripts/lists/s232.py",
            [NOTES_FILE],
            [Row(c, MHDV_FROM, "", f"{NOTES_SOURCE};s232-mhdv") for c in trucks],
        ),
        ListFile(
            "us-232-mhdv-buses",
            "U.S. note 38(c) (9903.74.02): buses",
            "scripts/lists/s232.py",
            [NOTES_FILE],
            [Row(c, MHDV_FROM, "", f"{NOTES_SOURCE};s232-mhdv") for c in buses],
        ),
        ListFile(
            "us-232-mhdv-parts",
            "U.S. note 38(i) (9903.74.08): parts of medium- and heavy-duty vehicles",
            "scripts/lists/s232.py",
            [NOTES_FILE],
            [Row(c, MHDV_FROM, "", f"{NOTES_SOURCE};s232-mhdv") for c in mhd_parts],
            [
                "9903.74.08 applies only to parts of medium- and heavy-duty vehicles; the same "
                "goods used",
                "otherwise take 9903.74.11 (note 38(l)), a fact only the importer can state",
            ],
        ),
        ListFile(
            "us-232-semiconductors",
            "U.S. note 39(b) (9903.79.01): provisions of semiconductor articles",
            "scripts/lists/s232.py",
            [NOTES_FILE],
            [Row(c, SEMI_FROM, "", NOTES_SOURCE) for c in semis],
            [
                "only goods meeting the note's processing-performance and DRAM-bandwidth "
                "parameters take",
                "9903.79.01; the rest of these provisions take 9903.79.02 (no duty): a fact only "
                "the importer knows",
            ],
        ),
        *_metals(),
    ]
