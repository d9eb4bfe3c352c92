"""The words for a result's status: one vocabulary for every output format.

Machine formats (JSON, CSV, JSONL, ``duty --stdin``) carry :data:`OK` or :data:`NEEDS_REVIEW`
in a ``status`` field; tables and messages show :func:`status_label` of it.
"""

from __future__ import annotations

OK = "ok"
NEEDS_REVIEW = "needs_review"


def status(review: object) -> str:
    """:data:`NEEDS_REVIEW` when there is anything to review (a non-empty list or True)."""
    return NEEDS_REVIEW if review else OK


def status_label(word: str) -> str:
    """The human rendering of a status word: ``needs_review`` -> ``needs review``."""
    return word.replace("_", " ")
