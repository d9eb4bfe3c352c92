"""Read YAML safely and turn it into models, keeping line numbers for every error.

This is the only module that touches YAML. Documents are built by hand from the events
of libyaml's safe parser, without a node tree: every scalar stays text (no implicit typing, so
``8471.30`` is never the float 8471.3), aliases and duplicate keys are refused, and
size, depth and node count are bounded while the file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tradecalc.errors import DataError, Diagnostic, SourceLocation
from tradecalc.files import MAX_FILE_BYTES, read_text

MAX_DEPTH = 64
MAX_NODES = 2_000_000

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

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

    def locate(self, path: Path_) -> SourceLocation:
        """The closest known position of ``path`` (walking up to its parents)."""
        while path not in self.positions and path:
            path = path[:-1]
        line, column = self.positions.get(path, (0, 0))
        return SourceLocation(self.name, line, column)


def parse_yaml(text: str, name: str) -> Document:
    """Compose one YAML document and convert it to plain data with positions."""
    if len(text) > MAX_FILE_BYTES:
        raise DataError(f"{name}: document above the {MAX_FILE_BYTES:,}-byte limit")
    doc = Document(name, None)
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
    nodes = 0
    root: Any = None
    while True:
        event = events.get_event()
        kind = type(event)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            open_.pop()
            if not open_:
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
        if nodes > MAX_NODES:
            _fail(doc, mark, f"more than {MAX_NODES:,} YAML nodes")
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
        if error["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}" if path else message
        elif error["type"] == "missing":
            message = f"missing key {path[-1]!r}" if path else message
        dotted = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in path)
        diagnostic = Diagnostic(doc.locate(path), f"{dotted}: {message}" if dotted else message)
        if diagnostic not in found:
            found.append(diagnostic)
    return found


_PLAIN_MESSAGES = {
    "model_type": "expected a mapping (key: value lines)",
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
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        diagnostics = tuple(validation_diagnostics(exc, doc))
        count = len(diagnostics)
        raise DataError(
            f"{doc.name}: {count} problem{'s' if count != 1 else ''} found", diagnostics
        ) from None
