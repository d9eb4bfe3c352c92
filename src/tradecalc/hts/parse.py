"""Parse a USITC HTS JSON export into tariff lines (pure: bytes in, dataclasses out).

The export is one JSON array of flat rows (``htsno``, ``indent``, ``description``,
``units``, ``general``, ``footnotes``, ...) with no revision name inside. This module
cleans each cell (HTML markup, entities, non-breaking and trailing spaces, ``m²`` vs
``m2``), rebuilds the indent hierarchy, reads the Column 1 General rate grammar, lets a
10-digit statistical line inherit the rate of its 8-digit line, and collects the
Chapter 99 headings (``9903.88.03``, ``9903.91.01``, ...) that footnotes point to.

Rates the engine cannot compute (text references, qualified rates such as "on drained
weight", specific rates in units a shipment cannot be given in) keep their text and a
kind, with no :class:`~tradecalc.core.rate.Rate`: they are reported as "needs review".
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal

from tradecalc.core.errors import DataError
from tradecalc.core.money import HUNDRED, PERCENT_BOUND, SPECIFIC_BOUND
from tradecalc.core.rate import Rate, Specific
from tradecalc.core.records import record

RateKind = Literal[
    "none",  # the row carries no rate (headings, label rows, Chapter 99 without a rate)
    "free",
    "ad_valorem",
    "specific",
    "compound",
    "qualified",  # a component "on drained weight", "less ... per degree", "on the case" ...
    "unit",  # a specific rate in a unit a shipment cannot be given in (pf.liter, gross ...)
    "text",  # "The rate applicable to ...", "See additional U.S. note 1"
]
COMPUTABLE: frozenset[str] = frozenset({"free", "ad_valorem", "specific", "compound"})
"""Kinds that come with a :class:`Rate`; every other kind with text needs review."""

_TAG = re.compile(r"<[^<>]*>")  # no '<' inside: each start scans to the next '<' (linear)
_SPACE = re.compile(r"\s+")
_HEADING = re.compile(r"\b(99\d\d\.\d\d\.\d\d)\b")
_NUMBER = r"(\d+(?:\.\d+)?)"
_DIGITS = re.compile(r"\d*\.?\d+", re.ASCII)
_AD_VALOREM = re.compile(_NUMBER + r"%")
_SPECIFIC = re.compile(r"(?:" + _NUMBER + r"¢|\$" + _NUMBER + r")\s*(?:/\s*(.+)|\s(each))")
_QUALIFIED = re.compile(r"(?:" + _NUMBER + r"\s*%|" + _NUMBER + r"¢|\$" + _NUMBER + r")[\s/].*")
_SPECIFIC_UNITS = {
    "kg": "kg",
    "g": "g",
    "t": "t",
    "liter": "l",
    "l": "l",
    "m2": "m2",
    "m3": "m3",
    "head": "head",
    "doz.": "doz",
    "pr.": "pair",
    "bbl": "bbl",
    "each": "item",
}
"""Units of HTS specific rates that a shipment can be given in (see rate.UNIT_ALIASES)."""
_QUALIFIER_WORD = re.compile(r"\b(?:on|of|less|over|clean)\b")
_RATE_COLUMNS = frozenset({"general", "desc"})

MAX_ROWS = 200_000
"""Rows in one export (a 2026 export has about 35,500)."""
MAX_CONTAINERS = 1_000_000
"""JSON objects and arrays, counted as ``{`` and ``[`` bytes before parsing (2026: 131,000)."""
MAX_VALUES = 4_000_000
"""JSON values, counted as ``,`` bytes before parsing (2026: 600,000)."""
MAX_FIELD_CHARS = 16_384
"""Characters in one text cell (the longest 2026 description has 1,685)."""
MAX_ROW_DEPTH = 4
"""Nesting inside a row: the row, its footnotes, a footnote, its columns."""


@record
class GeneralRate:
    """A Column 1 General rate: its cleaned text, kind and, when computable, the Rate."""

    text: str
    kind: RateKind
    rate: Rate | None = None

    @property
    def needs_review(self) -> bool:
        """True for a rate text that cannot be computed (kind not in COMPUTABLE)."""
        return self.kind not in COMPUTABLE and self.kind != "none"


@record
class HtsLine:
    """One coded row of the export, with its rate resolved (10 digits inherit from 8)."""

    code: str
    """Digits only: ``"0101210010"``."""
    htsno: str
    """As printed: ``"0101.21.00.10"``."""
    indent: int
    description: str
    path: str
    """The descriptions of the row's ancestors and its own, joined by " > "."""
    units: tuple[str, ...]
    general: GeneralRate
    rate_code: str | None
    """Digits of the row whose ``general`` rate this line uses (itself or its 8-digit line)."""
    headings: tuple[str, ...]
    """Chapter 99 headings named by footnotes of this row (and of its 8-digit line)."""


@record
class ParsedExport:
    """Every coded row of one export, in file order, and its counts."""

    lines: tuple[HtsLine, ...]
    rows: int
    """Rows in the file, label rows included."""
    tariff_lines: int
    """HTS8 tariff lines in chapters 01-97 (8-digit rows + 10-digit rows with no 8-digit row)."""

    def by_code(self) -> dict[str, HtsLine]:
        """The lines keyed by their digits."""
        return {line.code: line for line in self.lines}


def clean_text(value: object) -> str:
    """A cell as plain text: no markup, entities decoded, spaces collapsed and trimmed."""
    if not isinstance(value, str):
        return ""
    text = html.unescape(_TAG.sub("", value)) if "<" in value or "&" in value else value
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip()


def clean_unit(value: object) -> str:
    """A quantity unit with superscripts spelled as digits: ``m²``, ``m<sup>2</sup>`` -> m2."""
    text = clean_text(value).replace("²", "2").replace("³", "3")
    return re.sub(r"\b(c?m) ([23])\b", r"\1\2", text)


def parse_general(value: object) -> GeneralRate:
    """Read a Column 1 General rate string into its kind and, if computable, a Rate."""
    text = clean_text(value)
    if not text:
        return GeneralRate("", "none")
    if text.lower() == "free":
        return GeneralRate(text, "free", Rate())
    ad_valorem: Decimal | None = None
    specifics: list[Specific] = []
    kinds: set[str] = set()
    for part in (p.strip() for p in text.split("+")):
        if not _within_bounds(part):
            kinds.add("text")
        elif m := _AD_VALOREM.fullmatch(part):
            if ad_valorem is not None:
                kinds.add("qualified")
            ad_valorem = Decimal(m.group(1)) / HUNDRED
        elif m := _SPECIFIC.fullmatch(part):
            amount = Decimal(m.group(1)) / HUNDRED if m.group(1) else Decimal(m.group(2))
            unit = _SPECIFIC_UNITS.get((m.group(3) or m.group(4)).strip().lower())
            if unit is None:
                kinds.add("qualified" if _QUALIFIER_WORD.search(part) else "unit")
            else:
                specifics.append(Specific(amount, "USD", unit))
        elif _QUALIFIED.fullmatch(part):
            kinds.add("qualified")
        else:
            kinds.add("text")
    flagged: tuple[RateKind, ...] = ("text", "qualified", "unit")
    for worst in flagged:
        if worst in kinds:
            return GeneralRate(text, worst)
    if not specifics:
        kind: RateKind = "ad_valorem"
    elif ad_valorem is None:
        kind = "specific"
    else:
        kind = "compound"
    return GeneralRate(text, kind, Rate(ad_valorem or Decimal(0), tuple(specifics)))


def _within_bounds(part: str) -> bool:
    """False when a number in a rate part has more digits than a curated rate may have
    (the line is then not computable, as for text): see
    :data:`tradecalc.core.money.PERCENT_BOUND`."""
    return all(
        SPECIFIC_BOUND.allows(n) if "%" not in part else PERCENT_BOUND.allows(n)
        for n in _DIGITS.findall(part)
    )


def footnote_headings(footnotes: object) -> tuple[str, ...]:
    """Chapter 99 headings named by footnotes on the rate or the description column."""
    found: list[str] = []
    if not isinstance(footnotes, list):
        return ()
    for note in footnotes:
        if not isinstance(note, Mapping):
            continue
        columns = note.get("columns") or []
        if columns and not _RATE_COLUMNS.intersection(columns):
            continue
        found.extend(_HEADING.findall(clean_text(note.get("value"))))
    return tuple(dict.fromkeys(found))


def load_rows(data: bytes, name: str) -> list[Mapping[str, Any]]:
    """The rows of an export; raise DataError if it is not one or exceeds a bound.

    Memory stays bounded: objects, arrays and values are counted in the bytes before
    anything is parsed, and the parser's depth is bounded by the recursion limit.
    """
    containers = data.count(b"{") + data.count(b"[")
    if containers > MAX_CONTAINERS or data.count(b",") > MAX_VALUES:
        raise DataError(
            f"{name}: more than {MAX_CONTAINERS:,} objects and arrays or {MAX_VALUES:,} values; "
            "not an HTS export"
        )
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: not a USITC HTS JSON export ({exc})") from None
    except RecursionError:
        raise DataError(f"{name}: not a USITC HTS JSON export (nested too deeply)") from None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) and "htsno" in r for r in rows):
        raise DataError(f"{name}: not a USITC HTS JSON export (expected an array of rows)")
    if not rows:
        raise DataError(f"{name}: the export has no rows")
    if len(rows) > MAX_ROWS:
        raise DataError(f"{name}: {len(rows):,} rows, more than {MAX_ROWS:,}; not an HTS export")
    for number, row in enumerate(rows, 1):
        _check_cells(row, 1, name, number)
    return rows


def _check_cells(value: object, depth: int, name: str, number: int) -> None:
    """Refuse a row nested deeper than an HTS row or with an oversized text cell."""
    if isinstance(value, str):
        if len(value) > MAX_FIELD_CHARS:
            raise DataError(
                f"{name}: row {number}: a text cell is longer than {MAX_FIELD_CHARS:,} characters"
            )
    elif isinstance(value, Mapping | list):
        if depth > MAX_ROW_DEPTH:
            raise DataError(f"{name}: row {number}: nested deeper than an HTS row")
        for child in value.values() if isinstance(value, Mapping) else value:
            _check_cells(child, depth + 1, name, number)


def parse_export(data: bytes, name: str = "export") -> ParsedExport:
    """Parse a whole export (UTF-8 JSON bytes) into resolved tariff lines."""
    rows = load_rows(data, name)
    lines = _coded_rows(rows, name)
    return ParsedExport(_resolve(lines), len(rows), _count_tariff_lines(rows))


def _indent(value: object, name: str, number: int) -> int:
    """A row's indent: a small whole number in ASCII digits (empty or missing: 0)."""
    text = clean_text(value)
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise DataError(f"{name}: row {number}: indent {text[:20]!r} is not a whole number")
    return int(text)


def _coded_rows(rows: Iterable[Mapping[str, Any]], name: str) -> list[HtsLine]:
    """The coded rows with hierarchy paths and own rates (no inheritance yet)."""
    stack: list[tuple[int, str]] = []
    lines: list[HtsLine] = []
    for number, row in enumerate(rows, 1):
        indent = _indent(row.get("indent"), name, number)
        description = clean_text(row.get("description"))
        htsno = clean_text(row.get("htsno"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = " > ".join([*(d for _, d in stack), description])
        stack.append((indent, description))
        code = htsno.replace(".", "")
        if not code.isdigit():
            continue
        general = parse_general(row.get("general"))
        raw_units = row.get("units")
        units: list[object] = raw_units if isinstance(raw_units, list) else []
        lines.append(
            HtsLine(
                code=code,
                htsno=htsno,
                indent=indent,
                description=description,
                path=path,
                units=tuple(u for u in (clean_unit(x) for x in units) if u),
                general=general,
                rate_code=code if general.kind != "none" else None,
                headings=footnote_headings(row.get("footnotes")),
            )
        )
    return lines


def _resolve(lines: Sequence[HtsLine]) -> tuple[HtsLine, ...]:
    """Let each rate-less 10-digit line take the rate and headings of its 8-digit line."""
    eight = {line.code: line for line in lines if len(line.code) == 8}
    resolved = []
    for line in lines:
        parent = eight.get(line.code[:8]) if len(line.code) == 10 else None
        if parent is not None:
            headings = tuple(dict.fromkeys((*parent.headings, *line.headings)))
            if line.general.kind == "none":
                line = replace(line, general=parent.general, rate_code=parent.rate_code)
            line = replace(line, headings=headings)
        resolved.append(line)
    return tuple(resolved)


def _count_tariff_lines(rows: Iterable[Mapping[str, Any]]) -> int:
    codes = [clean_text(r.get("htsno")).replace(".", "") for r in rows]
    eight = {c for c in codes if len(c) == 8 and c[:2] <= "97"}
    lone_ten = {c[:8] for c in codes if len(c) == 10 and c[:2] <= "97" and c[:8] not in eight}
    return len(eight) + len(lone_ten)
