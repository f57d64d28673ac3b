"""Simulated observers: what a model observer answers and how long it takes.

A model has an accuracy and a side bias for the 2AFC task, a log-normal RT distribution, and, for
the questionnaire, answer distributions that depend on the image's difficulty (fewer categories, a
clearer main category and a more usual presentation for images that models find easy, as in the
paper). `experiment.simulate` turns these decisions into real key presses.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from labutil.errors import UserError
from labutil.io import read_toml
from participants.layout import MAIN_CATEGORY_LEVELS, UNUSUAL_LEVELS

DIFFICULTY_LEVELS = ("trivial", "in-between", "impossible")
# Answer orders used in the probability lists below (and on screen).
MAIN_CATEGORY_ORDER = ("yes", "maybe", "no")
UNUSUAL_ORDER = ("no", "slightly", "very")
assert set(MAIN_CATEGORY_ORDER) == set(MAIN_CATEGORY_LEVELS) and set(UNUSUAL_ORDER) == set(UNUSUAL_LEVELS)


def _default_categories() -> dict[str, float]:
    return {"trivial": 1.5, "in-between": 2.5, "impossible": 3.5}


def _default_main() -> dict[str, list[float]]:
    return {"trivial": [0.8, 0.15, 0.05], "in-between": [0.5, 0.3, 0.2], "impossible": [0.3, 0.3, 0.4]}


def _default_unusual() -> dict[str, list[float]]:
    return {"trivial": [0.8, 0.15, 0.05], "in-between": [0.6, 0.3, 0.1], "impossible": [0.4, 0.35, 0.25]}


@dataclass(frozen=True)
class ObserverModel:
    """Parameters of a simulated observer (all times in seconds)."""

    name: str
    accuracy: float = 0.81  # P(choosing the impossible image), 2AFC; the paper's humans: 81.36 %
    side_bias: float = 0.0  # added to P(pressing left), -0.5..0.5; negative favours right
    rt_median_s: float = 2.0  # median of the log-normal RT of one answer
    rt_sigma: float = 0.4  # sigma of log(RT)
    proceed_s: float = 1.0  # time to read an instruction, break or end screen before pressing on
    categories_mean: dict[str, float] = field(default_factory=_default_categories)  # Q1: 1 + Poisson(mean - 1)
    main_category_probs: dict[str, list[float]] = field(default_factory=_default_main)  # Q2: yes, maybe, no
    unusual_probs: dict[str, list[float]] = field(default_factory=_default_unusual)  # Q3: no, slightly, very

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NAMED_OBSERVERS: dict[str, ObserverModel] = {
    "typical": ObserverModel("typical"),
    "expert": ObserverModel("expert", accuracy=0.9, rt_median_s=1.6, rt_sigma=0.3),
    "guesser": ObserverModel(
        "guesser", accuracy=0.5, rt_median_s=1.0, rt_sigma=0.3,
        categories_mean={d: 2.5 for d in DIFFICULTY_LEVELS},
        main_category_probs={d: [1 / 3, 1 / 3, 1 / 3] for d in DIFFICULTY_LEVELS},
        unusual_probs={d: [1 / 3, 1 / 3, 1 / 3] for d in DIFFICULTY_LEVELS},
    ),
    "left-biased": ObserverModel("left-biased", accuracy=0.75, side_bias=0.15),
    "slow": ObserverModel("slow", accuracy=0.85, rt_median_s=4.0, rt_sigma=0.6),
    # a typical observer in a hurry, for demos: ~0.12 s per answer, 0.1 s per text screen
    "demo": ObserverModel("demo", rt_median_s=0.12, rt_sigma=0.3, proceed_s=0.1),
}


def load_observer(spec: str) -> ObserverModel:
    """A named observer (`typical`, `expert`, ...) or a TOML/JSON file of ObserverModel fields."""
    if spec in NAMED_OBSERVERS:
        return NAMED_OBSERVERS[spec]
    path = Path(spec)
    if path.suffix.lower() not in (".toml", ".json"):
        raise UserError(f"--simulate '{spec}': not a named observer ({', '.join(NAMED_OBSERVERS)}) "
                        "nor a .toml/.json spec file")
    if not path.is_file():
        raise UserError(f"--simulate {path}: file not found")
    if path.suffix.lower() == ".toml":
        raw = read_toml(path)
    else:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must hold a table of observer parameters")
    return _model_from(raw, path)


def _model_from(raw: dict[str, Any], path: Path) -> ObserverModel:
    known = {f.name for f in fields(ObserverModel)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"{path}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
    base = NAMED_OBSERVERS["typical"]
    model = replace(base, name=str(raw.get("name", path.stem)))
    values: dict[str, Any] = {}
    for key in ("accuracy", "side_bias", "rt_median_s", "rt_sigma", "proceed_s"):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
                raise UserError(f"{path}: {key} must be a number, not {v!r}")
            values[key] = float(v)
    for key, kind in (("categories_mean", "mean"), ("main_category_probs", "probs"), ("unusual_probs", "probs")):
        if key in raw:
            values[key] = _per_difficulty(raw[key], kind, f"{path}: {key}")
    model = replace(model, **values)
    _check_ranges(model, str(path))
    return model


def _per_difficulty(v: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(v, dict) or set(v) != set(DIFFICULTY_LEVELS):
        raise UserError(f"{where} must be a table with keys {', '.join(DIFFICULTY_LEVELS)}")
    out: dict[str, Any] = {}
    for d, x in v.items():
        if kind == "mean":
            if isinstance(x, bool) or not isinstance(x, int | float) or not 1 <= x <= 10:
                raise UserError(f"{where}.{d} must be a number 1..10, not {x!r}")
            out[d] = float(x)
        else:
            ok = isinstance(x, list) and len(x) == 3 and all(
                isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in x)
            if not ok or abs(sum(x) - 1) > 1e-6:
                raise UserError(f"{where}.{d} must be three probabilities summing to 1, not {x!r}")
            out[d] = [float(p) for p in x]
    return out


def _check_ranges(m: ObserverModel, where: str) -> None:
    if not 0 <= m.accuracy <= 1:
        raise UserError(f"{where}: accuracy must be in 0..1, not {m.accuracy}")
    if not -0.5 <= m.side_bias <= 0.5:
        raise UserError(f"{where}: side_bias must be in -0.5..0.5, not {m.side_bias}")
    if not 0 < m.rt_median_s <= 60 or not 0 <= m.rt_sigma <= 3 or not 0 <= m.proceed_s <= 60:
        raise UserError(f"{where}: rt_median_s must be in (0, 60], rt_sigma in [0, 3], proceed_s in [0, 60]")


@dataclass(frozen=True)
class QuestionnaireAnswer:
    n_categories: int  # 0..10, 10 = "10+"
    main_category: str
    unusual: str


class ObserverPolicy:
    """Seeded decisions of one simulated observer; `rt_scale` shortens every delay (for demos/tests)."""

    MIN_DELAY_S = 0.02

    def __init__(self, model: ObserverModel, seed: int, rt_scale: float = 1.0) -> None:
        if not 0 < rt_scale <= 10:
            raise UserError(f"--sim-rt-scale {rt_scale}: must be in (0, 10]")
        self.model = model
        self.seed = seed
        self.rt_scale = rt_scale
        self.rng = np.random.default_rng(seed)

    def p_left(self, impossible_side: str) -> float:
        """P(pressing left): accuracy for the impossible side, shifted by the side bias."""
        p = self.model.accuracy if impossible_side == "left" else 1.0 - self.model.accuracy
        return min(max(p + self.model.side_bias, 0.0), 1.0)

    def choose_side(self, impossible_side: str) -> str:
        return "left" if self.rng.random() < self.p_left(impossible_side) else "right"

    def rt(self) -> float:
        """One log-normal response time, scaled."""
        t = self.model.rt_median_s * math.exp(self.model.rt_sigma * self.rng.standard_normal())
        return max(t * self.rt_scale, self.MIN_DELAY_S)

    def proceed_delay(self) -> float:
        return max(self.model.proceed_s * self.rt_scale, self.MIN_DELAY_S)

    def answer(self, difficulty: str) -> QuestionnaireAnswer:
        """Questionnaire answers for an image of the given difficulty (unknown -> in-between)."""
        d = difficulty if difficulty in DIFFICULTY_LEVELS else "in-between"
        m = self.model
        n = min(1 + int(self.rng.poisson(m.categories_mean[d] - 1.0)), 10)
        main = MAIN_CATEGORY_ORDER[int(self.rng.choice(3, p=m.main_category_probs[d]))]
        unusual = UNUSUAL_ORDER[int(self.rng.choice(3, p=m.unusual_probs[d]))]
        return QuestionnaireAnswer(n, main, unusual)
