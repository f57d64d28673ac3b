"""Upper (and lower) bounds on every size a user can give, checked before anything is allocated.

The bounds are generous for the study (the paper: 149 pairs, 300 questionnaire images, 224 px,
2,000 bootstrap resamples, 11 models per condition) and small enough that a typo (an extra three
zeros) is a one-line error naming the bound instead of a process killed for memory or a parser
that never returns.
"""

from __future__ import annotations

from labutil.errors import UserError

MAX_DISPLAY_SIZE = 4096  # px, longer side of a stimulus image
MAX_SOURCE_SIZE = 8192  # px, --resize / --crop of table images
MAX_THUMB = 1024  # px, one image on a preview sheet
MAX_PREVIEW_COLUMNS = 100
MAX_PREVIEW_PIXELS = 400_000_000  # the whole preview sheet (1.2 GB as RGB)
MAX_SET_IMAGES = 20_000  # images in one stimulus set
MAX_N_BOOT = 100_000  # bootstrap resamples
MAX_REPEAT = 10_000  # identical models of one condition (`repeat`)
MAX_STUDY_MODELS = 100_000  # models in one study
MAX_WORKERS = 256  # local sweep worker processes
MAX_LOADER_WORKERS = 64  # DataLoader processes
MAX_THREADS = 1024  # torch threads


def check_range(option: str, value: int | float, low: int | float, high: int | float, unit: str = "") -> None:
    """A one-line UserError `OPTION VALUE: must be between LOW and HIGH` when value lies outside."""
    if isinstance(value, bool) or not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise UserError(f"{option} {value}: must be between {low} and {high}{suffix}")
