"""tradecalc: landed duty on US–China shipments under dated and hypothetical regimes.

The library works without the command line::

    from tradecalc import Shipment, assess, load_schedule, regime_views

    loaded = load_schedule()
    views = regime_views(loaded.schedule)
    result = assess(loaded.schedule, Shipment("9503.00.0073", Decimal("1000")), views["geneva"])

Names are imported on first use so that ``import tradecalc`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # not ``typing``: its 13 ms import would widen the window before main()

__version__ = "0.1.0"

_EXPORTS = {
    "load_schedule": "tradecalc.schedule.load",
    "assess": "tradecalc.engine.assessment",
    "regime_views": "tradecalc.engine.assessment",
    "Shipment": "tradecalc.engine.assessment",
    "Assessment": "tradecalc.engine.assessment",
    "FxTable": "tradecalc.core.money",
    "select_views": "tradecalc.engine.selection",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from typing import Any

    from tradecalc.core.money import FxTable as FxTable
    from tradecalc.engine.assessment import Assessment as Assessment
    from tradecalc.engine.assessment import Shipment as Shipment
    from tradecalc.engine.assessment import assess as assess
    from tradecalc.engine.assessment import regime_views as regime_views
    from tradecalc.engine.selection import select_views as select_views
    from tradecalc.schedule.load import load_schedule as load_schedule


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tradecalc' has no attribute {name!r}")
    return getattr(import_module(module), name)
