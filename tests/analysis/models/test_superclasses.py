"""The shipped ImageNet superclass mapping, the superclass x difficulty table and its tests, against
model_runs' own class list, pandas, statsmodels and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from statsmodels.stats.contingency_tables import Table

from analysis.models.superclasses import (
    SUPERCLASSES,
    association,
    group_difficulty,
    group_figure,
    imagenet_superclasses,
    permutation_p,
    read_superclasses,
    superclass_of,
)
from labutil.errors import UserError
from reference_data import REFERENCE_DIR


def test_mapping_covers_the_1000_classes_in_model_runs_order():
    m = read_superclasses()
    shipped = pd.read_csv("model_runs/datasets/data/imagenet_classes.tsv", sep="\t", comment="#")
    assert m["class_index"].tolist() == list(range(1000)) and m["wnid"].tolist() == shipped["wnid"].tolist()
    assert set(m["superclass"]) == set(SUPERCLASSES) and m["superclass"].notna().all()
    # sizes of Tsipras et al.'s superclasses (MadryLab/ImageNetMultiLabel data/superclasses.npy)
    sizes = m["superclass"].value_counts().to_dict()
    assert sizes == {"Dogs": 130, "Other mammals": 88, "Birds": 59, "Reptiles, fish, amphibians": 60, "Invertebrates": 61,
                     "Food, plants, fungi": 63, "Devices": 172, "Structures, furnishing": 90, "Clothes, covering": 92,
                     "Implements, containers, misc. objects": 117, "Vehicles": 68}
    # spot checks by WordNet id: tench, Chihuahua, goldfinch, school bus
    assert superclass_of(wnids=["n01440764", "n02085620", "n01531178", "n04146614"]).tolist() == \
        ["Reptiles, fish, amphibians", "Dogs", "Birds", "Vehicles"]
    assert superclass_of(class_index=[151]).tolist() == ["Dogs"]
    with pytest.raises(UserError, match="not ILSVRC-2012"):
        superclass_of(wnids=["n99999999"])


def test_imagenet_is_recognised_and_digits_are_not():
    wn = read_superclasses()["wnid"]
    assert imagenet_superclasses(pd.DataFrame({"wnid": wn[:3]})).tolist() == superclass_of(wnids=wn[:3]).tolist()
    assert imagenet_superclasses(pd.DataFrame({"class_name": wn[5:7], "label": [5, 6]})) is not None
    assert imagenet_superclasses(pd.DataFrame({"label": [0, 151], "class_name": ["a", "b"]}), "imagenet").tolist() == \
        ["Reptiles, fish, amphibians", "Dogs"]
    assert imagenet_superclasses(pd.DataFrame({"label": [0, 1], "class_name": ["0", "1"]}), "digits") is None


@pytest.fixture
def grouped():
    rng = np.random.default_rng(5)
    groups = rng.choice(["a", "b", "c", "d"], 400)
    p_impossible = {"a": 0.05, "b": 0.1, "c": 0.3, "d": 0.1}
    levels = np.array([rng.choice(["trivial", "in-between", "impossible"], p=[0.6 - p_impossible[g], 0.4, p_impossible[g]])
                       for g in groups])
    return groups, levels


def test_table_counts_shares_and_adjusted_residuals(grouped):
    groups, levels = grouped
    t = group_difficulty(groups, levels, ["a", "b", "c", "d"]).set_index("group")
    cross = pd.crosstab(groups, levels).reindex(columns=["trivial", "in-between", "impossible"])
    assert t[["n_trivial", "n_in-between", "n_impossible"]].to_numpy().tolist() == cross.to_numpy().tolist()
    assert t["share_impossible"].to_numpy() == pytest.approx((cross["impossible"] / cross.sum(axis=1)).to_numpy())
    sm = Table(cross.to_numpy())
    assert t[["expected_trivial", "expected_in-between", "expected_impossible"]].to_numpy() == pytest.approx(sm.fittedvalues)
    assert t[["residual_trivial", "residual_in-between", "residual_impossible"]].to_numpy() == pytest.approx(sm.standardized_resids)
    assert t.loc["c", "impossible_to_trivial"] == pytest.approx(cross.loc["c", "impossible"] / cross.loc["c", "trivial"])


def test_association_equals_scipy_and_keeps_log10_p_finite(grouped):
    groups, levels = grouped
    t = group_difficulty(groups, levels)
    res = association(t)
    ref = chi2_contingency(pd.crosstab(groups, levels).to_numpy(), correction=False)
    assert res["chi2"] == pytest.approx(ref.statistic) and res["dof"] == ref.dof and res["p_value"] == pytest.approx(ref.pvalue)
    assert res["log10_p"] == pytest.approx(np.log10(ref.pvalue))
    assert res["cramers_v"] == pytest.approx(np.sqrt(ref.statistic / (400 * 2)))
    assert res["n_perm"] == 0  # expected counts are large: no Monte Carlo
    big = group_difficulty(np.repeat(["x", "y"], 20000), np.r_[["trivial"] * 19000, ["impossible"] * 1000,
                                                              ["trivial"] * 1000, ["impossible"] * 19000])
    assert res["log10_p"] < 0 and np.isfinite(association(big)["log10_p"]) and association(big)["log10_p"] < -300


def test_permutation_p_matches_the_exact_permutation_distribution():
    # 7 images, 2 groups: every assignment of the levels to images, equally likely under H0
    groups = np.array(["a", "a", "a", "b", "b", "b", "b"])
    levels = np.array(["trivial", "trivial", "trivial", "impossible", "impossible", "in-between", "trivial"])
    t = group_difficulty(groups, levels, ["a", "b"])
    observed = association(t)["chi2"]
    g = (groups == "b").astype(int)
    codes = pd.Categorical(levels).codes
    stats = []
    for perm in set(itertools.permutations(codes.tolist())):  # the distinct assignments, equally likely
        tab = np.bincount(g * 3 + np.array(perm), minlength=6).reshape(2, 3)
        stats.append(chi2_contingency(tab[:, tab.sum(axis=0) > 0], correction=False).statistic)
    exact = np.mean(np.array(stats) >= observed - 1e-9)
    assert permutation_p(groups, levels, observed, n_perm=20000, seed=1) == pytest.approx(exact, abs=0.01)
    res = association(t, groups=groups, levels=levels, n_perm=2000, seed=1)
    assert res["min_expected"] < 5 and res["n_perm"] == 2000 and 0 < res["p_monte_carlo"] <= 1
    assert association(t, groups=groups, levels=levels, n_perm=2000, seed=1)["p_monte_carlo"] == res["p_monte_carlo"]


def test_figure(grouped):
    groups, levels = grouped
    assert group_figure(group_difficulty(groups, levels), "t") is not None


@pytest.mark.skipif(not (REFERENCE_DIR / "imagenet_val_sota11_per_image.csv").is_file(), reason="no reference data")
def test_reference_imagenet_superclasses():
    ref = pd.read_csv(REFERENCE_DIR / "imagenet_val_sota11_per_image.csv")
    sc = imagenet_superclasses(ref)
    assert sc is not None
    t = group_difficulty(sc, ref["sota_difficulty"].to_numpy(), SUPERCLASSES).set_index("group")
    assert t.loc["Dogs", "n_images"] == 130 * 50 and t["n_images"].sum() == 50_000
    # the published per-image file, counted directly: superclass by class index, k = 0 levels
    direct = ref.assign(sc=ref["class_index"].map(read_superclasses().set_index("class_index")["superclass"]))
    cross = pd.crosstab(direct["sc"], direct["sota_difficulty"])
    assert t.loc["Birds", "n_impossible"] == cross.loc["Birds", "impossible"]
    res = association(group_difficulty(sc, ref["sota_difficulty"].to_numpy(), SUPERCLASSES))
    assert res["p_value"] < 1e-100 and 0.05 < res["cramers_v"] < 0.5


def test_many_groups_count_like_crosstab():
    # more than 42 groups: group code x 3 must not overflow (pandas codes are int8 below 128 categories)
    rng = np.random.default_rng(0)
    groups = rng.choice([f"c{i:03d}" for i in range(100)], 5000)
    levels = rng.choice(["trivial", "in-between", "impossible"], 5000)
    t = group_difficulty(groups, levels).set_index("group")
    cross = pd.crosstab(groups, levels)
    for lvl in ("trivial", "in-between", "impossible"):
        assert (t[f"n_{lvl}"] == cross[lvl].reindex(t.index)).all()
    assert group_figure(t.reset_index(), "t", "class") is not None
