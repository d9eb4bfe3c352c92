"""Frozen dataclasses without per-class compiled methods (``core.records``, the schedule's
``model``) behave as ``@dataclass(frozen=True)`` would."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tradecalc
from tradecalc.core import records
from tradecalc.core.records import record
from tradecalc.schedule import models
from tradecalc.schedule.models import Model, model


def _frozen_dataclasses() -> list[type[Any]]:
    """Every frozen dataclass declared in tradecalc (not merely inheriting one's fields)."""
    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(tradecalc.__path__, "tradecalc.")
        if info.name != "tradecalc.__main__"  # that one runs the command line
    ]
    return [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and "__dataclass_fields__" in vars(value)
        and (value.__dataclass_params__.frozen or issubclass(value, Model))  # type: ignore[attr-defined]
    ]


CLASSES = _frozen_dataclasses()


def test_the_walk_finds_the_records_and_models() -> None:
    names = {cls.__qualname__ for cls in CLASSES}
    assert {"Schedule", "Measure", "Line", "Rate", "Assessment"} <= names
    assert len(CLASSES) > 60


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_no_frozen_class_compiles_its_own_value_methods(cls: type[Any]) -> None:
    """Each comes from :func:`records.value_methods`: nothing compiled per class at import."""
    for name in ("__eq__", "__hash__", "__repr__"):
        assert getattr(cls, name).__code__.co_filename == records.__file__, name


def _reference(cls: type[Any]) -> type[Any]:
    """A ``@dataclass(frozen=True, kw_only=True)`` twin of ``cls``: its name and fields (each
    one given to ``__init__``), its methods compiled by :mod:`dataclasses`."""
    specs = [
        (
            f.name,
            object,
            field(
                default=f.default,
                default_factory=f.default_factory,
                compare=f.compare,
                hash=f.hash,
                repr=f.repr,
            ),
        )
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__qualname__, specs, frozen=True, kw_only=True)


def _bare(cls: type[Any], values: dict[str, object]) -> Any:
    """An instance of ``cls`` with ``values`` as its fields, no checks run."""
    made = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(made, name, value)
    return made


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_value_methods_agree_with_dataclass_generated_ones(cls: type[Any]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    reference = _reference(cls)
    values = {name: (i, name) for i, name in enumerate(names)}
    ours, theirs = _bare(cls, values), reference(**values)
    assert repr(ours) == repr(theirs)
    assert hash(ours) == hash(theirs)
    assert ours == _bare(cls, dict(values))
    for name in names:  # one field changed: equal exactly when the reference says so
        changed = {**values, name: "other"}
        assert (ours == _bare(cls, changed)) == (theirs == reference(**changed))
        assert (ours != _bare(cls, changed)) == (theirs != reference(**changed))
    assert ours != theirs and ours.__eq__(theirs) is NotImplemented


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_frozen_classes_refuse_assignment_and_deletion(cls: type[Any]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    made = _bare(cls, dict.fromkeys(names, 0))
    for name in names:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(made, name)
        assert getattr(made, name) == 0


@record
class _Probe:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()
    d: float = field(default=0.0, compare=False)
    e: int = field(default=0, hash=False)
    f: int = field(default=0, repr=False)


_Reference = _reference(_Probe)
"""Its twin compiled by :mod:`dataclasses` (the same name, so the same repr)."""


_values = st.fixed_dictionaries(
    {"a": st.integers(-2, 2)},
    optional={
        "b": st.sampled_from(["", "b", "x"]),
        "c": st.lists(st.integers(0, 2), max_size=2).map(tuple),
        "d": st.sampled_from([0.0, 1.5, float("nan")]),
        "e": st.integers(0, 1),
        "f": st.integers(0, 1),
    },
)


@given(_values, _values)
def test_a_record_compares_hashes_and_shows_as_a_dataclass(
    one: dict[str, Any], two: dict[str, Any]
) -> None:
    ours, theirs = _Probe(**one), _Reference(**one)
    other_ours, other_theirs = _Probe(**two), _Reference(**two)
    assert (ours == other_ours) == (theirs == other_theirs)
    assert hash(ours) == hash(theirs)
    assert repr(ours) == repr(theirs)
    assert dataclasses.replace(ours, a=9) == _Probe(**{**one, "a": 9})
    assert not hasattr(ours, "__dict__")


@model
class _Part(Model):
    name: str
    count: int = 1
    tags: tuple[str, ...] = ()
    seen: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count below zero")


def test_a_model_takes_its_fields_by_keyword_with_fresh_defaults() -> None:
    one, two = _Part(name="a"), _Part(name="a")
    assert one == two and one.count == 1 and one.tags == () and one.seen == {}
    assert one.seen is not two.seen
    assert _Part(name="a", count=2, tags=("t",)).tags == ("t",)
    with pytest.raises(TypeError, match="unexpected keyword argument 'size'"):
        _Part(name="a", size=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing keyword argument 'name'"):
        _Part()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Part("a")  # type: ignore[misc]


def test_a_model_runs_its_checks_when_made_or_replaced_but_not_when_constructed() -> None:
    with pytest.raises(ValueError, match="below zero"):
        _Part(name="a", count=-1)
    with pytest.raises(ValueError, match="below zero"):
        dataclasses.replace(_Part(name="a"), count=-1)
    assert models.construct(_Part, name="a", count=-1).count == -1


def test_a_models_derived_values_are_not_part_of_its_value() -> None:
    one, two = _Part(name="a"), _Part(name="a")
    one.memo["key"] = 1
    assert one == two and hash(one) == hash(two) and "memo" not in repr(one)
