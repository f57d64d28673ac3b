"""Simulated observer models: response probabilities, RTs, questionnaire answers, spec files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiment.observers import NAMED_OBSERVERS, ObserverModel, ObserverPolicy, load_observer
from labutil.errors import UserError


def test_p_left_combines_accuracy_and_side_bias() -> None:
    pol = ObserverPolicy(ObserverModel("x", accuracy=0.8, side_bias=0.1), seed=0)
    assert pol.p_left("left") == pytest.approx(0.9)
    assert pol.p_left("right") == pytest.approx(0.3)
    # Over balanced sides: accuracy (0.9 + 0.7) / 2 = 0.8, P(left) = (0.9 + 0.3) / 2 = 0.6.
    edge = ObserverPolicy(ObserverModel("x", accuracy=1.0, side_bias=0.5), seed=0)
    assert edge.p_left("left") == 1.0 and edge.p_left("right") == 0.5


def test_choices_follow_the_model() -> None:
    pol = ObserverPolicy(ObserverModel("x", accuracy=0.8, side_bias=0.1), seed=1)
    sides = np.array(["left", "right"] * 5000)
    chosen = np.array([pol.choose_side(s) for s in sides])
    assert (chosen == sides).mean() == pytest.approx(0.8, abs=0.015)
    assert (chosen == "left").mean() == pytest.approx(0.6, abs=0.015)


def test_rts_are_log_normal_with_the_given_median_and_scale() -> None:
    pol = ObserverPolicy(ObserverModel("x", rt_median_s=2.0, rt_sigma=0.5), seed=2, rt_scale=0.1)
    rts = np.array([pol.rt() for _ in range(20000)])
    assert np.median(rts) == pytest.approx(0.2, rel=0.03)
    assert np.log(rts).std() == pytest.approx(0.5, rel=0.03)


def test_same_seed_same_decisions() -> None:
    a, b = (ObserverPolicy(NAMED_OBSERVERS["typical"], seed=7) for _ in range(2))
    assert [a.choose_side("left") for _ in range(50)] == [b.choose_side("left") for _ in range(50)]


def test_questionnaire_answers_depend_on_difficulty() -> None:
    pol = ObserverPolicy(NAMED_OBSERVERS["typical"], seed=3)
    res = {d: [pol.answer(d) for _ in range(4000)] for d in ("trivial", "impossible")}
    n = {d: np.mean([a.n_categories for a in v]) for d, v in res.items()}
    assert n["trivial"] == pytest.approx(1.5, abs=0.06) and n["impossible"] == pytest.approx(3.5, abs=0.1)
    yes = {d: np.mean([a.main_category == "yes" for a in v]) for d, v in res.items()}
    assert yes["trivial"] == pytest.approx(0.8, abs=0.02) and yes["impossible"] == pytest.approx(0.3, abs=0.02)
    normal = {d: np.mean([a.unusual == "no" for a in v]) for d, v in res.items()}
    assert normal["trivial"] == pytest.approx(0.8, abs=0.02) and normal["impossible"] == pytest.approx(0.4, abs=0.02)
    assert all(0 <= a.n_categories <= 10 for v in res.values() for a in v)


def test_spec_files(tmp_path: Path) -> None:
    toml = tmp_path / "fast.toml"
    toml.write_text('accuracy = 0.95\nside_bias = -0.2\nrt_median_s = 0.5\n')
    m = load_observer(str(toml))
    assert (m.name, m.accuracy, m.side_bias, m.rt_median_s) == ("fast", 0.95, -0.2, 0.5)
    js = tmp_path / "q.json"
    js.write_text(json.dumps({"name": "q", "main_category_probs": {
        "trivial": [1, 0, 0], "in-between": [0, 1, 0], "impossible": [0, 0, 1]}}))
    assert load_observer(str(js)).main_category_probs["impossible"] == [0.0, 0.0, 1.0]
    assert load_observer("expert").accuracy == 0.9


@pytest.mark.parametrize("text, expected", [
    ("acuracy = 0.9\n", "unknown key 'acuracy'"),
    ("accuracy = 1.5\n", "accuracy must be in 0..1"),
    ("side_bias = 0.7\n", "side_bias must be in -0.5..0.5"),
    ("accuracy = \"high\"\n", "accuracy must be a number"),
    ("[unusual_probs]\ntrivial = [0.5, 0.5, 0.5]\nin-between = [1, 0, 0]\nimpossible = [1, 0, 0]\n",
     "unusual_probs.trivial must be three probabilities summing to 1"),
])
def test_bad_spec_files(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "obs.toml"
    p.write_text(text)
    with pytest.raises(UserError, match=expected):
        load_observer(str(p))


def test_unknown_observer_name() -> None:
    with pytest.raises(UserError, match="not a named observer"):
        load_observer("superhuman")
