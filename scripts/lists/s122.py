"""Section 122 exemptions from U.S. note 2(aa) to subchapter III (Rev 6 text): subdivisions (ii)
9903.03.03 (Annex I
lines), (iii) 9903.03.04 (particular articles) and (iv) 9903.03.05 (civil aircraft, a claim).

The surcharge ran from 24 Feb 2026 (CBP CSMS #67844987); the exemptions start with it. The other
exemptions (9903.03.02 in transit, .06 Section 232 goods, .07-.09 USMCA/CAFTA-DR origin, .10
donations, .11 informational materials) are not product lists.
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
    unique,
)

S122_FROM = "2026-02-24"


def particular_articles(lines: list[str]) -> list[str]:
    """The subheadings named in 9903.03.04's list of particular articles, in order."""
    first = find(lines, r"^\(iii\) As provided in heading 9903\.03\.04")
    last = find(lines, r"^\(iv\) As provided in heading 9903\.03\.05", first)
    text = " ".join(lines[first:last])
    return unique(re.findall(r"classifiable in\s+subheading\s+(\d{4}\.\d{2}\.\d{2})", text))


def build() -> list[ListFile]:
    """The three Section 122 exemption lists."""
    lines = note_lines()
    annex = listed_codes(
        lines,
        r"^\(ii\) As provided in heading 9903\.03\.03",
        r"^\(iii\) As provided in heading 9903\.03\.04",
    )
    aircraft = listed_codes(
        lines,
        r"^\(iv\) As provided in heading 9903\.03\.05",
        r"^\(v\) As provided in heading 9903\.03\.06",
    )
    source = f"{NOTES_SOURCE};csms-67844987"
    return [
        ListFile(
            "us-122-annex-i",
            "9903.03.03: lines exempt from the Section 122 surcharge (note 2, subchapter III)",
            "scripts/lists/s122.py",
            [NOTES_FILE],
            [Row(c, S122_FROM, "", source) for c in annex],
        ),
        ListFile(
            "us-122-particular-articles",
            "9903.03.04: particular articles exempt from the Section 122 surcharge",
            "scripts/lists/s122.py",
            [NOTES_FILE],
            [
                Row(c, S122_FROM, "", source, "only the article the note describes")
                for c in particular_articles(lines)
            ],
            [
                "each line is exempt only for the particular article the note describes: a "
                "review, not a default"
            ],
        ),
        ListFile(
            "us-122-civil-aircraft",
            "9903.03.05: civil-aircraft provisions exempt from the Section 122 surcharge",
            "scripts/lists/s122.py",
            [NOTES_FILE],
            [Row(c, S122_FROM, "", source) for c in aircraft],
            [
                "exempt only for civil aircraft, their engines, parts and simulators meeting "
                "general note 6:",
                "a claim the importer makes, not a default",
            ],
        ),
    ]
