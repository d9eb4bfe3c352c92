"""The compiled-schedule cache as plain JSON: data only, nothing a planted file could run.

A checked :class:`~tradecalc.schedule.models.Schedule` is a tree of frozen models, rate
dataclasses, tuples, mappings, decimals, dates and text. Each node becomes one JSON value;
objects carry a tag saying what they are::

    {"$": "CodeRate", "rate": {...}, ...}   a model or rate dataclass named in _CLASSES
    {"$t": "2025-04-09T00:01"}   datetime    {"$a": "2025-04-09"}   date
    {"$u": [...]}   tuple        {"$m": [[key, value], ...]}   dict
    {"$r": [kinds, "digits\\n...", "keys"]}   the rows of a product list (below)

The rows of a product list (tens of thousands of :class:`~tradecalc.schedule.models.ListRow`
in the bundled data, nine in ten of the cache's objects) are kept compactly: ``kinds`` is a
tagged tuple of the distinct ``(start, end, source, note)`` of the rows, ``digits`` each row's
code digits one per line, and ``keys`` one character per row naming its kind
(``chr(0x30 + index)``). They decode to a :class:`LazyRows`: a read-only sequence equal to the
tuple of rows, whose rows are built only when used; the list's index by code digits
(``ProductList._index``) is given with it, so asking whether a list holds one code builds the
few rows of that code's prefixes and nothing else. A one-shot ``duty`` therefore decodes the
schedule in a few milliseconds instead of building every row.

A Decimal is a JSON number that always has a point or an exponent (``0.25``, ``25E0``), read
back with ``Decimal`` exactly as written; an integer never has one.

Decoding builds only the classes listed in ``_CLASSES`` (models are rebuilt the way
pickle restores them, without re-running validators: the tree was checked before it was
written). Anything else (an unknown tag, a list, a bare object) raises :class:`NotACacheError`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, overload

from tradecalc.core.rate import Rate, Specific
from tradecalc.schedule import models

_M = TypeVar("_M")


class NotACacheError(ValueError):
    """The bytes are not a cache this module wrote (never shown: the cache is rebuilt)."""


_CLASSES: dict[str, type[Any]] = {
    name: cls
    for name, cls in vars(models).items()
    if isinstance(cls, type)
    and issubclass(cls, models.Model)
    and dataclasses.is_dataclass(cls)
    and cls.__module__ == models.__name__
} | {"Rate": Rate, "Specific": Specific}


def encode(value: object) -> bytes:
    """The tree as compact JSON; TypeError for a value the format does not know."""
    out: list[str] = []
    _emit(value, out)
    return "".join(out).encode("utf-8")


def _emit(value: object, out: list[str]) -> None:
    if value is None or type(value) in (str, bool, int):  # not subclasses (enums)
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError("cannot cache a non-finite Decimal")
        text = str(value)
        out.append(text if "." in text or "E" in text else text + "E0")
    elif isinstance(value, datetime):
        out.append(f'{{"$t":"{value.isoformat()}"}}')
    elif isinstance(value, date):
        out.append(f'{{"$a":"{value.isoformat()}"}}')
    elif isinstance(value, LazyRows):
        out.append(value.compact)
    elif isinstance(value, tuple):
        compact = _compact_rows(value)
        if compact is not None:
            out.append(compact)
            return
        out.append('{"$u":[')
        for n, item in enumerate(value):
            out.append("," if n else "")
            _emit(item, out)
        out.append("]}")
    elif isinstance(value, dict):
        out.append('{"$m":[')
        for n, (key, item) in enumerate(value.items()):
            out.append(",[" if n else "[")
            _emit(key, out)
            out.append(",")
            _emit(item, out)
            out.append("]")
        out.append("]}")
    else:
        out.append(f'{{"$":"{_class_name(value)}"')
        for key, item in _fields(value).items():
            out.append(f",{json.dumps(key)}:")
            _emit(item, out)
        out.append("}")


_KEY_BASE = 0x30
"""The character naming a row's kind is ``chr(_KEY_BASE + index)``."""
_MAX_KINDS = 0xD800 - _KEY_BASE
"""Kinds stay below the surrogates (not encodable in UTF-8); more rows fall back to tuples."""


def _compact_rows(rows: tuple[object, ...]) -> str | None:
    """The ``$r`` form of a tuple of list rows; None for any other tuple (or rows it can't
    hold: a newline in a code, too many kinds)."""
    if not rows or any(type(row) is not models.ListRow for row in rows):
        return None
    kinds: dict[tuple[object, ...], int] = {}
    digits: list[str] = []
    keys: list[str] = []
    for row in rows:
        fields = row.__dict__
        if "\n" in fields["digits"] or type(fields["digits"]) is not str:
            return None
        kind = (fields["start"], fields["end"], fields["source"], fields["note"])
        digits.append(fields["digits"])
        keys.append(chr(_KEY_BASE + kinds.setdefault(kind, len(kinds))))
    if len(kinds) > _MAX_KINDS:
        return None
    return LazyRows(tuple(kinds), "\n".join(digits), "".join(keys)).compact


def _class_name(value: object) -> str:
    name = type(value).__name__
    if _CLASSES.get(name) is not type(value):
        raise TypeError(f"cannot cache a {name}")
    return name


def _fields(value: object) -> dict[str, object]:
    """A model's or rate dataclass's fields by name (a model's derived values left out)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}  # type: ignore[arg-type]


def decode(data: bytes) -> object:
    """The tree back from :func:`encode`'s output; NotACacheError (a ValueError) otherwise."""
    hook = _Decoder().decode_object
    try:
        tree = json.loads(data, object_hook=hook, parse_float=Decimal)
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise NotACacheError(str(exc)) from None
    _no_list((tree,))
    return tree


def _no_list(values: Iterable[object]) -> None:
    """JSON arrays only ever hold the items of a tagged tuple or mapping."""
    if list in map(type, values):
        raise NotACacheError("an untagged array in cache")


_FIELDS = {
    name: frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    for name, cls in _CLASSES.items()
    if issubclass(cls, models.Model)
}
"""Each model's field names, which a cached object must have exactly."""

_set = object.__setattr__


class _Decoder:
    """The JSON object hook of one :func:`decode` call.

    A schedule repeats the same instants many thousand times (every row of a product list
    has its period), so each distinct timestamp text is parsed once per call and its
    (immutable) value shared.
    """

    def __init__(self) -> None:
        self.instants: dict[str, datetime] = {}

    def decode_object(self, obj: dict[str, Any]) -> object:
        if len(obj) == 1:
            ((tag, value),) = obj.items()
            if tag == "$u" and type(value) is list:
                _no_list(value)
                return tuple(value)
            if tag == "$t" and type(value) is str:
                instant = self.instants.get(value)
                if instant is None:
                    instant = self.instants[value] = datetime.fromisoformat(value)
                return instant
        name = obj.pop("$", None)
        if name is not None:
            return _build(name, obj)
        if len(obj) != 1:
            raise NotACacheError("untagged object in cache")
        ((tag, value),) = obj.items()
        if tag == "$a" and isinstance(value, str):
            return date.fromisoformat(value)
        if tag == "$r" and isinstance(value, list):
            return _lazy_rows(value)
        if tag == "$m" and isinstance(value, list):
            pairs = {k: v for k, v in value}  # noqa: C416  (each item must be a [key, value] pair)
            _no_list(pairs)
            _no_list(pairs.values())
            return pairs
        raise NotACacheError(f"unknown tag {tag!r} in cache")


def _lazy_rows(value: list[Any]) -> LazyRows:
    """Check a ``$r`` value whole (its kinds' types, one kind per code, every key naming a
    kind: all at C speed) and keep it for :class:`LazyRows`; NotACacheError otherwise."""
    if len(value) != 3:
        raise NotACacheError("a malformed $r in cache")
    kinds, digits, keys = value
    if type(kinds) is not tuple or type(digits) is not str or type(keys) is not str:
        raise NotACacheError("a malformed $r in cache")
    for kind in kinds:
        if not (type(kind) is tuple and len(kind) == 4 and _is_kind(*kind)):
            raise NotACacheError("a malformed list row kind in cache")
    if not keys or len(keys) != digits.count("\n") + 1:
        raise NotACacheError("list rows and their kinds differ in number")
    if ord(min(keys)) < _KEY_BASE or ord(max(keys)) >= _KEY_BASE + len(kinds):
        raise NotACacheError("a list row of an unknown kind")
    return LazyRows(kinds, digits, keys)


def _is_kind(start: object, end: object, source: object, note: object) -> bool:
    return (
        (start is None or type(start) is datetime)
        and (end is None or type(end) is datetime)
        and type(source) is tuple
        and all(type(item) is str for item in source)
        and type(note) is str
    )


class LazyRows(Sequence["models.ListRow"]):
    """The rows of a product list, built on first use: equal (and hashing equal) to the tuple
    of rows it stands for, and copied or pickled as that tuple."""

    __slots__ = ("_built", "_digits", "_digits_text", "_keys", "_kinds", "_whole")

    def __init__(self, kinds: tuple[tuple[Any, ...], ...], digits: str, keys: str) -> None:
        self._kinds = kinds
        self._digits_text = digits
        self._keys = keys
        self._digits: list[str] | None = None
        self._built: dict[int, models.ListRow] = {}
        self._whole: tuple[models.ListRow, ...] | None = None

    @property
    def compact(self) -> str:
        """The ``$r`` JSON this stands for: what :func:`encode` writes for the tuple of rows."""
        out = ['{"$r":[']
        _emit(self._kinds, out)
        out.append(",")
        out.append(json.dumps(self._digits_text, ensure_ascii=False))
        out.append(",")
        out.append(json.dumps(self._keys, ensure_ascii=False))
        out.append("]}")
        return "".join(out)

    def row(self, position: int) -> models.ListRow:
        """The row at ``position``, built once."""
        built = self._built.get(position)
        if built is None:
            start, end, source, note = self._kinds[ord(self._keys[position]) - _KEY_BASE]
            fields = {
                "digits": self.digits()[position],
                "start": start,
                "end": end,
                "source": source,
                "note": note,
            }
            built = self._built[position] = _model(models.ListRow, fields)
        return built

    def digits(self) -> list[str]:
        """Each row's code digits."""
        if self._digits is None:
            self._digits = self._digits_text.split("\n")
        return self._digits

    def whole(self) -> tuple[models.ListRow, ...]:
        """Every row, as the tuple this stands for."""
        if self._whole is None:
            self._whole = tuple(self.row(n) for n in range(len(self._keys)))
        return self._whole

    def by_digits(self, owner: dict[str, Any] | None = None) -> RowIndex:
        """The rows by code digits, each group built when first asked for (``owner``: the
        ``__dict__`` of the product list whose ``_index`` this is)."""
        return RowIndex(self, owner)

    def __len__(self) -> int:
        return len(self._keys)

    def __bool__(self) -> bool:
        return True  # never empty: an empty tuple is written as one

    @overload
    def __getitem__(self, key: int) -> models.ListRow: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[models.ListRow, ...]: ...
    def __getitem__(self, key: int | slice) -> Any:
        return self.whole()[key]

    def __iter__(self) -> Iterator[models.ListRow]:
        return iter(self.whole())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRows):
            return self.whole() == other.whole()
        if isinstance(other, tuple):
            return self.whole() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.whole())

    def __repr__(self) -> str:
        return repr(self.whole())

    def __reduce__(self) -> tuple[type[tuple[Any, ...]], tuple[tuple[models.ListRow, ...]]]:
        return tuple, (self.whole(),)

    def __copy__(self) -> LazyRows:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> LazyRows:
        return self  # immutable, like the tuple it stands for


_BUSY = 2000
"""Look-ups after which a :class:`RowIndex` builds its whole index (a one-shot asks for a few
per list and regime)."""


class RowIndex(Mapping[str, tuple["models.ListRow", ...]]):
    """``ProductList._index`` of lazy rows: code digits -> that code's rows (built when asked)."""

    __slots__ = ("_groups", "_lookups", "_owner", "_positions", "_rows")

    def __init__(self, rows: LazyRows, owner: dict[str, Any] | None = None) -> None:
        self._rows = rows
        self._owner = owner
        """The product list's ``__dict__``, where the whole index goes when busy."""
        self._lookups = 0
        self._positions: dict[str, int | list[int]] | None = None
        self._groups: dict[str, tuple[models.ListRow, ...]] = {}

    def _where(self) -> dict[str, int | list[int]]:
        if self._positions is None:
            digits = self._rows.digits()
            last: dict[str, int | list[int]] = dict(zip(digits, range(len(digits)), strict=True))
            if len(last) < len(digits):  # a code listed more than once (several periods)
                last = {}
                for position, code in enumerate(digits):
                    found = last.setdefault(code, [])
                    found.append(position)  # type: ignore[union-attr]
            self._positions = last
        return self._positions

    def __getitem__(self, key: str) -> tuple[models.ListRow, ...]:
        group = self._group(key)
        if group is None:
            raise KeyError(key)
        return group

    def get(self, key: str, default: Any = None) -> Any:
        """The rows of code digits ``key`` (built on first use), else ``default``; no
        exception on a miss (a compile asks about many codes that no list holds).

        After :data:`_BUSY` look-ups (a compile or a batch, not a one-shot) the whole index
        is built once and put in the list's ``_index`` instead: a plain dict from then on."""
        self._lookups += 1
        if self._lookups > _BUSY and self._owner is not None:
            owner, self._owner = self._owner, None
            owner["_index"] = {code: self._group(code) for code in self._where()}
        group = self._group(key)
        return default if group is None else group

    def _group(self, key: str) -> tuple[models.ListRow, ...] | None:
        group = self._groups.get(key)
        if group is None:
            where = self._where().get(key)
            if where is None:
                return None
            positions = where if isinstance(where, list) else (where,)
            group = self._groups[key] = tuple(self._rows.row(n) for n in positions)
        return group

    def __iter__(self) -> Iterator[str]:
        return iter(self._where())

    def __len__(self) -> int:
        return len(self._where())

    def __contains__(self, key: object) -> bool:
        return key in self._where()

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, ({key: self[key] for key in self},)  # pickled or deep-copied: a dict


def _build(name: str, fields: dict[str, Any]) -> object:
    """A model rebuilt the way pickle restores one (no validators), or a rate dataclass."""
    _no_list(fields.values())
    cls = _CLASSES.get(name)
    if cls is None:
        raise NotACacheError("unknown class in cache")
    names = _FIELDS.get(name)
    if names is None:
        return cls(**fields)
    if fields.keys() != names:
        raise NotACacheError(f"{cls.__name__} in cache has other fields")
    model = _model(cls, fields)
    rows = fields.get("rows")
    if cls is models.ProductList and isinstance(rows, LazyRows):
        fields["_index"] = rows.by_digits(fields)  # the cached_property's slot, rows unbuilt
    return model


def _model(cls: type[_M], fields: dict[str, Any]) -> _M:
    """A model whose ``__dict__`` is ``fields`` itself (no copy, no checks)."""
    model = object.__new__(cls)
    _set(model, "__dict__", fields)
    return model
