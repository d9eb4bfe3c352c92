"""The frozen models of a schedule file and of a scenario file (plain dataclasses).

Every scalar arrives from YAML as text; the annotated types of
:mod:`tradecalc.schedule.fields` parse rates, dates and codes from text and refuse anything
else when :func:`tradecalc.schedule.fields.validate` builds a model from plain data. This
module itself never imports pydantic: a schedule read back from its cache is built without
it. Times are wall-clock times in the importing party's time zone; a bare date means the
start of that day.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeGuard,
    TypeVar,
    dataclass_transform,
    get_args,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tradecalc.core.money import parse_decimal
from tradecalc.core.rate import Rate, RateSyntaxError, parse_rate
from tradecalc.core.records import value_methods

if TYPE_CHECKING:  # the annotations' names, bound at run time by fields.validate
    from typing import Annotated

    from pydantic import Field
    from pydantic.json_schema import SkipJsonSchema

    from tradecalc.schedule.fields import (
        Amount,
        Code,
        CodeRateEntry,
        Country,
        DisplacementRef,
        Heading,
        Id,
        RateField,
        ScopeEntries,
        SourceRefs,
        TimeZone,
        When,
    )

_CODE = re.compile(r"\d{2}(?:[. ]?\d{2}){0,3}(?:[. ]?\d{2})?", re.ASCII)
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2})?", re.ASCII)
ID_PATTERN = r"^[a-z0-9][a-z0-9.-]*$"
_HTS_HEADING = re.compile(r"9[89]\d\d\.\d\d\.\d\d")


def code_digits(code: str) -> str:
    """The digits of an HS/HTS code: ``"8471.30.0100"`` -> ``"8471300100"``."""
    return code.replace(".", "").replace(" ", "")


def is_code(text: str) -> bool:
    """True for 2 to 10 digits of an HS/HTS code, dotted, spaced or not."""
    return bool(_CODE.fullmatch(text.strip())) and 2 <= len(code_digits(text)) <= 10


def to_code(value: Any) -> str:
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


def to_rate(value: Any) -> Rate:
    if isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"rate {value!r} must be text such as '25%' or 'Free'")
    try:
        return parse_rate(value)
    except RateSyntaxError as exc:
        raise ValueError(str(exc)) from None


def to_time_zone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'America/New_York')"
        ) from None
    return str(value)


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"amount {value!r} must be quoted text such as '33.58'")
    return parse_decimal(value)


Base = Literal["full", "metal", "remainder"]
Metal = Literal["steel", "aluminum", "copper"]
Mode = Literal["ocean", "air", "truck", "rail", "postal"]
"""A transport mode (fees such as the HMF depend on it): the one list of modes."""
MODES: tuple[Mode, ...] = get_args(Mode)


def is_mode(text: str) -> TypeGuard[Mode]:
    """True if ``text`` names a transport mode."""
    return text in MODES


class Memo(dict[Hashable, Any]):
    """Values derived from one frozen object, kept with it: they live as long as it does,
    and a copy or a pickle of it starts with an empty memo."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Memo], tuple[()]]:
        return Memo, ()


_M = TypeVar("_M", bound="Model")


class Model:
    """Base of the models, each a frozen dataclass (see :func:`model`) whose fields are
    given by keyword; unknown keys are errors."""

    __pydantic_config__: ClassVar[dict[str, object]] = {
        "extra": "forbid",
        "populate_by_name": True,
    }
    """How :func:`tradecalc.schedule.fields.validate` builds the model from plain data."""

    _shape: ClassVar[_Shape]

    def __init__(self, **values: Any) -> None:
        """The fields by keyword, defaults for those not given (TypeError for an unknown
        or a missing one), then the model's own checks."""
        shape = self._shape
        if unknown := values.keys() - shape.names:
            name = min(unknown)
            raise TypeError(
                f"{type(self).__qualname__}() got an unexpected keyword argument {name!r}"
            )
        if missing := shape.required - values.keys():
            raise TypeError(
                f"{type(self).__qualname__}() missing keyword argument {min(missing)!r}"
            )
        self.__dict__.update(shape.defaults(), **values)
        if shape.checked:
            self.__post_init__()

    def __post_init__(self) -> None:
        """The model's own checks, run once its fields are set."""

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    @cached_property
    def memo(self) -> Memo:
        """What the engine derives from this object (fee periods, table lookups), kept with
        it rather than in a global cache; not part of the model's value."""
        return Memo()

    def __copy__(self) -> Self:
        """A shallow copy without derived values (:func:`dataclasses.replace` changes
        fields)."""
        return construct(type(self), **{name: self.__dict__[name] for name in self._shape.names})


class _Shape:
    """A model class's fields as its generic methods need them."""

    def __init__(self, cls: type[Model]) -> None:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        self.names = frozenset(f.name for f in fields)
        self.required = frozenset(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        self._fixed = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
        self._made = [
            (f.name, f.default_factory)
            for f in fields
            if f.default_factory is not dataclasses.MISSING
        ]
        self.checked = cls.__post_init__ is not Model.__post_init__

    def defaults(self) -> dict[str, Any]:
        """A fresh dict of every field's default (factories called)."""
        values = dict(self._fixed)
        for name, factory in self._made:
            values[name] = factory()
        return values


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def model(cls: type[_M]) -> type[_M]:
    """``cls`` as a frozen keyword-only dataclass: its fields, defaults and ``__post_init__``
    declared as for :func:`dataclasses.dataclass`, its ``__init__`` and frozen guards those
    of :class:`Model`, its equality, hash and repr from
    :func:`~tradecalc.core.records.value_methods`: nothing compiled per class."""
    dataclass(init=False, repr=False, eq=False, kw_only=True)(cls)
    value_methods(cls)
    cls._shape = _Shape(cls)
    return cls


def construct(cls: type[_M], **values: Any) -> _M:
    """``cls`` with ``values`` and the defaults of the fields not given, without running
    its checks (for values already checked, or a stand-in of a part that failed)."""
    made = object.__new__(cls)
    made.__dict__.update(cls._shape.defaults(), **values)
    return made


@model
class Source(Model):
    """A citation: an official text, a secondary report, or a derived figure."""

    title: str
    url: str | None = None
    kind: Literal["primary", "secondary", "repository", "derived"]
    note: str | None = None


@model
class CodeRate(Model):
    """A rate for one code inside a period's table, with its own citation if needed."""

    rate: RateField
    source: SourceRefs | None = None
    unconfirmed: str | None = None
    intentional: str | None = None
    """Why a rate above 1000% is right (otherwise the checks report it)."""
    note: str | None = None


@model
class Period(Model):
    """``[from, to)`` with one rate (or a table of rates by code) and its source."""

    from_: Annotated[When, Field(alias="from")]
    to: When | None = None
    rate: RateField | None = None
    rates: dict[Code, CodeRateEntry] = field(default_factory=dict)
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


@model
class Scope(Model):
    """Which goods a measure covers: code prefixes or ``@list`` names; empty = all.

    ``@hts:9903.88.03`` names the codes whose line in the imported HTS revision points to
    that Chapter 99 heading in a footnote (used for codes without a curated base rate).
    """

    include: ScopeEntries = ()
    exclude: ScopeEntries = ()


def scope_entries(value: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` if each entry is a code, an ``@list`` or an ``@hts:`` heading (ValueError)."""
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"scope entry {item!r} must be quoted text")
        if item.startswith("@hts:") and not _HTS_HEADING.fullmatch(item[5:]):
            raise ValueError(f"{item!r}: write an imported heading as '@hts:9903.88.03'")
        if not item.startswith("@"):
            to_code(item)
    return value


@model
class Measure(Model):
    """One legal layer of duty, with its dated periods."""

    id: Id
    name: str
    importer: Country
    origins: Annotated[tuple[Country, ...], Field(min_length=1)]
    authority: str
    group: Id
    kind: Literal["duty", "flag"] = "duty"
    scope: Scope = field(default_factory=Scope)
    base: Base = "full"
    metal: Metal | None = None
    displaced_by: tuple[DisplacementRef, ...] = ()
    status: str | None = None
    note: str | None = None
    periods: Annotated[tuple[Period, ...], Field(min_length=1)]

    def __post_init__(self) -> None:
        if self.base == "metal" and self.metal is None:
            raise ValueError("a measure with base 'metal' must name its 'metal'")
        if self.kind == "duty":
            _require_rates(self.periods)

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
            else dataclasses.replace(p, displaced_by=expand_refs(p.displaced_by, sets))
            for p in self.periods
        )
        displaced_by = expand_refs(self.displaced_by, sets)
        return dataclasses.replace(self, displaced_by=displaced_by, periods=periods)


def expand_refs(refs: tuple[str, ...], sets: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """``refs`` with each known ``set:NAME`` replaced by the members of that set."""
    out: list[str] = []
    for ref in refs:
        members = sets.get(ref[4:]) if ref.startswith("set:") else None
        out.extend(members if members is not None else (ref,))
    return tuple(out)


def _require_rates(periods: tuple[Period, ...]) -> None:
    missing = [str(i) for i, p in enumerate(periods) if not p.has_rate]
    if missing:
        raise ValueError(f"periods {', '.join(missing)}: a period needs 'rate' or 'rates'")


@model
class FeePeriod(Model):
    """A fee's rate and its per-entry minimum and maximum over ``[from, to)``."""

    from_: Annotated[When, Field(alias="from")]
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


@model
class Fee(Model):
    """A fee charged on the customs value (e.g. MPF, HMF), by transport mode."""

    id: Id
    name: str
    modes: tuple[Mode, ...] = ()
    periods: Annotated[tuple[FeePeriod, ...], Field(min_length=1)]


@model
class Tax(Model):
    """An import tax computed after duty: consumption tax, then VAT."""

    id: Id
    name: str
    kind: Literal["consumption", "vat"]
    scope: Scope = field(default_factory=Scope)
    periods: Annotated[tuple[Period, ...], Field(min_length=1)]

    def __post_init__(self) -> None:
        _require_rates(self.periods)


@model
class DutyThreshold(Model):
    """Duty below this amount is waived (e.g. China's RMB 50 rule)."""

    amount: Amount
    source: SourceRefs
    unconfirmed: str | None = None


@model
class OriginPeriod(Model):
    """``[from, to)`` for goods of ``origins`` (``*``: any), with its source."""

    from_: Annotated[When, Field(alias="from")]
    to: When | None = None
    origins: Annotated[tuple[Country, ...], Field(min_length=1)]
    source: SourceRefs
    unconfirmed: str | None = None
    note: str | None = None

    def covers(self, origin: str, when: datetime) -> bool:
        """True for goods of ``origin`` at ``when``."""
        in_time = self.from_ <= when and (self.to is None or when < self.to)
        return in_time and ("*" in self.origins or origin in self.origins)


@model
class DeMinimis(Model):
    """Duty-free entry of low-value goods (19 U.S.C. 1321), and when it was suspended."""

    amount: Amount
    source: SourceRefs
    suspended: tuple[OriginPeriod, ...] = ()


@model
class InformalFeePeriod(Model):
    """The flat fee of an informal entry over ``[from, to)``."""

    from_: Annotated[When, Field(alias="from")]
    to: When | None = None
    amount: Amount
    source: SourceRefs
    unconfirmed: str | None = None

    def covers(self, when: datetime) -> bool:
        """True if ``when`` falls in ``[from, to)``."""
        return self.from_ <= when and (self.to is None or when < self.to)


@model
class Informal(Model):
    """Informal entry: up to ``limit``, a flat fee in place of the fee ``replaces``."""

    limit: Amount
    source: SourceRefs
    replaces: Id
    note: str | None = None
    periods: Annotated[tuple[InformalFeePeriod, ...], Field(min_length=1)]


@model
class PostalPeriod(OriginPeriod):
    """What low-value postal items pay: a duty in place of every other duty, ad valorem
    (``rate``) or per postal item (``per_item``) at the shipper's choice; or, when
    ``informal``, all ordinary duties on a postal informal entry."""

    rate: RateField | None = None
    per_item: Amount | None = None
    group: Id | None = None
    informal: bool = False

    def __post_init__(self) -> None:
        if self.informal == (self.rate is not None):
            raise ValueError("a postal period needs exactly one of 'rate' or 'informal: true'")
        if self.rate is not None and self.group is None:
            raise ValueError("a postal period with a rate needs its reporting 'group'")
        if self.per_item is not None and self.rate is None:
            raise ValueError("'per_item' needs a 'rate' (the ad valorem alternative)")


@model
class LowValue(Model):
    """The rules for low-value shipments (``--entry``)."""

    de_minimis: DeMinimis
    informal: Informal
    postal: tuple[PostalPeriod, ...] = ()


@model
class Party(Model):
    """The rules of one importing country."""

    name: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    valuation: Literal["transaction", "cif"]
    valuation_source: SourceRefs
    insurance_default: RateField | None = None
    timezone: TimeZone
    reporting_order: Annotated[tuple[Id, ...], Field(min_length=1)]
    duty_threshold: DutyThreshold | None = None
    fees: tuple[Fee, ...] = ()
    taxes: tuple[Tax, ...] = ()
    low_value: LowValue | None = None


@model
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


@model
class ProductList(Model):
    """A named list of codes that scopes can refer to as ``@id``.

    The codes are given inline (``codes:``, in the list at every date) or kept in a CSV
    file of their own (``file:``, one dated row per code and period; see
    :mod:`tradecalc.schedule.list_files`), whose rows the loader reads into ``rows``.
    """

    name: str
    codes: tuple[Code, ...] = ()
    file: Annotated[str | None, Field(min_length=1)] = None
    rows: SkipJsonSchema[tuple[ListRow, ...]] = ()
    source: SourceRefs
    unconfirmed: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if bool(self.codes) == (self.file is not None):
            raise ValueError("a product list needs exactly one of 'codes' or 'file'")

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


@model
class ClaimEffect(Model):
    """What a claim changes for one measure: it is not charged (``exclude``), charged on the
    value less the share given with the claim (``content``), or charged only when the claim
    is given (``charge``: a measure that turns on a fact such as a patent)."""

    measure: Id
    heading: Heading | None = None
    """The Chapter 99 heading the importer reports instead (None: no such heading)."""
    action: Literal["exclude", "content", "charge"] = "exclude"
    from_: Annotated[When | None, Field(alias="from")] = None
    to: When | None = None
    """The claim counts for entries in ``[from, to)`` only (e.g. an in-transit window)."""
    source: SourceRefs
    unconfirmed: str | None = None

    def covers(self, when: datetime) -> bool:
        """True if a claim made for an entry at ``when`` counts."""
        return (self.from_ is None or self.from_ <= when) and (self.to is None or when < self.to)


@model
class Claim(Model):
    """A fact only the importer can declare (``--claim ID``) and what it changes.

    ``scope`` is the goods the claim can cover (empty: all). Without the claim the result is
    computed on ``default``; on codes in ``ask`` (when given) it is then marked needs review,
    naming the claim, because the law makes the result turn on that fact.
    """

    name: str
    importer: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    default: str
    scope: Scope = field(default_factory=Scope)
    ask: Scope | None = None
    share: Amount | None = None
    """For ``content`` effects: the least share (e.g. ``"0.2"``) for which the claim holds."""
    effects: Annotated[tuple[ClaimEffect, ...], Field(min_length=1)]
    unconfirmed: str | None = None
    note: str | None = None

    @property
    def needs_share(self) -> bool:
        """True when the claim is given with a share (``ID=30%``)."""
        return any(e.action == "content" for e in self.effects)


@model
class Regime(Model):
    """A named snapshot of the schedule at one moment."""

    id: Id
    title: str
    as_of: When
    description: str


@model
class Override(Model):
    """Set a measure's rate (or switch it off) in a scenario."""

    measure: Id
    rate: RateField | None = None
    off: bool = False
    heading: Heading | None = None

    def __post_init__(self) -> None:
        if (self.rate is None) == (not self.off):
            raise ValueError("an override needs exactly one of 'rate' or 'off: true'")


@model
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
        return dataclasses.replace(self, add=add)


@model
class Schedule(Model):
    """A whole schedule: the root of ``data/rates.yaml`` and of the part files it includes."""

    schema_version: Literal["1"] = "1"
    version: str
    title: str
    published: When
    include: Annotated[
        tuple[str, ...],
        Field(
            description="Part files read into this schedule (paths relative to this file's "
            "folder): their lists (measures, regimes, ...) are joined, their mappings "
            "(sources, product_lists, ...) merged. Only the entry file includes."
        ),
    ] = ()
    displacement_sets: Annotated[
        dict[Id, tuple[DisplacementRef, ...]],
        Field(
            description="Named lists of measure ids (or 'group:NAME'), used in displaced_by "
            "as 'set:NAME'."
        ),
    ] = field(default_factory=dict)
    sources: dict[Id, Source]
    parties: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], Party]
    product_lists: dict[Id, ProductList] = field(default_factory=dict)
    claims: dict[Id, Claim] = field(default_factory=dict)
    measures: tuple[Measure, ...]
    regimes: Annotated[tuple[Regime, ...], Field(min_length=1)]
    scenarios: tuple[Scenario, ...] = ()

    def expanded(self) -> Schedule:
        """This schedule with every ``set:NAME`` in ``displaced_by`` replaced by its members."""
        sets = self.displacement_sets
        measures = tuple(m.expanded(sets) for m in self.measures)
        scenarios = tuple(s.expanded(sets) for s in self.scenarios)
        return dataclasses.replace(self, measures=measures, scenarios=scenarios)


@model
class ScenarioFile(Model):
    """A stand-alone scenario file (``--scenario FILE``)."""

    schema_version: Literal["1"] = "1"
    scenario: Scenario
    sources: dict[Id, Source] = field(default_factory=dict)
