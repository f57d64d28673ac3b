"""Image statistics: values pinned against independent computations, caching and resuming."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import fft, ndimage, stats

from analysis.models import image_stats as ist


def test_dct_share():
    assert ist.dct_energy_share(np.full((8, 8), 100.0)) == 1 / 64
    # two orthonormal DCT basis images with equal energy: both are needed
    coef = np.zeros((8, 8))
    coef[0, 0], coef[2, 3] = 10.0, 10.0
    img = fft.idctn(coef, norm="ortho")
    assert ist.dct_energy_share(img) == 2 / 64
    coef[5, 5] = 0.01  # 1e-4 / 200.0001 of the energy: below the 0.02 % that may be dropped
    assert ist.dct_energy_share(fft.idctn(coef, norm="ortho")) == 2 / 64
    coef[5, 5] = 0.5  # 0.25 / 200.25 > 0.02 %: needed
    assert ist.dct_energy_share(fft.idctn(coef, norm="ortho")) == 3 / 64


def _brute_entropy(g, r=5):
    from skimage.morphology import disk

    fp = disk(r)
    h, w = g.shape
    out = []
    for i in range(h):
        for j in range(w):
            vals = [g[i + di, j + dj] for di in range(-r, r + 1) for dj in range(-r, r + 1)
                    if fp[di + r, dj + r] and 0 <= i + di < h and 0 <= j + dj < w]
            _, c = np.unique(vals, return_counts=True)
            p = c / c.sum()
            out.append(-(p * np.log2(p)).sum())
    return float(np.mean(out))


def test_statistics_against_independent_computations():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (12, 12)).astype(np.uint8)
    s = ist.image_statistics(gray)
    assert s["local_entropy"] == pytest.approx(_brute_entropy(gray), abs=1e-9)
    x = gray / 255.0
    kh = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]) / 4.0
    h = ndimage.convolve(x, kh, mode="reflect")
    v = ndimage.convolve(x, kh.T, mode="reflect")
    assert s["edge_strength"] == pytest.approx(np.sqrt((h**2 + v**2) / 2).mean(), rel=1e-12)
    # two flat halves of very different colour: two segments, zero entropy far from the border
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = (200, 30, 90)
    s2 = ist.image_statistics(img)
    assert s2["segments"] == 2.0
    flat = ist.image_statistics(np.full((30, 30), 77, np.uint8))
    assert flat == pytest.approx({"segments": 1.0, "local_entropy": 0.0, "dct_share": 1 / 900, "edge_strength": 0.0}, abs=1e-15)


def test_pil_and_array_agree():
    from PIL import Image

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert ist.image_statistics(Image.fromarray(rgb)) == ist.image_statistics(rgb)


def test_cache_and_resume(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (10, 10)).astype(np.uint8) for _ in range(7)]
    calls = []

    def getter(i):
        calls.append(i)
        if len(calls) == 6 and fail[0]:
            raise KeyboardInterrupt
        return images[i]

    fail = [True]
    ids = [f"x/{i}" for i in range(7)]
    key = ist.cache_key({"name": "toy"}, ids)
    assert key != ist.cache_key({"name": "toy", "seed": 1}, ids)
    with pytest.raises(KeyboardInterrupt):
        ist.compute_image_stats(ids, getter, tmp_path, key, checkpoint=2, progress=False)
    partial = pd.read_parquet(tmp_path / f"image_stats-{key}.parquet")
    assert sorted(partial["image_index"]) == [0, 1, 2, 3]
    fail[0] = False
    calls.clear()
    full = ist.compute_image_stats(ids, getter, tmp_path, key, checkpoint=2, progress=False)
    assert calls == [4, 5, 6]
    assert full["image_index"].tolist() == list(range(7))
    assert full.loc[3, "edge_strength"] == pytest.approx(ist.image_statistics(images[3])["edge_strength"])
    calls.clear()
    again = ist.compute_image_stats(ids, getter, tmp_path, key, progress=False)
    assert calls == [] and again.equals(full)


def test_spearman_ci():
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    r, lo, hi, n = ist.spearman_ci(x, y)
    assert r == pytest.approx(stats.spearmanr(x, y).statistic)
    se = np.sqrt((1 + r**2 / 2) / 197)
    assert (lo, hi) == pytest.approx((np.tanh(np.arctanh(r) - 1.959964 * se), np.tanh(np.arctanh(r) + 1.959964 * se)), abs=1e-6)
    assert n == 200
    assert np.isnan(ist.spearman_ci(x, np.ones(200))[0])
