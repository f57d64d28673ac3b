"""Are trivial, in-between and impossible images spread equally over ImageNet superclasses? (the
paper's appendix Fig. 11 and 12)

The mapping of the 1,000 ILSVRC-2012 classes to 11 superclasses ships with the project
(`analysis/models/data/imagenet_superclasses.tsv`): it is the grouping of Tsipras et al. (2020),
"From ImageNet to Image Classification", taken unchanged from MadryLab/ImageNetMultiLabel
(data/superclasses.npy, MIT licence), the file the authors' notebook 98 loads. Nothing is
downloaded at run time.

`group_difficulty` works for any grouping of images (superclasses, or the classes themselves for a
dataset that is not ImageNet): per group the counts and shares of the three levels, the counts a
group would have if difficulty did not depend on the group (row total x column total / n), the
standardised (adjusted) Pearson residuals (O - E) / sqrt(E (1 - row share)(1 - column share)),
which are about N(0, 1) per cell under independence, and the ratio of the impossible to the
trivial share (the paper's Fig. 11 ordering). `association` is the chi-squared test of
independence of group and level with Cramér's V and log10 p (the p-value underflows on 50,000
images); where an expected count is below 5 the asymptotic p is doubtful, and a seeded Monte Carlo
permutation p (levels shuffled over images, groups fixed) is given beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError

DATA = Path(__file__).with_name("data") / "imagenet_superclasses.tsv"
LEVELS: tuple[str, str, str] = ("trivial", "in-between", "impossible")
#: The superclasses in the order of the source file.
SUPERCLASSES: tuple[str, ...] = (
    "Dogs", "Other mammals", "Birds", "Reptiles, fish, amphibians", "Invertebrates", "Food, plants, fungi", "Devices",
    "Structures, furnishing", "Clothes, covering", "Implements, containers, misc. objects", "Vehicles",
)


@lru_cache(maxsize=1)
def read_superclasses() -> pd.DataFrame:
    """The shipped mapping: class_index (0..999, sorted wnids), wnid, superclass."""
    table = pd.read_csv(DATA, sep="\t", comment="#", dtype={"class_index": np.int64, "wnid": str, "superclass": str})
    return table


def superclass_of(wnids: Sequence[str] | None = None, class_index: Sequence[int] | None = None) -> np.ndarray:
    """The superclass of each image, from its wnid (preferred) or its ILSVRC-2012 class index."""
    table = read_superclasses()
    if wnids is not None:
        lookup = dict(zip(table["wnid"], table["superclass"]))
        keys = [str(w) for w in wnids]
        what = "wnid"
    elif class_index is not None:
        lookup = dict(zip(table["class_index"].astype(int), table["superclass"]))
        keys = [int(c) for c in class_index]
        what = "class index"
    else:
        raise ValueError("give wnids or class indices")
    unknown = sorted({k for k in keys if k not in lookup}, key=str)
    if unknown:
        raise UserError(f"{len(unknown)} {what}(s) are not ILSVRC-2012 classes (e.g. {unknown[0]}): no superclass")
    return np.array([lookup[k] for k in keys], dtype=object)


def imagenet_superclasses(images: pd.DataFrame, dataset_name: str | None = None) -> np.ndarray | None:
    """Superclasses of a table's images if they are ImageNet images, else None.

    ImageNet is recognised by a `wnid` column, by class names that are all ILSVRC-2012 wnids (the
    decisions store of `imagenet` studies), or by the dataset name `imagenet` with labels 0..999.
    """
    wnids = set(read_superclasses()["wnid"])
    if "wnid" in images and images["wnid"].astype(str).isin(wnids).all():
        return superclass_of(wnids=images["wnid"].astype(str).tolist())
    if "class_name" in images and len(images) and images["class_name"].astype(str).isin(wnids).all():
        return superclass_of(wnids=images["class_name"].astype(str).tolist())
    if (dataset_name or "").lower() == "imagenet":
        col = "label" if "label" in images else "class_index" if "class_index" in images else None
        if col is not None and images[col].between(0, 999).all():
            return superclass_of(class_index=images[col].astype(int).tolist())
    return None


def _counts(groups: np.ndarray, levels: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """(n_groups, 3) counts of images per group and level."""
    g = pd.Categorical(groups, categories=list(order)).codes.astype(np.int64)  # codes are int8 below 128 groups
    lv = pd.Categorical(levels, categories=list(LEVELS)).codes.astype(np.int64)
    if (g < 0).any() or (lv < 0).any():
        raise ValueError("every image needs a group of `order` and a level of LEVELS")
    return np.bincount(g * 3 + lv, minlength=3 * len(order)).reshape(len(order), 3)


def group_difficulty(groups: Sequence[str], levels: Sequence[str], order: Sequence[str] | None = None) -> pd.DataFrame:
    """Per group: images, counts, shares and expected counts of each level, adjusted residuals, impossible/trivial."""
    groups = np.asarray(groups, dtype=object)
    levels = np.asarray(levels, dtype=object)
    order = list(order) if order is not None else list(dict.fromkeys(groups.tolist()))
    counts = _counts(groups, levels, order).astype(float)
    n = counts.sum()
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    expected = np.outer(rows, cols) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = (counts - expected) / np.sqrt(expected * (1 - rows / n)[:, None] * (1 - cols / n)[None, :])
        shares = counts / rows[:, None]
    out = pd.DataFrame({"group": order, "n_images": rows.astype(np.int64)})
    for k, lvl in enumerate(LEVELS):
        out[f"n_{lvl}"] = counts[:, k].astype(np.int64)
    for k, lvl in enumerate(LEVELS):
        out[f"share_{lvl}"] = shares[:, k]
    for k, lvl in enumerate(LEVELS):
        out[f"expected_{lvl}"] = expected[:, k]
    for k, lvl in enumerate(LEVELS):
        out[f"residual_{lvl}"] = resid[:, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["impossible_to_trivial"] = out["share_impossible"] / out["share_trivial"]
    return out


def association(table: pd.DataFrame, n_perm: int = 2000, seed: int = 0,
                groups: Sequence[str] | None = None, levels: Sequence[str] | None = None) -> dict[str, float]:
    """Chi-squared test of group x level (groups and levels with no image left out), Cramér's V, log10 p;
    with `groups` and `levels` per image and an expected count below 5, a Monte Carlo permutation p too."""
    from analysis.models.difficulty import chi2_log_sf
    from analysis.stats import chi2_cramers_v

    counts = table[[f"n_{lvl}" for lvl in LEVELS]].to_numpy(dtype=float)
    kept = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    res = chi2_cramers_v(kept)
    expected = np.outer(kept.sum(axis=1), kept.sum(axis=0)) / kept.sum() if kept.size else np.zeros((0, 0))
    out = {"chi2": res.chi2, "dof": res.dof, "p_value": res.p_value,
           "log10_p": chi2_log_sf(res.chi2, res.dof) / np.log(10) if res.dof > 0 else float("nan"),
           "cramers_v": res.cramers_v, "n_images": res.n, "n_groups": int(kept.shape[0]) if kept.ndim == 2 else 0,
           "min_expected": float(expected.min()) if expected.size else float("nan"),
           "p_monte_carlo": float("nan"), "n_perm": 0}
    if groups is not None and levels is not None and res.dof > 0 and out["min_expected"] < 5:
        out["p_monte_carlo"] = permutation_p(groups, levels, res.chi2, n_perm, seed)
        out["n_perm"] = n_perm
    return out


def permutation_p(groups: Sequence[str], levels: Sequence[str], observed: float, n_perm: int = 2000, seed: int = 0) -> float:
    """P(chi2 >= observed) with levels shuffled over images (margins fixed), (1 + hits) / (1 + n_perm)."""
    g = pd.factorize(np.asarray(groups, dtype=object))[0]
    lv = pd.factorize(np.asarray(levels, dtype=object))[0]
    ng, nl = g.max() + 1, lv.max() + 1
    rows = np.bincount(g, minlength=ng).astype(float)
    cols = np.bincount(lv, minlength=nl).astype(float)
    expected = np.outer(rows, cols) / len(g)
    ok = expected > 0
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        t = np.bincount(g * nl + rng.permutation(lv), minlength=ng * nl).reshape(ng, nl)
        hits += ((t - expected)[ok] ** 2 / expected[ok]).sum() >= observed - 1e-9
    return (1 + hits) / (1 + n_perm)


def group_figure(table: pd.DataFrame, title: str, what: str = "ImageNet superclass"):
    """Left: each group's shares of trivial / in-between / impossible images (groups ordered by the
    impossible-to-trivial ratio, as the paper's Fig. 11). Right: how each level's images spread over
    the groups, against all images (Fig. 12)."""
    from analysis.plotting import COLORS, new_figure

    t = table[table["n_images"] > 0].copy()
    t["_r"] = t["impossible_to_trivial"].replace([np.inf], np.finfo(float).max).fillna(-1.0)
    t = t.sort_values("_r", ascending=False, kind="stable")
    x = np.arange(len(t))
    fig, axes = new_figure(min(18.0, max(7.0, 0.9 * len(t) + 2.0)), 3.8, 1, 2, squeeze=False)
    labels = t["group"] if len(t) <= 40 else [""] * len(t)  # beyond 40 groups (e.g. 100 classes) names would overlap
    left, right = axes[0]
    if len(t) <= 40:
        width = 0.26
        for k, lvl in enumerate(LEVELS):
            left.bar(x + (k - 1) * width, t[f"share_{lvl}"], width, color=COLORS[lvl], label=lvl)
    else:  # many groups: stacked shares, one bar per group
        bottom = np.zeros(len(t))
        for lvl in LEVELS:
            left.bar(x, t[f"share_{lvl}"], 0.9, bottom=bottom, color=COLORS[lvl], label=lvl)
            bottom += t[f"share_{lvl}"].to_numpy()
    left.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    left.set_ylabel("share of the group's images")
    left.set_title("difficulty within each group")
    left.legend(frameon=False, fontsize=7)
    width = 0.2
    total = t["n_images"] / t["n_images"].sum()
    right.bar(x - 1.5 * width, total, width, color=COLORS["neutral"], label="all images")
    for k, lvl in enumerate(LEVELS):
        n = t[f"n_{lvl}"].sum()
        right.bar(x + (k - 0.5) * width, t[f"n_{lvl}"] / n if n else 0.0, width, color=COLORS[lvl], label=lvl)
    right.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    right.set_ylabel("share of the level's images")
    right.set_title("groups within each level")
    right.legend(frameon=False, fontsize=7)
    fig.suptitle(title)
    return fig
