"""d' and criterion c of the left/right decision against hand-computed values (scipy's norm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.humans.sdt import dprime_c, sdt_table


def test_dprime_and_c_with_the_log_linear_correction():
    # 40 of 50 left presses when the impossible image is left, 10 of 50 when it is right
    d = dprime_c(40, 50, 10, 50)
    h, f = 40.5 / 51, 10.5 / 51
    assert (d["hit_rate"], d["fa_rate"]) == pytest.approx((h, f))
    assert d["dprime"] == pytest.approx(norm.ppf(h) - norm.ppf(f), abs=1e-12)
    assert d["criterion"] == pytest.approx(0.0, abs=1e-12)  # symmetric: no side bias
    se = np.sqrt(h * (1 - h) / (51 * norm.pdf(norm.ppf(h)) ** 2) + f * (1 - f) / (51 * norm.pdf(norm.ppf(f)) ** 2))
    assert d["dprime_se"] == pytest.approx(se) and d["criterion_se"] == pytest.approx(se / 2)
    # perfect performance stays finite
    p = dprime_c(50, 50, 0, 50)
    assert np.isfinite(p["dprime"]) and p["dprime"] == pytest.approx(2 * norm.ppf(50.5 / 51))
    # always pressing left: c < 0 (a bias to the left), d' = 0
    b = dprime_c(50, 50, 50, 50)
    assert b["dprime"] == pytest.approx(0.0, abs=1e-12) and b["criterion"] < 0


def test_table_counts_signal_as_impossible_on_the_left():
    t = pd.DataFrame({"participant_id": "sub-001", "session": 1,
                      "impossible_side": ["left"] * 4 + ["right"] * 4,
                      "response_side": ["left", "left", "left", "right", "left", "right", "right", "right"]})
    row = sdt_table(t).iloc[0]
    assert (row["n_signal"], row["hits"], row["n_noise"], row["false_alarms"]) == (4, 3, 4, 1)
    assert row["share_left"] == pytest.approx(0.5)
    assert row["p_side_bias"] == pytest.approx(1.0) and row["p_side_bias_holm"] == pytest.approx(1.0)
