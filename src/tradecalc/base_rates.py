"""What the engine may ask an imported tariff schedule: a code's base rate and its headings.

The engine uses a :class:`BaseRates` provider only for a code that the curated schedule
gives no base (MFN) rate for; the curated data wins wherever both exist. The provider
answers with an :class:`ImportedRate`: the rate (or, when its text cannot be computed,
none and the text), the Chapter 99 headings its footnotes name (for scope entries such
as ``@hts:9903.88.03``), and the id of the source that gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tradecalc.rate import Rate

HEADING_SCOPE = "@hts:"
"""Scope entries ``@hts:9903.88.03`` match codes whose imported line names that heading."""


@dataclass(frozen=True, slots=True)
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
