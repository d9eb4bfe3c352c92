"""Read YAML safely and turn it into models, keeping line numbers for every error.

This is the only module that touches YAML. Documents are built by hand from the events
of libyaml's safe parser, without a node tree: every scalar stays text (no implicit typing, so
``8471.30`` is never the float 8471.3), aliases and duplicate keys are refused, and
size, depth and node count are bounded while the file is read.

A schedule may be split over several files: the entry file names its parts with
``include:`` (paths relative to its folder). :func:`include_parts` merges them into one
document that still knows, for every node, the file and line it came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import yaml

from tradecalc.core.errors import DataError, Diagnostic, SourceLocation, TradecalcError
from tradecalc.core.files import MAX_FILE_BYTES, inside_folder, read_text

if TYPE_CHECKING:
    from pydantic import ValidationError

    from tradecalc.schedule.models import Model

MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_PARTS = 64
"""At most this many part files in one schedule's ``include:`` list."""

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound="Model")

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULLS = {"", "~", "null", "Null", "NULL"}
_NUMERIC_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_NUMERIC_STARTS = frozenset(
    start
    for start, resolvers in _Loader.yaml_implicit_resolvers.items()
    if any(tag in _NUMERIC_TAGS for tag, _ in resolvers)
)
_NUMERIC_PATTERNS = tuple(
    {
        pattern: None
        for resolvers in _Loader.yaml_implicit_resolvers.values()
        for tag, pattern in resolvers
        if tag in _NUMERIC_TAGS
    }
)
_ALIASES = "YAML aliases (*name) are not allowed in tradecalc files"


@dataclass
class Document:
    """Plain data read from a YAML file, with the position of every node."""

    name: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    numeric_plain: set[Path_] = field(default_factory=set)
    """Paths of unquoted scalars that YAML 1.1 would have read as numbers."""
    owners: dict[Path_, str] = field(default_factory=dict)
    """The part file of a top-level key or of one item under it, when not ``name``."""
    nodes: int = 0
    """How many YAML nodes were read (all parts included)."""

    def locate(self, path: Path_) -> SourceLocation:
        """The closest known position of ``path`` (walking up to its parents)."""
        while path not in self.positions and path:
            path = path[:-1]
        line, column = self.positions.get(path, (0, 0))
        owner = self.owners.get(path[:2]) or self.owners.get(path[:1]) or self.name
        return SourceLocation(owner, line, column)


def parse_yaml(text: str, name: str, max_nodes: int | None = None) -> Document:
    """Compose one YAML document and convert it to plain data with positions.

    ``max_nodes`` (default :data:`MAX_NODES`) bounds the nodes read.
    """
    if len(text) > MAX_FILE_BYTES:
        raise DataError(f"{name}: document above the {MAX_FILE_BYTES:,}-byte limit")
    doc = Document(name, None)
    doc.nodes = MAX_NODES if max_nodes is None else max_nodes  # the budget, then the count
    try:
        doc.data = _compose(text, doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = SourceLocation(name, mark.line + 1, mark.column + 1) if mark else name
        raise DataError(f"{where}: invalid YAML: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        where = SourceLocation(name, line, column)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise DataError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{name}: invalid YAML: {' '.join(str(exc).split())}") from None
    return doc


def read_document(path: Path) -> Document:
    """Read and parse a YAML file."""
    return parse_yaml(read_text(path), str(path))


def include_parts(entry: Document, folder: Path) -> tuple[Document, dict[str, str]]:
    """Merge the part files named by ``entry``'s ``include:`` into one document.

    Lists (``measures``, ``regimes``, ...) are joined in ``include`` order after the entry's
    own; mappings (``sources``, ``product_lists``, ...) are joined and a key defined twice
    is an error; any other top-level key may be given once. Parts are read from
    ``folder`` (no ``..``, no link out of it), at most :data:`MAX_PARTS` of them, each once,
    and cannot include others; bytes and nodes are bounded for all files together.
    Returns the merged document and the sha256 of every part, keyed by its ``include`` name.
    """
    data = entry.data
    if not isinstance(data, dict) or "include" not in data:
        return entry, {}
    names = data["include"]
    problems: list[Diagnostic] = []

    def bad(path: Path_, message: str, doc: Document = entry) -> None:
        problems.append(Diagnostic(doc.locate(path), message))

    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        bad(("include",), "include: expected a list of file names")
        _raise(entry.name, problems)
    if len(names) > MAX_PARTS:
        bad(("include",), f"include: more than {MAX_PARTS} part files")
        _raise(entry.name, problems)
    merged = Document(entry.name, dict(data), dict(entry.positions), set(entry.numeric_plain))
    merged.nodes = entry.nodes
    size = 0
    digests: dict[str, str] = {}
    seen: dict[Path, int] = {}
    with contextlib.suppress(OSError):
        seen[Path(entry.name).resolve()] = -1
    for k, name in enumerate(names):
        try:
            path = inside_folder(folder, name)
            real = path.resolve()
            if real in seen:
                first = "the schedule itself" if seen[real] < 0 else f"include entry {seen[real]}"
                bad(("include", k), f"include: {name!r} is already read ({first})")
                continue
            seen[real] = k
            text = read_text(path)
            size += len(text)
            if size > MAX_FILE_BYTES:
                limit = f"{MAX_FILE_BYTES:,}"
                bad(("include", k), f"include: the parts are above {limit} bytes together")
                break
            part = parse_yaml(text, str(path), MAX_NODES - merged.nodes)
        except DataError as exc:  # too big, not UTF-8, invalid YAML: at the part's position
            problems.extend(exc.diagnostics or (diagnostic_from_message(str(path), str(exc)),))
            continue
        except (TradecalcError, ValueError, OSError) as exc:  # missing, unreadable, outside
            bad(("include", k), f"include: {exc}")
            continue
        digests[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        merged.nodes += part.nodes
        _merge(merged, part, bad)
    _raise(entry.name, problems)
    return merged, digests


def _merge(merged: Document, part: Document, bad: Callable[..., None]) -> None:
    """Add ``part``'s top-level keys to ``merged`` (see :func:`include_parts`)."""
    if not isinstance(part.data, dict):
        bad((), "expected a mapping at the top of a part file", part)
        return
    shift: dict[str, int] = {}  # list keys: where this part's items start in ``merged``
    taken: set[Path_] = set()  # the keys and mapping entries this part brings
    for key, value in part.data.items():
        here = merged.data.get(key)
        if key == "include":
            bad((key,), "a part file cannot include others (include: is for the entry file)", part)
        elif isinstance(here, list) and isinstance(value, list):
            shift[key] = len(here)
            merged.data[key] = here + value
            merged.owners.update({(key, len(here) + i): part.name for i in range(len(value))})
        elif isinstance(here, dict) and isinstance(value, dict):
            joined = dict(here)
            for sub, item in value.items():
                if sub in here:
                    where = merged.locate((key, sub))
                    bad((key, sub), f"{key}: {sub!r} is already defined at {where}", part)
                else:
                    joined[sub] = item
                    merged.owners[(key, sub)] = part.name
                    taken.add((key, sub))
            merged.data[key] = joined
        elif key in merged.data:
            bad((key,), f"{key!r} is already given at {merged.locate((key,))}", part)
        else:
            merged.data[key] = value
            merged.owners[(key,)] = part.name
            merged.positions[(key,)] = part.positions[(key,)]
            taken.add((key,))

    def moved(path: Path_) -> Path_ | None:
        offset = shift.get(str(path[0])) if len(path) > 1 else None
        if offset is not None:
            return (path[0], int(path[1]) + offset, *path[2:])
        return path if path[:1] in taken or path[:2] in taken else None

    for path, position in part.positions.items():
        target = moved(path) if len(path) > 1 else None
        if target is not None:
            merged.positions[target] = position
    merged.numeric_plain.update(
        target for target in map(moved, part.numeric_plain) if target is not None
    )


_LOCATED = re.compile(r"(?P<line>\d+):(?P<column>\d+): (?P<message>.*)", re.DOTALL)


def diagnostic_from_message(name: str, message: str) -> Diagnostic:
    """A diagnostic from an error message ``name[:line:col]: text``."""
    text = message.removeprefix(f"{name}:").lstrip()
    match = _LOCATED.fullmatch(text)
    if match:
        line, column = int(match["line"]), int(match["column"])
        return Diagnostic(SourceLocation(name, line, column), match["message"])
    return Diagnostic(SourceLocation(name), text)


def _raise(name: str, problems: list[Diagnostic]) -> None:
    if problems:
        count = len(problems)
        plural = "s" if count != 1 else ""
        raise DataError(f"{name}: {count} problem{plural} found", tuple(problems))


@dataclass
class _Open:
    """A mapping or sequence being filled, and (for a mapping) the key awaiting its value."""

    value: dict[str, Any] | list[Any]
    path: Path_
    key: str | None = None


def _compose(text: str, doc: Document) -> Any:
    """Build plain data straight from libyaml's events, refusing as soon as a bound is hit.

    No node tree is built, so a hostile file costs at most ``MAX_NODES`` nodes of memory
    and time before it is refused; aliases, merge keys, duplicate keys and non-text keys
    are refused where they occur.
    """
    events = _Loader(text)
    try:
        events.get_event()  # stream start
        if events.check_event(yaml.StreamEndEvent):
            doc.nodes = 0
            return None
        start = events.get_event().start_mark  # document start
        data = _compose_document(events, doc)
        events.get_event()  # document end
        if not events.check_event(yaml.StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                start,
                "but found another document",
                events.get_event().start_mark,
            )
        return data
    finally:
        events.dispose()


def _compose_document(events: Any, doc: Document) -> Any:
    open_: list[_Open] = []
    anchors: dict[str, Any] = {}
    nodes, budget = 0, doc.nodes
    root: Any = None
    while True:
        event = events.get_event()
        kind = type(event)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            open_.pop()
            if not open_:
                doc.nodes = nodes
                return root
            continue
        mark = event.start_mark
        if kind is yaml.AliasEvent:  # reported where the anchored node starts
            _fail(doc, anchors.get(event.anchor, mark), _ALIASES)
        if event.anchor is not None:
            anchors[event.anchor] = mark
        parent = open_[-1] if open_ else None
        slot: str | int = 0
        if parent is not None:
            if isinstance(parent.value, list):
                slot = len(parent.value)
            elif parent.key is None:
                parent.key = _key(event, parent, doc)
                continue
            else:
                slot = parent.key
        nodes += 1
        if nodes > budget:
            together = " in the schedule's files together" if budget < MAX_NODES else ""
            _fail(doc, mark, f"more than {MAX_NODES:,} YAML nodes{together}")
        path: Path_ = () if parent is None else (*parent.path, slot)
        if len(path) > MAX_DEPTH:
            _fail(doc, mark, f"nested deeper than {MAX_DEPTH} levels")
        doc.positions[path] = (mark.line + 1, mark.column + 1)
        value: Any
        if kind is yaml.ScalarEvent:
            value = event.value
            if not event.style:  # plain: YAML 1.1 would type it
                if _resolves_numeric(value):
                    doc.numeric_plain.add(path)
                elif value in _NULLS:
                    value = None
        else:
            value = {} if kind is yaml.MappingStartEvent else []
        if parent is None:
            root = value
        elif isinstance(parent.value, list):
            parent.value.append(value)
        else:
            parent.value[str(slot)] = value
            parent.key = None
        if value.__class__ is dict or value.__class__ is list:
            open_.append(_Open(value, path))
        elif parent is None:
            doc.nodes = nodes
            return root


def _key(event: Any, mapping: _Open, doc: Document) -> str:
    """The text of a mapping key, refusing non-text, merge and duplicate keys."""
    if type(event) is not yaml.ScalarEvent:
        _fail(doc, event.start_mark, "mapping keys must be plain text")
    key = str(event.value)
    if key == "<<":
        _fail(doc, event.start_mark, "YAML merge keys (<<) are not allowed")
    if key in mapping.value:
        _fail(doc, event.start_mark, f"duplicate key {key!r}")
    if not event.style and _resolves_numeric(key):
        doc.numeric_plain.add((*mapping.path, key))
    return key


def _resolves_numeric(text: str) -> bool:
    """True if YAML 1.1 would read ``text`` (unquoted) as an int or a float."""
    return text[:1] in _NUMERIC_STARTS and any(p.match(text) for p in _NUMERIC_PATTERNS)


def _fail(doc: Document, mark: Any, message: str) -> NoReturn:
    where = SourceLocation(doc.name, mark.line + 1, mark.column + 1)
    raise DataError(f"{where}: {message}", (Diagnostic(where, message),))


def validation_diagnostics(exc: ValidationError, doc: Document) -> list[Diagnostic]:
    """Turn pydantic errors into ``file:line:col: message`` diagnostics, one per problem.

    A list's length error is dropped when its items have errors of their own (pydantic
    counts only the items that validated), and union branches never appear in paths.
    """
    errors = exc.errors(include_url=False)
    locations = [tuple(error["loc"]) for error in errors]
    found: list[Diagnostic] = []
    for error, loc in zip(errors, locations, strict=True):
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locations
        ):
            continue
        path = _data_path(loc, doc.data, missing=error["type"] == "missing")
        message = _message(error["type"], error["msg"], error.get("ctx") or {})
        if error["type"] in _UNKNOWN_KEY:
            message = f"unknown key {path[-1]!r}" if path else message
        elif error["type"] == "missing":
            message = f"missing key {path[-1]!r}" if path else message
        dotted = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in path)
        diagnostic = Diagnostic(doc.locate(path), f"{dotted}: {message}" if dotted else message)
        if diagnostic not in found:
            found.append(diagnostic)
    return found


_UNKNOWN_KEY = {"extra_forbidden", "unexpected_keyword_argument"}
"""Pydantic's error types for a key the model does not have (a mapping's, a dataclass's)."""
_PLAIN_MESSAGES = {
    "model_type": "expected a mapping (key: value lines)",
    "dataclass_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "string_type": "expected text",
}


def _message(kind: str, text: str, context: Mapping[str, Any]) -> str:
    """Pydantic's message in tradecalc's words where pydantic names its own internals."""
    if kind == "too_short" and context.get("min_length") == 1:
        return "must not be empty"
    return _PLAIN_MESSAGES.get(kind, text.removeprefix("Value error, "))


def _data_path(loc: tuple[Any, ...], data: Any, *, missing: bool = False) -> Path_:
    """Follow a pydantic location through the data as far as it exists.

    Parts of the location that are not in the data are union branch names, skipped, except
    the last part of a missing key, which is named (and located at its parent).
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            node = node[part]
            path.append(part)
        elif missing and i == len(loc) - 1 and isinstance(node, Mapping):
            path.append(part)
    return tuple(path)


def build_model(model: type[M], doc: Document) -> M:
    """Validate plain data into ``model``; raise DataError with every problem found."""
    if not isinstance(doc.data, dict):
        where = doc.locate(())
        raise DataError(
            f"{where}: expected a mapping at the top of the file",
            (Diagnostic(where, "expected a mapping at the top of the file"),),
        )
    from tradecalc.schedule.fields import ValidationError, validate

    try:
        return validate(model, doc.data)
    except ValidationError as exc:
        diagnostics = tuple(validation_diagnostics(exc, doc))
        count = len(diagnostics)
        raise DataError(
            f"{doc.name}: {count} problem{'s' if count != 1 else ''} found", diagnostics
        ) from None
