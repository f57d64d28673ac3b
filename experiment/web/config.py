"""The online experiment's configuration: `experiment/web/web.toml` overridden by `--config`.

An unknown section or key, or a value of the wrong kind, is a one-line UserError naming the file
and the key (as for the lab configuration), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labutil.errors import UserError
from labutil.io import read_toml

DEFAULT_WEB_CONFIG = Path(__file__).with_name("web.toml")

#: URL parameters of each recruitment platform: (participant, study, session).
PLATFORM_PARAMS: dict[str, tuple[str, str, str]] = {
    "prolific": ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    "mturk": ("workerId", "hitId", "assignmentId"),
    "sona": ("id", "", ""),
}
_KEY = re.compile(r"^[a-z0-9]$")


@dataclass(frozen=True)
class WebConfig:
    """Every setting of the online experiment, checked."""

    platform: str
    completion_code: str
    completion_url: str
    consent_form_version: str
    consent_text: str
    min_window_px: tuple[int, int]
    fullscreen: bool
    calibration: bool
    viewing_distance_cm: float
    image_pixels: str
    left_key: str
    right_key: str
    swap_keys: bool
    mirror_sides: bool
    fixation_s_2afc: float
    break_every_2afc: int
    image_gap_px: int
    instructions_2afc: str
    fixation_s_questionnaire: float
    break_every_questionnaire: int
    instructions_questionnaire: str
    catch_every: int
    requests_per_minute: int
    starts_per_minute: int
    max_body_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# section -> key -> (field name, kind)
_SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "study": {"platform": ("platform", "platform"), "completion_code": ("completion_code", "code"),
              "completion_url": ("completion_url", "url"), "consent_form_version": ("consent_form_version", "str"),
              "consent_text": ("consent_text", "str")},
    "screen": {"min_window_px": ("min_window_px", "size"), "fullscreen": ("fullscreen", "bool"),
               "calibration": ("calibration", "bool"), "viewing_distance_cm": ("viewing_distance_cm", "pos"),
               "image_pixels": ("image_pixels", "pixels")},
    "two_afc": {"left_key": ("left_key", "key"), "right_key": ("right_key", "key"), "swap_keys": ("swap_keys", "bool"),
                "mirror_sides": ("mirror_sides", "bool"), "fixation_s": ("fixation_s_2afc", "nonneg"),
                "break_every": ("break_every_2afc", "count"), "image_gap_px": ("image_gap_px", "count"),
                "instructions": ("instructions_2afc", "str")},
    "questionnaire": {"fixation_s": ("fixation_s_questionnaire", "nonneg"),
                      "break_every": ("break_every_questionnaire", "count"),
                      "instructions": ("instructions_questionnaire", "str")},
    "catch": {"every": ("catch_every", "count")},
    "limits": {"requests_per_minute": ("requests_per_minute", "posint"),
               "starts_per_minute": ("starts_per_minute", "posint"),
               "max_body_bytes": ("max_body_bytes", "posint")},
}


def load_web_config(path: Path | None = None) -> WebConfig:
    """The packaged defaults, with the keys of `path` (if given) replacing them."""
    values = _read(DEFAULT_WEB_CONFIG, DEFAULT_WEB_CONFIG)
    if path is not None:
        if not Path(path).is_file():
            raise UserError(f"--config {path}: file not found")
        values.update(_read(Path(path), Path(path)))
    cfg = WebConfig(**values)
    if cfg.left_key == cfg.right_key:
        raise UserError(f"{path or DEFAULT_WEB_CONFIG}: [two_afc] left_key and right_key must differ")
    return cfg


def _read(path: Path, name: Path) -> dict[str, Any]:
    data = read_toml(path)
    out: dict[str, Any] = {}
    for section, table in data.items():
        if section not in _SCHEMA or not isinstance(table, dict):
            raise UserError(f"{name}: unknown section [{section}] (one of {', '.join(_SCHEMA)})")
        for key, value in table.items():
            if key not in _SCHEMA[section]:
                raise UserError(f"{name}: [{section}] unknown key '{key}'")
            field_name, kind = _SCHEMA[section][key]
            out[field_name] = _check(value, kind, f"{name}: [{section}] {key}")
    return out


def _check(value: Any, kind: str, where: str) -> Any:  # noqa: C901 - one branch per kind
    def bad(expected: str) -> UserError:
        return UserError(f"{where} = {value!r}: expected {expected}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("str", "url", "code", "platform", "pixels", "key"):
        if not isinstance(value, str):
            raise bad("a string")
        if kind == "code" and not re.fullmatch(r"[A-Za-z0-9]{1,40}", value):
            raise bad("1-40 letters or digits")
        if kind == "url" and value and not (value.startswith("https://") or value.startswith("http://")):
            raise bad("an http(s) URL or \"\"")
        if kind == "platform" and value not in PLATFORM_PARAMS:
            raise bad(" or ".join(PLATFORM_PARAMS))
        if kind == "pixels" and value not in ("device", "css"):
            raise bad("device or css")
        if kind == "key" and not _KEY.match(value):
            raise bad("one lower-case letter or digit")
        return value
    if kind == "size":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 0 <= v <= 10000
                                                                    for v in value)):
            raise bad("[width, height] in pixels")
        return (int(value[0]), int(value[1]))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad("a number")
    if kind in ("count", "posint"):
        if not isinstance(value, int) or value < (1 if kind == "posint" else 0):
            raise bad("a whole number" + (" of 1 or more" if kind == "posint" else " of 0 or more"))
        return int(value)
    if kind == "pos" and value <= 0:
        raise bad("a positive number")
    if kind == "nonneg" and value < 0:
        raise bad("a number of 0 or more")
    return float(value)
