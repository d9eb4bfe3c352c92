"""Duty computation: one shipment's assessment, the compiled rate table, regime selection,
inputs, timelines, snapshots and diffs."""
