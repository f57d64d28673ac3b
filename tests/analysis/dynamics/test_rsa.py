"""RSA equals a direct computation (pairwise Pearson with scipy, upper triangle by loops), linear
CKA equals its kernel (HSIC) form, and the pair table compares models on their common images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.dynamics import rsa


def direct_rdm(x: np.ndarray) -> np.ndarray:
    k = x.shape[0]
    return np.array([[1.0 - stats.pearsonr(x[i], x[j]).statistic for j in range(k)] for i in range(k)])


def direct_triangle(m: np.ndarray) -> list[float]:
    return [m[i, j] for i in range(m.shape[0]) for j in range(i + 1, m.shape[0])]


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.trace(k @ l) / np.sqrt(np.trace(k @ k) * np.trace(l @ l)))


def test_rdm_and_similarity_direct() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 7))
    b = a @ rng.normal(size=(7, 5)) + 0.5 * rng.normal(size=(12, 5))
    np.testing.assert_allclose(rsa.rdm(a), direct_rdm(a), atol=1e-12)
    expected = stats.spearmanr(direct_triangle(direct_rdm(a)), direct_triangle(direct_rdm(b))).statistic
    assert rsa.rdm_similarity(rsa.rdm(a), rsa.rdm(b)) == pytest.approx(expected, abs=1e-12)
    assert rsa.rdm_similarity(rsa.rdm(a), rsa.rdm(3 * a + 1)) == pytest.approx(1.0)


def test_linear_cka() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 6))
    y = rng.normal(size=(30, 4))
    assert rsa.linear_cka(x, y) == pytest.approx(hsic_cka(x - x.mean(0), y - y.mean(0)), rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert rsa.linear_cka(x, 2.5 * x @ q + 4.0) == pytest.approx(1.0)  # rotation, scale and shift


def test_similarity_table_uses_common_images_in_order() -> None:
    rng = np.random.default_rng(2)
    full = {m: rng.normal(size=(20, 5)) for m in ("b1", "b2", "x1")}
    idx = {"b1": np.arange(20), "b2": np.arange(20)[::-1], "x1": np.arange(2, 20)}  # another order, a subset
    acts = {m: (idx[m], full[m][idx[m]]) for m in full}
    conds = {"b1": "base", "b2": "base", "x1": "other"}
    pairs = rsa.similarity_table(acts, conds, "base")
    assert set(zip(pairs["model_id"], pairs["base_model"])) == {("b1", "b2"), ("b2", "b1"), ("x1", "b1"), ("x1", "b2")}
    assert (pairs["n_images"] == 18).all()
    common = np.arange(2, 20)
    want = stats.spearmanr(direct_triangle(direct_rdm(full["x1"][common])), direct_triangle(direct_rdm(full["b2"][common]))).statistic
    got = pairs.set_index(["model_id", "base_model"]).loc[("x1", "b2"), "similarity"]
    assert got == pytest.approx(want, abs=1e-12)
    cka = rsa.similarity_table(acts, conds, "base", "cka").set_index(["model_id", "base_model"])
    assert cka.loc[("x1", "b1"), "similarity"] == pytest.approx(hsic_cka(full["x1"][common] - full["x1"][common].mean(0),
                                                                         full["b1"][common] - full["b1"][common].mean(0)))
    per = rsa.condition_table(pairs, ["base", "other"])
    assert per["condition"].tolist() == ["base", "other"] and per["n_pairs"].tolist() == [2, 2]
    with pytest.raises(ValueError):
        rsa.similarity_table(acts, conds, "base", "cosine")
