"""What the engine may ask an imported tariff schedule: a code's base rate and its headings.

The engine uses a :class:`BaseRates` provider only for a code that the curated schedule
gives no base (MFN) rate for; the curated data wins wherever both exist. The provider
answers with an :class:`ImportedRate`: the rate (or, when its text cannot be computed,
none and the text), the Chapter 99 headings its footnotes name (for scope entries such
as ``@hts:9903.88.03``), and the id of the source that gave it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradecalc.core.rate import Rate
from tradecalc.core.records import record

HEADING_SCOPE = "@hts:"
"""Scope entries ``@hts:9903.88.03`` match codes whose imported line names that heading."""


@record
class ImportedRate:
    """A base rate from an imported schedule for one code."""

    code: str
    """The code, as printed in the import, of the line that gave the rate."""
    text: str
    """The rate as printed (cleaned)."""
    rate: Rate | None
    """The parsed rate; None when the text cannot be computed (needs review)."""
    headings: tuple[str, ...]
    """Chapter 99 headings named by the line's footnotes, e.g. ``("9903.88.03",)``."""
    source: str
    """Source id, e.g. ``"usitc-hts-2025-rev-11"``."""
    kind: str = ""
    """How the rate reads: free, ad_valorem, specific, compound, qualified, unit, text."""
    unconfirmed: str | None = None
    """Why the rate is not confirmed (an inferred or carried-forward rate), if it is not."""


class BaseRates(Protocol):
    """An imported schedule the engine can fall back to for base rates."""

    importer: str
    """The importing party whose base rates these are (``"US"``)."""

    def lookup(self, digits: str, when: datetime) -> ImportedRate | None:
        """The base rate of ``digits`` in the revision in force at ``when``, if any."""
        ...  # pragma: no cover

    def nearest(self, digits: str, when: datetime, limit: int = 3) -> tuple[str, ...]:
        """Codes of the revision in force at ``when`` that share the longest prefix."""
        ...  # pragma: no cover

    def describe(self, when: datetime) -> str | None:
        """A one-line name of the revision in force at ``when`` (None if there is none)."""
        ...  # pragma: no cover

    def starts(self) -> tuple[datetime, ...]:
        """The moments the imported revisions take effect, earliest first."""
        ...  # pragma: no cover


class Providers:
    """Several providers, one per importer, passed wherever one provider is expected.

    The engine takes the one serving a shipment's importer with :func:`for_importer`;
    asked directly, it answers only when it holds a single provider.
    """

    importer = "*"

    def __init__(self, *providers: BaseRates, titles: dict[str, str] | None = None) -> None:
        self.by_importer = {p.importer: p for p in providers}
        self.titles = titles or {}

    def sources(self) -> dict[str, str]:
        """Source id -> title for the providers' sources."""
        return self.titles

    def _only(self) -> BaseRates:
        if len(self.by_importer) != 1:
            raise TypeError("several base-rate providers: choose one with for_importer()")
        return next(iter(self.by_importer.values()))

    def lookup(self, digits: str, when: datetime) -> ImportedRate | None:
        return self._only().lookup(digits, when)

    def nearest(self, digits: str, when: datetime, limit: int = 3) -> tuple[str, ...]:
        return self._only().nearest(digits, when, limit)

    def describe(self, when: datetime) -> str | None:
        return self._only().describe(when)

    def starts(self) -> tuple[datetime, ...]:
        return self._only().starts()

    def close(self) -> None:
        """Release the providers' open files (a provider used again opens them again)."""
        for provider in self.by_importer.values():
            close = getattr(provider, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def for_importer(base_rates: BaseRates | None, importer: str) -> BaseRates | None:
    """The provider of ``importer``'s base rates in ``base_rates`` (one, or :class:`Providers`)."""
    if isinstance(base_rates, Providers):
        return base_rates.by_importer.get(importer)
    if base_rates is not None and base_rates.importer == importer:
        return base_rates
    return None
