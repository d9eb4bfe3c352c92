"""Section 301 (China) lists from U.S. note 20 and the four-year-review heading 9903.91.06 from
note 31(g),
checked against the "See 9903.88.xx" footnotes of the HTS JSON.

- Lists 1, 2, 3 (9903.88.01-.03): the 8-digit tables of note 20(b), (d), (f); List 4A
  (9903.88.15): the table of note 20(s)(i). Rows are undated: the lines have been listed since
  2018-2019 and the list measures carry the dates.
- 9903.88.04 (note 20(g)) and the items of note 20(s)(ii) name an 8-digit subheading "except" some
  statistical lines: the subheading goes in the list, the excepted lines in ``*-except`` lists.
- Product exclusions 9903.88.69 (note 20(vvv)): an exclusion that names a bare statistical line
  excludes that line; one that describes a product is a claim (not listed). Dates come from the
  heading text of 9903.88.69 in HTS 2026 Rev 10 (15 Jun 2024 through 9 Nov 2026).
- A 2025 line whose footnote (2025 Rev 32) points to a list heading but that the Rev 6 note does
  not list stays in the list until 2026-01-01 (the 2026 HTS moved it, e.g. 8507.60.00 to
  9903.91.06).
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime
from pathlib import Path

from scripts.lists.common import (
    NOTES_FILE,
    NOTES_SOURCE,
    SHARED,
    ListFile,
    Row,
    digits,
    find,
    listed_codes,
    note_lines,
    unique,
)

HTS_DIR = SHARED / "usitc-hts-json"
FOOTNOTES_2025 = HTS_DIR / "hts_2025_rev_32.json.gz"
HEADINGS_2026 = HTS_DIR / "hts_2026_rev_10.json.gz"
NEW_NOMENCLATURE = "2026-01-01"
REVIEW_FROM = "2026-01-01"  # note 31(g): on or after 1 Jan 2026

_LISTS = {
    # list id -> (heading, start of its table, end of its table)
    "us-301-list1-codes": (
        "9903.88.01",
        r"^\(b\) Heading 9903\.88\.01 applies",
        r"^\(c\) For the purposes of heading 9903\.88\.02",
    ),
    "us-301-list2-codes": (
        "9903.88.02",
        r"^\(d\) Heading 9903\.88\.02 applies",
        r"^\(e\) For the purposes of heading 9903\.88\.03",
    ),
    "us-301-list3-codes": (
        "9903.88.03",
        r"^\(f\) Heading 9903\.88\.03 applies",
        r"^\(g\) For the purposes of heading 9903\.88\.04",
    ),
    "us-301-list4a-codes": (
        "9903.88.15",
        r"^\(i\) all products of China that are classified in the following 8-digit",
        r"^\(ii\) the following products of China:",
    ),
}
_ITEM = re.compile(
    r"provided\s+for\s+in\s+(?:\[subheading\]\s+|subheading\s+)?(\d{4}\.\d{2}\.\d{2}),\s+except\s+(.*?)(?:;|\.$|$)"
)
_STAT = re.compile(r"\d{4}\.\d{2}\.\d{4}")


def _items(lines: list[str], start: str, end: str, after: int) -> list[tuple[str, list[str]]]:
    """Numbered items "… provided for in X, except … statistical reporting number(s) Y, Z" between
    two lines."""
    first = find(lines, start, after)
    last = find(lines, end, first + 1)
    text = " ".join(line.strip() for line in lines[first:last])
    found = []
    for item in re.split(r"\s\d{1,2}\.\s", " " + text)[1:]:
        match = _ITEM.search(item)
        if match:
            found.append((match.group(1), _STAT.findall(item[match.start(2) :])))
    return found


def _exclusion_lines(lines: list[str], note20: int) -> list[tuple[str, str]]:
    """Statistical lines excluded whole by note 20(vvv): (code, sub-subdivision)."""
    first = find(lines, r"^\(vvv\)\s+\(i\)", note20)
    last = find(lines, r"^\(www\) The U\.S\. Trade Representative", first)
    found, part = [], "i"
    for line in lines[first:last]:
        head = re.match(
            r"^\(([ivx]+)\) The U\.S\. Trade Representative", line.replace("(vvv)", "").strip()
        )
        if head:
            part = head.group(1)
        bare = re.fullmatch(r"\(\d+\)\s+(\d{4}\.\d{2}\.\d{4})\s*", line)
        if bare:
            found.append((bare.group(1), part))
    return found


def _rows(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows: list[dict[str, object]] = json.load(handle)
    return rows


def heading_dates(heading: str) -> tuple[str, str]:
    """[from, to) of a dated 9903 heading, read from its text in HTS 2026 Rev 10."""
    text = next(str(r["description"]) for r in _rows(HEADINGS_2026) if r["htsno"] == heading)
    on = re.search(r"on or after (\w+ \d{1,2}, \d{4})", text)
    through = re.search(r"through (\w+ \d{1,2}, \d{4})", text)
    if not on or not through:
        raise ValueError(f"no dates in the text of {heading}: {text!r}")
    start = datetime.strptime(on.group(1), "%B %d, %Y").date()
    end = datetime.strptime(through.group(1), "%B %d, %Y").date()
    return start.isoformat(), end.fromordinal(end.toordinal() + 1).isoformat()


def footnote_codes(path: Path, heading: str) -> list[str]:
    """8- or 10-digit lines whose footnote in the revision points to ``heading``."""
    found = []
    for row in _rows(path):
        code = str(row["htsno"])
        notes = row.get("footnotes")
        notes = notes if isinstance(notes, list) else []
        text = " ".join(str(f.get("value", "")) for f in notes if isinstance(f, dict))
        if code and code[:2] not in ("98", "99") and heading in text:
            found.append(code)
    return unique(found)


def build() -> list[ListFile]:
    """The Section 301 list files."""
    lines = note_lines()
    note20 = find(lines, "^" + re.escape("20. (a)"))
    described = _described(lines, note20)
    items = {f.list_id: [digits(r.code) for r in f.rows] for f in described}
    files = []
    for list_id, (heading, start, end) in _LISTS.items():
        codes = listed_codes(lines, start, end, note20)
        lf = ListFile(
            list_id,
            f"Section 301 {heading}: U.S. note 20, HTS 2026 Rev 6",
            "scripts/lists/s301.py",
            [NOTES_FILE, FOOTNOTES_2025],
            [Row(c, "", "", NOTES_SOURCE) for c in codes],
            ["rows are undated: the list measure carries the dates"],
        )
        ours = [digits(c) for c in codes] + (
            items["us-301-list4a-items-codes"] if heading == "9903.88.15" else []
        )
        for old in footnote_codes(FOOTNOTES_2025, heading):
            if not any(digits(old).startswith(p) or p.startswith(digits(old)) for p in ours):
                lf.rows.append(
                    Row(
                        old,
                        "",
                        NEW_NOMENCLATURE,
                        "usitc-hts-2025-rev32",
                        f"2025 footnote points to {heading}; not in the 2026 note",
                    )
                )
        files.append(lf)
    files.extend(_described(lines, note20))
    start, end = heading_dates("9903.88.69")
    files.append(
        ListFile(
            "us-301-exclusions-9903-88-69",
            "Section 301 product exclusions naming a whole statistical line, note 20(vvv) "
            "(9903.88.69)",
            "scripts/lists/s301.py",
            [NOTES_FILE, HEADINGS_2026],
            [
                Row(
                    code,
                    start,
                    end,
                    f"{NOTES_SOURCE};usitc-hts-2026-rev10",
                    f"note 20(vvv)({part})",
                )
                for code, part in _exclusion_lines(lines, note20)
            ],
            [
                "dates from the text of heading 9903.88.69 (HTS 2026 Rev 10): through 9 Nov "
                "2026; an extension",
                "after that is not confirmed. Exclusions that describe a product (not a whole "
                "line) are claims, not listed.",
            ],
        )
    )
    files.extend(_review(lines))
    return files


def _described(lines: list[str], note20: int) -> list[ListFile]:
    """9903.88.04 (note 20(g)) and List 4A's described items (note 20(s)(ii)), with their excepted
    lines."""
    g = _items(
        lines,
        r"^\(g\) For the purposes of heading 9903\.88\.04",
        r"^Notwithstanding U\.S\. note 1",
        note20,
    )
    s_ii = _items(
        lines,
        r"^\(ii\) the following products of China:",
        r"^\(t\) For the purposes of heading 9903\.88\.16",
        note20,
    )
    out = []
    for list_id, heading, items, where in (
        ("us-301-list3-8804", "9903.88.04", g, "20(g)"),
        ("us-301-list4a-items", "9903.88.15", s_ii, "20(s)(ii)"),
    ):
        out.append(
            ListFile(
                f"{list_id}-codes",
                f"Section 301 {heading}: subheadings named in note {where}",
                "scripts/lists/s301.py",
                [NOTES_FILE],
                [Row(code, "", "", NOTES_SOURCE, f"note {where}") for code, _ in items],
            )
        )
        out.append(
            ListFile(
                f"{list_id}-except",
                f"statistical lines note {where} excepts from {heading}",
                "scripts/lists/s301.py",
                [NOTES_FILE],
                [
                    Row(stat, "", "", NOTES_SOURCE, f"excepted by note {where}")
                    for _, stats in items
                    for stat in stats
                ],
            )
        )
    return out


def _review(lines: list[str]) -> list[ListFile]:
    """9903.91.06 (note 31(g), from 1 Jan 2026), split as the schedule's two measures."""
    note31 = find(lines, "^" + re.escape("31. (a)"))
    first = find(lines, r"^\(g\) Heading 9903\.91\.06 applies", note31)
    last = find(lines, r"^\(h\) Heading 9903\.91\.07 applies", first)
    codes = unique(
        re.findall(r"^\(\d+\)\s+(\d{4}\.\d{2}\.\d{2})\s*$", "\n".join(lines[first:last]), re.M)
    )
    source = f"{NOTES_SOURCE};usitc-hts-2026-rev10"
    batteries = [c for c in codes if c.startswith("8507")]
    return [
        ListFile(
            "us-301-review-li-ion-other-codes",
            "9903.91.06 (note 31(g)): lithium-ion batteries",
            "scripts/lists/s301.py",
            [NOTES_FILE],
            [Row(c, REVIEW_FROM, "", source) for c in batteries],
        ),
        ListFile(
            "us-301-review-graphite-magnets-codes",
            "9903.91.06 (note 31(g)): natural graphite and permanent magnets",
            "scripts/lists/s301.py",
            [NOTES_FILE],
            [Row(c, REVIEW_FROM, "", source) for c in codes if c not in batteries],
        ),
    ]
