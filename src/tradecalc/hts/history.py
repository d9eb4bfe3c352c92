"""The official US tariff schedule's history, bundled, merged with imported revisions.

``data/hts/lines.tsv`` (built by ``scripts/build_hts_history.py`` from the USITC JSON
exports) holds every code of chapters 01-98 as intervals of equal values, sorted by code;
``data/hts/revisions.csv`` names each revision with its file's sha256, its legal
effective date and that date's source. The file is memory-mapped and searched by binary
search, so a lookup reads a few pages and start-up costs nothing until one is made.

:class:`UsSchedule` is the :class:`~tradecalc.hts.base_rates.BaseRates` provider: at each
moment the revision in force is the one with the latest effective date on or before it,
among the bundled revisions and those the user imported (``tradecalc hts import``); an
imported revision wins a tie. The code hierarchy (the lines under a code, the parent and
siblings of a code that does not exist) is searched here, once, for every caller.
"""

from __future__ import annotations

import bisect
import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradecalc.core.rate import parse_rate
from tradecalc.core.records import record
from tradecalc.hts.base_rates import ImportedRate

if TYPE_CHECKING:
    import mmap

    from tradecalc.hts.store import ImportedSchedule, Revision

LINES = "lines.tsv"
REVISIONS = "revisions.csv"
SERIES_ID = "usitc-hts"
"""The key of the USITC HTS series in the schedule's ``sources:``."""


def bundle_dir() -> Path:
    """The bundled history (installed copy, else the source tree's ``data/hts``)."""
    here = Path(__file__).resolve().parents[1]
    installed = here / "data" / "hts"
    if installed.is_dir():
        return installed
    return here.parent.parent / "data" / "hts"


def hts_number(digits: str) -> str:
    """Digits as the schedule prints them: ``0101210010`` -> ``0101.21.00.10``."""
    return ".".join([digits[:4], *(digits[i : i + 2] for i in range(4, len(digits), 2))])


@record
class BundledRevision:
    """One revision of the bundled series: name, effective date, file and its sha256."""

    name: str
    effective: date
    file: str
    sha256: str
    date_source: str

    @property
    def source_id(self) -> str:
        """The id results cite, e.g. ``usitc-hts-2025-rev-12``."""
        return f"{SERIES_ID}-{self.name}"

    @property
    def title(self) -> str:
        """A one-line description for citations."""
        return (
            f"USITC HTS {self.name} (bundled; effective {self.effective.isoformat()}; "
            f"{self.file} sha256 {self.sha256[:12]})"
        )


def read_revisions(folder: Path | None = None) -> list[BundledRevision]:
    """Every row of ``revisions.csv`` (series or not), earliest effective date first."""
    import csv

    path = (folder or bundle_dir()) / REVISIONS
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    found = [
        BundledRevision(
            r["revision"],
            date.fromisoformat(r["effective"]),
            r["file"],
            r["sha256"],
            r["date_source"],
        )
        for r in rows
        if r["in_series"] == "yes"
    ]
    return sorted(found, key=lambda r: (r.effective, r.name))


def known_revision(name: str | None, sha256: str | None) -> tuple[str, date] | None:
    """Name and effective date of one of the 44 USITC exports, by its sha256 or name."""
    import csv

    with (bundle_dir() / REVISIONS).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for key, value in (("sha256", sha256), ("revision", name)):
        for row in rows:
            if value and row[key] == value:
                return row["revision"], date.fromisoformat(row["effective"])
    return None


@record
class Line:
    """One code of the schedule in force: what ``rates`` shows and the engine uses."""

    digits: str
    htsno: str
    indent: int
    description: str
    units: tuple[str, ...]
    imported: ImportedRate
    """The base rate (kind ``none`` for a heading without one)."""

    @property
    def has_rate(self) -> bool:
        """True when the line carries a rate (its own or inherited), computable or not."""
        return self.imported.kind != "none"

    @property
    def outcome(self) -> str:
        """The rate and headings, as a short text for listings."""
        headings = f" (see {', '.join(self.imported.headings)})" if self.imported.headings else ""
        return f"{self.imported.text or 'no rate'}{headings}"


@dataclass(slots=True)
class _InForce:
    """The rows under a prefix in force at a moment, and what is made of them on demand."""

    rows: list[list[str]]
    codes: list[str]
    """Their codes, each once, in row order (sorted)."""
    lines: dict[str, Line] | None = None
    """:meth:`Bundle.lines`, made when first asked for."""
    nearest: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """:meth:`Bundle.nearest` of the missing codes asked for so far."""


ROWS_KEPT = 50_000
"""Most prefixes whose rows :class:`Bundle` keeps."""
LINES_KEPT = 200_000
"""Most rows :class:`Bundle` keeps made into lines (the bundled history has about 27,000)."""


class Bundle:
    """The bundled ``lines.tsv``: memory-mapped on first use, searched by binary search."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or bundle_dir()
        self._map: mmap.mmap | None = None
        self._lines: dict[tuple[str, ...], Line] = {}
        """Each row made into a :class:`Line` once (rows repeat across lookups)."""
        self._rows: dict[str, list[list[str]]] = {}
        """The rows of the prefixes asked for lately (callers only read them)."""
        self._in_force: dict[tuple[str, tuple[int, ...]], _InForce] = {}
        """The rows in force by prefix and their positions among its rows."""
        self._on_day: dict[tuple[str, str], _InForce] = {}
        """The same by prefix and day (a day's rows in force are found once)."""

    @cached_property
    def revisions(self) -> list[BundledRevision]:
        """The revisions of the series, earliest first."""
        return read_revisions(self.folder)

    def _mapped(self) -> mmap.mmap:
        if self._map is None:
            import mmap

            with (self.folder / LINES).open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def close(self) -> None:
        """Release the mapping."""
        if self._map is not None:
            self._map.close()
            self._map = None

    def rows(self, prefix: str) -> list[list[str]]:
        """Every interval of every code starting with ``prefix`` (the columns as text)."""
        found = self._rows.get(prefix)
        if found is None:
            if len(self._rows) >= ROWS_KEPT:
                self._rows.clear()
            found = self._rows[prefix] = self._read_rows(prefix)
        return found

    def _read_rows(self, prefix: str) -> list[list[str]]:
        data = self._mapped()
        key = prefix.encode("ascii")
        lo, hi = 0, len(data)
        while lo < hi:  # first line >= key; '#' header lines sort before any digit
            mid = (lo + hi) // 2
            start = max(data.rfind(b"\n", lo, mid) + 1, lo)
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            if data[start:end] < key:
                lo = end + 1
            else:
                hi = start
        found = []
        while lo < len(data):
            end = data.find(b"\n", lo)
            end = len(data) if end < 0 else end
            line = data[lo:end]
            if not line.startswith(key):
                break
            found.append(line.decode("utf-8").split("\t"))
            lo = end + 1
        return found

    def lines(self, prefix: str, when: datetime) -> dict[str, Line]:
        """The lines under ``prefix`` (itself included) in force at ``when`` (callers only
        read them: the same rows in force give the same mapping, made once)."""
        found = self._in_force_at(prefix, when)
        if found.lines is None:
            found.lines = self._make_lines(found.rows)
        return found.lines

    def _in_force_at(self, prefix: str, when: datetime) -> _InForce:
        """The rows under ``prefix`` in force at ``when``, found once per prefix and day."""
        day = when.date().isoformat()
        found = self._on_day.get((prefix, day))
        if found is not None:
            return found
        rows = self.rows(prefix)
        key = (
            prefix,
            tuple(i for i, r in enumerate(rows) if r[1] <= day and (not r[2] or day < r[2])),
        )
        found = self._in_force.get(key)
        if found is None:
            if len(self._in_force) >= ROWS_KEPT:
                self._in_force.clear()
            kept = [rows[i] for i in key[1]]
            found = self._in_force[key] = _InForce(kept, list(dict.fromkeys(r[0] for r in kept)))
        if len(self._on_day) >= ROWS_KEPT:
            self._on_day.clear()
        self._on_day[(prefix, day)] = found
        return found

    def holds(self, digits: str, when: datetime) -> bool:
        """True when a code in force at ``when`` starts with ``digits`` (found among the
        codes of its heading: no row of the code itself is read)."""
        codes = self._in_force_at(digits[:4], when).codes
        at = bisect.bisect_left(codes, digits)
        return at < len(codes) and codes[at].startswith(digits)

    def nearest(self, digits: str, when: datetime) -> tuple[str, ...]:
        """:func:`_nearest` of a code missing at ``when`` among the codes of its heading in
        force, else of its chapter (found once per code and set of rows in force; no line
        is made for it)."""
        family = self._in_force_at(digits[:4], when)
        if not family.codes:
            family = self._in_force_at(digits[:2], when)
        found = family.nearest.get(digits)
        if found is None:
            if len(family.nearest) >= ROWS_KEPT:
                family.nearest.clear()
            found = family.nearest[digits] = _nearest(digits, family.codes)
        return found

    def _make_lines(self, rows: list[list[str]]) -> dict[str, Line]:
        found = {}
        for row in rows:
            key = tuple(row)
            line = self._lines.get(key)
            if line is None:
                if len(self._lines) >= LINES_KEPT:
                    self._lines.clear()
                line = self._lines[key] = self._line(row)
            found[row[0]] = line
        return found

    @staticmethod
    def _line(row: list[str]) -> Line:
        code, _start, _end, revision, indent, kind, general, rate, rate_from = row[:9]
        units, headings, description = row[9:12]
        return Line(
            code,
            hts_number(code),
            int(indent),
            description,
            tuple(u for u in units.split("|") if u),
            ImportedRate(
                code=hts_number(rate_from or code),
                text=general,
                rate=parse_rate(rate) if rate else None,
                headings=tuple(h for h in headings.split(",") if h),
                source=f"{SERIES_ID}-{revision}",
                kind=kind,
            ),
        )


def imported_lines(schedule: ImportedSchedule, rev: Revision, prefix: str) -> dict[str, Line]:
    """The lines under ``prefix`` in one imported revision (a damaged file: DataError)."""
    from tradecalc.hts.store import reading

    with reading(rev.path):
        return _imported_lines(schedule, rev, prefix)


def _imported_lines(schedule: ImportedSchedule, rev: Revision, prefix: str) -> dict[str, Line]:
    rows = schedule.lines_under(rev, prefix)
    found = {}
    for code, indent, htsno, description, units, general, kind, rate, rate_from, heads in rows:
        found[code] = Line(
            code,
            htsno,
            int(indent),
            description,
            tuple(u for u in units.split("|") if u),
            ImportedRate(
                code=rate_from or htsno,
                text=general,
                rate=parse_rate(rate) if rate is not None else None,
                headings=tuple(h for h in heads.split(",") if h),
                source=rev.source_id,
                kind=kind,
            ),
        )
    return found


@record
class Resolved:
    """What the schedule in force says about a code as typed."""

    line: Line | None
    """The line giving the code its rate: itself, or the one shared by all lines under it."""
    under: tuple[Line, ...] = ()
    """The tariff lines under the code, when they differ (the code does not resolve)."""
    nearest: tuple[str, ...] = ()
    """For a code that does not exist: its parent and the siblings nearest to it."""
    revision: str | None = None
    """The revision in force (None before the first one)."""

    @property
    def exists(self) -> bool:
        """True when the code is in the schedule in force (or no revision is in force)."""
        return self.line is not None or bool(self.under) or self.revision is None


class UsSchedule:
    """The US base rates: the bundled history plus imported revisions (a BaseRates)."""

    importer = "US"

    def __init__(self, bundle: Bundle | None, imported: ImportedSchedule | None) -> None:
        self.bundle = bundle
        self.imported = imported
        self._last: tuple[str, datetime, object, Resolved] | None = None
        """The last :meth:`resolve` (the engine asks twice in a row for a missing code)."""
        self._events: tuple[tuple[object, ...], list[tuple[date, int, Any]]] | None = None
        self._in_force: dict[datetime, BundledRevision | Revision | None] = {}

    def __getstate__(self) -> tuple[Path | None, ImportedSchedule | None]:
        return (self.bundle.folder if self.bundle else None, self.imported)

    def __setstate__(self, state: tuple[Path | None, ImportedSchedule | None]) -> None:
        folder, imported = state
        self.__init__(Bundle(folder) if folder else None, imported)  # type: ignore[misc]

    def close(self) -> None:
        """Release open files."""
        if self.bundle is not None:
            self.bundle.close()
        if self.imported is not None:
            self.imported.close()

    # ------------------------------------------------------------------ revisions

    def _timeline(self) -> list[tuple[date, int, Any]]:
        """(effective, 0 bundled / 1 imported, revision), in order of precedence (sorted
        again only when the revisions change)."""
        bundled = self.bundle.revisions if self.bundle is not None else []
        imported = self.imported.revisions if self.imported is not None else []
        key = (tuple(bundled), tuple(imported))  # by value: equal revisions, same events
        if self._events is None or self._events[0] != key:
            self._events = (key, self._sorted_events())
            self._in_force = {}
        return self._events[1]

    def _sorted_events(self) -> list[tuple[date, int, Any]]:
        events: list[tuple[date, int, Any]] = []
        if self.bundle is not None:
            events += [(r.effective, 0, r) for r in self.bundle.revisions]
        if self.imported is not None:
            events += [(r.effective, 1, r) for r in self.imported.revisions]
        return sorted(events, key=lambda e: (e[0], e[1], e[2].name))

    def in_force(self, when: datetime) -> BundledRevision | Revision | None:
        """The revision in force at ``when`` (an imported one wins a tie)."""
        timeline = self._timeline()
        if when in self._in_force:
            return self._in_force[when]
        current = None
        for effective, _, rev in timeline:
            if datetime(effective.year, effective.month, effective.day) <= when:
                current = rev
        if len(self._in_force) >= 4096:
            self._in_force.clear()
        self._in_force[when] = current
        return current

    def sources(self) -> dict[str, str]:
        """Source id -> title, for every revision, bundled and imported."""
        found = {r.source_id: r.title for _, _, r in self._timeline()}
        return dict(sorted(found.items()))

    def starts(self) -> tuple[datetime, ...]:
        days = sorted({e for e, _, _ in self._timeline()})
        return tuple(datetime(d.year, d.month, d.day) for d in days)

    def describe(self, when: datetime) -> str | None:
        rev = self.in_force(when)
        return rev.title if rev is not None else None

    # ------------------------------------------------------------------ lines

    def lines(self, prefix: str, when: datetime) -> dict[str, Line]:
        """The lines under ``prefix`` (itself included) in the revision in force."""
        rev = self.in_force(when)
        if rev is None:
            return {}
        if isinstance(rev, BundledRevision):
            return self.bundle.lines(prefix, when) if self.bundle is not None else {}
        return imported_lines(self.imported, rev, prefix) if self.imported is not None else {}

    def resolve(self, digits: str, when: datetime) -> Resolved:
        """The line for a code as typed (10, 8, 6 or 4 digits), or why there is none."""
        rev = self.in_force(when)
        if rev is None:
            return Resolved(None)
        last = self._last
        if last is not None and last[0] == digits and last[1] == when and last[2] is rev:
            return last[3]
        found = self._resolve(digits, when, rev)
        self._last = (digits, when, rev, found)
        return found

    def _resolve(self, digits: str, when: datetime, rev: BundledRevision | Revision) -> Resolved:
        bundle = self.bundle if isinstance(rev, BundledRevision) else None
        if bundle is not None and not bundle.holds(digits, when):
            return Resolved(None, nearest=bundle.nearest(digits, when), revision=rev.title)
        below = self.lines(digits, when)
        if not below:
            family = self.lines(digits[:4], when) or self.lines(digits[:2], when)
            return Resolved(None, nearest=_nearest(digits, sorted(family)), revision=rev.title)
        own = below.get(digits)
        codes = sorted(below)  # a code's descendants follow it directly
        leaves = [
            below[code]
            for code, following in zip(codes, [*codes[1:], ""], strict=True)
            if not following.startswith(code)
        ]
        if own is not None and own in leaves:  # a tariff line (without a rate: needs review)
            return Resolved(own, revision=rev.title)
        rated = [line for line in leaves if line.has_rate]
        outcomes = {(line.imported.text, line.imported.headings) for line in rated}
        if len(outcomes) == 1 and len(rated) == len(leaves):
            return Resolved(rated[0], revision=rev.title)
        return Resolved(None, under=tuple(leaves), revision=rev.title)

    def lookup(self, digits: str, when: datetime) -> ImportedRate | None:
        line = self.resolve(digits, when).line
        return line.imported if line is not None else None

    def nearest(self, digits: str, when: datetime, limit: int = 3) -> tuple[str, ...]:
        resolved = self.resolve(digits, when)
        if resolved.nearest:
            return resolved.nearest[: limit + 1]
        return tuple(line.htsno for line in resolved.under[:limit])


def _nearest(digits: str, family: list[str]) -> tuple[str, ...]:
    """The parent of a missing code (its longest existing prefix among the sorted codes
    ``family``) and its nearest siblings."""

    def under(prefix: str) -> list[str]:
        """The codes starting with ``prefix`` (":" follows "9")."""
        low = bisect.bisect_left(family, prefix)
        return family[low : bisect.bisect_left(family, prefix + ":", low)]

    parent = next(
        (
            digits[:n]
            for n in (8, 6, 4)
            if n < len(digits) and under(digits[:n])[:1] == [digits[:n]]
        ),
        "",
    )
    level = len(digits) if parent else 4  # no heading: the headings of the chapter
    below = [c for c in under(parent) if c != parent]
    siblings = [c for c in below if len(c) == level]
    if not siblings and parent:  # no line of that length: the parent's children
        depth = min((len(c) for c in below), default=0)
        siblings = [c for c in below if len(c) == depth]
    siblings.sort(key=lambda c: (abs(int(c) - int(digits[: len(c)].ljust(len(c), "0"))), c))
    codes = ([parent] if parent else []) + sorted(siblings[:3])
    return tuple(hts_number(c) for c in codes)


def open_schedule(enabled: bool = True, bundled: bool = True) -> UsSchedule | None:
    """The US base rates for ``duty``, ``batch`` and ``rates`` (None when disabled)."""
    if not enabled:
        return None
    from tradecalc.hts.store import ImportedSchedule

    bundle = None
    if bundled:
        folder = bundle_dir()
        with contextlib.suppress(OSError):
            if (folder / LINES).is_file():
                bundle = Bundle(folder)
    imported = ImportedSchedule.open()
    if bundle is None and imported is None:
        return None
    return UsSchedule(bundle, imported)
