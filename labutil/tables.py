"""Reading user-supplied tables (CSV, or TSV by extension) with one-line errors naming the file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from labutil.errors import UserError

T = TypeVar("T")


def read_table(
    path: str | Path, required: Sequence[str] = (), as_strings: bool = False, dtype: dict[str, type] | None = None
) -> pd.DataFrame:
    """Read a CSV (or `.tsv`/`.tab`, tab-separated) table.

    `as_strings` keeps every cell as text ('' for empty), for callers that validate values
    themselves; otherwise pandas infers types (`dtype` fixes some columns' types) and `n/a` is missing. A missing or unreadable file,
    or a missing `required` column, is a UserError naming the file.
    """
    path = Path(path)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    options: dict = {"dtype": str, "keep_default_na": False} if as_strings else {"na_values": ["n/a"], "low_memory": False, "dtype": dtype}
    try:
        df = pd.read_csv(path, sep=sep, **options)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: not a readable table ({detail})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, df.columns))})")
    return df


def check_cells(df: pd.DataFrame, column: str, path: str | Path, check: Callable[[Any], T]) -> list[T]:
    """Every cell of `column` passed through `check` (a labutil.validate check taking the cell as
    text); the first bad cell is a UserError `FILE: row N: column 'C': what is wrong (what is allowed)`."""
    from labutil.validate import Invalid

    out = []
    for i, value in enumerate(df[column].tolist()):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            out.append(check("" if value is None or (isinstance(value, float) and value != value) else str(value)))
        except Invalid as exc:
            raise UserError(f"{path}: row {i + 2}: column '{column}': {exc}") from None
    return out
