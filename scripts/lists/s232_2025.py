"""Section 232 steel, aluminium and copper derivative lists of 2020-2025, one file per Chapter 99
heading, each code with the date it entered the heading and its source.

- 9903.81.89 (note 16(l)): the steel derivatives of Proclamation 9980, charged from 8 Feb 2020
  (9903.80.03 until 11 Mar 2025). Their codes are not in ../shared: they are written here from
  the proclamation's annex (85 FR 5281) as CBP's guide prints them, at 10 digits.
- 9903.81.90 (note 16(m)): chapter 73 derivatives from 12 Mar 2025. The 2025 text of note 16 is
  not in ../shared (Rev 6 prints the April 2026 note 16); the codes are the chapter 73 codes of the
  2026 list 16(c)(iv) "Derivative steel articles" (Annex I-A), less those of 9903.81.89.
- 9903.81.91 (note 16(n)): derivatives outside chapter 73 on their steel content: the household
  appliances of the BIS notice of 16 Jun 2025 (from 23 Jun 2025) and the BIS inclusions of
  19 Aug 2025 (407 codes, from 18 Aug 2025). The inclusions come from Yale's list (HS8); where the
  note text (19(k), the same notices' aluminium list, or the 2026 lists of 16(c)) prints 10-digit
  lines under such an HS8, those lines are listed instead of the HS8 (the notice's own 10
  digits), the note text winning: Yale's HS8 30049092 would make every medicament of
  3004.90.92 a steel derivative where the notice names 3004.90.9244 only.
- 9903.85.04, 9903.85.07, 9903.85.08 (note 19(i), (j), (k)): printed verbatim in Rev 6. 19(i) is
  Proclamation 9980's aluminium list (from 8 Feb 2020, 9903.85.03 until 11 Mar 2025); 19(j) the
  chapter 76 derivatives from 12 Mar 2025; 19(k) dated by Yale's list: from 12 Mar 2025, or
  18 Aug 2025 where Yale dates its HS8 so. Beer (2203.00.00) and empty cans (7612.90.10) from
  4 Apr 2025 (BIS notice, CSMS #64639013).
- 9903.78.01 (copper, from 1 Aug 2025): Yale's list (the 2025 note 36 is not in Rev 6), checked
  against the 2026 copper lists 16(c)(v) and (viii).

A 10-digit code retired before 6 Apr 2026 in the bundled HTS history (data/hts/lines.tsv) is
followed by the lines of its 8-digit line that begin the day it ends (the 2026 renumbering).

Every list ends where the measures using it end (6 Apr 2026, Proclamation 11021): the ends are
kept in the schedule's periods, not here.
"""

from __future__ import annotations

import csv
import re

from scripts.lists import s232
from scripts.lists.common import (
    NOTES_FILE,
    NOTES_SOURCE,
    REPO,
    YALE,
    ListFile,
    Row,
    digits,
    find,
    note_lines,
    sha256,
    unique,
)

PROC_9980 = "2020-02-08"  # Proc. 9980 (85 FR 5281): entries on or after 12:01 a.m. 8 Feb 2020
MARCH = "2025-03-12"  # Procs. 10895 / 10896: 12:01 a.m. 12 Mar 2025
BEER_AND_CANS = {"2203.00.00", "7612.90.10"}  # BIS notice of 4 Apr 2025, CSMS #64639013
BEER_FROM = "2025-04-04"
APPLIANCES = "2025-06-23"  # BIS notice 90 FR 25208 (16 Jun 2025), CSMS #65405824
INCLUSIONS = "2025-08-18"  # BIS notice 90 FR 40326 (19 Aug 2025), FR Doc. 2025-15819
COPPER = "2025-08-01"  # copper proclamation of 30 Jul 2025, CSMS #65794272

DERIVATIVES = YALE / "s232_derivative_products.csv"
COPPER_FILE = YALE / "s232_copper_products.csv"
HTS_LINES = REPO / "data" / "hts" / "lines.tsv"
LISTS_END = "2026-04-06"  # Proc. 11021: the measures using these lists end
YALE_SOURCE = "s232-yale-derivative-lists"

STEEL_9980 = (
    # Proc. 9980, Annex II (derivatives of steel articles), as listed by CBP's guide
    # (livingstonintl.com, 29 Jan 2020): nails, tacks, staples; bumper and body stampings.
    "7317.00.30",
    "7317.00.5503",
    "7317.00.5505",
    "7317.00.5507",
    "7317.00.5560",
    "7317.00.5580",
    "7317.00.6560",
    "8708.10.30",
    "8708.29.21",
)
APPLIANCE_CODES = (
    # BIS notice of 16 Jun 2025 (90 FR 25208), eight household appliance groups, as CBP's
    # CSMS #65405824 lists them (source key s232-bis-appliances-2025-06)
    "8418.10.00",
    "8418.30.00",
    "8418.40.00",
    "8422.11.00",
    "8450.11.00",
    "8450.20.00",
    "8451.21.00",
    "8451.29.00",
    "8509.80.20",
    "8516.60.40",
    "9403.99.9020",
)
_ENDS = r"^\(l\) Any importer entering the aluminum products covered by this note"


def _note19() -> dict[str, list[str]]:
    """Codes of note 19(i), (j) and (k) in the Rev 6 text."""
    lines = note_lines()
    start = find(lines, r"^19\. \(a\)")
    text = " ".join(lines[start : find(lines, _ENDS, start)])
    out: dict[str, list[str]] = {}
    for sub, nxt in (("i", "(j) The rates"), ("j", "(k) The rates"), ("k", "For any derivative")):
        first = text.index(f"({sub}) The rates of duty")
        body = text[first : text.index(nxt, first)]
        codes = re.findall(r"\b\d{4}\.\d{2}\.\d{2}(?:\d{2})?\b", body)
        out[sub] = unique([c for c in codes if not c.startswith("9903.")])
    return out


def _yale_derivatives() -> list[dict[str, str]]:
    with DERIVATIVES.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _dotted(code: str) -> str:
    """``84181000`` -> ``8418.10.00`` (8 or 10 digits)."""
    return f"{code[:4]}.{code[4:6]}.{code[6:]}"


def _ten_digits(hs8: str, printed: list[list[str]]) -> list[str]:
    """The note's 10-digit lines under ``hs8`` (from the first source in ``printed`` that has
    any), else ``hs8`` itself (dotted)."""
    for codes in printed:
        under = [c for c in codes if digits(c).startswith(hs8) and len(digits(c)) == 10]
        if under:
            return under
    return [_dotted(hs8)]


def _lines() -> dict[str, tuple[str, str]]:
    """Each HTS10 line of the bundled history (data/hts/lines.tsv): (first day, first day out)."""
    spans: dict[str, tuple[str, str]] = {}
    for line in HTS_LINES.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if line[:1] == "#" or len(cells[0]) != 10:
            continue
        start, end = spans.get(cells[0], (cells[1], cells[2]))
        spans[cells[0]] = (
            min(start, cells[1]),
            "" if not end or not cells[2] else max(end, cells[2]),
        )
    return spans


def follow_renumbering(lf: ListFile, spans: dict[str, tuple[str, str]]) -> None:
    """Add, for each 10-digit code of ``lf`` retired before the lists end (a statistical line
    split or renumbered in a later revision), the lines of its 8-digit line that begin the day
    it ends: the goods keep their listing under their new numbers."""
    added: list[Row] = []
    have = {digits(r.code) for r in lf.rows}
    for row in lf.rows:
        code = digits(row.code)
        end = spans.get(code, ("", ""))[1]
        if len(code) != 10 or not end or end >= LISTS_END:
            continue
        for new, (start, _) in sorted(spans.items()):
            if new[:8] == code[:8] and start == end and new not in have:
                have.add(new)
                added.append(Row(_dotted(new), end, "", row.source, f"successor of {row.code}"))
    lf.rows.extend(added)


def steel() -> list[ListFile]:
    """The three steel derivative files (9903.81.89, .90, .91)."""
    subs = s232.metals_subdivisions()
    old = [digits(c) for c in STEEL_9980]
    ch73 = [
        c
        for c in subs["iv"]
        if c.startswith("73")
        and not any(o.startswith(digits(c)) or digits(c).startswith(o) for o in old)
    ]
    l16 = ListFile(
        "us-232-deriv-steel-9903-81-89",
        "U.S. note 16(l) (9903.81.89; 9903.80.03 before 12 Mar 2025): "
        "steel derivatives of Proc. 9980",
        "scripts/lists/s232_2025.py",
        [],
        [Row(c, PROC_9980, "", "s232-proc-9980", "Proc. 9980 annex II") for c in STEEL_9980],
        ["codes from Proclamation 9980 (85 FR 5281), not in ../shared: written in the generator"],
    )
    m16 = ListFile(
        "us-232-deriv-steel-9903-81-90",
        "U.S. note 16(m) (9903.81.90): chapter 73 steel derivatives from 12 Mar 2025",
        "scripts/lists/s232_2025.py",
        [NOTES_FILE],
        [
            Row(c, MARCH, "", f"{NOTES_SOURCE};s232-csms-64384423", "ch.73, 16(c)(iv) of 2026")
            for c in ch73
        ],
        [
            "unconfirmed: the 2025 text of note 16(m) is not in ../shared; these are the chapter "
            "73 codes of the",
            "2026 list 16(c)(iv) (131 provisions; the Feb 2025 annex had 155 chapter 73 "
            "subheadings, mondaq)",
        ],
    )
    # the 10-digit forms the note text prints: 19(k) is the 2025 list of the same BIS notices
    # (aluminium), 16(c) the 2026 lists of every metal
    printed = [_note19()["k"], [c for codes in subs.values() for c in codes]]
    rows = [
        Row(
            c,
            APPLIANCES,
            "",
            "s232-bis-appliances-2025-06",
            "household appliance (BIS, 16 Jun 2025)",
        )
        for c in APPLIANCE_CODES
    ]
    seen = set(APPLIANCE_CODES)
    for r in _yale_derivatives():
        if r["ch99_code"] != "9903.81.91":
            continue
        for code in _ten_digits(r["hts_prefix"], printed):
            if code in seen or any(digits(code).startswith(digits(c)) for c in APPLIANCE_CODES):
                continue
            seen.add(code)
            note = (
                "10 digits as the note prints" if len(digits(code)) == 10 else "HS8 as Yale lists"
            )
            rows.append(
                Row(
                    code,
                    r["effective_date"] or MARCH,
                    "",
                    f"s232-bis-inclusions-2025-08;{YALE_SOURCE}",
                    note,
                )
            )
    n16 = ListFile(
        "us-232-deriv-steel-9903-81-91",
        "U.S. note 16(n) (9903.81.91): steel derivatives outside chapter 73, on the steel content",
        "scripts/lists/s232_2025.py",
        [DERIVATIVES, NOTES_FILE],
        rows,
        [
            "unconfirmed: the 12 Mar 2025 non-chapter-73 items of the Feb 2025 annex are not in "
            "../shared; Yale dates",
            "every 9903.81.91 code 18 Aug 2025, so such an item is charged from that date here",
        ],
    )
    return [l16, m16, n16]


def aluminium() -> list[ListFile]:
    """The three aluminium derivative files (9903.85.04, .07, .08)."""
    note = _note19()
    dates: dict[str, str] = {}
    for r in _yale_derivatives():  # an HS8 may have several rows: its earliest date (none: March)
        if r["derivative_type"] == "aluminum":
            start = r["effective_date"] or MARCH
            dates[r["hts_prefix"]] = min(start, dates.get(r["hts_prefix"], start))

    def dated(code: str) -> str:
        if code in BEER_AND_CANS:
            return BEER_FROM
        return dates.get(digits(code)[:8]) or MARCH

    def source(code: str) -> str:
        key = {BEER_FROM: "s232-csms-64639013", INCLUSIONS: "s232-bis-inclusions-2025-08"}
        return f"{NOTES_SOURCE};" + key.get(dated(code), "s232-csms-64384496")

    return [
        ListFile(
            "us-232-deriv-alum-9903-85-04",
            "U.S. note 19(i) (9903.85.04; 9903.85.03 before 12 Mar 2025): "
            "aluminium derivatives of Proc. 9980",
            "scripts/lists/s232_2025.py",
            [NOTES_FILE],
            [Row(c, PROC_9980, "", f"{NOTES_SOURCE};s232-proc-9980", "19(i)") for c in note["i"]],
        ),
        ListFile(
            "us-232-deriv-alum-9903-85-07",
            "U.S. note 19(j) (9903.85.07): chapter 76 aluminium derivatives from 12 Mar 2025",
            "scripts/lists/s232_2025.py",
            [NOTES_FILE],
            [Row(c, dated(c), "", source(c), "19(j)") for c in note["j"]],
        ),
        ListFile(
            "us-232-deriv-alum-9903-85-08",
            "U.S. note 19(k) (9903.85.08): aluminium derivatives outside chapter 76, "
            "on the aluminium content",
            "scripts/lists/s232_2025.py",
            [NOTES_FILE, DERIVATIVES],
            [Row(c, dated(c), "", source(c), "19(k), dated by Yale's HS8") for c in note["k"]],
            [
                "codes: note 19(k) of Rev 6 verbatim; date: Yale's effective date for the code's "
                "HS8 (none: 12 Mar 2025;",
                "beer 2203.00.00: 4 Apr 2025, CSMS #64639013)",
            ],
        ),
    ]


def copper() -> ListFile:
    """Copper, 9903.78.01."""
    with COPPER_FILE.open(encoding="utf-8") as handle:
        codes = [r["hts10"] for r in csv.DictReader(handle)]
    return ListFile(
        "us-232-copper-9903-78-01",
        "9903.78.01: semi-finished copper and intensive copper derivatives, on the copper content",
        "scripts/lists/s232_2025.py",
        [COPPER_FILE],
        [Row(_dotted(c), COPPER, "", f"s232-csms-65794272;{YALE_SOURCE}", "") for c in codes],
        [
            "the 2025 note 36(b) is not in Rev 6; codes from Yale's list (HS8), "
            "see docs/lists-crosscheck.md"
        ],
    )


def build() -> list[ListFile]:
    """The 2020-2025 Section 232 metals list files."""
    files = [*steel(), *aluminium(), copper()]
    spans = _lines()
    for lf in files:
        follow_renumbering(lf, spans)
        lf.remarks.append(
            "lines renumbered after the notice follow from data/hts/lines.tsv sha256 "
            + sha256(HTS_LINES)
        )
    return files
