"""The compiled-schedule cache as plain JSON: data only, nothing a planted file could run.

A checked :class:`~tradecalc.schedule.models.Schedule` is a tree of frozen models, rate
dataclasses, tuples, mappings, decimals, dates and text. Each node becomes one JSON value;
objects carry a tag saying what they are::

    {"$": "CodeRate", "rate": {...}, ...}   a model or rate dataclass named in _CLASSES
    {"$t": "2025-04-09T00:01"}   datetime    {"$a": "2025-04-09"}   date
    {"$u": [...]}   tuple        {"$m": [[key, value], ...]}   dict

A Decimal is a JSON number that always has a point or an exponent (``0.25``, ``25E0``), read
back with ``Decimal`` exactly as written; an integer never has one.

Decoding builds only the classes listed in ``_CLASSES`` (models are rebuilt the way
pickle restores them, without re-running validators: the tree was checked before it was
written). Anything else (an unknown tag, a list, a bare object) raises :class:`NotACacheError`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from tradecalc.core.rate import Rate, Specific
from tradecalc.schedule import models


class NotACacheError(ValueError):
    """The bytes are not a cache this module wrote (never shown: the cache is rebuilt)."""


_CLASSES: dict[str, type[Any]] = {
    name: cls
    for name, cls in vars(models).items()
    if isinstance(cls, type) and issubclass(cls, models.Model) and cls.__module__ == models.__name__
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
    elif isinstance(value, tuple):
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


def _class_name(value: object) -> str:
    name = type(value).__name__
    if _CLASSES.get(name) is not type(value):
        raise TypeError(f"cannot cache a {name}")
    return name


def _fields(value: object) -> dict[str, object]:
    if isinstance(value, BaseModel):
        if value.__pydantic_extra__ or value.__pydantic_private__:
            raise TypeError(f"{type(value).__name__} has extra or private state")
        return {name: value.__dict__[name] for name in type(value).model_fields}
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
    name: cls.__pydantic_fields__.keys()
    for name, cls in _CLASSES.items()
    if issubclass(cls, BaseModel)
}
"""Each model's field names, which a cached object must have exactly."""

_set = object.__setattr__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
"""BaseModel's slots, set directly (as ``__setstate__`` does, without its lookups)."""


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
        if tag == "$m" and isinstance(value, list):
            pairs = {k: v for k, v in value}  # noqa: C416  (each item must be a [key, value] pair)
            _no_list(pairs)
            _no_list(pairs.values())
            return pairs
        raise NotACacheError(f"unknown tag {tag!r} in cache")


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
    model = object.__new__(cls)
    _set(model, "__dict__", fields)
    _set_extra(model, None)
    _set_fields_set(model, set(fields))
    _set_private(model, None)
    return model
