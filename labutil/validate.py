"""One way to validate what a user typed or wrote: argparse types for options, and field checks
for JSON/TOML objects and table cells, each saying what is wrong and what is allowed.

Messages follow `FILE:KEY: what is wrong (what is allowed)`; option types raise
argparse.ArgumentTypeError, which the shared ArgumentParser turns into one `error:` line, exit 2.
Integers are ASCII digits only: `int()` also takes '١٢' or '３０', which no user means as a number.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from labutil.errors import UserError

T = TypeVar("T")

_INT = re.compile(r"[+-]?[0-9]+")
#: a folder or file name made by a user: ASCII letters and digits first, then also '.', '_', '-'
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SAFE_NAME_HELP = "letters, digits, '.', '_' and '-', starting with a letter or digit (a name, not a path)"


class Invalid(ValueError):
    """A value outside what a check allows; the message says what is allowed."""


# ------------------------------------------------------------------------------------ plain checks


def parse_int(text: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer written in ASCII digits (optional sign), within [lo, hi]; Invalid otherwise."""
    s = str(text).strip()
    if not _INT.fullmatch(s):
        raise Invalid(f"not an integer: {text!r} ({_range_text(lo, hi, 'an integer')}, ASCII digits)")
    value = int(s)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise Invalid(f"{value} is out of range ({_range_text(lo, hi, 'an integer')})")
    return value


def parse_float(text: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
    """A finite number within [lo, hi] (or (lo, hi] with lo_open); nan and inf are Invalid."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise Invalid(f"not a number: {text!r} ({_float_range(lo, hi, lo_open)})") from None
    check_number(value, lo, hi, lo_open)
    return value


def check_number(value: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
    """A finite int or float (not bool) within the bounds; Invalid otherwise."""
    allowed = _float_range(lo, hi, lo_open)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{value!r} is not a number ({allowed})")
    if not math.isfinite(value):
        raise Invalid(f"{value!r} is not a finite number ({allowed})")
    if (lo is not None and (value < lo or (lo_open and value == lo))) or (hi is not None and value > hi):
        raise Invalid(f"{value!r} is out of range ({allowed})")
    return float(value)


def check_int(value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """A JSON/TOML integer (not bool, not float) within [lo, hi]; Invalid otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{value!r} is not an integer ({_range_text(lo, hi, 'an integer')})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise Invalid(f"{value} is out of range ({_range_text(lo, hi, 'an integer')})")
    return value


def check_name(value: str, what: str) -> str:
    """A safe folder/file name (SAFE_NAME); a UserError naming `what` otherwise."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise UserError(f"{what} {value!r}: not a safe name (use {SAFE_NAME_HELP})")
    return value


def _range_text(lo: float | None, hi: float | None, kind: str) -> str:
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _float_range(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if lo is None and hi is None:
        return "a finite number"
    low = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
    high = "" if hi is None else f"<= {hi}"
    return "a finite number " + " and ".join(p for p in (low, high) if p)


# --------------------------------------------------------------------------------- argparse types


def _option_type(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


def int_type(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """argparse type: an ASCII-digit integer within [lo, hi]."""
    return _option_type(lambda s: parse_int(s, lo, hi), "integer")


def float_type(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number within the bounds."""
    return _option_type(lambda s: parse_float(s, lo, hi, lo_open), "number")


def _name(text: str) -> str:
    if not SAFE_NAME.fullmatch(text):
        raise Invalid(f"{text!r} is not a safe name ({SAFE_NAME_HELP})")
    return text


#: common option types
any_int = int_type()
non_negative_int = int_type(lo=0)
positive_int = int_type(lo=1)
finite_float = float_type()
non_negative_float = float_type(lo=0.0)
safe_name = _option_type(_name, "name")


# ------------------------------------------------------------------------------ JSON / TOML objects


def expect_object(value: Any, where: str) -> dict[str, Any]:
    """`value` as a dict, or a UserError saying that `where` (a file) holds no JSON/TOML object."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: not an object but {_kind(value)} (expected {{\"key\": value, ...}})")
    return value


def field(obj: Mapping[str, Any], key: str, where: str, check: Callable[[Any], T], default: Any = ...) -> T:
    """`obj[key]` passed through `check`; a missing key (without default) or an Invalid value is
    a UserError `WHERE:KEY: what is wrong (what is allowed)`."""
    if key not in obj:
        if default is ...:
            raise UserError(f"{where}:{key}: missing")
        return default
    try:
        return check(obj[key])
    except Invalid as exc:
        raise UserError(f"{where}:{key}: {exc}") from None


def int_list(lo: int | None = None, hi: int | None = None, unique: bool = False) -> Callable[[Any], list[int]]:
    """Check: a list of integers within [lo, hi] (each distinct with `unique`)."""

    def check(value: Any) -> list[int]:
        if not isinstance(value, list):
            raise Invalid(f"{_kind(value)}, not a list of integers")
        out = [check_int(v, lo, hi) for v in value]
        if unique and len(set(out)) != len(out):
            dup = next(v for v in out if out.count(v) > 1)
            raise Invalid(f"{dup} occurs twice (each at most once)")
        return out

    return check


def one_of(*allowed: Any) -> Callable[[Any], Any]:
    """Check: one of the given values."""

    def check(value: Any) -> Any:
        if value not in allowed:
            raise Invalid(f"{value!r} is not allowed (one of {', '.join(map(repr, allowed))})")
        return value

    return check


def text(value: Any) -> str:
    """Check: a string."""
    if not isinstance(value, str):
        raise Invalid(f"{_kind(value)}, not a string")
    return value


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    """Check: an integer within [lo, hi]."""
    return lambda value: check_int(value, lo, hi)


def obj(value: Any) -> dict[str, Any]:
    """Check: an object (dict)."""
    if not isinstance(value, dict):
        raise Invalid(f"{_kind(value)}, not an object")
    return value


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def check_template(value: str, placeholders: set[str] | frozenset[str]) -> str:
    """A text for str.format whose only fields are `{name}` of the given placeholders; a stray
    brace or an unknown, positional, indexed or formatted field is Invalid (it would crash later)."""
    import string

    allowed = "{" + "}, {".join(sorted(placeholders)) + "}"
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise Invalid(f"text with a stray brace ({exc}); write {{{{ or }}}} for a literal brace, "
                      f"placeholders among {allowed}") from None
    for name, spec, conv in fields:
        if name not in placeholders or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise Invalid(f"text whose placeholders are among {allowed}, not {shown}")
    return value
