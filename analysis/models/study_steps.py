"""The steps of a whole-study DDD analysis (`analysis.models.ddd.analyse_study`), one function each.

    models = load_models(study, options)           the complete models, in report order
    split = split_step(w, models, options)         models-correct histogram, the split, nulls
    cons = consistency_step(w, models, split, options)   kappa matrices, conditions against base / each other
    ep = summarise_epochs(...)                     every model's epochs, read once (in a thread)
    identical_step(w, models, ep, cons)            bit-identical models, kappa means without them
    epochs_step(w, models, ep)                     accuracy, both kinds of flips, agreement per epoch
    classes_step(w, models)                        class-wise accuracy (and Gaussian separability)
    image_stats_step(w, models, split, ep, ...)    image statistics (optional, cached)

Each step writes its tables and figures through the `Writer` and returns its headline numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.models.outputs import Writer
from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import UserError


@dataclass(frozen=True)
class DDDOptions:
    """How a study is analysed (every option of `python -m analysis.ddd`)."""

    tolerance: int = DEFAULT_TOLERANCE
    base: str = "base"
    label_issues: str | Path | Sequence[str] | None = None  # "probabilities", a table, or image ids
    label_col: str = "label_error_mturk"
    exclude_label_issues: bool = False
    each_other: tuple[str, ...] = ()  # conditions compared with each other, besides study.toml's [comparisons]
    map_model: str | None = None
    n_boot: int = 1000
    seed: int = 0
    image_stats: bool = False
    cache_dir: str | Path | None = None
    data_root: str | Path | None = None  # image statistics: where the images are (default: recorded in the store)
    figures: bool | Collection[str] = True
    progress: bool = True


@dataclass
class Models:
    """A study's complete models in report order (conditions base first, as in study.toml, then id)."""

    study: Any  # model_runs.store.Study
    sd: Any  # analysis.models.decisions.StudyDecisions
    ids: list[str]
    conds: list[str]
    final: np.ndarray  # bool (n_models, n_kept)
    order: list[str]  # conditions
    perm: list[int]  # row of each model in sd
    issues: np.ndarray | None  # bool over the store's images, or None (no source of label issues)
    each_other: tuple[str, ...]
    map_model: str

    @property
    def m(self) -> int:
        return len(self.ids)

    @property
    def accuracies(self) -> np.ndarray:
        return self.final.mean(axis=1)

    @property
    def title(self) -> str:
        return self.study.path.name


def report_order(sd: Any, base: str) -> tuple[list[int], list[str]]:
    """Model rows sorted by condition (base first, then as defined), study.toml order, id; and the conditions."""
    from analysis.models import conditions as con

    defined = [dict(x) for x in sd.definition.get("models", []) if isinstance(x, dict)]
    def_rank = {str(x.get("model_id")): i for i, x in enumerate(defined)}
    order = con.condition_order([str(x.get("condition")) for x in defined if x.get("condition") in sd.conditions] + sd.conditions, base)
    rank = {c: i for i, c in enumerate(order)}
    perm = sorted(range(sd.n_models), key=lambda i: (rank[sd.conditions[i]], def_rank.get(sd.model_ids[i], len(def_rank)), sd.model_ids[i]))
    return perm, order


def each_other_conditions(definition: dict[str, Any], extra: Sequence[str], conditions: Sequence[str],
                          base: str) -> tuple[str, ...]:
    """Conditions compared with each other: study.toml's [comparisons] plus `extra` (checked); never
    the base, whose models are compared with each other anyway."""
    declared = [c for c, kind in dict(definition.get("comparisons", {})).items() if kind == "each-other" and c != base]
    for c in extra:
        if c == base:
            raise UserError(f"--each-other '{c}': the base condition's models are compared with each other already")
        if c not in conditions:
            raise UserError(f"--each-other '{c}': no complete models of that condition (conditions: {', '.join(dict.fromkeys(conditions))})")
        if list(conditions).count(c) < 2:
            raise UserError(f"--each-other '{c}': the condition has one complete model; it needs two to compare")
    return tuple(dict.fromkeys([c for c in declared if c in conditions] + list(extra)))


def load_models(study_path: Any, opts: DDDOptions) -> Models:
    """Open the store, find label issues, load the final decisions and put the models in report order."""
    from analysis.models import conditions as con
    from analysis.models import difficulty as dif
    from analysis.models.decisions import load_study_decisions, open_any
    from analysis.models.label_issues import label_issue_mask

    study = open_any(study_path)
    complete = study.model_ids(status="complete")
    if not complete:
        have = study.model_ids()
        raise UserError(f"{study.path}: empty store ({len(have)} models, none complete)" if have else f"{study.path}: empty store (no models)")
    dif.check_tolerance(len(complete), opts.tolerance)
    issues = None
    if opts.label_issues is not None:
        issues = label_issue_mask(study, opts.label_issues, column=opts.label_col)
    elif opts.exclude_label_issues or any(study.has_probabilities(m) for m in complete):
        issues = label_issue_mask(study, "probabilities")
    sd = load_study_decisions(study, exclude=issues if opts.exclude_label_issues else None, model_ids=complete)
    con.check_base(sd.conditions, opts.base)
    perm, order = report_order(sd, opts.base)
    ids = [sd.model_ids[i] for i in perm]
    conds = [sd.conditions[i] for i in perm]
    map_model = opts.map_model or next(i for i, c in zip(ids, conds) if c == opts.base)
    if map_model not in ids:
        raise UserError(f"--map-model '{map_model}' is not a complete model of {study.path}")
    each = each_other_conditions(sd.definition, opts.each_other, conds, opts.base)
    return Models(study, sd, ids, conds, sd.final[perm], order, perm, issues, each, map_model)


def left_out_models(models: Models) -> list[str]:
    """A note naming the store's models that are not complete (the analysis uses complete models only)."""
    others = [m for m in models.study.model_ids() if m not in set(models.ids)]
    if not others:
        return []
    statuses: dict[str, list[str]] = {}
    for m in others:
        try:
            status = str(models.study.run_info(m).get("status", "unknown"))
        except UserError:
            status = "unreadable"
        statuses.setdefault(status, []).append(m)
    listed = "; ".join(f"{status}: {', '.join(ids[:5])}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                       for status, ids in statuses.items())
    return [f"left out {len(others)} of {len(others) + models.m} models that are not complete ({listed}): the analysis "
            f"uses complete models only; python -m model_runs resume {models.study.path} finishes them"]


@dataclass
class Split:
    """Models correct per image and the level of each image."""

    n_correct: np.ndarray
    levels: np.ndarray
    headline: dict[str, Any]


def split_step(w: Writer, models: Models, opts: DDDOptions) -> Split:
    """Models-correct histogram with both nulls, the trivial / in-between / impossible split, per-image table."""
    from analysis.models import ddd_figures as figs
    from analysis.models import difficulty as dif

    m, k, acc, sd = models.m, opts.tolerance, models.accuracies, models.sd
    n_correct = dif.models_correct(models.final)
    levels = dif.difficulty(n_correct, m, k)
    shares = dif.difficulty_shares(n_correct, m, k)
    counts = dif.histogram(n_correct, m)
    kept_issues = models.issues[sd.keep] if models.issues is not None and not opts.exclude_label_issues else None
    issue_counts = dif.histogram(n_correct[kept_issues], m) if kept_issues is not None else None
    hist = dif.histogram_table(counts, acc, issue_counts, k)
    tests = [
        dif.independence_test(counts, dif.binomial_pmf(m, float(acc.mean())), "binomial"),
        dif.independence_test(counts, dif.poisson_binomial_pmf(acc), "poisson-binomial"),
    ]
    w.table(sd.models_frame().iloc[models.perm].reset_index(drop=True), "models")
    w.table(hist, "histogram")
    w.table(pd.DataFrame([t.__dict__ for t in tests]), "independence")
    per_image = sd.images.assign(n_correct=n_correct, n_models=m, share_correct=n_correct / m, difficulty=levels)
    if models.issues is not None:
        per_image["label_issue"] = models.issues[sd.keep]
    w.table(per_image, "per_image")
    w.figure(
        lambda: figs.histogram_figure(hist, k, shares, models.title),
        "histogram",
        f"Images by number of models correct (of {m}) with tolerance k = {k}; green bars: independent "
        "models with the mean accuracy (binomial); grey dots: independent models with their own accuracies "
        "(Poisson-binomial)" + ("; red: label issues" if issue_counts is not None and issue_counts.any() else ""),
    )
    headline = {
        "shares": shares,
        "counts": {lvl: int(np.sum(levels == lvl)) for lvl in dif.LEVELS},
        "mean_accuracy": float(acc.mean()),
        "independence": {t.null: t.__dict__ for t in tests},
        "label_issues": int(models.issues.sum()) if models.issues is not None else None,
        "label_issues_excluded": bool(opts.exclude_label_issues),
    }
    return Split(n_correct, levels, headline)


@dataclass
class Consistency:
    """Kappa of every pair of models on all images and (if there are two or more) on the in-between ones."""

    kappa: np.ndarray
    kappa_inbetween: np.ndarray | None
    headline: dict[str, Any]


def _condition_tables(w: Writer, models: Models, cols: np.ndarray, suffix: str, what: str, opts: DDDOptions) -> pd.DataFrame:
    """Pairs, models and conditions tables (and figure) of one image subset; returns the pairs."""
    from analysis.models import conditions as con
    from analysis.models import ddd_figures as figs

    pairs = con.pair_table(models.final[:, cols], models.ids, models.conds, opts.base, n_boot=opts.n_boot, seed=opts.seed,
                           each_other=models.each_other)
    per_model = con.per_model(pairs)
    per_cond = con.per_condition(per_model, models.order)
    w.table(pairs, f"consistency_pairs{suffix}")
    w.table(per_model, f"consistency_models{suffix}")
    w.table(per_cond, f"consistency_conditions{suffix}")
    each = f"; conditions marked 'each other' ({', '.join(models.each_other)}) compare their models with each other" if models.each_other else ""
    w.figure(
        lambda: figs.condition_consistency_figure(per_cond, per_model, models.order, f"{models.title}: error consistency with '{opts.base}', {what}"),
        f"consistency_conditions{suffix}",
        f"Error consistency of each condition with the base condition '{opts.base}' on {what}{each}: bars are condition "
        "means, dots single models (mean over partner models), dotted lines the highest kappa the accuracies allow",
    )
    return per_cond


def consistency_step(w: Writer, models: Models, split: Split, opts: DDDOptions) -> Consistency:
    """Kappa matrices (all / in-between images) and every condition against base (and each other)."""
    from analysis.models import conditions as con
    from analysis.models import ddd_figures as figs
    from analysis.models.consistency import error_consistency_matrix
    from analysis.models.identical import mean_off_diagonal

    ids, conds, title = models.ids, models.conds, models.title
    kappa = error_consistency_matrix(models.final)
    w.table(pd.DataFrame(kappa, index=ids, columns=ids).rename_axis("model_id").reset_index(), "kappa_matrix")
    w.figure(lambda: figs.matrix_figure(kappa, ids, conds, f"{title}: error consistency, all images"), "kappa_matrix",
             "Error consistency (Cohen's kappa on correct/incorrect) of every pair of models, grouped by condition")
    in_between = split.levels == "in-between"
    kappa_ib = None
    subsets = [("", np.ones(models.final.shape[1], bool), "all images")]
    if in_between.sum() >= 2:
        subsets.append(("_inbetween", in_between, "in-between images only"))
        kappa_ib = error_consistency_matrix(models.final[:, in_between])
        w.table(pd.DataFrame(kappa_ib, index=ids, columns=ids).rename_axis("model_id").reset_index(), "kappa_matrix_inbetween")
        w.figure(lambda: figs.matrix_figure(kappa_ib, ids, conds, f"{title}: error consistency, in-between images"),
                 "kappa_matrix_inbetween", "Error consistency of every pair of models on the in-between images only")
    else:
        w.result.notes.append(f"only {int(in_between.sum())} in-between images: no consistency on in-between images")
    per_cond = {suffix: _condition_tables(w, models, cols, suffix, what, opts) for suffix, cols, what in subsets}
    if conds.count(opts.base) == 1:
        w.result.notes.append(f"the base condition '{opts.base}' has one model: no consistency within the base condition")
    main = per_cond[""].set_index(["condition", "comparison"])["kappa_mean"]
    headline = {
        "mean_kappa": mean_off_diagonal(kappa, ids),
        "mean_kappa_inbetween": mean_off_diagonal(kappa_ib, ids) if kappa_ib is not None else float("nan"),
        "each_other": {c: {"kappa_each_other": float(main[(c, con.EACH_OTHER)]), "kappa_with_base": float(main[(c, con.WITH_BASE)])}
                       for c in models.each_other},
        "bootstrap": {"n_boot": opts.n_boot, "seed": opts.seed},
    }
    return Consistency(kappa, kappa_ib, headline)


def identical_step(w: Writer, models: Models, ep: Any, cons: Consistency) -> dict[str, Any]:
    """Groups of bit-identical models (listed in identical_models.csv) and kappa means with one model per group."""
    from analysis.models.identical import duplicates, groups_table, identical_groups, mean_off_diagonal

    groups = identical_groups(models.ids, ep.fingerprints, models.study.probabilities)
    w.table(groups_table(groups, dict(zip(models.ids, models.conds))), "identical_models")
    drop = duplicates(groups)
    if groups:
        listed = "; ".join(" = ".join(g) for g in groups)
        w.result.notes.append(f"bit-identical models (same predicted label on every image at every epoch): {listed}; "
                              "kappa means are given with them and with one model per group")
    return {
        "identical_models": groups,
        "mean_kappa_without_identical": mean_off_diagonal(cons.kappa, models.ids, drop),
        "mean_kappa_inbetween_without_identical": (mean_off_diagonal(cons.kappa_inbetween, models.ids, drop)
                                                   if cons.kappa_inbetween is not None else float("nan")),
    }


def mean_flip_share(flips: pd.DataFrame, column: str, from_epoch: int | None = 1) -> float:
    """Mean over models of each model's mean flip share over its transitions from `from_epoch` on
    (None: all transitions), so that a model with more epochs does not weigh more."""
    rows = flips if from_epoch is None else flips[flips["from_epoch"] >= from_epoch]
    return float(rows.groupby("model_id")[column].mean().mean()) if len(rows) else float("nan")


def epochs_step(w: Writer, models: Models, ep: Any) -> dict[str, Any]:
    """Accuracy and both kinds of flips per epoch, the decision map and overlay, true-positive agreement."""
    from analysis.models import agreement as agr
    from analysis.models import ddd_figures as figs

    ids, conds, order, title, m = models.ids, models.conds, models.order, models.title, models.m
    acc_frame = ep.accuracy_frame(conds)
    flips = ep.flips_frame(conds)
    w.table(acc_frame, "accuracy_per_epoch")
    w.table(flips, "flips")
    headline: dict[str, Any] = {
        "correctness_flip_share": mean_flip_share(flips, "correctness_flip_share"),
        "correctness_flip_share_all_transitions": mean_flip_share(flips, "correctness_flip_share", None),
        "label_flip_share": mean_flip_share(flips, "label_flip_share"),
        "label_flip_share_all_transitions": mean_flip_share(flips, "label_flip_share", None),
        "tpa_final_decisions": agr.true_positive_agreement(models.final),
    }
    w.figure(lambda: figs.decision_map_figure(ep.map_correct, ep.epochs[models.map_model], f"{title}: decisions of {models.map_model}"),
             "decision_map", f"Decisions of {models.map_model} on every image over epochs; images sorted by accuracy over epochs")
    if len(ep.common_epochs):
        w.figure(lambda: figs.overlay_figure(ep.n_correct, m, ep.common_epochs, f"{title}: all {m} models"), "decision_overlay",
                 "Share of models correct on each image at each epoch; images sorted by mean over epochs and models")
    w.figure(lambda: figs.lines_by_condition_figure(flips, "to_epoch", "correctness_flip_share", order, "images changing correctness",
                                                    f"{title}: correctness flips between consecutive epochs"), "flips",
             "Share of images whose correctness changes from one epoch to the next, per model (thin) and condition (thick)")
    w.figure(lambda: figs.lines_by_condition_figure(flips, "to_epoch", "label_flip_share", order, "images changing predicted label",
                                                    f"{title}: label flips between consecutive epochs"), "label_flips",
             "Share of images whose predicted label changes from one epoch to the next (the paper's flips), per model (thin) "
             "and condition (thick)")
    w.figure(lambda: figs.lines_by_condition_figure(acc_frame, "epoch", "accuracy", order, "validation accuracy",
                                                    f"{title}: accuracy over epochs"), "accuracy_per_epoch",
             "Validation accuracy per epoch, per model (thin) and condition mean (thick)")
    if not len(ep.common_epochs):
        w.result.notes.append("the models share no epoch: no overlay and no agreement per epoch")
        return headline
    acc_common = np.vstack([ep.accuracy[i][np.searchsorted(ep.epochs[i], ep.common_epochs)] for i in ids])
    agreement = agr.agreement_table(ep.common_epochs, ep.n_correct, acc_common, m)
    w.table(agreement, "agreement")
    train = agr.train_agreement(models.study, ids)
    if train is not None:
        w.table(train, "agreement_train")
        used = train["models"].iloc[0].split()
        if len(used) < len(ids):
            w.result.notes.append(f"agreement on training images over the {len(used)} models that trained on every training "
                                  f"image (left out: {', '.join(m for m in ids if m not in used)})")
    else:
        w.result.notes.append("no training decisions stored: agreement on validation images only")
    w.figure(lambda: figs.agreement_figure(agreement, train, f"{title}: true-positive agreement"), "agreement",
             "True-positive agreement (images all models get right / images any model gets right) per epoch, its lower "
             "bound 1 - min(sum of error rates, 1), and mean +- SD accuracy")
    headline["tpa_last_common_epoch"] = float(agreement["tpa"].iloc[-1])
    headline["last_common_epoch"] = int(agreement["epoch"].iloc[-1])
    return headline


def classes_step(w: Writer, models: Models) -> None:
    """Class-wise accuracy, the easiest and hardest classes, and for Gaussian data the classes' separability."""
    from analysis.models import classes as cls
    from analysis.models import ddd_figures as figs

    sd, title = models.sd, models.title
    ctab = cls.class_accuracy(models.final, sd.images["label"].to_numpy(), sd.images["class_name"].to_numpy())
    w.table(ctab, "class_accuracy")
    w.table(cls.easiest_and_hardest(ctab, 10), "classes_easiest_hardest")
    w.figure(lambda: figs.class_accuracy_figure(ctab, f"{title}: class-wise accuracy"), "class_accuracy",
             "Accuracy per class, sorted, mean over models with the range from the worst to the best model")
    dataset = sd.definition.get("dataset", {})
    if cls.is_gaussian_dataset(dataset):
        kl = cls.neighbour_kl_table(ctab, cls.gaussian_class_sds(dataset, ctab["label"].to_numpy()))
        w.table(kl, "gaussian_kl")
        w.figure(lambda: figs.gaussian_kl_figure(kl, f"{title}: class separability"), "gaussian_kl",
                 "KL divergence (per pixel) between each Gaussian class and its closest neighbour, against class accuracy")


def _located_dataset(study: Any, data_root: str | Path | None) -> dict[str, Any]:
    """The study's [dataset] with the place of its images (`--data-root`, else recorded by training)."""
    try:
        from model_runs.data_location import study_dataset
    except ImportError as exc:
        raise UserError(f"image statistics need model_runs to read images ({exc})") from None
    return study_dataset(study, data_root)


def image_stats_step(w: Writer, models: Models, split: Split, ep: Any, opts: DDDOptions,
                     image_getter: Callable[[int], Any] | None = None) -> None:
    """Image statistics of every image (cached), correlated with difficulty and per-epoch agreement."""
    from analysis.models import ddd_figures as figs
    from analysis.models import image_stats as ist

    study, sd, m, title = models.study, models.sd, models.m, models.title
    dataset = sd.definition.get("dataset", {})
    all_ids = study.images["image_id"].tolist()
    getter = image_getter or ist.dataset_image_getter(_located_dataset(study, opts.data_root))
    key = ist.cache_key(dataset, all_ids)
    stats = ist.compute_image_stats(all_ids, getter, opts.cache_dir if opts.cache_dir is not None else ist.DEFAULT_CACHE_DIR,
                                    key, progress=opts.progress)
    kept = stats.set_index("image_index").loc[sd.images["image_index"].to_numpy()].reset_index()
    w.table(kept, "image_stats")
    corr = ist.difficulty_correlations(kept, split.n_correct / m)
    for stat in corr.loc[corr["spearman_r"].isna(), "statistic"]:
        w.result.notes.append(f"image statistic '{stat}' is the same for every image (or difficulty is): no correlation")
    w.table(corr, "image_stats_difficulty")
    w.figure(lambda: figs.correlation_figure(corr, f"{title}: image statistics"), "image_stats_difficulty",
             "Spearman correlation of each image statistic with the share of models correct (95 % CI)")
    if len(ep.common_epochs):
        ecorr = ist.agreement_correlations(kept, ep.n_correct == m, ep.common_epochs)
        w.table(ecorr, "image_stats_agreement")
        w.figure(lambda: figs.epoch_correlation_figure(ecorr, f"{title}: image statistics and agreement"), "image_stats_agreement",
                 "Per epoch, Spearman correlation of each image statistic with whether all models get the image right")
