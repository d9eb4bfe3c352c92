"""Generators that turn the official Chapter 99 texts in ../shared into the schedule's list
files."""
