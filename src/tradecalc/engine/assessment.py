"""The duty engine: pure functions from (schedule, shipment, regime) to a frozen assessment.

Steps, in order: value the shipment in the importer's currency (transaction value or
CIF); find the measures in force for the code, origin and moment; drop the displaced
ones; charge each on its value base (full, metal content, or the remainder); add fees;
add taxes (consumption tax, then VAT); total. Every line is rounded half-up to the cent
by :func:`tradecalc.core.money.round_money`; totals are sums of rounded lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Protocol, TypeVar

from tradecalc.core.errors import MissingFxRateError, UsageError
from tradecalc.core.money import (
    Exact,
    FxTable,
    consumption_tax,
    effective_rate,
    exact,
    money_sum,
    round_money,
)
from tradecalc.core.rate import FREE, Rate, Specific, convert_quantity
from tradecalc.core.records import record
from tradecalc.hts.base_rates import HEADING_SCOPE, BaseRates, ImportedRate, for_importer
from tradecalc.hts.history import Resolved as LineLookup
from tradecalc.hts.history import UsSchedule
from tradecalc.schedule.models import (
    Claim,
    CodeRate,
    Fee,
    FeePeriod,
    LowValue,
    Measure,
    Mode,
    Override,
    Party,
    Period,
    PostalPeriod,
    Schedule,
    Scope,
    Tax,
    code_digits,
    format_when,
    is_code,
)

ZERO = Decimal(0)
NO_MONEY = Decimal("0.00")
"""An empty sum of money, shown with its cents."""


# ----------------------------------------------------------------------------- inputs

DIRECTIONS = {"US": ("CN", "HK", "MO"), "CN": ("US",)}
"""The trade tradecalc covers, importer -> origins: US imports from China, Hong Kong and
Macau (which US measures on China name), and China's imports from the US."""


def check_direction(origin: str, dest: str) -> None:
    """Refuse a pair of countries tradecalc has no tariffs for (it would be a silent zero)."""
    if origin == dest:
        raise UsageError(f"origin and destination are both {dest}")
    if origin not in DIRECTIONS.get(dest, ()):
        raise UsageError(
            f"{origin} -> {dest} is not covered: tradecalc computes imports into the US "
            "from CN, HK or MO, and imports into CN from the US"
        )


@record
class MetalContent:
    """How much of a shipment is one metal: a share of its value (``Decimal('0.4')``), or an
    amount in ``currency`` (None: the currency of the value)."""

    amount: Decimal
    is_share: bool = True
    currency: str | None = None


@record
class Shipment:
    """One shipment line. ``value`` is in ``currency`` (None: the importer's currency)."""

    code: str
    value: Decimal
    origin: str = "CN"
    dest: str = "US"
    entry: datetime | None = None
    entry_is_date: bool = True
    currency: str | None = None
    freight: Decimal | None = None
    insurance: Decimal | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    mode: Mode = "ocean"
    metal: Mapping[str, MetalContent] = field(default_factory=dict)
    """Metal content per metal (``--metal steel=40%``, ``--metal steel=USD400``)."""
    claims: tuple[tuple[str, Decimal | None], ...] = ()
    """Declared claims (``--claim ID``), each with the share it claims (``ID=30%``) or None."""
    entry_type: str | None = None
    """How the goods are entered (``--entry``, one of :data:`ENTRY_TYPES`; None: not said)."""
    items: int | None = None
    """Postal items in the shipment (``--items``), for a per-item postal duty."""

    def __post_init__(self) -> None:
        if not is_code(self.code):
            raise UsageError(
                f"HS code {self.code!r} is not valid: use 4 to 10 digits, e.g. 9503.00.0073"
            )
        if len(code_digits(self.code)) < 4:
            raise UsageError(f"HS code {self.code!r} is too short: give at least 4 digits")
        if self.value < 0:
            raise UsageError("the value must not be negative")
        check_direction(self.origin, self.dest)

    @property
    def digits(self) -> str:
        """The code without dots."""
        return code_digits(self.code)


@record
class RegimeView:
    """What to compute under: a moment plus scenario overrides and added measures.

    A named regime or scenario is its own moment; only a view that ``follows_entry`` (the
    schedule in force on the shipment's date) moves with the shipment. See :func:`moment`.
    """

    id: str
    title: str
    as_of: datetime
    description: str = ""
    overrides: tuple[Override, ...] = ()
    added: tuple[Measure, ...] = ()
    hypothetical: bool = False
    follows_entry: bool = False
    set_by_user: tuple[str, ...] = ()
    """Measures given with ``--set``: a note says so when one does not apply."""
    key: object = field(default_factory=object, init=False, compare=False, repr=False)
    """A token naming this view in the plans a schedule memoises (see :func:`_plan_for`):
    held by the cache, so it can never stand for another view; a copy gets its own."""


def dated_view(entry: datetime, name: str | None = None) -> RegimeView:
    """The schedule in force on a shipment's entry date (``--date``, a dated row)."""
    text = format_when(entry)
    return RegimeView(
        name or text, f"As of {text}", entry, "Schedule in force on that date", follows_entry=True
    )


def moment(shipment: Shipment, view: RegimeView) -> tuple[datetime, str | None]:
    """The instant to compute at, and a note when the shipment's date is only informational.

    The one rule for ``duty``, ``duty --stdin`` and ``batch``: a named regime or scenario
    means its own instant, as a column labelled with it must; the shipment's entry date then
    does not move it and is reported as informational. A dated view follows the entry date.
    """
    if shipment.entry is None:
        return view.as_of, None
    if view.follows_entry:
        return shipment.entry, None
    if shipment.entry == view.as_of:
        return view.as_of, None
    return view.as_of, (
        f"entry date {format_when(shipment.entry)} is informational: {view.id} is computed "
        f"as of its own moment, {format_when(view.as_of)}"
    )


# ----------------------------------------------------------------------------- results


@record
class Line:
    """One charged layer, fee or tax."""

    measure: str
    name: str
    group: str
    heading: str | None
    rate: Rate
    base: Decimal
    amount: Decimal
    source: tuple[str, ...]
    unconfirmed: str | None = None
    base_rule: str = "full"
    """How ``base`` was found: ``full`` value, ``metal`` content or the ``remainder``."""


@record
class Step:
    """Why a measure was or was not charged (the rule trace for ``--explain``)."""

    measure: str
    applied: bool
    reason: str
    order: int = 0


@record
class Assessment:
    """The frozen result for one shipment under one regime."""

    regime: str
    title: str
    as_of: datetime
    importer: str
    currency: str
    customs_value: Decimal
    lines: tuple[Line, ...]
    fees: tuple[Line, ...]
    taxes: tuple[Line, ...]
    landed_extra: Decimal
    """Freight and insurance paid on top of the customs value (US transaction value)."""
    review: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    trace: tuple[Step, ...] = ()
    hypothetical: bool = False
    reporting_order: tuple[str, ...] = ()
    """The importer's order of measure groups, which ``lines`` follow."""
    claims: tuple[str, ...] = ()
    """Claims applied, each with what it changed and the heading reported."""
    claimable: tuple[str, ...] = ()
    """Claims not given that would change this result (``ID (heading)``)."""

    @property
    def duty(self) -> Decimal:
        """Sum of the duty lines."""
        return _sum(self.lines)

    @property
    def fees_total(self) -> Decimal:
        """Sum of the fee lines."""
        return _sum(self.fees)

    @property
    def taxes_total(self) -> Decimal:
        """Sum of the tax lines."""
        return _sum(self.taxes)

    @property
    def total(self) -> Decimal:
        """Duty + fees + taxes."""
        return money_sum((self.duty, self.fees_total, self.taxes_total))

    @property
    def effective_rate(self) -> Decimal:
        """Duty over customs value, as a fraction."""
        return effective_rate(self.duty, self.customs_value)

    @property
    def landed_cost(self) -> Decimal:
        """Customs value + freight and insurance not in it + duty, fees and taxes."""
        return money_sum((self.customs_value, self.landed_extra, self.total))

    @property
    def needs_review(self) -> bool:
        """True when any part of the result could not be computed with confidence."""
        return bool(self.review)


def _sum(lines: Iterable[Line]) -> Decimal:
    return money_sum(line.amount for line in lines)


# ----------------------------------------------------------------------------- regimes


def regime_views(schedule: Schedule, extra: Sequence[RegimeView] = ()) -> dict[str, RegimeView]:
    """Every named regime and scenario of the schedule, resolved, plus ``extra``."""
    views: dict[str, RegimeView] = {}
    for regime in schedule.regimes:
        views[regime.id] = RegimeView(regime.id, regime.title, regime.as_of, regime.description)
    pending = list(schedule.scenarios)
    while pending:
        progressed = False
        for scenario in list(pending):
            parent = views.get(scenario.based_on)
            if parent is None:
                continue
            views[scenario.id] = RegimeView(
                scenario.id,
                scenario.title,
                scenario.as_of or parent.as_of,
                scenario.description,
                parent.overrides + scenario.overrides,
                parent.added + scenario.add,
                hypothetical=True,
            )
            pending.remove(scenario)
            progressed = True
        if not progressed:
            names = ", ".join(f"{s.id} (based on {s.based_on})" for s in pending)
            raise UsageError(f"scenario base not found or cyclic: {names}")
    for view in extra:
        views[view.id] = view
    return views


def with_overrides(view: RegimeView, overrides: Sequence[Override], name: str) -> RegimeView:
    """An ad-hoc scenario: ``view`` with more overrides (``--set``)."""
    return RegimeView(
        name,
        f"{view.title} + overrides",
        view.as_of,
        "Ad-hoc: " + ", ".join(_describe(o) for o in overrides),
        view.overrides + tuple(overrides),
        view.added,
        hypothetical=True,
        follows_entry=view.follows_entry,
        set_by_user=tuple(o.measure for o in overrides),
    )


def _describe(override: Override) -> str:
    return f"{override.measure}={'off' if override.off else override.rate}"


# ----------------------------------------------------------------------------- engine


@record
class _Active:
    measure: Measure
    period: Period | None
    rate: Rate
    heading: str | None
    source: tuple[str, ...]
    unconfirmed: str | None
    order: int
    why: str


def assess(
    schedule: Schedule,
    shipment: Shipment,
    view: RegimeView,
    fx: FxTable | None = None,
    base_rates: BaseRates | None = None,
) -> Assessment:
    """Compute the duty, fees and taxes for one shipment under one regime.

    ``base_rates`` (an imported schedule) is asked only when no curated base measure
    gives a rate for the code; its line then also decides ``@hts:HEADING`` scopes.
    All amounts are computed exactly (see :mod:`tradecalc.core.money`).
    """
    with exact():
        return _assess(schedule, shipment, view, fx or FxTable(), base_rates)


def _assess(
    schedule: Schedule,
    shipment: Shipment,
    view: RegimeView,
    fx: FxTable,
    base_rates: BaseRates | None,
) -> Assessment:
    party = schedule.parties.get(shipment.dest)
    if party is None:
        known = ", ".join(sorted(schedule.parties))
        raise UsageError(f"no schedule for imports into {shipment.dest!r} (known: {known})")
    when, informational = moment(shipment, view)
    check_claims(schedule, shipment)
    plan = _plan_for(schedule, shipment, view, when, party, base_rates)
    review = list(plan.review)
    notes: list[str] = [informational] if informational else []

    value_currency = shipment.currency or party.currency
    convert = _Convert(fx, value_currency, party.currency)
    customs_value, extra = _customs_value(party, shipment, convert, notes)

    duties = plan.duties
    metal_bases = (
        _metal_bases(duties, shipment, customs_value, convert, review) if plan.metal else {}
    )
    remainder = max(customs_value - sum(metal_bases.values(), ZERO), ZERO)
    lines = []
    content = dict(plan.content)
    for item, item_notes in zip(duties, plan.notes, strict=True):
        base = _base_value(item, customs_value, metal_bases, remainder)
        share = content.get(item.measure.id)
        if share is not None:
            base = round_money(base * (1 - share))
        if item.rate.specifics:
            amount = _charge(
                item.rate, base, shipment, party.currency, fx, item.measure.name, review
            )
        else:
            amount = round_money(base * item.rate.ad_valorem)
        rule = CONTENT_BASE if share is not None else _base_kind(item)
        lines.append(_line(item, base, amount, rule))
        notes.extend(item_notes)
    duty = sum((line.amount for line in lines), ZERO)
    _check_threshold(party, duty, notes)

    fees = _fees(party, shipment, when, customs_value, review, notes)
    trace, claimable = plan.trace, plan.claimable
    if party.low_value is not None or shipment.entry_type or shipment.items is not None:
        entered = low_value(party, shipment, when, customs_value, lines, fees)
        lines, fees, trace = entered.lines, entered.fees, (*trace, *entered.trace)
        if entered.replaced:  # no duty left for a claim to change
            claimable, review = (), [r for r in review if CLAIM_ASKED not in r]
        review.extend(entered.review)
        notes.extend(entered.notes)
        duty = sum((line.amount for line in lines), ZERO)
    taxes = _taxes(schedule, party, shipment, when, customs_value, duty, review, notes)
    review.extend(plan.intraday)
    notes.extend(plan.list_notes)

    return Assessment(
        regime=view.id,
        title=view.title,
        as_of=when,
        importer=shipment.dest,
        currency=party.currency,
        customs_value=customs_value,
        lines=tuple(lines),
        fees=tuple(fees),
        taxes=tuple(taxes),
        landed_extra=extra,
        review=tuple(dict.fromkeys(review)) if review else (),
        notes=tuple(dict.fromkeys(notes)) if notes else (),
        trace=trace,
        hypothetical=view.hypothetical,
        reporting_order=party.reporting_order,
        claims=plan.claims,
        claimable=claimable,
    )


@record
class _Plan:
    """Everything about one assessment that does not depend on the amounts.

    Which measures apply to a code, from an origin, at a moment, under a regime is
    worked out once and reused: batches repeat codes, so this is most of the speed.
    """

    duties: tuple[_Active, ...]
    """The charged duty measures, in reporting order."""
    notes: tuple[tuple[str, ...], ...]
    """Notes of each duty measure (unconfirmed facts, status)."""
    review: tuple[str, ...]
    """Review items known before any amount: flags, an unknown code, an uncomputable rate."""
    intraday: tuple[str, ...]
    trace: tuple[Step, ...]
    metal: bool
    """True when some duty is charged on a metal content."""
    list_notes: tuple[str, ...] = ()
    """Unconfirmed product lists that decided whether a measure covers the code."""
    claims: tuple[str, ...] = ()
    claimable: tuple[str, ...] = ()
    content: tuple[tuple[str, Decimal], ...] = ()
    """Measures charged on the value less a claimed share (e.g. US content)."""


_PLANS_MAX = 50_000
"""Plans a schedule keeps before it starts over (a batch of distinct codes stays bounded)."""


def _plan_for(
    schedule: Schedule,
    shipment: Shipment,
    view: RegimeView,
    when: datetime,
    party: Party,
    base_rates: BaseRates | None,
) -> _Plan:
    """The memoised plan, kept in the schedule's memo (so it goes with the schedule)."""
    plans: dict[tuple[object, ...], _Plan] | None = schedule.memo.get(_plan_for)
    if plans is None:
        plans = schedule.memo[_plan_for] = {}
    key = (
        view.key,
        base_rates,
        shipment.code,
        shipment.origin,
        shipment.dest,
        when,
        shipment.entry_is_date and shipment.entry is not None,
        shipment.claims,
    )
    plan = plans.get(key)
    if plan is None:
        plan = _make_plan(schedule, shipment, view, when, party, base_rates)
        if len(plans) >= _PLANS_MAX:
            plans.clear()
        plans[key] = plan
    return plan


def _make_plan(
    schedule: Schedule,
    shipment: Shipment,
    view: RegimeView,
    when: datetime,
    party: Party,
    base_rates: BaseRates | None,
) -> _Plan:
    trace: list[Step] = []
    measures = [m for m in (*schedule.measures, *view.added) if m.importer == shipment.dest]
    base_rates = for_importer(base_rates, shipment.dest)
    found = resolve_plan(
        schedule,
        shipment,
        when,
        party,
        measures,
        None if base_rates is None else base_rates.lookup,
        overrides={o.measure: o for o in view.overrides},
        trace=trace,
    )
    review = list(found.review)
    duties = found.duties
    if not found.has_base:
        review.append(_unknown_code_message(schedule, measures, shipment, when, base_rates))
    entry = view.follows_entry and shipment.entry is not None
    review.extend(found.asked if entry else (a for a in found.asked if a not in found.entry_only))
    intraday: list[str] = []
    if shipment.entry_is_date and shipment.entry is not None and view.follows_entry:
        _check_intraday(measures, party, shipment.entry, intraday)
    return _Plan(
        duties=duties,
        notes=tuple(tuple(_measure_notes(a)) for a in duties),
        review=tuple(review),
        intraday=tuple(intraday),
        trace=tuple(sorted(trace, key=lambda s: s.order)),
        metal=any(_base_kind(a) == "metal" and a.measure.metal is not None for a in duties),
        list_notes=(
            *_uncertain_lists(schedule, measures, shipment, when),
            *_unused_settings(view, shipment, trace),
            *found.claimed.notes,
        ),
        claims=found.claimed.applied,
        claimable=found.claimable,
        content=found.claimed.content,
    )


@record
class Resolved:
    """The plan of one code, from one origin, at one moment (see :func:`resolve_plan`)."""

    duties: tuple[_Active, ...]
    """The charged duty measures, in the importer's reporting order."""
    review: tuple[str, ...]
    """Review items of the measures: an imported rate that cannot be computed, flags."""
    has_base: bool
    """False when no base (MFN) rate was found: the code is not known at that moment."""
    claimed: _Claimed
    """What the shipment's claims did (and the measures a claim not given leaves out)."""
    claimable: tuple[str, ...]
    """Claims not given that would change the result (``ID (headings)``)."""
    asked: tuple[str, ...]
    """Review items of the claims the result turns on for this code, for an entry."""
    entry_only: tuple[str, ...]
    """The items of :attr:`asked` asked only for an entry, not at a named regime's moment."""


class ScopeTest(Protocol):
    """A measure's scope already matched against one code's fixed parts (the compiler's
    prefix index): ``fixed`` is the answer when nothing varies, else :meth:`matches` is."""

    @property
    def index(self) -> int: ...

    @property
    def measure(self) -> Measure: ...

    @property
    def fixed(self) -> bool | None: ...

    def matches(self, digits: str, headings: tuple[str, ...], when: datetime) -> bool: ...


def resolve_plan(
    schedule: Schedule,
    shipment: Shipment,
    when: datetime,
    party: Party,
    measures: Sequence[Measure],
    lookup: Callable[[str, datetime], ImportedRate | None] | None,
    *,
    overrides: Mapping[str, Override] | None = None,
    trace: list[Step] | None = None,
    scopes: Sequence[ScopeTest] | None = None,
) -> Resolved:
    """Which measures charge a code from an origin at a moment: the one resolution behind
    a one-shot assessment and every row of the compiled table.

    ``measures`` are the importer's (with a scenario's added ones); ``lookup`` gives the
    imported base line, asked only when no curated base measure rates the code. ``trace``
    (None: no trace built) receives a step per measure for ``--explain``; ``scopes`` (the
    compiler's) are the measures that can cover the code, already matched on its prefixes.
    """
    review: list[str] = []
    overrides = overrides or {}
    outcomes: list[_Outcome] = []
    active = _active_measures(
        schedule, measures, shipment, when, overrides, trace, (), scopes, outcomes
    )
    imported = None
    if lookup is not None and not _has_base(active):
        imported = lookup(shipment.digits, when)
        if imported is not None:
            if imported.headings:  # the headings can bring more measures in scope
                if trace is not None:
                    trace.clear()
                active = _active_measures(
                    schedule,
                    measures,
                    shipment,
                    when,
                    overrides,
                    trace,
                    imported.headings,
                    scopes,
                    outcomes,
                )
            active += _imported_base(measures, shipment, imported, overrides, trace, review)
    claimed = apply_claims(schedule, shipment, when, active, trace)
    charged = _drop_displaced(claimed.active, trace)
    review.extend(flag_review(item.measure) for item in charged if item.measure.kind == "flag")
    duties = [a for a in charged if a.measure.kind == "duty"]
    has_base = imported is not None or any(a.measure.group == "base" for a in duties)
    order = _group_order(party)
    duties.sort(key=lambda a: (order.get(a.measure.group, 99), a.measure.id))
    claimable, asked, entry_only = claims_offered(
        schedule, shipment, when, [*duties, *claimed.gated]
    )
    return Resolved(tuple(duties), tuple(review), has_base, claimed, claimable, asked, entry_only)


def _group_order(party: Party) -> dict[str, int]:
    """The position of each measure group in the importer's reporting order."""
    found: dict[str, int] | None = party.memo.get(_group_order)
    if found is None:
        found = party.memo[_group_order] = {g: i for i, g in enumerate(party.reporting_order)}
    return found


def flag_review(measure: Measure) -> str:
    """The review item of a flag measure that applies."""
    return f"{measure.name}: {measure.note or 'check this measure'}"


def metal_unknown(metal: str, name: str) -> str:
    """The review item of a layer charged on a metal content that was not declared."""
    return (
        f"{metal} content unknown: {name} charged on the full value (CBP's fallback); "
        f"pass --metal {metal}=PERCENT% or --metal {metal}=USDAMOUNT"
    )


def quantity_needed(what: str, rate: Rate | str, unit: str) -> str:
    """The review item of a specific rate part charged without a quantity in ``unit``."""
    return (
        f"{what}: the rate {rate} needs a quantity in {unit}; "
        f"pass --qty N --unit {unit} (specific part not charged)"
    )


# ----------------------------------------------------------------------------- claims

CONTENT_BASE = "non-us-content"
"""The base rule of a line charged on the value less a claimed share."""


def check_claims(schedule: Schedule, shipment: Shipment) -> None:
    """Refuse a claim the schedule does not declare, or one given without (or with) a share."""
    for claim_id, share in shipment.claims:
        claim = schedule.claims.get(claim_id)
        if claim is None:
            known = sorted(k for k, c in schedule.claims.items() if c.importer == shipment.dest)
            raise UsageError(
                f"unknown claim {claim_id!r}; claims for imports into {shipment.dest}: "
                f"{', '.join(known) or 'none'}"
            )
        if claim.needs_share and share is None:
            raise UsageError(
                f"claim {claim_id} needs the share it claims, e.g. --claim {claim_id}=30%"
            )
        if share is not None and not claim.needs_share:
            raise UsageError(f"claim {claim_id} takes no share: give --claim {claim_id}")


@record
class _Claimed:
    active: list[_Active]
    applied: tuple[str, ...]
    notes: tuple[str, ...]
    content: tuple[tuple[str, Decimal], ...]
    gated: tuple[_Active, ...] = ()
    """Measures left out because the claim they need was not given."""


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def apply_claims(
    schedule: Schedule,
    shipment: Shipment,
    when: datetime,
    active: Sequence[_Active],
    trace: list[Step] | None,
) -> _Claimed:
    """The measures left once the shipment's claims are applied, and what each claim did.

    A claim that changes nothing (another importer, a code outside its scope, an entry
    outside its window, a share below its threshold, no measure it affects) says so in a note.
    """
    given = {claim_id for claim_id, _ in shipment.claims}
    gated = {m: claim_id for claim_id, m in _charge_effects(schedule) if claim_id not in given}
    kept: list[_Active] = []
    for each in active:
        if each.measure.id in gated:
            if trace is not None:
                why = f"{each.why}; charged only with claim {gated[each.measure.id]}"
                trace.append(Step(each.measure.id, False, why, each.order))
        else:
            kept.append(each)
    if not shipment.claims:
        gated_out = tuple(a for a in active if a.measure.id in gated) if gated else ()
        return _Claimed(kept, (), (), (), gated_out)
    applied: list[str] = []
    notes: list[str] = []
    content: list[tuple[str, Decimal]] = []
    on = format_when(when)
    for claim_id, share in shipment.claims:
        claim = schedule.claims[claim_id]
        if claim.importer != shipment.dest:
            notes.append(
                f"claim {claim_id} is for imports into {claim.importer}: it changes nothing"
            )
            continue
        covered, why = _scope_matches(schedule, claim.scope, shipment.digits, when=when)
        if not covered:
            notes.append(
                f"claim {claim_id} does not cover {shipment.code} ({why}): it changes nothing"
            )
            continue
        if share is not None and claim.share is not None and share < claim.share:
            notes.append(
                f"claim {claim_id}: {_percent(share)} is below the {_percent(claim.share)} the "
                "claim needs: it changes nothing"
            )
            continue
        changed = False
        for effect in claim.effects:
            item = next((a for a in kept if a.measure.id == effect.measure), None)
            if item is None:
                continue
            if not effect.covers(when):
                start = format_when(effect.from_) if effect.from_ else "any date"
                end = format_when(effect.to) if effect.to else "open"
                notes.append(
                    f"claim {claim_id} counts for {effect.heading or effect.measure} only for "
                    f"entries from {start} to {end} (exclusive), not on {on}: "
                    f"{item.measure.name} still charged"
                )
                continue
            changed = True
            reports = f" (report {effect.heading})" if effect.heading else ""
            if effect.unconfirmed:
                notes.append(f"unconfirmed: claim {claim_id}: {effect.unconfirmed}")
            if effect.action == "charge":
                applied.append(f"{claim_id}: {item.measure.name} charged{reports}")
                continue
            if effect.action == "content" and share is not None:
                content.append((item.measure.id, share))
                applied.append(
                    f"{claim_id}: {item.measure.name} charged on the value less "
                    f"{_percent(share)}{reports}"
                )
                continue
            kept.remove(item)
            if trace is not None:
                trace.append(
                    Step(
                        item.measure.id,
                        False,
                        f"{item.why}; not charged: claim {claim_id}{reports}",
                        item.order,
                    )
                )
            applied.append(f"{claim_id}: {item.measure.name} not charged{reports}")
        if changed and claim.unconfirmed:
            notes.append(f"unconfirmed: claim {claim_id}: {claim.unconfirmed}")
        if not changed and not any(claim_id in n for n in notes):
            names = ", ".join(dict.fromkeys(e.measure for e in claim.effects))
            notes.append(
                f"claim {claim_id} changes nothing: none of {names} applies to "
                f"{shipment.code} on {on}"
            )
    gated_out = tuple(a for a in active if a.measure.id in gated)
    return _Claimed(kept, tuple(applied), tuple(notes), tuple(content), gated_out)


CLAIM_ASKED = "if the claim holds, pass --claim"
"""The words of a review item that asks for a claim (see :func:`claims_offered`)."""


def _charge_effects(schedule: Schedule) -> tuple[tuple[str, str], ...]:
    """(claim id, measure) of every ``charge`` effect: the measures a claim turns on."""
    found: tuple[tuple[str, str], ...] | None = schedule.memo.get(_charge_effects)
    if found is None:
        found = schedule.memo[_charge_effects] = tuple(
            (claim_id, e.measure)
            for claim_id, claim in schedule.claims.items()
            for e in claim.effects
            if e.action == "charge"
        )
    return found


def _claims_of(schedule: Schedule, importer: str) -> tuple[tuple[str, Claim, frozenset[str]], ...]:
    """The claims for imports into ``importer``, in the schedule's order, each with the
    measures its effects name."""
    key = (_claims_of, importer)
    found: tuple[tuple[str, Claim, frozenset[str]], ...] | None = schedule.memo.get(key)
    if found is None:
        found = schedule.memo[key] = tuple(
            (claim_id, claim, frozenset(e.measure for e in claim.effects))
            for claim_id, claim in schedule.claims.items()
            if claim.importer == importer
        )
    return found


def claims_offered(
    schedule: Schedule,
    shipment: Shipment,
    when: datetime,
    duties: Sequence[_Active],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Claims not given that would change the result (``ID (headings)``), the review items
    of those the law makes the result turn on for this code (``ask``), and which of these
    are asked only for an entry.

    ``duties`` are the measures charged and those a ``charge`` claim would add. A claim that
    counts only in a window of entry dates (in transit) is asked about for an entry, not at
    a named regime's moment, which is no shipment's loading date."""
    given = {claim_id for claim_id, _ in shipment.claims}
    charged = {a.measure.id: a.measure.name for a in duties}
    digits = shipment.digits
    offered: list[str] = []
    asked: list[str] = []
    entry_only: list[str] = []
    for claim_id, claim, measures in _claims_of(schedule, shipment.dest):
        if claim_id in given or measures.isdisjoint(charged):
            continue
        hits = [e for e in claim.effects if e.measure in charged and e.covers(when)]
        if not hits:
            continue
        if not _scope_matches(schedule, claim.scope, digits, when=when)[0]:
            continue
        headings = ", ".join(dict.fromkeys(e.heading for e in hits if e.heading))
        offered.append(f"{claim_id} ({headings})" if headings else claim_id)
        if claim.ask is None:
            continue
        if not _scope_matches(schedule, claim.ask, digits, when=when)[0]:
            continue
        names = ", ".join(dict.fromkeys(charged[e.measure] for e in hits))
        value = "=PERCENT%" if claim.needs_share else ""
        reports = f", reported under {headings}" if headings else ""
        done = "not charged" if all(e.action == "charge" for e in hits) else "charged"
        text = (
            f"{claim.name} (claim): {names} {done} on the default, {claim.default}; "
            f"{CLAIM_ASKED} {claim_id}{value}{reports}"
        )
        asked.append(text)
        if any(e.to is not None for e in hits):
            entry_only.append(text)
    return tuple(offered), tuple(asked), tuple(entry_only)


def _unused_settings(view: RegimeView, shipment: Shipment, trace: Sequence[Step]) -> list[str]:
    """Notes for ``--set`` measures that do not apply to the shipment (the setting is moot)."""
    notes = []
    for measure in dict.fromkeys(view.set_by_user):
        steps = [s for s in trace if s.measure == measure]
        if any(s.applied or s.reason == "switched off by the scenario" for s in steps):
            continue
        why = steps[-1].reason if steps else f"not for goods from {shipment.origin}"
        notes.append(f"--set {measure} changes nothing: it does not apply here ({why})")
    return notes


def _uncertain_lists(
    schedule: Schedule, measures: Sequence[Measure], shipment: Shipment, when: datetime
) -> list[str]:
    """Notes for unconfirmed product lists that contain the code, in measures that could apply."""
    notes: dict[str, None] = {}
    digits = shipment.digits
    prefixes = _prefixes(digits)
    for measure in measures:
        if not measure.from_origin(shipment.origin):
            continue
        for key in _list_ids(measure.scope):
            plist = schedule.product_lists.get(key)
            if plist is None or plist.unconfirmed is None or plist.reach.isdisjoint(prefixes):
                continue
            if plist.holds(digits, when):
                notes[f"unconfirmed: {key}: {plist.unconfirmed}"] = None
    return list(notes)


def _list_ids(scope: Scope) -> tuple[str, ...]:
    """What follows the ``@`` of each entry of a scope that starts with one (include side
    first), kept in the scope's memo."""
    found: tuple[str, ...] | None = scope.memo.get(_list_ids)
    if found is None:
        entries = (*scope.include, *scope.exclude)
        found = scope.memo[_list_ids] = tuple(e[1:] for e in entries if e.startswith("@"))
    return found


@record
class _Convert:
    fx: FxTable
    source: str
    target: str

    def __call__(self, amount: Decimal) -> Fraction:
        return self.fx.convert(amount, self.source, self.target)


def _customs_value(
    party: Party, shipment: Shipment, convert: _Convert, notes: list[str]
) -> tuple[Decimal, Decimal]:
    """The value duty is charged on, and freight + insurance paid on top of it.

    In the importer's currency the amounts stay Decimals (exact sums and products); a
    conversion makes them exact fractions."""
    freight, insurance = shipment.freight or ZERO, shipment.insurance
    default = party.insurance_default.ad_valorem if party.insurance_default else None
    if convert.source == convert.target:
        return _valued(party, shipment, shipment.value, freight, insurance, default, notes)
    return _valued(
        party,
        shipment,
        convert(shipment.value),
        convert(freight),
        None if insurance is None else convert(insurance),
        None if default is None else Fraction(default),
        notes,
    )


_N = TypeVar("_N", Decimal, Fraction)


def _valued(
    party: Party,
    shipment: Shipment,
    value: _N,
    freight: _N,
    insurance: _N | None,
    insurance_default: _N | None,
    notes: list[str],
) -> tuple[Decimal, Decimal]:
    if party.valuation == "transaction":
        extra = freight if insurance is None else freight + insurance
        return round_money(value), round_money(extra)
    if shipment.freight is None:
        notes.append(f"{party.name} values goods CIF: no freight given, none added")
    if insurance is None and insurance_default is not None:
        insurance = (value + freight) * insurance_default
        notes.append(f"insurance not given: {party.insurance_default} of cost and freight assumed")
    cif = value + freight if insurance is None else value + freight + insurance
    return round_money(cif), ZERO


def _scope_matches(
    schedule: Schedule,
    scope: Scope,
    digits: str,
    headings: tuple[str, ...] = (),
    when: datetime | None = None,
    prefixes: frozenset[str] | None = None,
) -> tuple[bool, str]:
    """Whether ``scope`` covers the code, and why (the first entry that decides).

    ``prefixes`` (every prefix of ``digits``, the empty one included; see
    :func:`_prefixes`) lets a side none of whose codes can match be passed over whole."""
    include, exclude = _prepared(scope)
    check_include = check_exclude = True
    if prefixes is not None:
        (in_codes, in_named), (ex_codes, ex_named) = _reach(schedule, scope)
        check_include = not in_codes.isdisjoint(prefixes) or bool(in_named and headings)
        check_exclude = not ex_codes.isdisjoint(prefixes) or bool(ex_named and headings)
    excluded = _hits(schedule, exclude, digits, headings, when) if check_exclude else None
    if excluded:
        return False, f"excluded by scope {excluded}"
    if not include:
        return True, "all goods"
    included = _hits(schedule, include, digits, headings, when) if check_include else None
    if included:
        return True, f"in scope {included}"
    return False, "code not in scope"


def _hits(
    schedule: Schedule,
    entries: tuple[tuple[str, int, str], ...],
    digits: str,
    headings: tuple[str, ...],
    when: datetime | None,
) -> str | None:
    """The first of a scope side's entries that covers the code, if any."""
    for entry, kind, key in entries:
        if kind == _PREFIX:
            if digits.startswith(key):
                return entry
        elif kind == _HEADING:
            if key in headings:
                return entry
        else:
            plist = schedule.product_lists.get(key)
            if plist is not None and plist.holds(digits, when):
                return entry
    return None


_PREFIX, _HEADING, _LIST = 0, 1, 2
_Entries = tuple[tuple[str, int, str], ...]
_Reach = tuple[tuple[frozenset[str], bool], tuple[frozenset[str], bool]]


def _prefixes(digits: str) -> frozenset[str]:
    """Every prefix of ``digits``, the empty one and ``digits`` included."""
    return frozenset([digits[:n] for n in range(len(digits) + 1)])


def _reach(schedule: Schedule, scope: Scope) -> _Reach:
    """For the include and the exclude side of a scope: the codes (digits) one of which
    must be a prefix of a code for the side to hit it (its prefix entries and the codes of
    its product lists), and whether it names a heading (which may hit any code). Kept in
    the scope's memo with the schedule's lists it was made from."""
    found: tuple[object, _Reach] | None = scope.memo.get(_reach)
    if found is not None and found[0] is schedule.product_lists:
        return found[1]
    sides = []
    for entries in _prepared(scope):
        codes: set[str] = set()
        named = False
        for _, kind, key in entries:
            if kind == _PREFIX:
                codes.add(key)
            elif kind == _HEADING:
                named = True
            else:
                plist = schedule.product_lists.get(key)
                if plist is not None:
                    codes.update(plist.reach)
        sides.append((frozenset(codes), named))
    made: _Reach = (sides[0], sides[1])
    scope.memo[_reach] = (schedule.product_lists, made)
    return made


def _prepared(scope: Scope) -> tuple[_Entries, _Entries]:
    """A scope's include and exclude entries, each with its kind and key (prefix digits,
    heading or list id), normalised once and kept in the scope's memo."""
    found: tuple[_Entries, _Entries] | None = scope.memo.get(_prepared)
    if found is None:
        sides = []
        for entries in (scope.include, scope.exclude):
            side = []
            for entry in entries:
                if entry.startswith(HEADING_SCOPE):
                    side.append((entry, _HEADING, entry.removeprefix(HEADING_SCOPE)))
                elif entry.startswith("@"):
                    side.append((entry, _LIST, entry[1:]))
                else:
                    side.append((entry, _PREFIX, code_digits(entry)))
            sides.append(tuple(side))
        found = scope.memo[_prepared] = (sides[0], sides[1])
    return found


def _period_at(periods: Sequence[Period], when: datetime) -> Period | None:
    for period in periods:
        if period.covers(when):
            return period
    return None


def table_rate(period: Period, digits: str) -> Rate | None:
    """The rate a period sets for a code (longest matching table entry, else its flat rate)."""
    found = _table_rate(period, digits)
    return found[0] if found else None


def scope_matches(
    schedule: Schedule,
    scope: Scope,
    digits: str,
    headings: tuple[str, ...] = (),
    when: datetime | None = None,
) -> bool:
    """True if ``scope`` covers the code ``digits`` (whose imported line names ``headings``).

    Dated product-list rows count at ``when``; with None, a row of any date counts.
    """
    return _scope_matches(schedule, scope, digits, headings, when)[0]


def _table_rate(period: Period, digits: str) -> tuple[Rate, CodeRate | None] | None:
    """The rate of the longest table entry that is a prefix of ``digits`` (the first one
    listed among equal codes), else the period's flat rate; through an index of the table
    by code digits kept in the period's memo."""
    memo = period.memo
    index: dict[str, tuple[Rate, CodeRate]] | None = memo.get(_table_rate)
    if index is None:
        index = {}
        for key, entry in period.rates.items():
            index.setdefault(code_digits(key), (entry.rate, entry))
        memo[_table_rate] = index
    if index:
        # the code asked last: a compile asks about one code at many moments
        last: tuple[str, tuple[Rate, CodeRate | None] | None] | None = memo.get(_LAST_RATE)
        if last is not None and last[0] == digits:
            return last[1]
        for end in range(len(digits), 0, -1):
            hit = index.get(digits[:end])
            if hit is not None:
                memo[_LAST_RATE] = (digits, hit)
                return hit
    found = None if period.rate is None else (period.rate, None)
    if index:
        memo[_LAST_RATE] = (digits, found)
    return found


_LAST_RATE = "last table rate"
_listed = "listed codes in order"


_Outcome = tuple[bool, "Step | None", "_Active | None"]
"""What :func:`_active_measures` found for one candidate measure: whether the code's
headings could change it, its trace step (a measure left out) and its active entry."""


def _active_measures(
    schedule: Schedule,
    measures: Sequence[Measure],
    shipment: Shipment,
    when: datetime,
    overrides: Mapping[str, Override],
    trace: list[Step] | None,
    headings: tuple[str, ...] = (),
    scopes: Sequence[ScopeTest] | None = None,
    outcomes: list[_Outcome] | None = None,
) -> list[_Active]:
    """The measures in force for the code, each with its period, rate and source.

    Without ``scopes`` every measure's scope is matched here (with its reason, for the
    trace); with them (the compiler's), only those measures are, on what still varies.
    ``outcomes`` (empty: filled) holds each candidate's outcome from an earlier call for the
    same code and moment without ``headings``: only the measures whose scope names a
    heading are matched again (the rest cannot change)."""
    digits = shipment.digits
    candidates: Iterable[tuple[int, Measure, ScopeTest | None]]
    if scopes is None:
        candidates = ((i, m, None) for i, m in enumerate(measures))
    else:
        candidates = ((s.index, s.measure, s) for s in scopes)
    before = outcomes[:] if outcomes else None
    if outcomes is not None:
        outcomes.clear()
    active = []
    prefixes = _prefixes(digits)
    for position, (index, measure, test) in enumerate(candidates):
        if before is not None and not before[position][0]:
            found = before[position]
        else:
            found = _outcome(schedule, shipment, when, overrides, trace, headings, digits,
                             prefixes, index, measure, test)  # fmt: skip
        if outcomes is not None:
            outcomes.append(found)
        _, step, item = found
        if step is not None and trace is not None:
            trace.append(step)
        if item is not None:
            active.append(item)
    return active


def _outcome(
    schedule: Schedule,
    shipment: Shipment,
    when: datetime,
    overrides: Mapping[str, Override],
    trace: list[Step] | None,
    headings: tuple[str, ...],
    digits: str,
    prefixes: frozenset[str],
    index: int,
    measure: Measure,
    test: ScopeTest | None,
) -> _Outcome:
    """One candidate measure of :func:`_active_measures` (``prefixes``: the code's)."""
    why = ""
    named = test is not None or _names_heading(measure.scope)
    if test is None:
        if not measure.from_origin(shipment.origin):
            return named, None, None
        in_scope, why = _scope_matches(schedule, measure.scope, digits, headings, when, prefixes)
        if not in_scope:
            return named, (Step(measure.id, False, why, index) if trace is not None else None), None
    elif test.fixed is None and not test.matches(digits, headings, when):
        return named, None, None
    override = overrides.get(measure.id) if overrides else None
    if override is not None and override.off:
        step = Step(measure.id, False, "switched off by the scenario", index)
        return named, step if trace is not None else None, None
    period = _period_at(measure.periods, when)
    if override is not None and override.rate is not None:
        heading = override.heading or (period.heading if period else None)
        reason = f"{why}; rate {override.rate} set by the scenario"
        return (
            named,
            None,
            _Active(measure, period, override.rate, heading, ("scenario",), None, index, reason),
        )
    if period is None:
        if trace is None:
            return named, None, None
        return named, Step(measure.id, False, f"not in force on {format_when(when)}", index), None
    found = (FREE, None) if measure.kind == "flag" else _table_rate(period, digits)
    if found is None:
        if trace is None:
            return named, None, None
        return named, Step(measure.id, False, "no rate for this code", index), None
    rate, entry = found
    source = entry.source if entry and entry.source else period.source
    unconfirmed = (entry.unconfirmed if entry else None) or period.unconfirmed
    reason = ""
    if trace is not None:
        to = format_when(period.to) if period.to else "open"
        reason = f"{why}; period {format_when(period.from_)} to {to}; rate {rate}"
    return (
        named,
        None,
        _Active(measure, period, rate, period.heading, source, unconfirmed, index, reason),
    )


def _names_heading(scope: Scope) -> bool:
    """True when a scope's match can turn on the code's headings (an ``@hts:`` entry)."""
    found: bool | None = scope.memo.get(_names_heading)
    if found is None:
        include, exclude = _prepared(scope)
        found = scope.memo[_names_heading] = any(k == _HEADING for _, k, _ in (*include, *exclude))
    return found


def _has_base(active: Sequence[_Active]) -> bool:
    return any(a.measure.group == "base" and a.measure.kind == "duty" for a in active)


def _imported_base(
    measures: Sequence[Measure],
    shipment: Shipment,
    imported: ImportedRate,
    overrides: Mapping[str, Override],
    trace: list[Step] | None,
    review: list[str],
) -> list[_Active]:
    """The imported base rate, charged as the schedule's base measure (or a stand-in)."""
    template = next(
        (
            m
            for m in measures
            if m.group == "base"
            and m.kind == "duty"
            and ("*" in m.origins or shipment.origin in m.origins)
        ),
        None,
    )
    if template is None:
        template = Measure(
            id=f"{shipment.dest.lower()}-hts-general",
            name=f"{shipment.dest} MFN (imported)",
            importer=shipment.dest,
            origins=("*",),
            authority="Column 1 General rate of the imported tariff schedule",
            group="base",
            periods=(Period(from_=datetime(1900, 1, 1), rate=FREE, source=(imported.source,)),),
        )
    order = len(measures)
    where = f"{imported.source} line {imported.code}: {imported.text}"
    override = overrides.get(template.id)
    if override is not None and override.off:
        if trace is not None:
            trace.append(Step(template.id, False, "switched off by the scenario", order))
        return []
    if imported.rate is None:
        review.append(
            f"{template.name}: the rate of {imported.code} in {imported.source} "
            f"({imported.text!r}) cannot be computed; work it out by hand"
        )
        if trace is not None:
            trace.append(Step(template.id, False, f"not computable: {where}", order))
        return []
    rate, source, unconfirmed = imported.rate, (imported.source,), imported.unconfirmed
    why = f"no curated rate for this code; {where}"
    if override is not None and override.rate is not None:
        rate, source, unconfirmed = override.rate, ("scenario",), None
        why += f"; rate {rate} set by the scenario"
    return [_Active(template, None, rate, None, source, unconfirmed, order, why)]


def _displacers(item: _Active) -> tuple[str, ...]:
    if item.period is not None and item.period.displaced_by is not None:
        return item.period.displaced_by
    return item.measure.displaced_by


def _drop_displaced(active: Sequence[_Active], trace: list[Step] | None) -> list[_Active]:
    """Remove measures displaced by another measure that applies (order-independent)."""
    duties = [a for a in active if a.measure.kind == "duty"]
    ids = {a.measure.id for a in duties}
    groups = {a.measure.group: a.measure.id for a in duties}
    kept = []
    for item in active:
        by = None
        for ref in _displacers(item):
            if ref.startswith("group:"):
                other = groups.get(ref.removeprefix("group:"))
                by = other if other and other != item.measure.id else None
            elif ref in ids and ref != item.measure.id:
                by = ref
            if by:
                break
        if by:
            if trace is not None:
                why = f"{item.why}; displaced by {by}"
                trace.append(Step(item.measure.id, False, why, item.order))
        else:
            if trace is not None:
                trace.append(Step(item.measure.id, True, item.why, item.order))
            kept.append(item)
    return kept


def _metal_bases(
    duties: Sequence[_Active],
    shipment: Shipment,
    customs_value: Decimal,
    convert: _Convert,
    review: list[str],
) -> dict[str, Decimal]:
    bases: dict[str, Decimal] = {}
    for item in duties:
        if _base_kind(item) != "metal" or item.measure.metal is None:
            continue
        metal = item.measure.metal
        if metal in bases:
            continue
        if metal not in shipment.metal:
            review.append(metal_unknown(metal, item.measure.name))
            bases[metal] = customs_value
            continue
        given = shipment.metal[metal]
        if given.is_share:
            amount = round_money(customs_value * given.amount)
        else:
            source = given.currency or convert.source
            amount = round_money(convert.fx.convert(given.amount, source, convert.target))
        if amount > customs_value:
            raise UsageError(f"--metal {metal} is more than the customs value")
        bases[metal] = amount
    return bases


def _base_kind(item: _Active) -> str:
    if item.period is not None and item.period.base is not None:
        return item.period.base
    return item.measure.base


def _base_value(
    item: _Active, customs_value: Decimal, metal: Mapping[str, Decimal], remainder: Decimal
) -> Decimal:
    kind = _base_kind(item)
    if kind == "metal" and item.measure.metal is not None:
        return metal[item.measure.metal]
    if kind == "remainder":
        return remainder
    return customs_value


def _charge(
    rate: Rate,
    base: Decimal,
    shipment: Shipment,
    currency: str,
    fx: FxTable,
    what: str,
    review: list[str],
) -> Decimal:
    """Ad valorem on ``base`` plus each specific component on the quantity."""
    amount: Exact = base * rate.ad_valorem
    for part in rate.specifics:
        if part.amount == 0:
            continue
        quantity = None
        if shipment.quantity is not None and shipment.unit is not None:
            quantity = convert_quantity(shipment.quantity, shipment.unit, part.unit)
        if quantity is None:
            review.append(quantity_needed(what, rate, part.unit))
            continue
        try:
            amount = Fraction(amount) + fx.convert(quantity * part.amount, part.currency, currency)
        except MissingFxRateError as exc:
            review.append(f"{what}: {exc} (specific part not charged)")
    return round_money(amount)


def _line(item: _Active, base: Decimal, amount: Decimal, rule: str) -> Line:
    return Line(
        measure=item.measure.id,
        name=item.measure.name,
        group=item.measure.group,
        heading=item.heading,
        rate=item.rate,
        base=base,
        amount=amount,
        source=item.source,
        unconfirmed=item.unconfirmed,
        base_rule=rule,
    )


def _measure_notes(item: _Active) -> list[str]:
    notes = []
    if item.unconfirmed:
        notes.append(f"unconfirmed: {item.measure.id}: {item.unconfirmed}")
    if item.measure.status:
        notes.append(f"{item.measure.id}: {item.measure.status}")
    return notes


def _unknown_code_message(
    schedule: Schedule,
    measures: Sequence[Measure],
    shipment: Shipment,
    when: datetime,
    base_rates: BaseRates | None = None,
) -> str:
    known: set[str] = set()
    for measure in measures:
        if measure.group == "base" and measure.kind == "duty":
            for period in measure.periods:
                known.update(period.rates)
    digits = shipment.digits
    revision = None
    base_rates = for_importer(base_rates, shipment.dest)
    if isinstance(base_rates, UsSchedule):
        listing = lines_under(base_rates, shipment, when)
        if listing:
            return listing
    if base_rates is not None:
        revision = base_rates.describe(when)
        known.update(base_rates.nearest(digits, when))
    nearest = nearest_codes(digits, known)
    if nearest:
        hint = f"; nearest known codes: {', '.join(nearest)}"
    else:
        hint = f"; no known code is in chapter {digits[:2]}"
    where = f"in data version {schedule.version}"
    if revision is not None:
        where += f" or in {revision}"
    fix = "add it to the data file"
    if shipment.dest == IMPORTED_SCHEDULE_IMPORTER and revision is None:
        fix += " or import the official schedule (tradecalc hts import)"
    return (
        f"no {shipment.dest} base (MFN) rate for {shipment.code} on {format_when(when)} "
        f"{where}{hint}; {fix}"
    )


IMPORTED_SCHEDULE_IMPORTER = "US"
"""``tradecalc hts import`` loads the USITC schedule: it can only help imports into the US."""


def nearest_codes(digits: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known codes nearest to ``digits`` in the HS hierarchy, never from another chapter.

    Closeness is the deepest level shared (chapter 2, heading 4, subheading 6, then 8 and
    10 digits): siblings under the same subheading come before cousins under the same
    heading, then the rest of the chapter; ties in code order."""

    def level(code: str) -> int:
        other = code_digits(code)
        same = next(
            (i for i, (a, b) in enumerate(zip(digits, other, strict=False)) if a != b),
            min(len(digits), len(other)),
        )
        return same - same % 2

    ranked = sorted((-level(code), code) for code in set(known) if level(code) >= 2)
    return [code for _, code in ranked[:limit]]


def not_in_schedule(code: str, dest: str, on: str, found: LineLookup) -> str:
    """The error for a code the schedule in force on ``on`` does not hold (``found``)."""
    near = f"; nearest codes: {', '.join(found.nearest)}" if found.nearest else ""
    return (
        f"HS code {code} is not in the {dest} tariff schedule in force on {on} "
        f"({found.revision}){near}"
    )


def lines_under(schedule: UsSchedule, shipment: Shipment, when: datetime) -> str | None:
    """The lines a short code covers when they differ (a review text), else None.

    Raises :class:`UsageError` for a code not in ``schedule`` in force at ``when``: the
    error :func:`assess` gives such a code when no curated base rate covers it (a batch
    asks this first, for rows the rate table has no base rate for)."""
    found = schedule.resolve(shipment.digits, when)
    on = format_when(when)
    if not found.exists:
        raise UsageError(not_in_schedule(shipment.code, shipment.dest, on, found))
    if found.under:
        shown = "; ".join(f"{line.htsno}: {line.outcome}" for line in found.under[:12])
        more = f"; and {len(found.under) - 12} more" if len(found.under) > 12 else ""
        return (
            f"{shipment.code} covers {len(found.under)} tariff lines that differ on {on}: "
            f"{shown}{more}; give the full code"
        )
    return None


def _check_threshold(party: Party, duty: Decimal, notes: list[str]) -> None:
    rule = party.duty_threshold
    if rule is not None and ZERO < duty < rule.amount:
        text = f"duty below {rule.amount} {party.currency} is normally not collected"
        if rule.unconfirmed:
            text += f" (unconfirmed: {rule.unconfirmed})"
        notes.append(text)


def _fees(
    party: Party,
    shipment: Shipment,
    when: datetime,
    customs_value: Decimal,
    review: list[str],
    notes: list[str],
) -> list[Line]:
    lines = []
    for fee, period, rate_text in _fee_periods(party, shipment.mode, when):
        if period is None:
            review.append(rate_text)
            continue
        amount = customs_value * period.rate.ad_valorem
        if period.min is not None:
            amount = max(amount, period.min)
        if period.max is not None:
            amount = min(amount, period.max)
        if period.unconfirmed:
            notes.append(f"unconfirmed: {fee.id}: {period.unconfirmed}")
        lines.append(
            _fee_line(
                fee,
                period.rate,
                customs_value,
                round_money(amount),
                period.source,
                period.unconfirmed,
            )
        )
    return lines


_FeeAt = tuple[Fee, FeePeriod | None, str]


def _fee_periods(party: Party, mode: str, when: datetime) -> tuple[_FeeAt, ...]:
    """Each fee charged for ``mode`` with its period at ``when`` and its rate text, or no
    period and the review text instead (memoised in the party: the same few moments recur)."""
    key = (_fee_periods, mode, when)
    hit: tuple[_FeeAt, ...] | None = party.memo.get(key)
    if hit is not None:
        return hit
    found: list[_FeeAt] = []
    for fee in party.fees:
        if fee.modes and mode not in fee.modes:
            continue
        period = next((p for p in fee.periods if p.covers(when)), None)
        if period is None:
            found.append((fee, None, f"{fee.name}: no rate known on {format_when(when)}"))
        else:
            found.append((fee, period, str(period.rate)))
    if len(party.memo) >= _PLANS_MAX:
        party.memo.clear()
    party.memo[key] = hit = tuple(found)
    return hit


def _fee_line(
    fee: Fee | Tax,
    rate: Rate,
    base: Decimal,
    amount: Decimal,
    source: tuple[str, ...],
    unconfirmed: str | None,
) -> Line:
    return Line(
        fee.id,
        fee.name,
        "fee" if isinstance(fee, Fee) else "tax",
        None,
        rate,
        base,
        amount,
        source,
        unconfirmed,
    )


def _taxes(
    schedule: Schedule,
    party: Party,
    shipment: Shipment,
    when: datetime,
    customs_value: Decimal,
    duty: Decimal,
    review: list[str],
    notes: list[str],
) -> list[Line]:
    lines = []
    consumption = ZERO
    for tax, rate, source, unconfirmed, tax_review in tax_layers(
        schedule, party, shipment.digits, shipment.code, when
    ):
        if unconfirmed:
            notes.append(f"unconfirmed: {tax.id}: {unconfirmed}")
        review.extend(tax_review)
        if tax.kind == "consumption":
            c = rate.ad_valorem
            if c >= 1:
                continue
            grossed, amount = consumption_tax(customs_value + duty, c)
            base = round_money(grossed)
            consumption += amount
        else:
            base = customs_value + duty + consumption
            amount = round_money(base * rate.ad_valorem)
        lines.append(_fee_line(tax, rate, base, amount, source, unconfirmed))
    return lines


TaxAt = tuple[Tax, Rate, tuple[str, ...], str | None, tuple[str, ...]]
"""A tax charged on a code: the tax, its rate, sources, caveat and review items."""


def tax_layers(
    schedule: Schedule, party: Party, digits: str, code: str, when: datetime
) -> list[TaxAt]:
    """The taxes charged on a code at ``when``, consumption tax first, then VAT (``code``:
    the code as given, for the review texts). A consumption tax of 100% or more cannot be
    charged: it comes with that review item, for the caller to leave out."""
    found = []
    for kind in ("consumption", "vat"):
        for tax in (t for t in party.taxes if t.kind == kind):
            hit = _tax_rate(schedule, tax, digits, when)
            if hit is None:
                continue
            rate, source, unconfirmed, finer = hit
            review = []
            if finer:
                review.append(
                    f"{tax.name}: {code} is charged {rate}, but listed lines under it "
                    f"differ ({', '.join(finer)}); give the full tariff line"
                )
            if kind == "consumption" and rate.ad_valorem >= 1:
                review.append(f"{tax.name}: rate {rate} cannot be 100% or more")
            found.append((tax, rate, source, unconfirmed, tuple(review)))
    return found


def _tax_rate(
    schedule: Schedule, tax: Tax, digits: str, when: datetime
) -> tuple[Rate, tuple[str, ...], str | None, list[str]] | None:
    """The tax rate for a code, its source and caveat, and the listed lines under the code
    whose rate differs: a code inherits the rate of its most specific listed prefix, so a
    shorter code than some listed line cannot tell which of them applies."""
    if not _scope_matches(schedule, tax.scope, digits, when=when)[0]:
        return None
    period = _period_at(tax.periods, when)
    if period is None:
        return None
    found = _table_rate(period, digits)
    if found is None:
        return None
    rate, entry = found
    source = entry.source if entry and entry.source else period.source
    unconfirmed = (entry.unconfirmed if entry else None) or period.unconfirmed
    return rate, source, unconfirmed, _finer_lines(period, digits, rate)


def _finer_lines(period: Period, digits: str, rate: Rate) -> list[str]:
    """Listed lines under ``digits`` whose rate is not ``rate`` (memoised in the period)."""
    key = (_finer_lines, digits)
    hit: list[str] | None = period.memo.get(key)
    if hit is not None:
        return hit
    listed: tuple[tuple[str, str, Rate], ...] | None = period.memo.get(_listed)
    if listed is None:
        listed = period.memo[_listed] = tuple(
            (code, code_digits(code), value.rate) for code, value in sorted(period.rates.items())
        )
    finer = [
        f"{code} {other}"
        for code, listed_digits, other in listed
        if len(listed_digits) > len(digits) and listed_digits.startswith(digits) and other != rate
    ]
    if len(period.memo) >= _PLANS_MAX:
        period.memo.clear()
    period.memo[key] = finer
    return finer


def _check_intraday(
    measures: Sequence[Measure], party: Party, entry: datetime, review: list[str]
) -> None:
    """A bare date is ambiguous when a rate changes at a time inside that day.

    Compared by calendar day, not ``entry + 1 day``, so 9999-12-31 works too."""
    for measure in measures:
        for period in measure.periods:
            for edge in (period.from_, period.to):
                if edge is not None and entry < edge and edge.date() == entry.date():
                    review.append(
                        f"{measure.name} changes at {edge:%H:%M} {party.timezone} on "
                        f"{entry.date().isoformat()}; give the time, "
                        f"e.g. --date {entry.date().isoformat()}T{edge:%H:%M}"
                    )
                    return


# ----------------------------------------------------------------------------- low value

ENTRY_TYPES = ("formal", "informal", "de-minimis", "postal", "postal-specific")
"""How goods are entered (``--entry``): a formal entry (the default), an informal entry
(flat MPF), duty-free de minimis, or a low-value postal item charged ad valorem or per item."""


def low_value_limit(party: Party | None, origin: str, moments: Iterable[datetime]) -> Decimal:
    """The value at or under which a shipment of ``origin`` without an entry type needs
    :func:`assess` at one of ``moments``: de minimis while it is available there (the result
    then needs review). -1 when it never is. The batch's row path sends such rows, and rows
    with an entry type, to the engine; its columns path adds :func:`within_de_minimis`."""
    rules = party.low_value if party is not None else None
    if rules is None:
        return Decimal(-1)
    suspended = rules.de_minimis.suspended
    if all(any(p.covers(origin, when) for p in suspended) for when in moments):
        return Decimal(-1)
    return rules.de_minimis.amount


def within_de_minimis(customs_value: Decimal | str, limit: Decimal, on: str) -> str:
    """The review item of a shipment without an entry type valued within de minimis."""
    return (
        f"value {customs_value} USD is within de minimis ({limit} USD, 19 U.S.C. 1321) "
        f"on {on}: the duty depends on the entry; give --entry formal, informal, "
        "de-minimis or postal"
    )


@record
class Entered:
    """The duty and fee lines once the entry type is applied, and what it added."""

    lines: list[Line]
    fees: list[Line]
    trace: tuple[Step, ...] = ()
    review: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    replaced: bool = False
    """True when de minimis or a postal duty replaced every duty (no claim changes it)."""


def low_value(
    party: Party,
    shipment: Shipment,
    when: datetime,
    customs_value: Decimal,
    lines: list[Line],
    fees: list[Line],
) -> Entered:
    """Apply the shipment's entry type (``--entry``) to its duty and fee lines.

    De minimis drops every duty and fee while it is available for the origin; a postal item
    pays the postal duty of its date in place of every other duty and fee; an informal entry
    pays the flat informal fee in place of the formal MPF. Where de minimis or the postal
    duty is not available, the goods pay all duties on an informal entry, with a note. No
    entry type and a value within de minimis while it is available: needs review.
    """
    rules = party.low_value
    kind = shipment.entry_type
    if rules is None:
        if kind in (None, "formal") and shipment.items is None:
            return Entered(lines, fees)  # every importer knows formal entry
        raise UsageError(f"--entry applies to imports into the US, not into {shipment.dest}")
    if kind is not None and kind not in ENTRY_TYPES:
        raise UsageError(f"entry type {kind!r} is not one of {', '.join(ENTRY_TYPES)}")
    if shipment.items is not None and kind != "postal-specific":
        raise UsageError("--items counts postal items: give it with --entry postal-specific")
    if kind == "postal-specific" and shipment.items is None:
        raise UsageError("--entry postal-specific needs the number of postal items: --items N")
    on = format_when(when)
    limit = rules.de_minimis.amount
    blocked = next((p for p in rules.de_minimis.suspended if p.covers(shipment.origin, when)), None)
    if kind is None or kind == "formal":
        if kind is None and customs_value <= limit and blocked is None:
            return Entered(lines, fees, review=(within_de_minimis(customs_value, limit, on),))
        return Entered(lines, fees)
    if kind == "informal":
        return _informal(rules, shipment, when, customs_value, lines, fees, ())
    if customs_value > limit:
        raise UsageError(
            f"--entry {kind} is for goods valued at {limit} USD or less, not {customs_value}: "
            "use --entry formal or informal"
        )
    postal = None
    if kind != "de-minimis":
        postal = next((p for p in rules.postal if p.covers(shipment.origin, when)), None)
    if postal is not None and postal.rate is not None:
        return _postal(postal, shipment, when, customs_value, lines)
    if blocked is None:
        text = f"de minimis: duty-free under 19 U.S.C. 1321(a)(2)(C) (up to {limit} USD)"
        if kind == "postal-specific":
            text += f"; no per-item postal duty on {on}"
        dropped = tuple(Step(x.measure, False, f"not charged: {text}") for x in lines)
        doubts = tuple(
            f"unconfirmed: de minimis: {p.unconfirmed}"
            for p in rules.de_minimis.suspended
            if p.unconfirmed and p.from_ <= when and (p.to is None or when < p.to)
        )
        return Entered([], [], dropped, notes=(text, *doubts), replaced=True)
    why = f"de minimis is suspended for goods of {shipment.origin} on {on}"
    why += f" ({blocked.note})" if blocked.note else ""
    notes = [f"unconfirmed: de minimis: {blocked.unconfirmed}"] if blocked.unconfirmed else []
    review: tuple[str, ...] = ()
    if postal is not None:  # postal items on a postal informal entry
        notes.append(f"postal items on {on}: all ordinary duties on a postal informal entry")
        if postal.unconfirmed:
            notes.append(f"unconfirmed: postal: {postal.unconfirmed}")
    elif kind == "de-minimis":
        notes.append(f"{why}: computed as an informal entry with all duties")
    else:
        review = (
            f"no postal duty is known for goods of {shipment.origin} on {on} ({why}): "
            "computed as an informal entry with all duties",
        )
    if kind == "postal-specific":
        notes.append(f"no per-item postal duty on {on}: --items changes nothing")
    return _informal(rules, shipment, when, customs_value, lines, fees, notes, review)


def _informal(
    rules: LowValue,
    shipment: Shipment,
    when: datetime,
    customs_value: Decimal,
    lines: list[Line],
    fees: list[Line],
    notes: Sequence[str],
    review: tuple[str, ...] = (),
) -> Entered:
    """All duties, with the flat informal-entry fee in place of the formal MPF."""
    informal = rules.informal
    if customs_value > informal.limit:
        raise UsageError(
            f"an informal entry is for goods valued at {informal.limit} USD or less, "
            f"not {customs_value}: use --entry formal"
        )
    period = next((p for p in informal.periods if p.covers(when)), None)
    out = [f for f in fees if f.measure != informal.replaces]
    added = list(notes)
    if period is None:
        review = (*review, f"informal-entry fee: no amount known on {format_when(when)}")
    else:
        rate = Rate(specifics=(Specific(period.amount, "USD", "entry"),))
        name = "Merchandise Processing Fee (informal entry)"
        out.insert(
            0,
            Line(
                informal.replaces,
                name,
                "fee",
                None,
                rate,
                customs_value,
                period.amount,
                period.source,
                period.unconfirmed,
            ),
        )
        if period.unconfirmed:
            added.append(f"unconfirmed: {informal.replaces}: {period.unconfirmed}")
    return Entered(lines, out, review=review, notes=tuple(added))


def _postal(
    period: PostalPeriod,
    shipment: Shipment,
    when: datetime,
    customs_value: Decimal,
    lines: list[Line],
) -> Entered:
    """The postal duty in place of every other duty and fee."""
    assert period.rate is not None
    on = format_when(when)
    if shipment.entry_type == "postal-specific":
        if period.per_item is None:
            raise UsageError(
                f"no per-item postal duty is known on {on}: use --entry postal "
                f"({period.rate} of the value)"
            )
        assert shipment.items is not None  # checked by low_value
        rate = Rate(specifics=(Specific(period.per_item, "USD", "item"),))
        amount = round_money(period.per_item * shipment.items)
        name = "Postal duty (per postal item)"
    else:
        rate = period.rate
        amount = round_money(customs_value * rate.ad_valorem)
        name = "Postal duty (ad valorem)"
    measure = f"{shipment.dest.lower()}-postal"
    text = (
        f"postal item on {on}: {period.rate} of the value"
        + (f" or {period.per_item} USD per postal item" if period.per_item else "")
        + " at the shipper's choice, in place of every other duty and fee"
    )
    line = Line(
        measure,
        name,
        period.group or "postal",
        None,
        rate,
        customs_value,
        amount,
        period.source,
        period.unconfirmed,
    )
    trace = tuple(Step(x.measure, False, f"not charged: {text}") for x in lines)
    notes = [text]
    if period.note:
        notes.append(f"postal: {period.note}")
    if period.unconfirmed:
        notes.append(f"unconfirmed: postal: {period.unconfirmed}")
    steps = (*trace, Step(measure, True, text))
    return Entered([line], [], steps, notes=tuple(notes), replaced=True)
