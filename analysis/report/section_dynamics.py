"""Report section: per-image learning dynamics beside dichotomous data difficulty (analysis.dynamics).

Forgetting events, first epoch and iteration learned, IRT difficulty and discrimination, each by
DDD category and correlated with the share of models correct, the image statistics (when cached)
and the questionnaire answers (when there are sessions); dataset cartography when the store holds
per-epoch probabilities; Pliushch et al.'s per-epoch curves of the image statistics; agreement on
training images when stored; RSA between conditions when the store holds activations. What is
missing is said, with the study option that turns it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context, find_study

BOX_MEASURES = ("forgetting_events", "first_epoch_learned", "iteration_learned", "irt_2pl_difficulty",
                "irt_2pl_discrimination", "confidence", "variability")
SHORT = {"forgetting_events": "forgetting events", "first_epoch_learned": "first epoch learned",
         "iteration_learned": "iteration learned", "irt_2pl_difficulty": "IRT 2PL difficulty",
         "irt_2pl_discrimination": "IRT 2PL discrimination", "confidence": "confidence", "variability": "variability"}


def section_dynamics(ctx: Context) -> H.Section:
    sec = H.Section("dynamics", "Learning dynamics per image")
    cfg = ctx.cfg
    study_path = None if (cfg.model_table is not None or cfg.no_models) else find_study(cfg.runs, cfg.study)
    if study_path is None:
        sec.available = False
        sec.add(H.missing("No decisions store (or a per-image table, which has no epochs): the per-image learning "
                          "dynamics need every model's decisions at every epoch."))
        return sec
    from model_runs.store import open_study

    study = open_study(study_path)
    ids = _in_study_order(study, study.model_ids(status="complete"))
    if len(ids) < 2:
        sec.available = False
        sec.add(H.missing(f"{study.path}: {len(ids)} complete model(s); the learning dynamics need at least two."))
        return sec
    _intro(sec)
    d = _compute(study, ids, cfg.tolerance)
    _numbers(ctx, d)
    _measures(ctx, sec, d)
    _cartography(ctx, sec, d)
    _correlates(ctx, sec, study, d)
    _train_agreement(ctx, sec, study, d)
    _rsa(ctx, sec, study, d, cfg.base)
    return sec


def _in_study_order(study: Any, ids: list[str]) -> list[str]:
    """Model ids in the order the study file lists them (conditions as defined), unlisted ones last."""
    listed = [str(x.get("model_id")) for x in study.definition.get("models", []) if isinstance(x, dict)]
    rank = {m: i for i, m in enumerate(listed)}
    return sorted(ids, key=lambda m: (rank.get(m, len(rank)), m))


def _intro(sec: H.Section) -> None:
    sec.add(H.paragraph(
        "DDD sorts images into three bins by how many models get them right at the end. The per-epoch decisions say more: "
        "when each model learned an image, whether it forgot it again, and how well it separates strong from weak models. "
        "Each measure is computed per model over its epochs from epoch 1 on (epoch 0, the untrained network, is left out: "
        "its hits are chance) and averaged over the models; an image a model never learned counts as learned one epoch "
        "after its last (a lower bound)."))


def _compute(study: Any, ids: list[str], tolerance: int) -> dict[str, Any]:
    from analysis.dynamics import curves
    from analysis.dynamics.irt import fit_irt
    from analysis.dynamics.load import load_dynamics
    from analysis.models.decisions import model_conditions
    from labutil.difficulty import classify

    final = study.final_decisions(ids).correct
    m = len(ids)
    n_correct = final.sum(axis=0)
    levels = classify(n_correct, m, tolerance)
    dyn = load_dynamics(study, ids)
    fits = {k: fit_irt(final, k) for k in ("1pl", "2pl")}
    irt = {"irt_1pl_difficulty": fits["1pl"].difficulty, "irt_2pl_difficulty": fits["2pl"].difficulty,
           "irt_2pl_discrimination": fits["2pl"].discrimination}
    table = curves.per_image_table(dyn, irt)
    table.insert(1, "image_id", study.images["image_id"].to_numpy())
    table.insert(2, "share_models_correct", n_correct / m)
    table.insert(3, "difficulty", levels)
    conds, _ = model_conditions(study, ids)
    abilities = pd.DataFrame({"model_id": ids, "condition": conds, "final_accuracy": final.mean(axis=1),
                              "irt_1pl_ability": fits["1pl"].ability, "irt_2pl_ability": fits["2pl"].ability})
    return {"ids": ids, "conds": conds, "m": m, "final": final, "levels": levels, "dyn": dyn, "fits": fits,
            "table": table, "abilities": abilities, "tolerance": tolerance}


def _numbers(ctx: Context, d: dict[str, Any]) -> None:
    from analysis.models.image_stats import spearman_ci

    t = d["table"]
    for m in ("forgetting_events", "iteration_learned", "first_epoch_learned", "irt_2pl_discrimination"):
        ctx.numbers[f"dynamics.spearman_{m}_share_correct"] = spearman_ci(t[m], t["share_models_correct"])[0]


def _fig(ctx: Context, fig: Any, name: str, caption: str) -> str:
    from analysis.plotting import save_figure

    paths = save_figure(fig, ctx.fig_dir, name)
    return ctx.figure_html({"name": name, "png": paths["png"], "svg": paths["svg"], "caption": caption})


def _measures(ctx: Context, sec: H.Section, d: dict[str, Any]) -> None:
    from analysis.dynamics import curves
    from analysis.dynamics import figures as F
    from analysis.dynamics.forgetting import NEVER_LEARNED
    from analysis.models.image_stats import spearman_ci

    t, levels, dyn = d["table"], d["levels"], d["dyn"]
    sec.add(H.heading("Forgetting, learning epochs and item-response theory"))
    shown = [m for m in BOX_MEASURES if m in t.columns]
    sec.add(_fig(ctx, F.by_category_figure(t, levels, shown, SHORT, f"{len(d['ids'])} models, k = {d['tolerance']}"),
                 "dynamics_by_category",
                 "Each per-image measure in trivial, in-between and impossible images (boxes: quartiles; dots: images). "
                 "Forgetting events count correct-to-wrong transitions between consecutive epochs (Toneva et al. 2019; "
                 "0 for images never learned); trivial images are learned early and rarely forgotten, in-between images "
                 "carry most forgetting events; iteration learned (Baldock et al. 2021) is the epoch from which an image "
                 "stays correct. IRT 2PL difficulty b is the ability at which a model has even odds on the image; "
                 "discrimination a says how sharply the image separates strong from weak models (typical 0.5-3; large "
                 "values where the models' order predicts the outcome)."))
    r_it = spearman_ci(t["iteration_learned"], t["share_models_correct"])[0]
    r_fg = spearman_ci(t["forgetting_events"], t["share_models_correct"])[0]
    cart = np.where(dyn.never_learned, NEVER_LEARNED, dyn.forgetting_events).mean(axis=0)
    r_cart = spearman_ci(cart, t["share_models_correct"])[0]
    sec.add(H.paragraph(
        f"Spearman r with the final share of models correct: iteration learned {r_it:.3f}, forgetting events {r_fg:.3f} "
        f"({r_cart:.3f} with allenai/cartography's convention, which scores an image a model never learned as forgotten "
        f"{NEVER_LEARNED} times) over {len(t):,} images. Within each DDD bin these measures still vary: that is information the three bins "
        f"throw away. {int(dyn.never_learned.all(axis=0).sum())} images were never learned by any model."))
    fits = d["fits"]
    sec.add(_fig(ctx, F.irt_figure(t["share_models_correct"].to_numpy(), fits["2pl"].difficulty, fits["2pl"].discrimination,
                                   "IRT 2PL on final correctness"), "dynamics_irt",
                 "2PL item-response model over models x images of final correctness (joint MAP; priors b ~ N(0, 9), "
                 "log a ~ N(0, 1), ability ~ N(0, 1)): difficulty against the share of models correct, colour = "
                 "discrimination. The 1PL (Rasch) difficulty is a monotone function of the number of models correct "
                 "(a sufficient statistic), so it ranks images as the share does; 2PL can order images that the same "
                 "number of models get right by which models get them right. Images all (no) models get right sit at "
                 "the low (high) end, held finite by the prior."))
    fit_rows = pd.DataFrame([{"model": k, "converged": f.converged, "iterations": f.n_iterations,
                              "neg_log_posterior": f.neg_log_posterior} for k, f in fits.items()])
    sec.add(H.table(fit_rows, caption="IRT fits", max_rows=None, csv_name=ctx.save_table("dynamics_irt_fits", fit_rows)))
    sec.add(H.table(d["abilities"], caption="IRT ability per model", max_rows=0,
                    csv_name=ctx.save_table("dynamics_irt_abilities", d["abilities"])))
    cat = curves.by_category(t, levels)
    sec.add(H.table(cat, caption="Each measure per DDD category (mean, median, quartiles)", max_rows=0,
                    csv_name=ctx.save_table("dynamics_by_category", cat)))
    sec.add(H.table(t, caption="Per-image learning dynamics (means over models)", max_rows=0,
                    csv_name=ctx.save_table("dynamics_per_image", t)))


def _cartography(ctx: Context, sec: H.Section, d: dict[str, Any]) -> None:
    from analysis.dynamics.cartography import data_map_figure
    from analysis.dynamics.load import PROBABILITIES_OPTION

    sec.add(H.heading("Dataset cartography"))
    dyn, t = d["dyn"], d["table"]
    if dyn.confidence is None:
        n_missing = len(dyn.missing_probabilities)
        sec.add(H.missing(f"{n_missing} of {len(d['ids'])} models stored no per-epoch probabilities "
                          f"(e.g. {dyn.missing_probabilities[0]}): no data map. Turn them on in the study file with "
                          f"{PROBABILITIES_OPTION} and train again."))
        return
    sec.add(_fig(ctx, data_map_figure(t, "data map (means over models)", d["levels"]), "dynamics_data_map",
                 "Data map (Swayamdipta et al. 2020): per image, confidence = mean true-class probability over epochs, "
                 "variability = its standard deviation, colour = correctness (share of epochs correct), each averaged "
                 "over the models; right panel: the same points by DDD category. Easy-to-learn images sit top left "
                 "(confidence near 1, variability below 0.1), hard-to-learn images bottom left, ambiguous images to the "
                 "right (variability 0.2-0.4, confidence near 0.5)."))
    row = next((i for i, c in enumerate(d["conds"]) if c == ctx.cfg.base), 0)
    one = pd.DataFrame({"variability": dyn.variability[row], "confidence": dyn.confidence[row], "correctness": dyn.correctness[row]})
    sec.add(_fig(ctx, data_map_figure(one, f"data map of {d['ids'][row]}", d["levels"]), "dynamics_data_map_model",
                 f"The familiar per-model data map, of {d['ids'][row]} alone: the same three quantities over this model's "
                 "epochs, coloured by correctness (left) and by the DDD category from all models (right)."))


def _image_stats(study: Any) -> pd.DataFrame | None:
    """The cached image statistics of the study's images (written by `analysis.ddd --image-stats`), or None."""
    from analysis.models import image_stats as ist

    ids = study.images["image_id"].tolist()
    path = Path(ist.DEFAULT_CACHE_DIR) / f"image_stats-{ist.cache_key(study.definition.get('dataset', {}), ids)}.parquet"
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path).drop_duplicates("image_index", keep="last").sort_values("image_index")
    except Exception:  # a damaged cache is not trusted (analysis.ddd recomputes it)
        return None
    return frame.reset_index(drop=True) if len(frame) == len(ids) else None


def _questionnaire(ctx: Context, study: Any) -> pd.DataFrame | None:
    """Mean questionnaire answers per study image, when questionnaire sessions on this study's images exist."""
    from analysis.dynamics.curves import questionnaire_answers
    from analysis.humans.sessions import load_sessions
    from analysis.report.context import open_set

    cfg = ctx.cfg
    loaded = load_sessions(cfg.data_root, "questionnaire", stimulus_set=cfg.set_questionnaire,
                           include_incomplete=cfg.include_incomplete, include_pilot=cfg.include_pilot,
                           include_simulated=cfg.include_simulated, leave_out_reshown=cfg.leave_out_reshown)
    if not loaded.sessions:
        return None
    sset = open_set(cfg.stimuli, loaded.stimulus_set, loaded.set_checksum)
    if sset is None:
        return None
    answers = questionnaire_answers(loaded.trials, sset.stimuli, study.images["image_id"].astype(str).tolist())
    return answers if len(answers) >= 4 else None


def _correlates(ctx: Context, sec: H.Section, study: Any, d: dict[str, Any]) -> None:
    from analysis.dynamics import curves
    from analysis.dynamics import figures as F
    from analysis.models.image_stats import STATISTICS

    t = d["table"]
    measures = curves.measures_in(t)
    sec.add(H.heading("Against the share of models correct, image statistics and questionnaire answers"))
    correlates: dict[str, np.ndarray] = {"share models correct": t["share_models_correct"].to_numpy()}
    stats = _image_stats(study)
    if stats is not None:
        correlates.update({s: stats[s].to_numpy() for s in STATISTICS})
    corr = curves.correlations(t, correlates)
    sec.add(_fig(ctx, F.correlation_heatmap(corr, measures, list(correlates), "Spearman r over all images"),
                 "dynamics_correlations",
                 "Spearman correlation of each per-image measure (rows) with the final share of models correct and, "
                 "where computed, the image statistics of Pliushch et al. (columns). Measures of being learned late or "
                 "forgotten correlate negatively with the share correct (iteration learned typically near -0.9, forgetting "
                 "events weaker, since never-learned images have none); image statistics correlate weakly (|r| < 0.3). "
                 "n/a: a statistic that is the same for every image."))
    sec.add(H.table(corr, caption="Spearman r with 95 % CI", max_rows=0, csv_name=ctx.save_table("dynamics_correlations", corr)))
    if stats is None:
        sec.add(H.missing("No cached image statistics for this study's images: no image-statistic columns and no "
                          "per-epoch curves. Compute them once with python -m analysis.ddd STUDY --image-stats "
                          "(cached under .cache/analysis/image_stats in the working folder)."))
    else:
        _statistic_curves(ctx, sec, stats, d)
    answers = _questionnaire(ctx, study)
    if answers is None:
        sec.add(H.missing("No questionnaire sessions on this study's images: no comparison with the observers' answers."))
        return
    qcorr = curves.correlations(t, {c: answers[c].to_numpy() for c in ("mean_n_categories", "mean_main_category", "mean_unusual")},
                                index=answers["image_index"].to_numpy())
    sec.add(_fig(ctx, F.correlation_heatmap(qcorr, measures, ["mean_n_categories", "mean_main_category", "mean_unusual"],
                                            f"questionnaire images ({len(answers)})"), "dynamics_questionnaire",
                 f"Spearman correlation of each measure with the observers' mean answers on the {len(answers)} "
                 "questionnaire images: number of categories (Q1), main category (Q2, no = 0, maybe = 1, yes = 2), "
                 "unusual presentation (Q3, no = 0 ... very = 2). In the paper, more categories and an unusual "
                 "presentation go with lower model accuracy, so with later learning and more forgetting."))
    sec.add(H.table(qcorr, caption="Spearman r with the questionnaire answers", max_rows=0,
                    csv_name=ctx.save_table("dynamics_questionnaire", qcorr)))


def _statistic_curves(ctx: Context, sec: H.Section, stats: pd.DataFrame, d: dict[str, Any]) -> None:
    from analysis.dynamics import curves
    from analysis.dynamics import figures as F
    from analysis.models.image_stats import STATISTICS

    dyn = d["dyn"]
    if not len(dyn.common_epochs):
        return
    cur = curves.statistic_curves(stats, dyn.n_correct, d["m"], dyn.common_epochs, STATISTICS)
    sec.add(_fig(ctx, F.statistic_curves_figure(cur, "mean image statistic of the images all models get right"),
                 "dynamics_statistic_curves",
                 "Per epoch, the mean of each image statistic over the images that all models get right (solid; Pliushch "
                 "et al.) and over all images (dashed); epochs at which no image is agreed on have no point. Pliushch et al. find "
                 "the agreed images simpler than the average (fewer segments, lower entropy and DCT share) and the gap "
                 "closing as more images are agreed on; on small images with few agreed ones the curve is noisy."))
    sec.add(H.table(cur, caption="Mean image statistic of the all-right images per epoch", max_rows=0,
                    csv_name=ctx.save_table("dynamics_statistic_curves", cur)))


def _train_agreement(ctx: Context, sec: H.Section, study: Any, d: dict[str, Any]) -> None:
    from analysis.dynamics import figures as F
    from analysis.models import agreement as agr

    sec.add(H.heading("Agreement on training images"))
    train = agr.train_agreement(study, d["ids"])
    if train is None:
        sec.add(H.missing("Not every model stored its training decisions: no agreement on training images. Turn them on "
                          "with save_train_decisions = true in the study's [recipe] and train again."))
        return
    used = train["models"].iloc[0].split()
    if len(used) < len(d["ids"]):
        sec.add(H.paragraph(f"The conditions share no training image (disjoint halves): agreement on training images over "
                            f"the {len(used)} models that trained on every image (left out: "
                            f"{', '.join(m for m in d['ids'] if m not in used)}).", "note"))
    dyn = d["dyn"]
    val = agr.agreement_table(dyn.common_epochs, dyn.n_correct, dyn.accuracy, d["m"])
    sec.add(_fig(ctx, F.train_agreement_figure(val, train, "true-positive agreement per epoch"), "dynamics_train_agreement",
                 "True-positive agreement (images all models get right / images any model gets right) per epoch on the "
                 "validation images and on the training images every model taking part saw that epoch (decisions on the augmented "
                 "batch, before the update), with the lower bound the accuracies force (dotted). Training agreement "
                 "runs ahead of validation agreement and approaches 1 as the models fit the training set."))
    sec.add(H.table(train, caption="Agreement on training images per epoch", max_rows=0,
                    csv_name=ctx.save_table("dynamics_train_agreement", train)))


def _rsa(ctx: Context, sec: H.Section, study: Any, d: dict[str, Any], base: str) -> None:
    from analysis.dynamics import figures as F
    from analysis.dynamics import rsa
    from analysis.dynamics.load import ACTIVATIONS_OPTION, load_activations
    from analysis.models import conditions as con

    sec.add(H.heading("Representational similarity with the base condition"))
    acts, missing = load_activations(study, d["ids"])
    conds = dict(zip(d["ids"], d["conds"]))
    if missing or not any(conds[m] == base for m in acts):
        sec.add(H.missing(f"{len(missing)} of {len(d['ids'])} models stored no last-layer activations: no RSA. Turn "
                          f"them on in the study file with {ACTIVATIONS_OPTION} and train again."))
        return
    order = con.condition_order(d["conds"], base)
    for method, label in (("rdm", "Spearman r of RDMs"), ("cka", "linear CKA")):
        pairs = rsa.similarity_table(acts, conds, base, method)
        if pairs.empty:
            continue
        per = rsa.condition_table(pairs, order)
        sec.add(_fig(ctx, F.rsa_figure(per, pairs, label, f"similarity with '{base}' ({label})"), f"dynamics_rsa_{method}",
                     ("Representational similarity (appendix A.4): per model an RDM, 1 - Pearson r between the last-layer "
                      "activations of every pair of the stored images; bars: mean over a condition's models of the "
                      "Spearman r of its RDM's upper triangle with each base model's; dots: single pairs. Conditions that "
                      "differ only in seed or data order typically reach 0.8-0.95, another architecture less."
                      if method == "rdm" else
                      "Linear CKA (Kornblith et al. 2019) of each model's centred activations with each base model's "
                      "(1 = the same representation up to rotation and isotropic scale)")
                     + f"; {int(pairs['n_images'].iloc[0])} images stored by every model; the base condition has a bar "
                     "only when it has two or more models."))
        sec.add(H.table(pairs, caption=f"RSA pairs ({label})", max_rows=0, csv_name=ctx.save_table(f"dynamics_rsa_{method}_pairs", pairs)))
