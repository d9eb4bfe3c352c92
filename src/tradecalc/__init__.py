"""tradecalc: landed duty on US–China shipments under dated and hypothetical regimes."""

__version__ = "0.1.0"
