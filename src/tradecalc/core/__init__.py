"""Foundations every layer uses: errors, exact money, rates, atomic file writes and the status
vocabulary."""
