"""Frozen dataclasses whose equality, hash and repr are shared rather than compiled.

:func:`dataclasses.dataclass` compiles six functions for each frozen class (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``), about 1 ms a
class on Python 3.11: with some sixty classes, a quarter of a one-shot ``duty`` call went
to compiling them at import. :func:`record` lets ``dataclass`` compile only what must run
fast or guard the fields (``__init__`` and the two frozen guards) and gives the other three
as closures over the class's fields, with the values ``dataclass`` would give.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

__all__ = ["record", "value_methods"]

_T = TypeVar("_T")


def _getter(names: list[str]) -> Callable[[Any], tuple[object, ...]]:
    """The tuple of ``names``' values of an object, read in C."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def value_methods(cls: type[Any]) -> None:
    """Set ``__eq__``, ``__hash__`` and ``__repr__`` on the dataclass ``cls`` as
    ``dataclass(eq=True, frozen=True)`` would: equal to an object of the same class with
    equal compared fields, hashed on the hashed fields, shown with the ``repr`` fields."""
    fields = dataclasses.fields(cls)
    compared = _getter([f.name for f in fields if f.compare])
    hashed = _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])
    shown = [(f.name, attrgetter(f.name)) for f in fields if f.repr]

    def __eq__(self: object, other: object) -> bool:  # noqa: N807
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared(self) == compared(other)

    def __hash__(self: object) -> int:  # noqa: N807
        return hash(hashed(self))

    def __repr__(self: object) -> str:  # noqa: N807
        values = ", ".join(f"{name}={get(self)!r}" for name, get in shown)
        return f"{type(self).__qualname__}({values})"

    for method in (__eq__, __hash__, __repr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """``cls`` as ``@dataclass(frozen=True, slots=True)``, its equality, hash and repr from
    :func:`value_methods`."""
    made: type[_T] = dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)
    value_methods(made)
    return made
