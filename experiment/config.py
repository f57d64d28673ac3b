"""The lab configuration (monitor, keys, task texts and timing) and the visual angle of the stimuli.

The packaged `experiment/lab.toml` holds the defaults; a lab's own file (`--config`) overrides the
keys it names. An unknown section or key, or a value of the wrong kind, is a one-line UserError
naming the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labutil.errors import UserError
from labutil.io import read_toml

DEFAULT_CONFIG = Path(__file__).with_name("lab.toml")

# Key names the programs accept (PsychoPy's ptb keyboard names); each maps to an X keysym so that
# simulated observers can press it through XTEST.
SPECIAL_KEYS: dict[str, str] = {
    "left": "Left", "right": "Right", "up": "Up", "down": "Down", "space": "space",
    "return": "Return", "escape": "Escape", "tab": "Tab", "backspace": "BackSpace",
    "comma": "comma", "period": "period", "slash": "slash", "semicolon": "semicolon",
    "minus": "minus", "equal": "equal", **{f"f{i}": f"F{i}" for i in range(1, 13)},
    **{f"num_{i}": f"KP_{i}" for i in range(10)},  # keypad digits
}
_PLAIN_KEY = re.compile(r"^[a-z0-9]$")
DIGIT_KEYS: tuple[str, ...] = tuple(str(i) for i in range(10))


def is_key_name(name: str) -> bool:
    """True for a key name the programs can wait for and a simulated observer can press."""
    return bool(_PLAIN_KEY.match(name)) or name in SPECIAL_KEYS


@dataclass(frozen=True)
class MonitorConfig:
    name: str
    width_cm: float
    distance_cm: float
    resolution_px: tuple[int, int]
    screen: int
    fullscreen: bool
    background: tuple[float, float, float]
    frame_rate_hz: float
    image_size_deg: float  # 0 = images at their native pixel size (as in the paper)


@dataclass(frozen=True)
class KeysConfig:
    left: str
    right: str
    quit: str
    proceed: str
    confirm_yes: str
    confirm_no: str


@dataclass(frozen=True)
class TwoAfcConfig:
    instructions: str
    break_every: int
    fixation_s: float
    image_gap_px: int
    key_reminder: str  # on the trial screen ("" = none)
    practice_feedback: bool  # "correct" / "not correct" after each practice trial (never in the test)
    feedback_s: float
    counterbalance_sides: bool  # mirror the set's sides for half of the observers
    swap_keys: bool  # swap the response keys for half of the observers (crossed with the mirror)
    debriefing: str


@dataclass(frozen=True)
class QuestionnaireConfig:
    instructions: str
    break_every: int
    fixation_s: float
    ten_plus_key: str
    q2_keys: tuple[str, str, str]  # Q2 answers no, maybe, yes
    q3_keys: tuple[str, str, str]  # Q3 answers no, slightly, very
    back_key: str  # back to the previous question of the same image
    key_reminder: str
    debriefing: str


@dataclass(frozen=True)
class LabConfig:
    """The resolved lab configuration and the files it came from."""

    monitor: MonitorConfig
    keys: KeysConfig
    two_afc: TwoAfcConfig
    questionnaire: QuestionnaireConfig
    files: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record for the session sidecar."""
        out = asdict(self)
        out["files"] = [portable_path(f) for f in self.files]
        return out


# ---------------------------------------------------------------------------------------------
# Validators: each returns the converted value or a message saying what was expected.

Check = Callable[[Any], Any]


class _Bad(Exception):
    pass


def _number(lo: float, hi: float, lo_open: bool = True) -> Check:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            raise _Bad(f"a number, not {v!r}")
        if (v <= lo if lo_open else v < lo) or v > hi:
            raise _Bad(f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}, not {v!r}")
        return float(v)
    return check


def _integer(lo: int, hi: int) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _Bad(f"an integer {lo}..{hi}, not {v!r}")
        return int(v)
    return check


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"true or false, not {v!r}")
    return v


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Bad(f"a non-empty string, not {v!r}")
    return v


def _optional_text(placeholders: set[str]) -> Check:
    def check(v: Any) -> str:
        if v == "":
            return v
        return _instructions(placeholders)(v)
    return check


def _key(v: Any) -> str:
    if not isinstance(v, str) or not is_key_name(v):
        raise _Bad(f"a key name (a-z, 0-9, {', '.join(sorted(SPECIAL_KEYS)[:6])}, ...), not {v!r}")
    return v


def _keys3(v: Any) -> tuple[str, str, str]:
    if not isinstance(v, list) or len(v) != 3:
        raise _Bad(f"a list of three key names, not {v!r}")
    keys = tuple(_key(k) for k in v)
    if len(set(keys)) != 3:
        raise _Bad(f"three different keys, not {v!r}")
    return keys  # type: ignore[return-value]


def _resolution(v: Any) -> tuple[int, int]:
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise _Bad(f"[width, height] in pixels, not {v!r}")
    if not all(100 <= x <= 16384 for x in v):
        raise _Bad(f"[width, height] between 100 and 16384 pixels, not {v!r}")
    return (int(v[0]), int(v[1]))


def _colour(v: Any) -> tuple[float, float, float]:
    if not (isinstance(v, list) and len(v) == 3
            and all(isinstance(x, int | float) and not isinstance(x, bool) and -1 <= x <= 1 for x in v)):
        raise _Bad(f"an rgb list of three numbers in -1..1, not {v!r}")
    return (float(v[0]), float(v[1]), float(v[2]))


def _instructions(placeholders: set[str]) -> Check:
    def check(v: Any) -> str:
        text = _text(v)
        for name in re.findall(r"\{([^{}]*)\}", text):
            if name not in placeholders:
                raise _Bad(f"text whose placeholders are among {{{'}, {'.join(sorted(placeholders))}}}, not {{{name}}}")
        return text
    return check


_KEY_FIELDS = {"left", "right", "quit", "proceed", "confirm_yes", "confirm_no", "ten_plus", "back"}
# Facts of the session the texts may name: trial counts, breaks and the questionnaire's options.
_SESSION_FIELDS = {"n_trials", "n_practice", "n_test", "break_every", "breaks", "q1_options", "q2_options", "q3_options"}
_TEXT_FIELDS = _KEY_FIELDS | _SESSION_FIELDS
# Keys that were renamed when their meaning changed, so that an old file is an error, not a silent flip.
RENAMED: dict[str, str] = {
    "questionnaire.main_category_keys": "it is now questionnaire.q2_keys, in the order no, maybe, yes",
    "questionnaire.unusual_keys": "it is now questionnaire.q3_keys (no, slightly, very)",
}

SCHEMA: dict[str, dict[str, Check]] = {
    "monitor": {
        "name": _text,
        "width_cm": _number(0, 1000),
        "distance_cm": _number(0, 10000),
        "resolution_px": _resolution,
        "screen": _integer(0, 16),
        "fullscreen": _boolean,
        "background": _colour,
        "frame_rate_hz": _number(0, 1000),
        "image_size_deg": _number(0, 90, lo_open=False),
    },
    "keys": {k: _key for k in ("left", "right", "quit", "proceed", "confirm_yes", "confirm_no")},
    "two_afc": {
        "instructions": _instructions(_TEXT_FIELDS),
        "break_every": _integer(0, 100000),
        "fixation_s": _number(0, 60, lo_open=False),
        "image_gap_px": _integer(0, 4096),
        "key_reminder": _optional_text(_KEY_FIELDS),
        "practice_feedback": _boolean,
        "feedback_s": _number(0, 10),
        "counterbalance_sides": _boolean,
        "swap_keys": _boolean,
        "debriefing": _instructions(_TEXT_FIELDS),
    },
    "questionnaire": {
        "instructions": _instructions(_TEXT_FIELDS),
        "break_every": _integer(0, 100000),
        "fixation_s": _number(0, 60, lo_open=False),
        "ten_plus_key": _key,
        "q2_keys": _keys3,
        "q3_keys": _keys3,
        "back_key": _key,
        "key_reminder": _optional_text(_KEY_FIELDS),
        "debriefing": _instructions(_TEXT_FIELDS),
    },
}


def _validated(raw: dict[str, Any], path: Path, complete: bool) -> dict[str, dict[str, Any]]:
    """Check every section and key of one TOML file against SCHEMA."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in SCHEMA:
            raise UserError(f"{path}: unknown section [{section}] (known: {', '.join(SCHEMA)})")
        if not isinstance(values, dict):
            raise UserError(f"{path}: '{section}' must be a [{section}] table")
        out[section] = {}
        for key, value in values.items():
            if f"{section}.{key}" in RENAMED:
                raise UserError(f"{path}: '{section}.{key}' is no longer read: {RENAMED[f'{section}.{key}']}")
            if key not in SCHEMA[section]:
                raise UserError(f"{path}: unknown key '{section}.{key}' (known: {', '.join(SCHEMA[section])})")
            try:
                out[section][key] = SCHEMA[section][key](value)
            except _Bad as exc:
                raise UserError(f"{path}: {section}.{key} must be {exc}") from None
    if complete:
        for section, keys in SCHEMA.items():
            for key in keys:
                if key not in out.get(section, {}):
                    raise UserError(f"{path}: missing key '{section}.{key}'")
    return out


def _check_key_clashes(cfg: LabConfig, where: str) -> None:
    """Keys that share a screen must differ; the digits 0-9 belong to questionnaire Q1."""
    k = cfg.keys
    screens = {
        "2AFC trial (keys.left, keys.right, keys.quit)": [k.left, k.right, k.quit],
        "quit confirmation (keys.confirm_yes, keys.confirm_no, keys.quit)": [k.confirm_yes, k.confirm_no, k.quit],
        "instruction screens (keys.proceed, keys.quit)": [k.proceed, k.quit],
        "questionnaire Q1 (0-9, questionnaire.ten_plus_key, questionnaire.back_key, keys.quit)":
            [*DIGIT_KEYS, cfg.questionnaire.ten_plus_key, cfg.questionnaire.back_key, k.quit],
        "questionnaire Q2 (questionnaire.q2_keys, questionnaire.back_key, keys.quit)":
            [*cfg.questionnaire.q2_keys, cfg.questionnaire.back_key, k.quit],
        "questionnaire Q3 (questionnaire.q3_keys, questionnaire.back_key, keys.quit)":
            [*cfg.questionnaire.q3_keys, cfg.questionnaire.back_key, k.quit],
    }
    for screen, keys in screens.items():
        dup = sorted({x for x in keys if keys.count(x) > 1})
        if dup:
            raise UserError(f"{where}: key '{dup[0]}' is used twice on the {screen}")


def load_config(path: str | Path | None = None) -> LabConfig:
    """The packaged defaults, overridden by the keys of `path` (if given)."""
    merged = _validated(read_toml(DEFAULT_CONFIG), DEFAULT_CONFIG, complete=True)
    files = [str(DEFAULT_CONFIG)]
    where = str(DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: config file not found")
        for section, values in _validated(read_toml(path), path, complete=False).items():
            merged[section].update(values)
        files.append(str(path))
        where = str(path)
    cfg = LabConfig(
        monitor=MonitorConfig(**merged["monitor"]),
        keys=KeysConfig(**merged["keys"]),
        two_afc=TwoAfcConfig(**merged["two_afc"]),
        questionnaire=QuestionnaireConfig(**merged["questionnaire"]),
        files=tuple(files),
    )
    _check_key_clashes(cfg, where)
    return cfg


def portable_path(path: str | Path) -> str:
    """A path as it may be recorded in exported data: relative to the working directory when it
    lies below it, else the file or folder name only (never an absolute path of the lab machine)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        pass
    pkg = Path(__file__).resolve().parent
    try:
        return ("experiment" / p.resolve().relative_to(pkg)).as_posix()
    except ValueError:
        return p.name


def config_sha256(cfg: LabConfig) -> str:
    """Checksum of the files the configuration was read from, in order."""
    h = hashlib.sha256()
    for f in cfg.files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def key_label(key: str) -> str:
    """How a key is named on screen: LEFT ARROW, SPACE, Y."""
    if key in ("left", "right", "up", "down"):
        return f"the {key.upper()} ARROW key"
    return key.upper()


def short_key_label(key: str) -> str:
    """A key's name for a one-line reminder: LEFT ARROW, SPACE, Y."""
    if key in ("left", "right", "up", "down"):
        return f"{key.upper()} ARROW"
    return key.upper()


def visual_angle_deg(size_px: float, width_cm: float, resolution_x_px: int, distance_cm: float) -> float:
    """Exact visual angle (2 atan(s / 2d)) of `size_px` pixels on a screen `width_cm` wide at
    `resolution_x_px`, seen from `distance_cm`."""
    size_cm = size_px * width_cm / resolution_x_px
    return math.degrees(2.0 * math.atan(size_cm / (2.0 * distance_cm)))


def make_monitor(cfg: MonitorConfig) -> Any:
    """A psychopy.monitors.Monitor with the configured width, distance and resolution."""
    from psychopy import monitors

    mon = monitors.Monitor(cfg.name, width=cfg.width_cm, distance=cfg.distance_cm)
    mon.setSizePix(list(cfg.resolution_px))
    return mon

