"""Imported USITC HTS revisions, compiled to one SQLite file each, with fast point lookups.

Where: ``$TRADECALC_HOME/hts/`` if ``TRADECALC_HOME`` is set, else
``platformdirs.user_data_dir("tradecalc")/hts/``. Each revision is one file named
``<effective date>_<revision>.sqlite`` (e.g. ``2025-05-14_2025-rev-12.sqlite``), so the
revision in force on a date is found from a directory listing without opening SQLite.
A file is built under a temporary name, fsynced and renamed into place: never
half-written. Writers of one revision take turns (``flock`` on ``.<revision>.lock``).

Inside: ``meta`` (revision, effective date, origin, sha256 of the source file, row and
line counts) and ``lines`` (one row per HTS code, digits as key, with the rate already
resolved: a 10-digit line carries the rate of its 8-digit line).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tradecalc.core.errors import DataError, UsageError
from tradecalc.core.files import holding_lock, make_folder, replacing, write_error
from tradecalc.core.rate import parse_rate
from tradecalc.core.records import record
from tradecalc.hts.base_rates import ImportedRate

if TYPE_CHECKING:
    import sqlite3

    from tradecalc.hts.parse import ParsedExport

# A ``duty`` call only lists the directory; sqlite3, gzip and the parser load on demand.

ENV_HOME = "TRADECALC_HOME"
FORMAT = "1"
MAX_BYTES = 64 * 1024 * 1024
"""Refuse sources (or their decompressed content) larger than this (a 2026 export: 13 MB)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,79}")
_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})_([a-z0-9][a-z0-9.-]*)\.sqlite")
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE lines (
    code TEXT PRIMARY KEY, htsno TEXT NOT NULL, indent INTEGER NOT NULL,
    description TEXT NOT NULL, units TEXT NOT NULL,
    general TEXT NOT NULL, kind TEXT NOT NULL, rate TEXT, rate_from TEXT,
    headings TEXT NOT NULL
) WITHOUT ROWID;
"""
_COLUMNS = "htsno, description, units, general, kind, rate, rate_from, headings"


def data_dir() -> Path:
    """The user's tradecalc data directory (``$TRADECALC_HOME`` overrides)."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("tradecalc", appauthor=False))


def hts_dir() -> Path:
    """Where imported HTS revisions are kept."""
    return data_dir() / "hts"


# ----------------------------------------------------------------------------- revisions


@record
class Revision:
    """One imported revision: its name, the date it takes effect, and its file."""

    name: str
    effective: date
    path: Path

    @property
    def source_id(self) -> str:
        """The id results cite, e.g. ``usitc-hts-2025-rev-11``."""
        return f"usitc-hts-{self.name}"

    @property
    def title(self) -> str:
        """A one-line description for citations."""
        return f"USITC HTS {self.name} (imported; effective {self.effective.isoformat()})"

    def meta(self) -> dict[str, str]:
        """The revision's metadata (name, effective, origin, sha256, counts, format)."""
        with contextlib.closing(_connect(self.path)) as conn, reading(self.path):
            return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def revisions(directory: Path | None = None) -> list[Revision]:
    """Imported revisions, oldest effective date first (a directory listing only).

    ``TRADECALC_HOME`` naming a file is a usage error, not an empty list."""
    if directory is None:
        _check_home()
    folder = directory or hts_dir()
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for entry in names:
        if m := _FILE.fullmatch(entry):
            with contextlib.suppress(ValueError):
                found.append(Revision(m.group(2), date.fromisoformat(m.group(1)), folder / entry))
    return sorted(found, key=lambda r: (r.effective, r.name))


def in_force(revs: list[Revision], when: datetime) -> Revision | None:
    """The latest revision whose effective date is on or before ``when``."""
    current = None
    for rev in revs:
        if datetime(rev.effective.year, rev.effective.month, rev.effective.day) <= when:
            current = rev
    return current


def check_name(name: str) -> str:
    """A revision name as stored: lower case letters, digits, dots and dashes."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"revision name {name!r} is not valid: use lower-case letters, digits, '.' and '-' "
            "(e.g. 2025-rev-11)"
        )
    return name


def name_from_source(source: str) -> str | None:
    """A revision name from a file name: ``hts_2025_rev_11.json.gz`` -> ``2025-rev-11``."""
    base = re.split(r"[/\\]", source.split("?")[0])[-1].lower()
    for suffix in (".gz", ".json"):
        base = base.removesuffix(suffix)
    base = re.sub(r"^hts[_-]?", "", base).replace("_", "-")
    m = re.fullmatch(r"(\d{4})-(basic|rev-?\d+)", base)
    if not m:
        return None
    rev = m.group(2)
    return f"{m.group(1)}-{rev if rev == 'basic' else 'rev-' + rev.removeprefix('rev').strip('-')}"


def remove_revision(name: str, directory: Path | None = None) -> Revision:
    """Delete an imported revision; raise UsageError naming the known ones if absent."""
    folder = directory or hts_dir()
    revs = revisions(folder)
    matches = [r for r in revs if r.name == name]
    if not matches:
        known = ", ".join(r.name for r in revs) or "none imported"
        raise UsageError(f"no imported HTS revision {name!r} (known: {known})")
    with _revision_lock(folder, name):
        for rev in revisions(folder):
            if rev.name == name:
                rev.path.unlink(missing_ok=True)
    return matches[0]


def _revision_lock(folder: Path, name: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of revision ``name``: other writers of it wait their turn."""
    return holding_lock(folder / f".{name}.lock")


# ----------------------------------------------------------------------------- import


@record
class Fetched:
    """A source read into memory: its JSON bytes and the sha256 of the bytes as given."""

    data: bytes
    sha256: str
    origin: str


def is_url(source: str) -> bool:
    """True for ``scheme://...`` (only https is then accepted), False for a path."""
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", source, re.IGNORECASE))


def fetch(source: str) -> Fetched:
    """Read a path or an https URL, plain or gzip; raise UsageError/DataError on failure."""
    raw = _download(source) if is_url(source) else _read_local(source)
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, source)
    return Fetched(raw, digest, source)


def _read_local(source: str) -> bytes:
    """A file's bytes within MAX_BYTES: a regular file, a pipe (``<(...)``) or a FIFO."""
    path = Path(source).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"no such file: {source}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{source}: symbolic links form a loop") from None
        raise DataError(f"cannot read {source}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise UsageError(f"{source} is a folder, not an HTS export file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_BYTES:
            raise DataError(f"{source}: larger than {MAX_BYTES // 2**20} MiB; not an HTS export")
        try:
            raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise DataError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise DataError(f"{source}: larger than {MAX_BYTES // 2**20} MiB; not an HTS export")
    return raw


def _check_url(url: str) -> None:
    """Refuse what is not one well-formed https URL, before any network access."""
    from urllib.parse import urlsplit

    if not url.lower().startswith("https://"):
        raise UsageError(f"only https URLs can be imported: {url}")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise UsageError(f"not a valid URL: {url!r} ({exc})") from None
    if not host or parts.netloc.count("@") > 1 or any(c.isspace() or c < " " for c in url):
        raise UsageError(f"not a valid URL: {url!r} (a host, no spaces, at most one '@')")


def _download(url: str) -> bytes:
    import urllib.error
    import urllib.request

    _check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "tradecalc"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"cannot download {url}: {reason}") from None
    if len(data) > MAX_BYTES:
        raise DataError(f"{url}: larger than {MAX_BYTES // 2**20} MiB; not an HTS export")
    return data


def _gunzip(raw: bytes, source: str) -> bytes:
    """Decompress, stopping at MAX_BYTES + 1 bytes (a small bomb is never fully inflated)."""
    import gzip
    import io
    import zlib

    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
            data = handle.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: broken gzip data ({exc})") from None
    if len(data) > MAX_BYTES:
        raise DataError(f"{source}: decompresses to more than {MAX_BYTES // 2**20} MiB")
    return data


def import_revision(
    source: str,
    name: str | None = None,
    effective: date | None = None,
    directory: Path | None = None,
) -> tuple[Revision, ParsedExport]:
    """Fetch, parse and store one revision; defaults for name and date as documented."""
    from tradecalc.hts.history import known_revision
    from tradecalc.hts.parse import parse_export

    fetched = fetch(source)
    known = known_revision(name or name_from_source(source), fetched.sha256)
    name = check_name(name or (known[0] if known else _required_name(source)))
    effective = effective or (known[1] if known else None)
    if effective is None:
        raise UsageError(
            f"the effective date of revision {name!r} is not known: "
            "give it with --effective YYYY-MM-DD"
        )
    parsed = parse_export(fetched.data, source)
    return write_revision(parsed, name, effective, fetched, directory), parsed


def _required_name(source: str) -> str:
    name = name_from_source(source)
    if name is None:
        raise UsageError(
            f"cannot tell the revision from {source!r}: give it with --revision NAME "
            "(e.g. --revision 2025-rev-11)"
        )
    return name


def write_revision(
    parsed: ParsedExport,
    name: str,
    effective: date,
    fetched: Fetched,
    directory: Path | None = None,
) -> Revision:
    """Write the compiled revision atomically, replacing any earlier import of ``name``."""
    if directory is None:
        _check_home()
    folder = directory or hts_dir()
    make_folder(folder)
    target = folder / f"{effective.isoformat()}_{name}.sqlite"
    with _revision_lock(folder, name):
        _write_table(target, parsed, name, effective, fetched)
        for old in revisions(folder):
            if old.name == name and old.path != target:
                old.path.unlink(missing_ok=True)
    return Revision(name, effective, target)


def _check_home() -> None:
    home = os.environ.get(ENV_HOME)
    if home and os.path.exists(home) and not os.path.isdir(home):
        raise UsageError(f"{ENV_HOME}={home} is a file, not a folder")


def _write_table(
    target: Path, parsed: ParsedExport, name: str, effective: date, fetched: Fetched
) -> None:
    """Build the SQLite file beside ``target``; ``replacing`` fsyncs it before the rename."""
    import sqlite3

    with replacing(target) as tmp, contextlib.closing(sqlite3.connect(tmp)) as conn:
        try:
            _fill(conn, parsed, name, effective, fetched)
        except sqlite3.Error as exc:
            code = (
                errno.ENOSPC
                if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)
                else errno.EIO
            )
            raise write_error(target, OSError(code, str(exc))) from None


def _fill(
    conn: sqlite3.Connection, parsed: ParsedExport, name: str, effective: date, fetched: Fetched
) -> None:
    conn.execute("PRAGMA journal_mode=OFF")  # a temporary file: no journal, synced at the end
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(_SCHEMA)
    conn.executemany("INSERT OR IGNORE INTO lines VALUES (?,?,?,?,?,?,?,?,?,?)", _rows(parsed))
    meta = {
        "format": FORMAT,
        "revision": name,
        "effective": effective.isoformat(),
        "origin": fetched.origin,
        "sha256": fetched.sha256,
        "rows": str(parsed.rows),
        "tariff_lines": str(parsed.tariff_lines),
        "coded_rows": str(len(parsed.lines)),
        "imported": datetime.now().replace(microsecond=0).isoformat(),
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    conn.commit()


def _rows(parsed: ParsedExport) -> Iterator[tuple[object, ...]]:
    htsno = {line.code: line.htsno for line in parsed.lines}
    for line in parsed.lines:
        general = line.general
        yield (
            line.code,
            line.htsno,
            line.indent,
            line.description,
            "|".join(line.units),
            general.text,
            general.kind,
            str(general.rate) if general.rate is not None else None,
            htsno.get(line.rate_code or "", line.htsno) if line.rate_code else None,
            ",".join(line.headings),
        )


# ----------------------------------------------------------------------------- lookups


def _connect(path: Path) -> sqlite3.Connection:
    import sqlite3

    with reading(path):
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            (version,) = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except BaseException:  # a damaged file: closed here, not left to the collector
            conn.close()
            raise
    if version != FORMAT:
        conn.close()
        raise DataError(f"imported HTS file {path} has an old format; import it again")
    return conn


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any sign of a damaged file (SQLite errors, missing or mistyped values, rate text
    that does not parse) into one DataError that says to import it again."""
    import sqlite3

    try:
        yield
    except (sqlite3.Error, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise DataError(
            f"imported HTS file {path} is unreadable ({exc}); import it again"
        ) from None


@record
class HtsEntry:
    """A looked-up line: the rate the engine uses plus what ``rates`` shows."""

    imported: ImportedRate
    htsno: str
    description: str
    units: tuple[str, ...]


class ImportedSchedule:
    """The imported revisions as a :class:`~tradecalc.hts.base_rates.BaseRates` provider.

    Nothing is opened until a lookup needs it; each revision's file is opened once.
    """

    importer = "US"

    def __init__(self, revs: list[Revision]) -> None:
        self.revisions = revs
        self._conns: dict[Path, sqlite3.Connection] = {}
        self._pid = os.getpid()

    @classmethod
    def open(cls, directory: Path | None = None) -> ImportedSchedule | None:
        """The imported revisions, or None when there are none."""
        revs = revisions(directory)
        return cls(revs) if revs else None

    def __getstate__(self) -> list[Revision]:
        return self.revisions  # open files stay with their process

    def __setstate__(self, revs: list[Revision]) -> None:
        self.__init__(revs)  # type: ignore[misc]

    def close(self) -> None:
        """Close the open files."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def sources(self) -> dict[str, str]:
        """Source id -> title, for every imported revision."""
        return {r.source_id: r.title for r in self.revisions}

    def starts(self) -> tuple[datetime, ...]:
        return tuple(
            datetime(r.effective.year, r.effective.month, r.effective.day) for r in self.revisions
        )

    def describe(self, when: datetime) -> str | None:
        rev = in_force(self.revisions, when)
        return rev.title if rev else None

    def lookup(self, digits: str, when: datetime) -> ImportedRate | None:
        entry = self.entry(digits, when)
        return entry.imported if entry else None

    def entry(self, digits: str, when: datetime) -> HtsEntry | None:
        """The line giving ``digits`` its rate: itself, its nearest ancestor with a rate,
        or the one rate shared by every line under it."""
        rev = in_force(self.revisions, when)
        if rev is None:
            return None
        with reading(rev.path):
            return self._entry(self._conn(rev), digits, rev)

    def _entry(self, conn: sqlite3.Connection, digits: str, rev: Revision) -> HtsEntry | None:
        prefixes = [digits[:n] for n in (10, 8, 6, 4) if n < len(digits)]
        keys = [digits, *prefixes]
        marks = ",".join("?" * len(keys))
        rows = conn.execute(
            f"SELECT code, {_COLUMNS} FROM lines WHERE code IN ({marks}) AND kind != 'none'",
            keys,
        ).fetchall()
        if rows:
            best = max(rows, key=lambda r: len(r[0]))
            return _entry(best[1:], rev)
        under = digits[:8]
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE code > ? AND code < ? AND kind != 'none'",
            (under, under + ":"),
        ).fetchall()
        if rows and len({(r[3], r[7]) for r in rows}) == 1:
            return _entry(rows[0], rev)
        return None

    def nearest(self, digits: str, when: datetime, limit: int = 3) -> tuple[str, ...]:
        rev = in_force(self.revisions, when)
        if rev is None:
            return ()
        conn = self._conn(rev)
        with reading(rev.path):
            for n in range(len(digits), 1, -1):
                rows = conn.execute(
                    "SELECT htsno FROM lines WHERE code >= ? AND code < ? AND kind != 'none' "
                    "ORDER BY code LIMIT ?",
                    (digits[:n], digits[:n] + ":", limit),
                ).fetchall()
                if rows:
                    return tuple(_text(r[0]) for r in rows)
        return ()

    def lines_under(self, rev: Revision, prefix: str) -> list[tuple[str, ...]]:
        """Every stored line of ``rev`` whose code starts with ``prefix``, by code."""
        query = f"SELECT code, indent, {_COLUMNS} FROM lines WHERE code >= ? AND code < ?"
        return self._conn(rev).execute(query + " ORDER BY code", (prefix, prefix + ":")).fetchall()

    def _conn(self, rev: Revision) -> sqlite3.Connection:
        if self._pid != os.getpid():  # a forked worker never uses its parent's connections
            self._conns, self._pid = {}, os.getpid()
        conn = self._conns.get(rev.path)
        if conn is None:
            conn = self._conns[rev.path] = _connect(rev.path)
        return conn


def _text(value: object) -> str:
    """A column that must hold text (TypeError, reported as a damaged file, otherwise)."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _entry(row: tuple[object, ...], rev: Revision) -> HtsEntry:
    htsno, description, units, general, kind = (_text(v) for v in row[:5])
    rate, rate_from = (None if v is None else _text(v) for v in row[5:7])
    headings = _text(row[7])
    imported = ImportedRate(
        code=rate_from or htsno,
        text=general,
        rate=parse_rate(rate) if rate is not None else None,
        headings=tuple(h for h in headings.split(",") if h),
        source=rev.source_id,
        kind=kind,
    )
    return HtsEntry(imported, htsno, description, tuple(u for u in units.split("|") if u))
