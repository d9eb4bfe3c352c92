"""Benchmarks: start-up of ``duty`` and batch throughput (run all: python -m benchmarks)."""
