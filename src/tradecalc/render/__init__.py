"""Output: every Rich table and JSON or CSV rendering of results (none is built in ``cli/``)."""
