"""Library warnings (statsmodels, scipy, numpy) turned into sentences for the report, never raw on the terminal.

    with notes_of_warnings() as notes:        # the report, around each section
        ...
        with fitting("the log-RT mixed model (MixedLM)"):   # a library fit inside
            fit = model.fit()
    notes  # ["the log-RT mixed model (MixedLM): the fit did not fully converge; ...", ...]

Outside `notes_of_warnings` a `fitting` block drops its warnings (they are about tiny data and the
numbers are reported as they are), as the analysis did before.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ACTIVE: ContextVar[list[str] | None] = ContextVar("warning_notes", default=None)

_UNDEFINED = ("invalid value", "divide by zero", "mean of empty slice", "degrees of freedom", "empty slice",
              "constant input", "nan", "precision loss")


def sentence(what: str, message: warnings.WarningMessage) -> str:
    """One sentence saying what a warning means for the numbers of `what`."""
    kind = message.category.__name__
    text = str(message.message).strip().splitlines()[0] if str(message.message).strip() else kind
    subject = what or "a computation"
    if kind == "ConvergenceWarning":
        return f"{subject}: the fit did not fully converge; read its estimates and intervals with care ({text})"
    if kind == "HessianInversionWarning":
        return f"{subject}: its standard errors are unreliable (the Hessian could not be inverted)"
    if kind == "PerfectSeparationWarning":
        return f"{subject}: one outcome is predicted perfectly (separation), so its estimates are unbounded"
    if issubclass(message.category, RuntimeWarning) and any(s in text.lower() for s in _UNDEFINED):
        return (f"{subject}: some quantities are undefined on these data (too few observers or items, or no "
                f"variation); they are shown as n/a ({text})")
    return f"{subject}: {kind}: {text}"


def _add(notes: list[str], caught: list[warnings.WarningMessage], what: str) -> None:
    for message in caught:
        line = sentence(what, message)
        if line not in notes:
            notes.append(line)


@contextmanager
def notes_of_warnings() -> Iterator[list[str]]:
    """Catch every warning raised inside; the yielded list holds their sentences once the block ends."""
    notes: list[str] = []
    token = _ACTIVE.set(notes)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
    finally:
        _ACTIVE.reset(token)
    _add(notes, caught, "")


@contextmanager
def fitting(what: str) -> Iterator[None]:
    """A library call whose warnings become sentences naming `what` (kept only inside notes_of_warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    notes = _ACTIVE.get()
    if notes is not None:
        _add(notes, caught, what)
