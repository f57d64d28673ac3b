"""Report section: the 2AFC experiment."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from analysis.report import html as H
from analysis.report.context import Context, places
from analysis.report.human_inputs import exclusion_parts, sessions_and_set, setting_parts, simulated_note
from analysis.report.set_provenance import describe_set
from analysis.report.wording import ONE_OBSERVER, count
from analysis.stats import format_p


def _pct(v: float) -> str:
    return H.fmt(v * 100, 2)


def headline(res: Any) -> list[str]:
    """Accuracy, error consistency and the population model, each with the sampling its interval carries."""
    acc, ec = res.accuracy, res.consistency
    n_trials = sorted(set(res.observers["n_trials"]))
    if acc["n"] < 2:
        return one_observer_headline(res, n_trials)
    parts = [H.paragraph(
        f"{acc['n']} observers, {'/'.join(map(str, n_trials))} test trials each. Accuracy (choosing the image "
        f"the models found impossible): mean over observers {acc['mean']:.2%} (95 % CI {_pct(acc['mean_ci_low'])}-"
        f"{_pct(acc['mean_ci_high'])} %, bootstrap over observers and pairs), range {acc['min']:.2%}-{acc['max']:.2%}, "
        f"SD {acc['sd']:.2%}. For comparison, the pooled trials give {acc['pooled']:.2%} with a trial-level interval "
        f"{_pct(acc['pooled_ci_low'])}-{_pct(acc['pooled_ci_high'])} % (Clopper-Pearson), which ignores that observers "
        "differ and says nothing about other observers."),
        H.paragraph(
        f"Inter-observer error consistency: mean {ec['mean']:.4f} (95 % CI {H.fmt(ec['mean_ci_low'])} to "
        f"{H.fmt(ec['mean_ci_high'])}, bootstrap over observers and pairs; resampling pairs only: "
        f"{H.fmt(ec['mean_ci_low_items'])} to {H.fmt(ec['mean_ci_high_items'])}), range {ec['min']:.4f}-{ec['max']:.4f}, "
        f"SD {ec['sd']:.4f}.")]
    m = res.model
    if m is not None:
        parts.append(H.paragraph(
            f"Population (logistic mixed model, crossed random effects for observer and pair, n = {m.n_trials} trials): "
            f"accuracy {m.population:.2%} (95 % credible interval {_pct(m.population_ci[0])}-{_pct(m.population_ci[1])} %); "
            f"posterior probability that a typical observer is at or below chance: {format_p(m.p_at_or_below_chance)}. "
            f"Trial position: odds ratio of a correct choice per 100 trials later {H.fmt(m.position_odds_ratio_per_100, 3)} "
            f"(95 % CI {H.fmt(m.position_ci[0], 3)}-{H.fmt(m.position_ci[1], 3)}; 1 = no learning or fatigue)."))
    return parts


def one_observer_headline(res: Any, n_trials: list[int]) -> list[str]:
    """What one observer gives (accuracy over their trials) and what needs more observers, instead of n/a."""
    acc = res.accuracy
    return [H.paragraph(
        f"{count(int(acc['n']), 'observer')}, {'/'.join(map(str, n_trials))} test trials. Accuracy (choosing the image "
        f"the models found impossible): {acc['pooled']:.2%} (95 % CI {_pct(acc['pooled_ci_low'])}-"
        f"{_pct(acc['pooled_ci_high'])} %, Clopper-Pearson over this observer's trials: a claim about this observer "
        f"only). {ONE_OBSERVER}")]


def record_numbers(ctx: Context, res: Any) -> None:
    """The section's headline numbers, for the comparison with the paper."""
    acc, ec = res.accuracy, res.consistency
    ctx.numbers.update({
        "2afc_n_observers": acc["n"], "2afc_accuracy_mean": acc["mean"], "2afc_accuracy_min": acc["min"],
        "2afc_accuracy_max": acc["max"], "2afc_accuracy_sd": acc["sd"], "2afc_ec_mean": ec["mean"],
        "2afc_ec_min": ec["min"], "2afc_ec_max": ec["max"], "2afc_ec_sd": ec["sd"],
        "2afc_accuracy_mean_ci_low": acc["mean_ci_low"], "2afc_accuracy_mean_ci_high": acc["mean_ci_high"],
        "2afc_ec_mean_ci_low": ec["mean_ci_low"], "2afc_ec_mean_ci_high": ec["mean_ci_high"],
    })
    if res.model is not None:
        ctx.numbers.update({"2afc_population_accuracy": res.model.population,
                            "2afc_population_accuracy_ci_low": res.model.population_ci[0],
                            "2afc_population_accuracy_ci_high": res.model.population_ci[1]})


def observer_parts(ctx: Context, res: Any, tables: dict, figs: dict) -> list[str]:
    """Per-observer tests (one- or two-sided, Holm), the summary table and the accuracy figure."""
    sided = "one-sided (above 50 %)" if res.alternative == "greater" else "two-sided"
    claim = "above chance" if res.alternative == "greater" else "different from chance"
    obs = tables["2afc_observers"]
    n_sig = int((obs["p_binomial_holm"] < 0.05).sum()) if len(obs) else 0
    smallest = format_p(float(obs["p_binomial"].min()), float(obs["log10_p_binomial"].min())) if len(obs) else "n/a"
    parts = [H.heading("Observers"),
             H.paragraph(f"{n_sig} of {count(len(obs), 'observer')} {'is' if len(obs) == 1 else 'are'} {claim} by the {sided} exact binomial test at 5 % after "
                         f"Holm's correction over observers; the smallest p = {smallest}."),
             H.table(obs, caption=f"Accuracy per observer: Clopper-Pearson 95 % interval (a claim about this observer: "
                     f"over their trials), exact {sided} binomial test against 50 % with log10 p and Holm's correction, "
                     "reaction times (s)", csv_name=ctx.save_table("2afc_observers", obs)),
             H.table(tables["2afc_summary"], caption="Summary over observers (accuracy) and over pairs of observers "
                     "(error consistency); SD with ddof = 1; mean_ci: bootstrap over observers and pairs; mean_ci_*_items: "
                     "over pairs only; pooled_ci: Clopper-Pearson over all trials",
                     csv_name=ctx.save_table("2afc_summary", tables["2afc_summary"]))]
    if "2afc_accuracy" in figs:
        parts.append(ctx.figure_html(figs["2afc_accuracy"]))
    return parts


def population_parts(ctx: Context, res: Any, tables: dict) -> list[str]:
    """The logistic mixed model's table (or why there is none)."""
    parts = [H.heading("Population model")]
    if res.model is None:
        parts.append(H.missing("The mixed model needs at least two observers, two image pairs, and both correct and "
                               "wrong choices."))
        return parts
    parts.append(H.table(tables["2afc_mixed_model"], caption="Logistic mixed model of correctness (statsmodels "
                         "BinomialBayesMixedGLM, variational Bayes): crossed random intercepts for observer and pair, "
                         "fixed effect of trial position; 95 % credible intervals (see Methods)",
                         csv_name=ctx.save_table("2afc_mixed_model", tables["2afc_mixed_model"])))
    return parts


def sdt_parts(ctx: Context, res: Any, tables: dict) -> list[str]:
    """d', c per observer, the definitions, and the side-bias tests."""
    sb = res.side_bias
    return [H.heading("Signal detection: sensitivity and side bias"),
            H.paragraph(
                "Signal = the impossible image on the left, a 'yes' = a left press; d' = z(H) - z(F), criterion "
                "c = -(z(H) + z(F)) / 2 with the log-linear correction (0.5 added to hits and false alarms, 1 to the "
                "trial counts) for every observer; c < 0 is a bias to press left. Per-observer side-bias test: "
                "z = c / SE(c), two-sided, Holm-corrected. Over observers: mean c = "
                f"{H.fmt(sb.get('mean_criterion'), 3)}, " + (
                    f"t-test against 0 p = {format_p(sb.get('p_value'))} (n = {sb.get('n', 0)})." if sb.get("n", 0) >= 2
                    else f"no t-test over observers (it needs at least two; n = {sb.get('n', 0)}).")),
            H.table(tables["2afc_sdt"], caption="d' and criterion c per observer with delta-method standard errors "
                    "(Gourevitch & Galanter 1967) and the side-bias test", csv_name=ctx.save_table("2afc_sdt", tables["2afc_sdt"]))]


def consistency_parts(ctx: Context, res: Any, tables: dict, figs: dict) -> list[str]:
    parts = [H.heading("Error consistency between observers")]
    if "2afc_consistency_matrix" in figs:
        parts.append(ctx.figure_html(figs["2afc_consistency_matrix"]))
    parts.append(H.table(tables["2afc_consistency_pairs"], caption="Per pair of observers: kappa, bootstrap 95 % CI over "
                         f"trials (seed {ctx.cfg.seed}; a claim about these two people, not about observers in general), "
                         "the range attainable at their accuracies, exact test against independence",
                         csv_name=ctx.save_table("2afc_consistency_pairs", tables["2afc_consistency_pairs"])))
    ctx.save_table("2afc_consistency_matrix", tables["2afc_consistency_matrix"])
    return parts


def pair_parts(ctx: Context, res: Any, tables: dict, figs: dict) -> list[str]:
    c = res.pair_correlation
    parts = [H.heading("Image pairs and models"), H.paragraph(
        "Share of observers choosing the impossible image, per pair, against the models' accuracy difference "
        f"between the two images: Pearson r = {H.fmt(c['r'], 3)} (95 % CI {H.fmt(c['ci_low'], 3)} to "
        f"{H.fmt(c['ci_high'], 3)}, p = {format_p(c['p_value'])}, n = {c['n']} pairs), Spearman rho = "
        f"{H.fmt(res.pair_spearman.get('r'), 3)} (p = {format_p(res.pair_spearman.get('p_value'))})"
        + (" - undefined when every pair has the same model accuracies (tolerance 0)." if not np.isfinite(c["r"]) else "."))]
    if "2afc_pairs_vs_models" in figs:
        parts.append(ctx.figure_html(figs["2afc_pairs_vs_models"]))
    parts.append(H.table(tables["2afc_pairs"], caption="Per image pair", max_rows=20,
                         csv_name=ctx.save_table("2afc_pairs", tables["2afc_pairs"])))
    return parts


def rt_parts(ctx: Context, res: Any, tables: dict, figs: dict) -> list[str]:
    parts = [H.heading("Reaction times"),
             H.key_values([("median of observers' median RT (s)", res.rt["median_of_observer_medians"]),
                           ("mean over observers of median RT, correct choices (s)", res.rt["median_correct"]),
                           ("mean over observers of median RT, incorrect choices (s)", res.rt["median_incorrect"])])]
    if len(res.rt_model):
        parts.append(H.table(tables["2afc_rt_model"], caption="Linear mixed model of log RT (statsmodels MixedLM, REML, "
                             "random intercept per observer) on correctness and trial position: coefficients with 95 % CI; "
                             "rt_ratio = exp(coefficient), e.g. RT of a correct over an incorrect choice",
                             csv_name=ctx.save_table("2afc_rt_model", tables["2afc_rt_model"])))
    if "2afc_rt" in figs:
        parts.append(ctx.figure_html(figs["2afc_rt"]))
    return parts


def section_2afc(ctx: Context) -> H.Section:
    from analysis.humans.two_afc import analyse_two_afc, two_afc_figures

    sec = H.Section("2afc", "2AFC experiment: which image is harder for a network?")
    cfg = ctx.cfg
    found = sessions_and_set(ctx, sec, "2afc", cfg.set_2afc)
    if found is None:
        return sec
    loaded, sset = found
    ctx.provenance.append(("2AFC sessions", f"{len(loaded.sessions)} under {cfg.data_root}"))
    ctx.provenance.append(("2AFC stimulus set", f"{loaded.stimulus_set} (" + (
        f"found in {places(cfg.stimuli)}: {describe_set(sset.meta)}" if sset is not None
        else f"not found in {places(cfg.stimuli)}") + ")"))
    if sset is None:
        sec.add(H.missing(f"Stimulus set '{loaded.stimulus_set}' not found in {places(cfg.stimuli)}: the models' "
                          "accuracies per image pair are left out."))
    started = time.perf_counter()
    res = analyse_two_afc(loaded.trials, sset.stimuli if sset is not None else None, seed=cfg.seed, n_boot=cfg.n_boot,
                          alternative=cfg.binomial_alternative)
    ctx.provenance.append(("2AFC analysis incl. mixed models (fitted once)", f"{time.perf_counter() - started:.1f} s"))
    sec.parts += headline(res)
    sec.parts += simulated_note(loaded)
    for note in res.notes:
        sec.add(H.paragraph(note, "note"))
    record_numbers(ctx, res)
    tables = res.tables()
    figs = {f["name"]: f for f in two_afc_figures(res, loaded.trials, ctx.fig_dir)}
    sec.parts += observer_parts(ctx, res, tables, figs)
    sec.parts += population_parts(ctx, res, tables)
    sec.parts += sdt_parts(ctx, res, tables)
    sec.parts += consistency_parts(ctx, res, tables, figs)
    sec.parts += pair_parts(ctx, res, tables, figs)
    sec.parts += rt_parts(ctx, res, tables, figs)
    sec.parts += setting_parts(ctx, loaded, "2afc")
    sec.add(H.heading("Exclusions"))
    sec.parts += exclusion_parts(ctx, loaded, "2afc")
    return sec
