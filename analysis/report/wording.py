"""Small wording helpers for the report: counted nouns, and what one observer or one model cannot give."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 observer', '3 observers'."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


ONE_OBSERVER = ("With one observer there is no mean over observers, no SD, no interval that generalises to other "
                "observers and no inter-observer error consistency: those need at least two observers.")
