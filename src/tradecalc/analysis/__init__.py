"""Analyses built on the engine: the impact of regimes on a basket of trade, and IEEPA refunds
from ACE exports."""
