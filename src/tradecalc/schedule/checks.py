"""Semantic checks of a schedule or scenario that the schema alone cannot express.

Each check is a small generator of diagnostics; :func:`check_schedule` runs them all and
returns every problem, sorted by position, so one run lists everything to fix.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Protocol
from urllib.parse import urlsplit

from tradecalc.core.errors import Diagnostic, SourceLocation
from tradecalc.schedule.models import (
    FeePeriod,
    InformalFeePeriod,
    Measure,
    OriginPeriod,
    Party,
    Period,
    Scenario,
    Schedule,
    format_when,
)

MAX_RATE = Decimal(10)
"""Ad valorem rates above 1000% (as a fraction) are errors unless marked ``intentional``."""

OFFICIAL_DOMAINS = ("gov", "gov.cn", "wto.org")
"""A ``primary`` source is published on one of these domains or their subdomains (usitc.gov,
federalregister.gov, govinfo.gov, mof.gov.cn, customs.gov.cn, ...)."""
OFFICIAL_URL_PREFIXES = (
    "https://content.govdelivery.com/accounts/USDHSCBP/",
    "https://content.govdelivery.com/bulletins/gd/USDHSCBP-",
)
"""Official publications hosted elsewhere: CBP sends its CSMS messages through GovDelivery."""

Path_ = tuple[str | int, ...]
_CODE_LISTS = {"include", "exclude", "codes"}


class Located(Protocol):
    """Anything that maps a data path to a file position (a loader Document)."""

    numeric_plain: set[Path_]

    def locate(self, path: Path_) -> SourceLocation: ...  # pragma: no cover


def check_schedule(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_] = frozenset()
) -> list[Diagnostic]:
    """Every semantic problem in ``schedule``, with positions from ``doc``.

    ``unloaded`` holds the paths (``("measures", 3)``, ``("sources", "x")``) of parts that
    failed the schema and stand in only by name: they are not checked, and references to
    them are not reported.
    """
    found = [
        *unquoted_codes(doc),
        *_duplicate_ids(schedule, doc),
        *_primary_sources(schedule, doc, unloaded),
        *_measure_checks(schedule, schedule.measures, ("measures",), doc, unloaded),
        *_fee_and_tax_periods(schedule, doc, unloaded),
        *_reference_checks(schedule, doc, unloaded),
        *_scenario_checks(schedule, doc, unloaded),
        *_regime_dates(schedule, doc, unloaded),
    ]
    return sorted(set(found), key=_position)


def _position(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.location.file, d.location.line, d.location.column, d.message)


def check_scenario(
    scenario: Scenario,
    schedule: Schedule,
    doc: Located,
    unloaded: Collection[Path_] = frozenset(),
) -> list[Diagnostic]:
    """Problems in a stand-alone scenario file checked against ``schedule``.

    ``unloaded`` holds the paths of overrides and added measures that failed the schema
    (as for :func:`check_schedule`).
    """
    found = list(unquoted_codes(doc))
    found += _overrides(scenario, ("scenario",), schedule, doc, unloaded)
    found += _measure_checks(schedule, scenario.add, ("scenario", "add"), doc, unloaded)
    found += _added_set_refs(schedule, scenario.add, ("scenario", "add"), doc)
    names = {r.id for r in schedule.regimes} | {s.id for s in schedule.scenarios}
    if scenario.id in names:
        found.append(
            _at(
                doc,
                ("scenario", "id"),
                f"scenario id {scenario.id!r} is already a regime or scenario of the schedule",
            )
        )
    if scenario.based_on == scenario.id:
        found.append(_at(doc, ("scenario", "based_on"), "a scenario cannot be based on itself"))
    elif scenario.based_on not in names:
        found.append(
            _at(
                doc,
                ("scenario", "based_on"),
                f"based_on {scenario.based_on!r} is not a regime or scenario "
                f"of the schedule (known: {', '.join(sorted(names))})",
            )
        )
    return sorted(set(found), key=lambda d: (d.location.line, d.location.column, d.message))


def _at(doc: Located, path: Path_, message: str) -> Diagnostic:
    return Diagnostic(doc.locate(path), message)


def unquoted_codes(doc: Located) -> Iterator[Diagnostic]:
    """HS codes written without quotes, which YAML 1.1 readers would turn into numbers."""
    for path in sorted(doc.numeric_plain, key=str):
        if len(path) > 2 and (path[-2] in _CODE_LISTS or path[-2] == "rates"):
            yield _at(
                doc,
                path,
                "HS code is not quoted: YAML would read it as a number "
                "(e.g. 8471.30 as 8471.3, 0101 as 65); write it in quotes",
            )


def is_official(url: str) -> bool:
    """True if ``url`` is on an official domain (see :data:`OFFICIAL_DOMAINS`)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    on_domain = any(host == d or host.endswith(f".{d}") for d in OFFICIAL_DOMAINS)
    return on_domain or url.strip().startswith(OFFICIAL_URL_PREFIXES)


def _primary_sources(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_]
) -> Iterator[Diagnostic]:
    for key, source in schedule.sources.items():
        if (
            ("sources", key) not in unloaded
            and source.kind == "primary"
            and source.url
            and not is_official(source.url)
        ):
            yield _at(
                doc,
                ("sources", key, "kind"),
                f"source {key!r} is marked primary but {source.url!r} is not an official "
                "publisher's site; mark it secondary (or cite the official text)",
            )


def _duplicate_ids(schedule: Schedule, doc: Located) -> Iterator[Diagnostic]:
    measures: list[tuple[str, Path_]] = [
        (m.id, ("measures", i, "id")) for i, m in enumerate(schedule.measures)
    ]
    regimes: list[tuple[str, Path_]] = [
        (r.id, ("regimes", i, "id")) for i, r in enumerate(schedule.regimes)
    ]
    regimes += [(s.id, ("scenarios", i, "id")) for i, s in enumerate(schedule.scenarios)]
    groups: list[tuple[str, list[tuple[str, Path_]]]] = [
        ("measure", measures),
        ("regime or scenario", regimes),
    ]
    for code, party in schedule.parties.items():
        items: list[tuple[str, Path_]] = [
            (f.id, ("parties", code, "fees", i, "id")) for i, f in enumerate(party.fees)
        ]
        items += [(t.id, ("parties", code, "taxes", i, "id")) for i, t in enumerate(party.taxes)]
        groups.append((f"fee or tax of {code}", items))
    for kind, items in groups:
        first: dict[str, Path_] = {}
        for ident, path in items:
            if not ident:  # a part that failed the schema without a readable id
                continue
            if ident in first:
                where = doc.locate(first[ident])
                yield _at(doc, path, f"duplicate {kind} id {ident!r} (first defined at {where})")
            else:
                first[ident] = path


def _period_order(
    periods: Sequence[Period | FeePeriod | OriginPeriod | InformalFeePeriod],
    path: Path_,
    doc: Located,
) -> Iterator[Diagnostic]:
    for j, period in enumerate(periods):
        if period.to is not None and period.to <= period.from_:
            yield _at(
                doc,
                (*path, j, "to"),
                f"period ends ({format_when(period.to)}) before it starts "
                f"({format_when(period.from_)})",
            )
    for j, (a, b) in enumerate(pairwise(periods), start=1):
        if b.from_ < a.from_:
            yield _at(
                doc,
                (*path, j, "from"),
                f"periods are not in date order: {format_when(b.from_)} comes after "
                f"{format_when(a.from_)}",
            )
        elif a.to is None or b.from_ < a.to:
            end = format_when(a.to) if a.to else "open end"
            yield _at(
                doc,
                (*path, j, "from"),
                f"period starting {format_when(b.from_)} overlaps the previous one "
                f"({format_when(a.from_)} to {end})",
            )


def _measure_checks(
    schedule: Schedule,
    measures: Sequence[Measure],
    root: Path_,
    doc: Located,
    unloaded: Collection[Path_],
) -> Iterator[Diagnostic]:
    for i, measure in enumerate(measures):
        path = (*root, i)
        if path in unloaded:
            continue
        party = schedule.parties.get(measure.importer)
        if ("parties", measure.importer) in unloaded:
            pass
        elif party is None:
            yield _at(
                doc,
                (*path, "importer"),
                f"unknown importer {measure.importer!r} (parties: "
                f"{', '.join(sorted(schedule.parties))})",
            )
        elif measure.group not in party.reporting_order:
            yield _at(
                doc,
                (*path, "group"),
                f"group {measure.group!r} is not in the reporting_order of "
                f"{measure.importer} ({', '.join(party.reporting_order)})",
            )
        yield from _period_order(measure.periods, (*path, "periods"), doc)
        for j, period in enumerate(measure.periods):
            yield from _period_checks(schedule, period, (*path, "periods", j), doc)
        for k, entry in enumerate((*measure.scope.include, *measure.scope.exclude)):
            imported = entry.startswith("@hts:")  # an imported HTS heading, not a list
            if entry.startswith("@") and not imported and entry[1:] not in schedule.product_lists:
                key = "include" if k < len(measure.scope.include) else "exclude"
                index = k if key == "include" else k - len(measure.scope.include)
                yield _at(doc, (*path, "scope", key, index), f"unknown product list {entry!r}")


def _period_checks(
    schedule: Schedule, period: Period, path: Path_, doc: Located
) -> Iterator[Diagnostic]:
    for ref in period.source:
        if ref not in schedule.sources:
            yield _at(doc, (*path, "source"), f"unknown source {ref!r}")
    rates = [("rate", period.rate, period.intentional)] if period.rate is not None else []
    rates += [
        (key, entry.rate, entry.intentional or period.intentional)
        for key, entry in period.rates.items()
    ]
    for key, rate, intentional in rates:
        if rate is not None and rate.ad_valorem > MAX_RATE and not intentional:
            where = (*path, "rate") if key == "rate" else (*path, "rates", key)
            yield _at(
                doc,
                where,
                f"rate {rate} is above 1000%; check it, or say why it is right "
                "with intentional: 'reason'",
            )
    for key, entry in period.rates.items():
        for ref in entry.source or ():
            if ref not in schedule.sources:
                yield _at(doc, (*path, "rates", key, "source"), f"unknown source {ref!r}")


def _fee_and_tax_periods(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_]
) -> Iterator[Diagnostic]:
    for code, party in schedule.parties.items():
        if ("parties", code) in unloaded:
            continue
        for ref in party.valuation_source:
            if ref not in schedule.sources:
                yield _at(doc, ("parties", code, "valuation_source"), f"unknown source {ref!r}")
        for i, fee in enumerate(party.fees):
            path = ("parties", code, "fees", i, "periods")
            yield from _period_order(fee.periods, path, doc)
            for j, fp in enumerate(fee.periods):
                for ref in fp.source:
                    if ref not in schedule.sources:
                        yield _at(doc, (*path, j, "source"), f"unknown source {ref!r}")
                if fp.min is not None and fp.max is not None and fp.min > fp.max:
                    yield _at(doc, (*path, j, "min"), f"minimum {fp.min} is above maximum {fp.max}")
        for i, tax in enumerate(party.taxes):
            path = ("parties", code, "taxes", i, "periods")
            yield from _period_order(tax.periods, path, doc)
            for j, period in enumerate(tax.periods):
                yield from _period_checks(schedule, period, (*path, j), doc)
        yield from _low_value_checks(schedule, code, party, doc)


def _low_value_checks(
    schedule: Schedule, code: str, party: Party, doc: Located
) -> Iterator[Diagnostic]:
    """Dates in order, sources known, the fee an informal entry replaces and the reporting
    group of each postal duty declared (``parties.*.low_value``)."""
    rules = party.low_value
    if rules is None:
        return
    root = ("parties", code, "low_value")
    informal = rules.informal
    dated: list[tuple[Path_, Sequence[OriginPeriod | InformalFeePeriod]]] = [
        ((*root, "de_minimis", "suspended"), rules.de_minimis.suspended),
        ((*root, "informal", "periods"), informal.periods),
        ((*root, "postal"), rules.postal),
    ]
    cited: list[tuple[Path_, tuple[str, ...]]] = [
        ((*root, "de_minimis", "source"), rules.de_minimis.source),
        ((*root, "informal", "source"), informal.source),
    ]
    for path, periods in dated:
        yield from _period_order(periods, path, doc)
        cited += [((*path, j, "source"), p.source) for j, p in enumerate(periods)]
    for path, refs in cited:
        for ref in refs:
            if ref not in schedule.sources:
                yield _at(doc, path, f"unknown source {ref!r}")
    if informal.replaces not in {fee.id for fee in party.fees}:
        yield _at(
            doc,
            (*root, "informal", "replaces"),
            f"fee {informal.replaces!r} is not a fee of {code}",
        )
    for j, period in enumerate(rules.postal):
        if period.group is not None and period.group not in party.reporting_order:
            yield _at(
                doc,
                (*root, "postal", j, "group"),
                f"group {period.group!r} is not in the reporting_order of {code} "
                f"({', '.join(party.reporting_order)})",
            )


def _reference_checks(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_]
) -> Iterator[Diagnostic]:
    ids = {m.id for m in schedule.measures}
    groups = {g for party in schedule.parties.values() for g in party.reporting_order}
    any_group = any(path[0] == "parties" for path in unloaded)  # its groups are unknown
    for i, measure in enumerate(schedule.measures):
        if ("measures", i) in unloaded:
            continue
        refs: list[tuple[Path_, tuple[str, ...]]] = [
            (("measures", i, "displaced_by"), measure.displaced_by)
        ]
        refs += [
            (("measures", i, "periods", j, "displaced_by"), p.displaced_by or ())
            for j, p in enumerate(measure.periods)
        ]
        for path, items in refs:
            for k, ref in enumerate(items):
                if ref.startswith("set:"):
                    yield from _set_ref(schedule, ref, (*path, k), doc)
                    members = schedule.displacement_sets.get(ref[4:], ())
                    if measure.id in members:
                        yield _at(doc, (*path, k), f"{ref!r} names {measure.id!r} itself")
                elif ref.startswith("group:"):
                    if ref.removeprefix("group:") not in groups and not any_group:
                        yield _at(doc, (*path, k), f"displaced_by names unknown group {ref!r}")
                elif ref not in ids:
                    yield _at(doc, (*path, k), f"displaced_by names unknown measure {ref!r}")
                elif ref == measure.id:
                    yield _at(doc, (*path, k), "a measure cannot displace itself")
    for name, members in schedule.displacement_sets.items():
        for k, ref in enumerate(members):
            where = ("displacement_sets", name, k)
            if ref.startswith("set:"):
                yield _at(doc, where, f"a displacement set cannot name another set ({ref!r})")
            elif ref.startswith("group:"):
                if ref.removeprefix("group:") not in groups and not any_group:
                    yield _at(doc, where, f"displacement set names unknown group {ref!r}")
            elif ref not in ids:
                yield _at(doc, where, f"displacement set names unknown measure {ref!r}")
    for name, plist in schedule.product_lists.items():
        for ref in plist.source:
            if ref not in schedule.sources:
                yield _at(doc, ("product_lists", name, "source"), f"unknown source {ref!r}")
    yield from _claim_checks(schedule, doc, unloaded, ids)


def _claim_checks(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_], ids: set[str]
) -> Iterator[Diagnostic]:
    """A claim's effects name known measures of its importer and known sources; its
    scopes name known product lists."""
    importers = {m.id: getattr(m, "importer", None) for m in schedule.measures}  # stand-ins
    for name, claim in schedule.claims.items():
        if ("claims", name) in unloaded:
            continue
        for scope_name, scope in (("scope", claim.scope), ("ask", claim.ask)):
            for part in ("include", "exclude"):
                for k, item in enumerate(getattr(scope, part) if scope else ()):
                    listed = item.startswith("@") and not item.startswith("@hts:")
                    if listed and item[1:] not in schedule.product_lists:
                        yield _at(
                            doc,
                            ("claims", name, scope_name, part, k),
                            f"claim {name!r} names unknown product list {item!r}",
                        )
        for j, effect in enumerate(claim.effects):
            path: Path_ = ("claims", name, "effects", j)
            if effect.measure not in ids:
                yield _at(
                    doc,
                    (*path, "measure"),
                    f"claim {name!r} names unknown measure {effect.measure!r}",
                )
            elif importers.get(effect.measure) not in (None, claim.importer):
                yield _at(
                    doc,
                    (*path, "measure"),
                    f"claim {name!r} is for imports into {claim.importer} but "
                    f"{effect.measure!r} is not",
                )
            for ref in effect.source:
                if ref not in schedule.sources:
                    yield _at(doc, (*path, "source"), f"unknown source {ref!r}")
        if any(e.action == "content" for e in claim.effects) and claim.share is None:
            yield _at(
                doc, ("claims", name), f"claim {name!r} changes a content share: give 'share'"
            )


def _set_ref(schedule: Schedule, ref: str, path: Path_, doc: Located) -> Iterator[Diagnostic]:
    """A problem if ``ref`` (``set:NAME``) names no displacement set of ``schedule``."""
    if ref[4:] not in schedule.displacement_sets:
        known = ", ".join(sorted(schedule.displacement_sets)) or "none declared"
        yield _at(
            doc, path, f"displaced_by names unknown displacement set {ref!r} (known: {known})"
        )


def _added_set_refs(
    schedule: Schedule, measures: Sequence[Measure], root: Path_, doc: Located
) -> Iterator[Diagnostic]:
    """Unknown ``set:NAME`` references in the measures a scenario adds."""
    for i, measure in enumerate(measures):
        refs = [((*root, i, "displaced_by"), measure.displaced_by)]
        refs += [
            ((*root, i, "periods", j, "displaced_by"), p.displaced_by or ())
            for j, p in enumerate(measure.periods)
        ]
        for path, items in refs:
            for k, ref in enumerate(items):
                if ref.startswith("set:"):
                    yield from _set_ref(schedule, ref, (*path, k), doc)


def _overrides(
    scenario: Scenario,
    path: Path_,
    schedule: Schedule,
    doc: Located,
    unloaded: Collection[Path_] = frozenset(),
) -> list[Diagnostic]:
    known = {m.id for m in schedule.measures} | {m.id for m in scenario.add}
    return [
        _at(
            doc, (*path, "overrides", k, "measure"), f"override names unknown measure {o.measure!r}"
        )
        for k, o in enumerate(scenario.overrides)
        if o.measure not in known and (*path, "overrides", k) not in unloaded
    ]


def _scenario_checks(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_]
) -> Iterator[Diagnostic]:
    regimes = {r.id for r in schedule.regimes}
    scenarios = {s.id: s for s in schedule.scenarios}
    stand_ins = {s.id for i, s in enumerate(schedule.scenarios) if ("scenarios", i) in unloaded}
    for i, scenario in enumerate(schedule.scenarios):
        path = ("scenarios", i)
        if path in unloaded:
            continue
        yield from _overrides(scenario, path, schedule, doc)
        yield from _measure_checks(schedule, scenario.add, (*path, "add"), doc, ())
        yield from _added_set_refs(schedule, scenario.add, (*path, "add"), doc)
        seen = {scenario.id}
        current = scenario.based_on
        while current in scenarios and current not in seen and current not in stand_ins:
            seen.add(current)
            current = scenarios[current].based_on
        if current in stand_ins:
            continue
        if current in seen:
            yield _at(
                doc,
                (*path, "based_on"),
                f"scenario {scenario.id!r} is based on itself through {current!r}",
            )
        elif current not in regimes:
            yield _at(
                doc,
                (*path, "based_on"),
                f"based_on {scenario.based_on!r} is not a regime or scenario",
            )


def _regime_dates(
    schedule: Schedule, doc: Located, unloaded: Collection[Path_]
) -> Iterator[Diagnostic]:
    if any(path[0] == "measures" for path in unloaded):
        return  # a measure that did not load may be the one in force
    for i, regime in enumerate(schedule.regimes):
        if ("regimes", i) in unloaded:
            continue
        if not any(p.covers(regime.as_of) for m in schedule.measures for p in m.periods):
            yield _at(
                doc,
                ("regimes", i, "as_of"),
                f"regime date {format_when(regime.as_of)} is outside all data: "
                "no measure is in force then",
            )
