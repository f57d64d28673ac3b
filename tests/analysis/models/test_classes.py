"""Class-wise accuracy and the Gaussian KL divergences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from analysis.models.classes import class_accuracy, easiest_and_hardest, gaussian_class_sds, gaussian_kl, neighbour_kl_table


def test_class_accuracy_hand_computed():
    labels = np.array([0, 0, 1, 1, 2, 2])
    names = np.array(["cat", "cat", "dog", "dog", "eel", "eel"])
    c = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 0, 0, 1]], bool)
    t = class_accuracy(c, labels, names)
    assert t["class_name"].tolist() == ["cat", "dog", "eel"]
    assert t["accuracy"].tolist() == pytest.approx([0.75, 0.5, 0.25])
    assert t["rank"].tolist() == [1, 2, 3]
    assert t["min_model_accuracy"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert t["max_model_accuracy"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert t["sd_over_models"][0] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    eh = easiest_and_hardest(t, 1)
    assert eh["class_name"].tolist() == ["cat", "eel"] and eh["group"].tolist() == ["easiest", "hardest"]


def test_gaussian_kl_against_numerical_integration():
    for sp, sq in [(1.0, 2.0), (5.0, 4.0), (30.0, 31.0)]:
        p, q = stats.norm(128, sp), stats.norm(128, sq)
        numeric, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), 128 - 40 * sp, 128 + 40 * sp, limit=200)
        assert float(gaussian_kl(sp, sq)) == pytest.approx(numeric, rel=1e-7)
    assert float(gaussian_kl(3.0, 3.0)) == 0.0


def test_neighbour_table():
    import pandas as pd

    t = pd.DataFrame({"label": [2, 0, 1], "class_name": ["s3", "s1", "s2"], "accuracy": [0.5, 1.0, 0.8]})
    sds = gaussian_class_sds({"name": "gaussian"}, t["label"].to_numpy())
    assert sds.tolist() == [3.0, 1.0, 2.0]
    kl = neighbour_kl_table(t, sds)
    assert kl["sd"].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(kl["kl_to_lower"][0]) and np.isnan(kl["kl_to_higher"][2])
    assert kl["kl_to_higher"][0] == pytest.approx(np.log(2) + 1 / 8 - 0.5)
    assert kl["kl_to_lower"][1] == pytest.approx(np.log(1 / 2) + 4 / 2 - 0.5)
    assert kl["kl_min"][1] == pytest.approx(min(kl["kl_to_lower"][1], kl["kl_to_higher"][1]))
    assert gaussian_class_sds({"name": "gaussian", "sds": [5, 7, 9]}, np.array([2, 0])).tolist() == [9.0, 5.0]
