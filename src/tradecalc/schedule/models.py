"""Frozen pydantic models of a schedule file and of a scenario file.

Every scalar arrives from YAML as text; the annotated types below parse rates, dates
and codes from text and refuse anything else. Times are wall-clock times in the
importing party's time zone; a bare date means the start of that day.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal, Self, TypeGuard, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetPydanticSchema,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from tradecalc.core.money import parse_decimal
from tradecalc.core.rate import Rate, RateSyntaxError, parse_rate

_CODE = re.compile(r"\d{2}(?:[. ]?\d{2}){0,3}(?:[. ]?\d{2})?", re.ASCII)
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2})?", re.ASCII)
_ID = r"^[a-z0-9][a-z0-9.-]*$"
_HTS_HEADING = re.compile(r"9[89]\d\d\.\d\d\.\d\d")


def code_digits(code: str) -> str:
    """The digits of an HS/HTS code: ``"8471.30.0100"`` -> ``"8471300100"``."""
    return code.replace(".", "").replace(" ", "")


def is_code(text: str) -> bool:
    """True for 2 to 10 digits of an HS/HTS code, dotted, spaced or not."""
    return bool(_CODE.fullmatch(text.strip())) and 2 <= len(code_digits(text)) <= 10


def _to_code(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"HS code {value!r} must be quoted text (YAML would read it as a number)")
    if not is_code(value):
        raise ValueError(f"{value!r} is not an HS code (2-10 digits, e.g. '8471.30.01')")
    return value.strip()


def parse_when(value: Any) -> datetime:
    """Parse ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (local wall time)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    message = f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
    if not isinstance(value, str) or not _WHEN.fullmatch(value.strip()):
        raise ValueError(message)
    try:
        return datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:  # a day or an hour out of range
        raise ValueError(message) from None


def format_when(value: datetime) -> str:
    """Inverse of :func:`parse_when`: a date, or a date and time when not midnight."""
    if value.hour == 0 and value.minute == 0:
        return value.date().isoformat()
    return value.isoformat(timespec="minutes")  # strftime's %Y drops year 1's zeros


def _to_rate(value: Any) -> Rate:
    if isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"rate {value!r} must be text such as '25%' or 'Free'")
    try:
        return parse_rate(value)
    except RateSyntaxError as exc:
        raise ValueError(str(exc)) from None


def _to_time_zone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'America/New_York')"
        ) from None
    return str(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"amount {value!r} must be quoted text such as '33.58'")
    return parse_decimal(value)


Code = Annotated[
    str,
    BeforeValidator(_to_code),
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
    BeforeValidator(_to_rate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["Free", "25%", "4.4¢/kg", "25¢/kg + 2.6%"]}),
]
Amount = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]
TimeZone = Annotated[str, BeforeValidator(_to_time_zone)]
Id = Annotated[str, Field(pattern=_ID, max_length=80)]
Heading = Annotated[str, Field(pattern=r"^98\d\d\.\d\d\.\d\d$|^99\d\d\.\d\d\.\d\d$")]
Country = Annotated[str, Field(pattern=r"^([A-Z]{2}|\*)$")]
Base = Literal["full", "metal", "remainder"]
Metal = Literal["steel", "aluminum", "copper"]
Mode = Literal["ocean", "air", "truck", "rail", "postal"]
"""A transport mode (fees such as the HMF depend on it): the one list of modes."""
MODES: tuple[Mode, ...] = get_args(Mode)


def is_mode(text: str) -> TypeGuard[Mode]:
    """True if ``text`` names a transport mode."""
    return text in MODES


SourceRefs = Annotated[
    tuple[Id, ...],
    BeforeValidator(lambda v: (v,) if isinstance(v, str) else v),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _ID},
                {"type": "array", "items": {"type": "string", "pattern": _ID}, "minItems": 1},
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


class Memo(dict[Hashable, Any]):
    """Values derived from one frozen object, kept with it: they live as long as it does,
    and a copy or a pickle of it starts with an empty memo."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Memo], tuple[()]]:
        return Memo, ()


class Model(BaseModel):
    """Base: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    @cached_property
    def memo(self) -> Memo:
        """What the engine derives from this object (fee periods, table lookups), kept with
        it rather than in a global cache; not part of the model's value."""
        return Memo()

    def __copy__(self) -> Self:
        """A shallow copy without derived values (``model_copy(update=...)`` changes fields)."""
        copied = super().__copy__()
        fields = type(self).__pydantic_fields__
        for name in [name for name in copied.__dict__ if name not in fields]:
            del copied.__dict__[name]
        return copied


class Source(Model):
    """A citation: an official text, a secondary report, or a derived figure."""

    title: str
    url: str | None = None
    kind: Literal["primary", "secondary", "repository", "derived"]
    note: str | None = None


class CodeRate(Model):
    """A rate for one code inside a period's table, with its own citation if needed."""

    rate: RateField
    source: SourceRefs | None = None
    unconfirmed: str | None = None
    intentional: str | None = None
    """Why a rate above 1000% is right (otherwise the checks report it)."""
    note: str | None = None


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


class Period(Model):
    """``[from, to)`` with one rate (or a table of rates by code) and its source."""

    from_: When = Field(alias="from")
    to: When | None = None
    rate: RateField | None = None
    rates: dict[Code, CodeRateEntry] = Field(default_factory=dict)
    heading: Heading | None = None
    base: Base | None = None
    displaced_by: tuple[DisplacementRef, ...] | None = None
    source: SourceRefs
    unconfirmed: str | None = None
    intentional: str | None = None
    """Why a rate above 1000% is right (otherwise the checks report it)."""
    note: str | None = None

    @property
    def has_rate(self) -> bool:
        return self.rate is not None or bool(self.rates)

    def covers(self, when: datetime) -> bool:
        """True if ``when`` falls in ``[from, to)``."""
        return self.from_ <= when and (self.to is None or when < self.to)


class Scope(Model):
    """Which goods a measure covers: code prefixes or ``@list`` names; empty = all.

    ``@hts:9903.88.03`` names the codes whose line in the imported HTS revision points to
    that Chapter 99 heading in a footnote (used for codes without a curated base rate).
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @field_validator("include", "exclude")
    @classmethod
    def _codes_or_lists(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"scope entry {item!r} must be quoted text")
            if item.startswith("@hts:") and not _HTS_HEADING.fullmatch(item[5:]):
                raise ValueError(f"{item!r}: write an imported heading as '@hts:9903.88.03'")
            if not item.startswith("@"):
                _to_code(item)
        return value


class Measure(Model):
    """One legal layer of duty, with its dated periods."""

    id: Id
    name: str
    importer: Country
    origins: tuple[Country, ...] = Field(min_length=1)
    authority: str
    group: Id
    kind: Literal["duty", "flag"] = "duty"
    scope: Scope = Field(default_factory=Scope)
    base: Base = "full"
    metal: Metal | None = None
    displaced_by: tuple[DisplacementRef, ...] = ()
    status: str | None = None
    note: str | None = None
    periods: tuple[Period, ...] = Field(min_length=1)

    def from_origin(self, origin: str) -> bool:
        """True if the measure covers goods of ``origin``."""
        return "*" in self.origins or origin in self.origins

    def expanded(self, sets: dict[str, tuple[str, ...]]) -> Measure:
        """This measure with every ``set:NAME`` of its ``displaced_by`` lists replaced by
        the set's members (names not in ``sets`` are kept, for the checks to report)."""
        lists = [self.displaced_by, *(p.displaced_by or () for p in self.periods)]
        if not any(ref.startswith("set:") for refs in lists for ref in refs):
            return self
        periods = tuple(
            p
            if p.displaced_by is None
            else p.model_copy(update={"displaced_by": expand_refs(p.displaced_by, sets)})
            for p in self.periods
        )
        update = {"displaced_by": expand_refs(self.displaced_by, sets), "periods": periods}
        return self.model_copy(update=update)


def expand_refs(refs: tuple[str, ...], sets: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """``refs`` with each known ``set:NAME`` replaced by the members of that set."""
    out: list[str] = []
    for ref in refs:
        members = sets.get(ref[4:]) if ref.startswith("set:") else None
        out.extend(members if members is not None else (ref,))
    return tuple(out)

    @model_validator(mode="after")
    def _consistent(self) -> Measure:
        if self.base == "metal" and self.metal is None:
            raise ValueError("a measure with base 'metal' must name its 'metal'")
        if self.kind == "duty":
            _require_rates(self.periods)
        return self


def _require_rates(periods: tuple[Period, ...]) -> None:
    missing = [str(i) for i, p in enumerate(periods) if not p.has_rate]
    if missing:
        raise ValueError(f"periods {', '.join(missing)}: a period needs 'rate' or 'rates'")


class FeePeriod(Model):
    """A fee's rate and its per-entry minimum and maximum over ``[from, to)``."""

    from_: When = Field(alias="from")
    to: When | None = None
    rate: RateField
    min: Amount | None = None
    max: Amount | None = None
    source: SourceRefs
    unconfirmed: str | None = None
    note: str | None = None

    def covers(self, when: datetime) -> bool:
        """True if ``when`` falls in ``[from, to)``."""
        return self.from_ <= when and (self.to is None or when < self.to)


class Fee(Model):
    """A fee charged on the customs value (e.g. MPF, HMF), by transport mode."""

    id: Id
    name: str
    modes: tuple[Mode, ...] = ()
    periods: tuple[FeePeriod, ...] = Field(min_length=1)


class Tax(Model):
    """An import tax computed after duty: consumption tax, then VAT."""

    id: Id
    name: str
    kind: Literal["consumption", "vat"]
    scope: Scope = Field(default_factory=Scope)
    periods: tuple[Period, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rated(self) -> Tax:
        _require_rates(self.periods)
        return self


class DutyThreshold(Model):
    """Duty below this amount is waived (e.g. China's RMB 50 rule)."""

    amount: Amount
    source: SourceRefs
    unconfirmed: str | None = None


class OriginPeriod(Model):
    """``[from, to)`` for goods of ``origins`` (``*``: any), with its source."""

    from_: When = Field(alias="from")
    to: When | None = None
    origins: tuple[Country, ...] = Field(min_length=1)
    source: SourceRefs
    unconfirmed: str | None = None
    note: str | None = None

    def covers(self, origin: str, when: datetime) -> bool:
        """True for goods of ``origin`` at ``when``."""
        in_time = self.from_ <= when and (self.to is None or when < self.to)
        return in_time and ("*" in self.origins or origin in self.origins)


class DeMinimis(Model):
    """Duty-free entry of low-value goods (19 U.S.C. 1321), and when it was suspended."""

    amount: Amount
    source: SourceRefs
    suspended: tuple[OriginPeriod, ...] = ()


class InformalFeePeriod(Model):
    """The flat fee of an informal entry over ``[from, to)``."""

    from_: When = Field(alias="from")
    to: When | None = None
    amount: Amount
    source: SourceRefs
    unconfirmed: str | None = None

    def covers(self, when: datetime) -> bool:
        """True if ``when`` falls in ``[from, to)``."""
        return self.from_ <= when and (self.to is None or when < self.to)


class Informal(Model):
    """Informal entry: up to ``limit``, a flat fee in place of the fee ``replaces``."""

    limit: Amount
    source: SourceRefs
    replaces: Id
    note: str | None = None
    periods: tuple[InformalFeePeriod, ...] = Field(min_length=1)


class PostalPeriod(OriginPeriod):
    """What low-value postal items pay: a duty in place of every other duty, ad valorem
    (``rate``) or per postal item (``per_item``) at the shipper's choice; or, when
    ``informal``, all ordinary duties on a postal informal entry."""

    rate: RateField | None = None
    per_item: Amount | None = None
    group: Id | None = None
    informal: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> PostalPeriod:
        if self.informal == (self.rate is not None):
            raise ValueError("a postal period needs exactly one of 'rate' or 'informal: true'")
        if self.rate is not None and self.group is None:
            raise ValueError("a postal period with a rate needs its reporting 'group'")
        if self.per_item is not None and self.rate is None:
            raise ValueError("'per_item' needs a 'rate' (the ad valorem alternative)")
        return self


class LowValue(Model):
    """The rules for low-value shipments (``--entry``)."""

    de_minimis: DeMinimis
    informal: Informal
    postal: tuple[PostalPeriod, ...] = ()


class Party(Model):
    """The rules of one importing country."""

    name: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    valuation: Literal["transaction", "cif"]
    valuation_source: SourceRefs
    insurance_default: RateField | None = None
    timezone: TimeZone
    reporting_order: tuple[Id, ...] = Field(min_length=1)
    duty_threshold: DutyThreshold | None = None
    fees: tuple[Fee, ...] = ()
    taxes: tuple[Tax, ...] = ()
    low_value: LowValue | None = None


class ListRow(Model):
    """One code of a list kept in its own file, in the list over ``[start, end)``."""

    digits: str
    start: datetime | None = None
    end: datetime | None = None
    source: tuple[str, ...] = ()
    note: str = ""

    def covers(self, when: datetime | None) -> bool:
        """True at ``when`` (None: at any time)."""
        if when is None:
            return True
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)


class ProductList(Model):
    """A named list of codes that scopes can refer to as ``@id``.

    The codes are given inline (``codes:``, in the list at every date) or kept in a CSV
    file of their own (``file:``, one dated row per code and period; see
    :mod:`tradecalc.schedule.list_files`), whose rows the loader reads into ``rows``.
    """

    name: str
    codes: tuple[Code, ...] = ()
    file: str | None = Field(default=None, min_length=1)
    rows: SkipJsonSchema[tuple[ListRow, ...]] = ()
    source: SourceRefs
    unconfirmed: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _codes_or_file(self) -> ProductList:
        if bool(self.codes) == (self.file is not None):
            raise ValueError("a product list needs exactly one of 'codes' or 'file'")
        return self

    @cached_property
    def _index(self) -> dict[str, tuple[ListRow, ...]]:
        """The rows by code digits (built on first use; not part of the model's value)."""
        grouped: dict[str, list[ListRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.digits, []).append(row)
        return {key: tuple(rows) for key, rows in grouped.items()}

    @cached_property
    def _prefixes(self) -> tuple[str, ...]:
        """The digits of the inline codes (normalised once; not part of the model's value)."""
        return tuple(code_digits(code) for code in self.codes)

    @cached_property
    def _lengths(self) -> tuple[int, ...]:
        """The lengths of the listed codes' digits, shortest first (not part of the value)."""
        return tuple(sorted({len(key) for key in self._index}))

    def rows_for(self, digits: str) -> tuple[bool, tuple[ListRow, ...]]:
        """Whether an inline code is a prefix of ``digits``, and the dated rows of the
        listed prefixes of ``digits``. The last code asked is kept in the list's memo: a
        compile asks about one code at many moments."""
        last: tuple[str, bool, tuple[ListRow, ...]] | None = self.memo.get(ProductList.rows_for)
        if last is None or last[0] != digits:
            rows: tuple[ListRow, ...] = ()
            if self.rows:
                index = self._index
                for end in self._lengths:
                    if end > len(digits):
                        break
                    found = index.get(digits[:end])
                    if found is not None:
                        rows += found
            inline = bool(self.codes) and digits.startswith(self._prefixes)
            last = self.memo[ProductList.rows_for] = (digits, inline, rows)
        return last[1], last[2]

    @cached_property
    def reach(self) -> frozenset[str]:
        """The codes (digits) whose being a prefix of a code is what :meth:`holds` asks:
        a code none of whose prefixes is here is never held (not part of the value)."""
        return frozenset((*self._index, *self._prefixes))

    def holds(self, digits: str, when: datetime | None = None) -> bool:
        """True if a code of the list is a prefix of ``digits`` (at ``when``, for dated rows)."""
        inline, rows = self.rows_for(digits)
        return inline or any(row.covers(when) for row in rows)


class ClaimEffect(Model):
    """What a claim changes for one measure: it is not charged (``exclude``), charged on the
    value less the share given with the claim (``content``), or charged only when the claim
    is given (``charge``: a measure that turns on a fact such as a patent)."""

    measure: Id
    heading: Heading | None = None
    """The Chapter 99 heading the importer reports instead (None: no such heading)."""
    action: Literal["exclude", "content", "charge"] = "exclude"
    from_: When | None = Field(default=None, alias="from")
    to: When | None = None
    """The claim counts for entries in ``[from, to)`` only (e.g. an in-transit window)."""
    source: SourceRefs
    unconfirmed: str | None = None

    def covers(self, when: datetime) -> bool:
        """True if a claim made for an entry at ``when`` counts."""
        return (self.from_ is None or self.from_ <= when) and (self.to is None or when < self.to)


class Claim(Model):
    """A fact only the importer can declare (``--claim ID``) and what it changes.

    ``scope`` is the goods the claim can cover (empty: all). Without the claim the result is
    computed on ``default``; on codes in ``ask`` (when given) it is then marked needs review,
    naming the claim, because the law makes the result turn on that fact.
    """

    name: str
    importer: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    default: str
    scope: Scope = Field(default_factory=Scope)
    ask: Scope | None = None
    share: Amount | None = None
    """For ``content`` effects: the least share (e.g. ``"0.2"``) for which the claim holds."""
    effects: tuple[ClaimEffect, ...] = Field(min_length=1)
    unconfirmed: str | None = None
    note: str | None = None

    @property
    def needs_share(self) -> bool:
        """True when the claim is given with a share (``ID=30%``)."""
        return any(e.action == "content" for e in self.effects)


class Regime(Model):
    """A named snapshot of the schedule at one moment."""

    id: Id
    title: str
    as_of: When
    description: str


class Override(Model):
    """Set a measure's rate (or switch it off) in a scenario."""

    measure: Id
    rate: RateField | None = None
    off: bool = False
    heading: Heading | None = None

    @model_validator(mode="after")
    def _rate_or_off(self) -> Override:
        if (self.rate is None) == (not self.off):
            raise ValueError("an override needs exactly one of 'rate' or 'off: true'")
        return self


class Scenario(Model):
    """A hypothetical regime: a named regime (or scenario) with overrides."""

    id: Id
    title: str
    description: str
    based_on: Id
    as_of: When | None = None
    overrides: tuple[Override, ...] = ()
    add: tuple[Measure, ...] = ()

    def expanded(self, sets: dict[str, tuple[str, ...]]) -> Scenario:
        """This scenario with the displacement sets of its added measures expanded."""
        add = tuple(m.expanded(sets) for m in self.add)
        if all(a is b for a, b in zip(add, self.add, strict=True)):
            return self
        return self.model_copy(update={"add": add})


class Schedule(Model):
    """A whole schedule: the root of ``data/rates.yaml`` and of the part files it includes."""

    schema_version: Literal["1"] = "1"
    version: str
    title: str
    published: When
    include: tuple[str, ...] = Field(
        default=(),
        description="Part files read into this schedule (paths relative to this file's "
        "folder): their lists (measures, regimes, ...) are joined, their mappings "
        "(sources, product_lists, ...) merged. Only the entry file includes.",
    )
    displacement_sets: dict[Id, tuple[DisplacementRef, ...]] = Field(
        default_factory=dict,
        description="Named lists of measure ids (or 'group:NAME'), used in displaced_by "
        "as 'set:NAME'.",
    )
    sources: dict[Id, Source]
    parties: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], Party]
    product_lists: dict[Id, ProductList] = Field(default_factory=dict)
    claims: dict[Id, Claim] = Field(default_factory=dict)
    measures: tuple[Measure, ...]
    regimes: tuple[Regime, ...] = Field(min_length=1)
    scenarios: tuple[Scenario, ...] = ()

    def expanded(self) -> Schedule:
        """This schedule with every ``set:NAME`` in ``displaced_by`` replaced by its members."""
        sets = self.displacement_sets
        measures = tuple(m.expanded(sets) for m in self.measures)
        scenarios = tuple(s.expanded(sets) for s in self.scenarios)
        return self.model_copy(update={"measures": measures, "scenarios": scenarios})


class ScenarioFile(Model):
    """A stand-alone scenario file (``--scenario FILE``)."""

    schema_version: Literal["1"] = "1"
    scenario: Scenario
    sources: dict[Id, Source] = Field(default_factory=dict)
