"""Report section: the 2AFC experiment."""

from __future__ import annotations

import numpy as np

from analysis.report import html as H
from analysis.report.context import Context, places
from analysis.report.human_inputs import exclusion_parts, sessions_and_set, simulated_note


def section_2afc(ctx: Context) -> H.Section:
    from analysis.humans.two_afc import analyse_two_afc, two_afc_figures

    sec = H.Section("2afc", "2AFC experiment: which image is harder for a network?")
    cfg = ctx.cfg
    found = sessions_and_set(ctx, sec, "2afc", cfg.set_2afc)
    if found is None:
        return sec
    loaded, sset = found
    ctx.provenance.append(("2AFC sessions", f"{len(loaded.sessions)} under {cfg.data_root}"))
    ctx.provenance.append(("2AFC stimulus set", f"{loaded.stimulus_set} ({'found' if sset is not None else 'not found'} in {places(cfg.stimuli)})"))
    if sset is None:
        sec.add(H.missing(f"Stimulus set '{loaded.stimulus_set}' not found in {places(cfg.stimuli)}: the models' "
                          "accuracies per image pair are left out."))
    res = analyse_two_afc(loaded.trials, sset.stimuli if sset is not None else None, seed=cfg.seed, n_boot=cfg.n_boot)
    acc, ec = res.accuracy, res.consistency
    n_trials = sorted(set(res.observers["n_trials"]))
    sec.add(H.paragraph(
        f"{acc['n']} observers, {'/'.join(map(str, n_trials))} test trials each. Accuracy (choosing the image "
        f"the models found impossible): mean {acc['mean']:.2%}, range {acc['min']:.2%}-{acc['max']:.2%}, "
        f"SD {acc['sd']:.2%}. Inter-observer error consistency: mean {ec['mean']:.4f} "
        f"(bootstrap 95 % CI of the mean {ec['mean_ci_low']:.4f}-{ec['mean_ci_high']:.4f}), "
        f"range {ec['min']:.4f}-{ec['max']:.4f}, SD {ec['sd']:.4f}."))
    sec.parts += simulated_note(loaded)
    for note in res.notes:
        sec.add(H.paragraph(note, "note"))
    ctx.numbers.update({
        "2afc_n_observers": acc["n"], "2afc_accuracy_mean": acc["mean"], "2afc_accuracy_min": acc["min"],
        "2afc_accuracy_max": acc["max"], "2afc_accuracy_sd": acc["sd"], "2afc_ec_mean": ec["mean"],
        "2afc_ec_min": ec["min"], "2afc_ec_max": ec["max"], "2afc_ec_sd": ec["sd"],
    })
    tables = res.tables()
    figs = {f["name"]: f for f in two_afc_figures(res, loaded.trials, ctx.fig_dir)}
    sec.add(H.heading("Observers"))
    sec.add(H.table(tables["2afc_observers"], caption="Accuracy per observer: Clopper-Pearson 95 % interval, exact "
                    "two-sided binomial test against 50 %, reaction times (s)", csv_name=ctx.save_table("2afc_observers", tables["2afc_observers"])))
    sec.add(H.table(tables["2afc_summary"], caption="Summary over observers (accuracy) and over pairs of observers "
                    "(error consistency); SD with ddof = 1", csv_name=ctx.save_table("2afc_summary", tables["2afc_summary"])))
    if "2afc_accuracy" in figs:
        sec.add(ctx.figure_html(figs["2afc_accuracy"]))
    sec.add(H.heading("Error consistency between observers"))
    if "2afc_consistency_matrix" in figs:
        sec.add(ctx.figure_html(figs["2afc_consistency_matrix"]))
    sec.add(H.table(tables["2afc_consistency_pairs"], caption="Per pair of observers: kappa, bootstrap 95 % CI over "
                    f"trials (seed {cfg.seed}), the range attainable at their accuracies, exact test against independence",
                    csv_name=ctx.save_table("2afc_consistency_pairs", tables["2afc_consistency_pairs"])))
    ctx.save_table("2afc_consistency_matrix", tables["2afc_consistency_matrix"])
    sec.add(H.heading("Image pairs and models"))
    c = res.pair_correlation
    sec.add(H.paragraph(
        "Share of observers choosing the impossible image, per pair, against the models' accuracy difference "
        f"between the two images: Pearson r = {H.fmt(c['r'], 3)} (95 % CI {H.fmt(c['ci_low'], 3)} to "
        f"{H.fmt(c['ci_high'], 3)}, p = {H.fmt(c['p_value'])}, n = {c['n']} pairs)"
        + (" - undefined when every pair has the same model accuracies (tolerance 0)." if not np.isfinite(c["r"]) else ".")))
    if "2afc_pairs_vs_models" in figs:
        sec.add(ctx.figure_html(figs["2afc_pairs_vs_models"]))
    sec.add(H.table(tables["2afc_pairs"], caption="Per image pair", max_rows=20, csv_name=ctx.save_table("2afc_pairs", tables["2afc_pairs"])))
    sec.add(H.heading("Reaction times"))
    sec.add(H.key_values([("median of observers' median RT (s)", res.rt["median_of_observer_medians"]),
                          ("mean over observers of median RT, correct choices (s)", res.rt["median_correct"]),
                          ("mean over observers of median RT, incorrect choices (s)", res.rt["median_incorrect"])]))
    if "2afc_rt" in figs:
        sec.add(ctx.figure_html(figs["2afc_rt"]))
    sec.add(H.heading("Exclusions"))
    sec.parts += exclusion_parts(ctx, loaded, "2afc")
    return sec
