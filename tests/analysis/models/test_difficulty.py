"""Models-correct split, histogram nulls and the independence test; the reference-table summary."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from analysis.models import difficulty as dif
from analysis.models.ddd import main, summarise_table
from labutil.errors import UserError, run_cli

from reference_data import REFERENCE_DIR

REFERENCE = REFERENCE_DIR / "imagenet_val_sota11_per_image.csv"


def test_split_with_tolerance():
    n = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    assert dif.difficulty(n, 7, 0).tolist() == ["impossible"] + ["in-between"] * 6 + ["trivial"]
    assert dif.difficulty(n, 7, 1).tolist() == ["impossible"] * 2 + ["in-between"] * 4 + ["trivial"] * 2
    assert dif.difficulty(n, 7, 3).tolist() == ["impossible"] * 4 + ["trivial"] * 4
    shares = dif.difficulty_shares(np.array([0, 0, 1, 5, 6, 6, 6, 3]), 6, 1)
    assert shares == {"trivial": 4 / 8, "in-between": 1 / 8, "impossible": 3 / 8}


@pytest.mark.parametrize("m,k", [(6, 3), (2, 1), (5, -1), (1, 1)])
def test_bad_tolerance(m, k):
    with pytest.raises(UserError, match="--tolerance"):
        dif.difficulty(np.array([0]), m, k)


def test_histogram_and_models_correct():
    c = np.array([[1, 1, 0, 0, 1], [1, 0, 0, 1, 1], [1, 0, 0, 0, 0]], bool)
    n = dif.models_correct(c)
    assert n.tolist() == [3, 1, 0, 1, 2]
    assert dif.histogram(n, 3).tolist() == [1, 2, 1, 1]


def test_null_pmfs():
    np.testing.assert_allclose(dif.binomial_pmf(11, 0.6893), stats.binom.pmf(np.arange(12), 11, 0.6893), atol=1e-15)
    p = np.array([0.2, 0.5, 0.9])
    # brute force over the 8 outcomes
    brute = np.zeros(4)
    for outcome in itertools.product([0, 1], repeat=3):
        brute[sum(outcome)] += np.prod([q if o else 1 - q for q, o in zip(p, outcome)])
    np.testing.assert_allclose(dif.poisson_binomial_pmf(p), brute, atol=1e-15)
    assert dif.poisson_binomial_pmf(p).tolist() == pytest.approx([0.04, 0.41, 0.46, 0.09])


def test_g_test_against_scipy():
    counts = np.array([30, 10, 12, 48])
    pmf = dif.binomial_pmf(3, 0.6)  # expected 6.4, 28.8, 43.2, 21.6: no pooling
    res = dif.independence_test(counts, pmf, "binomial")
    g, p = stats.power_divergence(counts, pmf * 100, lambda_="log-likelihood", ddof=1)
    assert res.g == pytest.approx(g, rel=1e-12)
    assert res.dof == 2 and res.n_bins == 4
    assert res.p_value == pytest.approx(p, rel=1e-9)
    # pooling: expected 0.8 in the first bin is merged into the second
    res = dif.independence_test(np.array([1, 9, 40, 50]), dif.binomial_pmf(3, 0.8), "binomial")
    assert res.n_bins == 3
    g, _ = stats.power_divergence([10, 40, 50], [0.8 + 9.6, 38.4, 51.2], lambda_="log-likelihood")
    assert res.g == pytest.approx(g, rel=1e-12)


def test_dispersion_ratio_is_one_under_the_null():
    pmf = dif.poisson_binomial_pmf(np.array([0.3, 0.6, 0.7, 0.9]))
    res = dif.independence_test(pmf * 1e6, pmf)
    assert res.dispersion_ratio == pytest.approx(1.0, abs=1e-12)
    assert res.g == pytest.approx(0.0, abs=1e-6)
    # all images trivial or impossible: variance m^2 p (1 - p) against m p (1 - p) for the binomial
    res = dif.independence_test(np.array([40, 0, 0, 0, 60]), dif.binomial_pmf(4, 0.6), "binomial")
    assert res.dispersion_ratio == pytest.approx(4.0)


def test_chi2_log_sf_far_tail():
    # closed forms: dof 2 -> sf = exp(-x/2); dof 4 -> sf = exp(-x/2) (1 + x/2)
    assert dif.chi2_log_sf(2e5, 2) == pytest.approx(-1e5, rel=1e-14)
    assert dif.chi2_log_sf(2e5, 4) == pytest.approx(-1e5 + np.log(1 + 1e5), rel=1e-14)
    assert dif.chi2_log_sf(30.0, 5) == pytest.approx(stats.chi2.logsf(30.0, 5), rel=1e-12)


@pytest.mark.skipif(not REFERENCE.is_file(), reason="reference data not present")
def test_reference_table_summary(capsys, tmp_path):
    res = summarise_table(REFERENCE, tolerance=1)
    assert res.headline["counts"] == {"trivial": 23000, "in-between": 21248, "impossible": 5752}
    code = run_cli(main, ["summary", "--table", str(REFERENCE), "--label-col", "label_error_mturk", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "46.0 %" in out and "11.5 %" in out and "42.5 %" in out
    assert "2916 label issues" in out
    assert (tmp_path / "histogram.png").is_file() and (tmp_path / "histogram.svg").is_file()
    # k = 0: 11/11 and 0/11 only (the reference's own sota_difficulty column)
    import pandas as pd

    ref = pd.read_csv(REFERENCE)
    shares = summarise_table(REFERENCE, tolerance=0).headline["shares"]
    assert shares["trivial"] == pytest.approx(np.mean(ref["sota_difficulty"] == "trivial"))
    assert shares["impossible"] == pytest.approx(np.mean(ref["sota_difficulty"] == "impossible"))


def test_summary_errors(tmp_path, capsys):
    t = tmp_path / "t.csv"
    t.write_text("image,n_ok\na,3\nb,12\n")
    assert run_cli(main, ["summary", "--table", str(t), "--correct-col", "n_ok"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "row 3" in err and "n_ok" in err and err.count("\n") == 1
    assert run_cli(main, ["summary", "--table", str(t)]) == 2
    assert "no column 'sota_n_correct'" in capsys.readouterr().err
    assert run_cli(main, ["summary", "--table", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    t.write_text("image,n_ok,err\na,3,0\nb,0,yes\n")
    assert run_cli(main, ["summary", "--table", str(t), "--correct-col", "n_ok", "--label-col", "err"]) == 2
    assert "row 3: column 'err' must be 0 or 1" in capsys.readouterr().err
    t.write_text("image,n_ok\na,3\nb,0\nc,5\n")
    assert run_cli(main, ["summary", "--table", str(t), "--correct-col", "n_ok", "--n-models", "5", "-k", "0"]) == 0
    out = capsys.readouterr().out
    assert "33.3 %" in out
