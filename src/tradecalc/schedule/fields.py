"""The pydantic side of the models: the annotated types that parse a schedule's YAML text,
and validation of plain data into a model (:func:`validate`) and its JSON Schema.

The models (:mod:`tradecalc.schedule.models`) are plain frozen dataclasses whose
annotations name the types below; only building a model from plain data reads them, so
only that imports pydantic. A schedule read back from its cache never does.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    GetPydanticSchema,
    PlainSerializer,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import SkipJsonSchema

from tradecalc.core.rate import Rate
from tradecalc.schedule import models
from tradecalc.schedule.models import (
    ID_PATTERN,
    CodeRate,
    Model,
    format_when,
    parse_when,
    scope_entries,
    to_code,
    to_decimal,
    to_rate,
    to_time_zone,
)

__all__ = ["ValidationError", "json_schema", "validate"]

_M = TypeVar("_M", bound=Model)

Code = Annotated[
    str,
    BeforeValidator(to_code),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}(\.?\d{2}){0,4}$"}),
]
When = Annotated[
    datetime,
    BeforeValidator(parse_when),
    PlainSerializer(format_when, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$"}),
]
RateField = Annotated[
    Rate,
    BeforeValidator(to_rate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["Free", "25%", "4.4¢/kg", "25¢/kg + 2.6%"]}),
]
Amount = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]
TimeZone = Annotated[str, BeforeValidator(to_time_zone)]
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=80)]
Heading = Annotated[str, Field(pattern=r"^98\d\d\.\d\d\.\d\d$|^99\d\d\.\d\d\.\d\d$")]
Country = Annotated[str, Field(pattern=r"^([A-Z]{2}|\*)$")]
ScopeEntries = Annotated[tuple[str, ...], AfterValidator(scope_entries)]
SourceRefs = Annotated[
    tuple[Id, ...],
    BeforeValidator(lambda v: (v,) if isinstance(v, str) else v),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": ID_PATTERN},
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": ID_PATTERN},
                    "minItems": 1,
                },
            ]
        }
    ),
]
DisplacementRef = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(group:|set:)?[a-z0-9][a-z0-9.-]*$",
            "description": "a measure id, 'group:NAME' (the measures of a reporting group) "
            "or 'set:NAME' (a list declared once under displacement_sets)",
        }
    ),
]


def _rate_shape(value: Any) -> str:
    return "table" if isinstance(value, dict | CodeRate) else "text"


_CodeRateInput = Annotated[
    Annotated[RateField, Tag("text")] | Annotated[CodeRate, Tag("table")],
    Discriminator(_rate_shape),
]


def _as_code_rate(value: Rate | CodeRate) -> CodeRate:
    return value if isinstance(value, CodeRate) else CodeRate(rate=value)


CodeRateEntry = Annotated[
    CodeRate,
    GetPydanticSchema(lambda _type, handler: handler(_CodeRateInput)),
    AfterValidator(_as_code_rate),
]
"""A code's rate, always a :class:`CodeRate`: written as text (``"25%"``) or as a mapping
with its own source; errors follow the shape written."""

_NAMES = {
    "Annotated": Annotated,
    "Field": Field,
    "SkipJsonSchema": SkipJsonSchema,
    "Amount": Amount,
    "Code": Code,
    "CodeRateEntry": CodeRateEntry,
    "Country": Country,
    "DisplacementRef": DisplacementRef,
    "Heading": Heading,
    "Id": Id,
    "RateField": RateField,
    "ScopeEntries": ScopeEntries,
    "SourceRefs": SourceRefs,
    "TimeZone": TimeZone,
    "When": When,
}
"""The names the models' annotations use that the models module does not import."""


_ADAPTERS: dict[type[Model], TypeAdapter[Any]] = {}


def _adapter(model: type[Model]) -> TypeAdapter[Any]:
    """The validator of ``model``, made on first use."""
    found = _ADAPTERS.get(model)
    if found is None:
        # The models' annotations are text read in their own module: the names they use
        # are put there first (the models module imports them only for type checkers).
        vars(models).update(_NAMES)
        found = _ADAPTERS[model] = TypeAdapter(model)
    return found


def validate(model: type[_M], data: object) -> _M:
    """``data`` (plain YAML values) as a ``model``, checked; ValidationError otherwise."""
    found: _M = _adapter(model).validate_python(data)
    return found


def json_schema(model: type[Model]) -> dict[str, Any]:
    """The JSON Schema of files holding a ``model`` (keys as written in the files)."""
    return _adapter(model).json_schema(by_alias=True)
