"""Headline numbers of the DDD analysis in words: a readable label, the value, a one-line definition.

`headline_rows(headline)` turns the `headline` dict of `analyse_study` or `summarise_table` into
rows for a report table, so that no raw key (`shares.trivial`) reaches a reader. Every key that
`analyse_study` writes has an entry here; a test checks that none is left without one.

`format_p` phrases p-values with `analysis.stats.format_p` ("< 1e-300" with their log10 p below the range).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.stats import format_p as stats_format_p


def format_p(p: float, log10_p: float | None = None) -> str:
    """`p = 0.012`, or `p < 1e-300 (log10 p = -1190.8)` below the floating-point range: the
    project's one p-value format (`analysis.stats.format_p`) as a phrase."""
    text = stats_format_p(p, log10_p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _pct(v: Any) -> str:
    return f"{100 * float(v):.1f} %"


def _f3(v: Any) -> str:
    return f"{float(v):.3f}"


def _int(v: Any) -> str:
    return f"{int(v):,}"


def _text(v: Any) -> str:
    return str(v)


Fmt = Callable[[Any], str]

# key -> (label, definition, format); keys of nested dicts are joined with "."
LABELS: dict[str, tuple[str, str, Fmt]] = {
    "n_models": ("models", "models behind the counts (of a store: its complete models, each at its final committed epoch)", _int),
    "n_images": ("images", "validation images analysed (label issues removed if excluded)", _int),
    "tolerance": ("tolerance k", "trivial: at least m - k of m models right; impossible: at most k", _int),
    "base": ("base condition", "the condition the other conditions are compared with", _text),
    "source": ("per-image table", "the table the split is computed from", _text),
    "shares.trivial": ("trivial images", "share of images at least m - k models get right", _pct),
    "shares.in-between": ("in-between images", "share of images neither trivial nor impossible", _pct),
    "shares.impossible": ("impossible images", "share of images at most k models get right", _pct),
    "counts.trivial": ("trivial images (count)", "number of trivial images", _int),
    "counts.in-between": ("in-between images (count)", "number of in-between images", _int),
    "counts.impossible": ("impossible images (count)", "number of impossible images", _int),
    "mean_accuracy": ("mean accuracy", "mean over models of each model's share of images right", _pct),
    "label_issues": ("label issues", "images flagged as likely mislabelled (cleanlab or a table)", _int),
    "n_label_issues": ("label issues", "images flagged as likely mislabelled in the table", _int),
    "label_issues_excluded": ("label issues excluded", "whether flagged images were removed from every analysis", _text),
    "mean_kappa": ("mean error consistency, all pairs", "mean Cohen's kappa on correct/incorrect over every pair of "
                   "different models, all images", _f3),
    "mean_kappa_inbetween": ("mean error consistency, all pairs, in-between images", "the same on the in-between "
                             "images only", _f3),
    "identical_models": ("bit-identical models", "groups of models with the same predicted label on every image at "
                         "every epoch (listed in identical_models.csv)", lambda v: "; ".join(" = ".join(g) for g in v) or "none"),
    "mean_kappa_without_identical": ("mean error consistency, one model per identical group", "as above, after "
                                     "keeping one model of each group of bit-identical models", _f3),
    "mean_kappa_inbetween_without_identical": ("mean error consistency, one model per identical group, in-between "
                                               "images", "the same on the in-between images only", _f3),
    "correctness_flip_share": ("correctness flips per epoch", "share of images whose correctness changes between "
                               "consecutive epochs, from epoch 1 on; mean over transitions, then over models", _pct),
    "correctness_flip_share_all_transitions": ("correctness flips per epoch, from epoch 0", "the same including the "
                                               "change from the untrained epoch 0 to epoch 1", _pct),
    "label_flip_share": ("label flips per epoch (the paper's flips)", "share of images whose predicted label changes "
                         "between consecutive epochs, from epoch 1 on; mean over transitions, then over models", _pct),
    "label_flip_share_all_transitions": ("label flips per epoch, from epoch 0", "the same including the change from "
                                         "the untrained epoch 0 to epoch 1", _pct),
    "tpa_final_decisions": ("true-positive agreement, final decisions", "images all models get right / images any "
                            "model gets right, each model at its final epoch (the decisions of the split)", _f3),
    "tpa_last_common_epoch": ("true-positive agreement, last common epoch", "the same at the last epoch every model "
                              "has (see last common epoch)", _f3),
    "last_common_epoch": ("last common epoch", "the last epoch that every model stored", _int),
    "bootstrap.n_boot": ("bootstrap resamples", "resamples of images behind each pair's kappa interval", _int),
    "bootstrap.seed": ("bootstrap seed", "seed of those resamples", _int),
}

SKIP = {"study"}  # shown elsewhere (provenance)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and f"{prefix}{k}" not in LABELS:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _independence_rows(name: str, t: dict[str, Any]) -> list[tuple[str, str, str]]:
    null = {"binomial": "independent models with the mean accuracy (binomial)",
            "poisson-binomial": "independent models with their own accuracies (Poisson-binomial)"}.get(name, name)
    return [
        (f"dispersion ratio against {name} null", f"{t['dispersion_ratio']:.2f}",
         f"variance of the models-correct count over its variance for {null}; 1 = independent errors"),
        (f"G test against {name} null", f"G = {t['g']:.1f}, dof = {t['dof']}, {format_p(t['p_value'], t['log10_p'])}",
         "likelihood-ratio test of the models-correct histogram against that null (bins pooled to expected >= 5)"),
    ]


def _each_other_rows(each: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    rows = []
    for cond, v in each.items():
        rows.append((f"error consistency, {cond}: with each other", _f3(v["kappa_each_other"]),
                     f"mean kappa over the pairs of {cond} models (as the paper compares the disjoint halves)"))
        rows.append((f"error consistency, {cond}: with base", _f3(v["kappa_with_base"]),
                     f"mean kappa of the {cond} models with the base models"))
    return rows


def headline_rows(headline: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(quantity, value, definition) for every headline number, in the order of LABELS (the tests of
    independence after the split, the conditions compared with each other after the kappa means);
    an unknown key raises KeyError (a bug: every key needs a label)."""
    flat = _flatten({k: v for k, v in headline.items() if k not in ("independence", "independence_binomial", "each_other", "splits")})
    for key in flat:
        if key not in SKIP and key not in LABELS:
            raise KeyError(f"headline key {key!r} has no label in analysis.models.headline.LABELS")
    rows: list[tuple[str, str, str]] = []
    for key, (label, definition, fmt) in LABELS.items():
        value = flat.get(key)
        if value is not None:
            shown = "n/a" if isinstance(value, float) and not np.isfinite(value) else fmt(value)
            rows.append((label, shown, definition))
        if key == "mean_accuracy":
            for name, t in headline.get("independence", {}).items():
                rows += _independence_rows(name, t)
            if "independence_binomial" in headline:
                rows += _independence_rows("binomial", headline["independence_binomial"])
        if key == "mean_kappa_inbetween_without_identical":
            rows += _each_other_rows(headline.get("each_other", {}))
    return rows
