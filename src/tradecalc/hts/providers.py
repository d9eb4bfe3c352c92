"""The base-rate providers a command uses: the official US schedule and China's tariff lines."""

from __future__ import annotations

from tradecalc.hts.base_rates import Providers

__all__ = ["imported_schedule"]


def imported_schedule(enabled: bool = True) -> Providers:
    """Base rates for codes the curated data lacks: the official US schedule (the bundled
    history plus any imported revision; not when ``enabled`` is false, i.e. ``--no-hts``)
    and the bundled China tariff lines (always)."""
    from tradecalc.hts.cn_lines import ChinaLines
    from tradecalc.hts.history import open_schedule

    china = ChinaLines()
    us = open_schedule(enabled)
    if us is None:
        return Providers(china, titles=china.sources())
    return Providers(us, china, titles={**us.sources(), **china.sources()})
