"""Read YAML safely and turn it into models, keeping line numbers for every error.

This is the only module that touches YAML. Documents are composed with libyaml's
safe loader and converted by hand: every scalar stays text (no implicit typing, so
``8471.30`` is never the float 8471.3), aliases and duplicate keys are refused, and
size, depth and node count are bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
    try:
        root = yaml.compose(text, Loader=_Loader)
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
    doc = Document(name, None)
    if root is not None:
        doc.data = _convert(root, doc)
    return doc


def read_document(path: Path) -> Document:
    """Read and parse a YAML file."""
    return parse_yaml(read_text(path), str(path))


def _convert(root: yaml.Node, doc: Document) -> Any:
    """Walk the node tree iteratively, refusing aliases, duplicates and deep nesting."""
    seen: set[int] = set()
    out: dict[Path_, Any] = {}
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    order: list[tuple[yaml.Node, Path_]] = []
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            _fail(doc, node, "YAML aliases (*name) are not allowed in tradecalc files")
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            _fail(doc, node, f"more than {MAX_NODES:,} YAML nodes")
        if len(path) > MAX_DEPTH:
            _fail(doc, node, f"nested deeper than {MAX_DEPTH} levels")
        doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        order.append((node, path))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    _fail(doc, key_node, "mapping keys must be plain text")
                key = key_node.value
                if key == "<<":
                    _fail(doc, key_node, "YAML merge keys (<<) are not allowed")
                if key in keys:
                    _fail(doc, key_node, f"duplicate key {key!r}")
                keys.add(key)
                child = (*path, key)
                if not key_node.style and _resolves_numeric(key_node):
                    doc.numeric_plain.add(child)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.ScalarNode) and not node.style and _resolves_numeric(node):
            doc.numeric_plain.add(path)
    for node, path in reversed(order):
        out[path] = _build(node, path, out)
    return out[()]


def _build(node: yaml.Node, path: Path_, built: dict[Path_, Any]) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {k.value: built.pop((*path, k.value)) for k, _ in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [built.pop((*path, i)) for i in range(len(node.value))]
    if isinstance(node, yaml.ScalarNode) and not node.style and node.value in _NULLS:
        return None
    return node.value


def _resolves_numeric(node: yaml.ScalarNode) -> bool:
    tag = _Loader.resolve(_Loader, yaml.ScalarNode, node.value, (True, False))
    return tag in _NUMERIC_TAGS


def _fail(doc: Document, node: yaml.Node, message: str) -> None:
    mark = node.start_mark
    where = SourceLocation(doc.name, mark.line + 1, mark.column + 1)
    raise DataError(f"{where}: {message}", (Diagnostic(where, message),))


def validation_diagnostics(exc: ValidationError, doc: Document) -> list[Diagnostic]:
    """Turn pydantic errors into ``file:line:col: message`` diagnostics."""
    found: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        path = _data_path(tuple(error["loc"]), doc.data)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}" if path else message
        elif error["type"] == "missing":
            message = f"missing key {path[-1]!r}" if path else message
        dotted = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in path)
        diagnostic = Diagnostic(doc.locate(path), f"{dotted}: {message}" if dotted else message)
        if diagnostic not in found:
            found.append(diagnostic)
    return found


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Follow a pydantic location through the data as far as it exists."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            node = node[part]
        else:
            if isinstance(node, Mapping) and isinstance(part, str):
                path.append(part)  # a missing or unknown key: name it, locate its parent
            break
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
