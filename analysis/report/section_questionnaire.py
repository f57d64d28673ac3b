"""Report section: the follow-up questionnaire, on all images and on the paper's Fig. 6 selection."""

from __future__ import annotations

import numpy as np

from analysis.report import html as H
from analysis.report.context import Context, places
from analysis.report.human_inputs import exclusion_parts, sessions_and_set, setting_parts, simulated_note
from analysis.report.set_provenance import describe_set
from analysis.report.wording import count
from analysis.report.section_observers import observer_parts
from analysis.stats import format_p


QUESTION_KEYS = {("main_category", "yes"): "q_main_yes", ("main_category", "maybe"): "q_main_maybe",
                 ("main_category", "no"): "q_main_no", ("unusual", "no"): "q_unusual_no",
                 ("unusual", "slightly"): "q_unusual_slightly", ("unusual", "very"): "q_unusual_very"}


def section_questionnaire(ctx: Context) -> H.Section:
    from analysis.humans.questionnaire import analyse_questionnaire, questionnaire_figures, select_items

    sec = H.Section("questionnaire", "Questionnaire: what do trivial and impossible images look like?")
    cfg = ctx.cfg
    found = sessions_and_set(ctx, sec, "questionnaire", cfg.set_questionnaire)
    if found is None:
        return sec
    loaded, sset = found
    if sset is None:
        sec.available = False
        sec.add(H.missing(f"Stimulus set '{loaded.stimulus_set}' not found in {places(cfg.stimuli)}: without the images' "
                          "difficulty and model results the questionnaire cannot be analysed (pass --stimuli)."))
        return sec
    source = str(sset.meta.get("provenance", {}).get("source", ""))
    ctx.reference_data = ctx.reference_data or "Meding et al." in source
    ctx.provenance.append(("questionnaire sessions", f"{len(loaded.sessions)} under {cfg.data_root}"))
    ctx.provenance.append(("questionnaire stimulus set", f"{sset.name} ({describe_set(sset.meta)})"
                           + ("; images not included" if not sset.has_images else "")))
    sec.parts += simulated_note(loaded)
    order = list(sset.test_trials()["stim_id"])
    selections = [
        select_items(sset.stimuli, order, sset.meta, name="all"),
        select_items(sset.stimuli, order, sset.meta, drop_label_issues=True, balance=True, seed=cfg.balance_seed, name="fig6"),
    ]
    titles = {"all": "All images (the set's analysis exclusions left out)",
              "fig6": f"The paper's Fig. 6 selection: label errors left out, subsets balanced (seed {cfg.balance_seed})"}
    for sel in selections:
        res = analyse_questionnaire(loaded.trials, sset.stimuli, sel, seed=cfg.seed, n_boot=min(cfg.n_boot, 1000))
        sec.add(H.heading(titles[sel.name], 3))
        sec.add(H.paragraph(f"{count(res.n_observers, 'observer')}; {sel.describe()}."
                            + (" With one observer, agreement between observers and intervals over observers cannot be "
                               "computed (they need at least two); the per-answer means are this observer's."
                               if res.n_observers < 2 else "")))
        published = sset.meta.get("reference", {}).get("fig6_equalized_subset", {}).get("stim_ids")
        if sel.name == "fig6" and published:
            same = sorted(published) == sorted(sel.stim_ids)
            sec.add(H.paragraph(f"The drawn selection {'is identical to' if same else 'DIFFERS from'} the subset "
                                f"published with the data ({len(published)} images).", "note"))
        tables = res.tables()
        figs = {f["name"]: f for f in questionnaire_figures(res, ctx.fig_dir)}
        p = f"questionnaire_{sel.name}"
        sec.add(ctx.figure_html(figs[f"{p}_fig6"]))
        sec.add(H.table(tables[f"{p}_proportions"], caption="Responses per answer and the shares of each difficulty",
                        csv_name=ctx.save_table(f"{p}_proportions", tables[f"{p}_proportions"])))
        sec.add(ctx.figure_html(figs[f"{p}_model_accuracy"]))
        sec.add(H.table(tables[f"{p}_model_accuracy"], caption="Mean model accuracy per answer: mean over observers "
                        "of each observer's mean (the paper's definition) with a 95 % bootstrap interval over observers and "
                        "images, its SD over observers, and pooled over responses",
                        csv_name=ctx.save_table(f"{p}_model_accuracy", tables[f"{p}_model_accuracy"])))
        c = res.correlation
        rank = res.correlations.set_index(["question", "method"])
        rho = rank.loc[("n_categories", "spearman")] if ("n_categories", "spearman") in rank.index else {}
        sec.add(H.paragraph(f"Mean number of categories per image vs model accuracy: Pearson r = {H.fmt(c['r'], 3)} "
                            f"(95 % CI {H.fmt(c['ci_low'], 3)} to {H.fmt(c['ci_high'], 3)}, p = {format_p(c['p_value'])}, "
                            f"n = {c['n']} images); Spearman rho = {H.fmt(rho.get('r'), 3)} (p = {format_p(rho.get('p_value'))})."))
        sec.add(ctx.figure_html(figs[f"{p}_categories_vs_accuracy"]))
        ctx.save_table(f"{p}_correlation", tables[f"{p}_correlation"])
        sec.add(H.table(tables[f"{p}_correlations"], caption="Per question, over images: the mean answer against model "
                        "accuracy, Pearson (Fisher-z interval) and Spearman (Fisher-z interval with the Bonett-Wright SE)",
                        csv_name=ctx.save_table(f"{p}_correlations", tables[f"{p}_correlations"])))
        sec.add(H.table(tables[f"{p}_difficulty_chi2"], caption="Answer against difficulty over all responses: "
                        "chi-squared test of independence and Cramér's V (descriptive: every image is rated by every "
                        "observer, so the responses are not independent and p is optimistic)",
                        csv_name=ctx.save_table(f"{p}_difficulty_chi2", tables[f"{p}_difficulty_chi2"])))
        if len(res.ordinal):
            sec.add(H.table(tables[f"{p}_ordinal_regression"], caption="Ordinal (proportional-odds, logit) regression of "
                            "each answer's code on difficulty, against trivial images (statsmodels OrderedModel, standard "
                            "errors clustered by image); log odds of a higher code (more categories, a clearer main "
                            "category for Q2, a more unusual presentation for Q3)",
                            csv_name=ctx.save_table(f"{p}_ordinal_regression", tables[f"{p}_ordinal_regression"])))
        sec.add(H.table(tables[f"{p}_agreement"], caption="Agreement between observers at the level of the data (Q1 a "
                        "count: weighted kappa, interval/ratio alpha, ICC(2,1); Q2/Q3 ordinal: ordinal alpha, weighted "
                        "kappa; Fleiss and unweighted kappa as the nominal reference). ci_low/ci_high: 95 % interval by "
                        f"the row's ci_method (bootstrap over observers and images, seed {cfg.seed}, or ICC's F "
                        "distribution); ci_*_items: resampling images only, for comparison; min/max: the lowest and "
                        "highest pair of observers",
                        csv_name=ctx.save_table(f"{p}_agreement", tables[f"{p}_agreement"])))
        ctx.save_table(f"{p}_pairwise_kappa", tables[f"{p}_pairwise_kappa"])
        sec.add(H.table(tables[f"{p}_items"], caption="Per image", max_rows=0, csv_name=ctx.save_table(f"{p}_items", tables[f"{p}_items"])))
        sec.parts += observer_parts(ctx, loaded.trials, sset.stimuli, sel)
        acc = res.accuracy.set_index(["question", "answer"])["mean_of_observers"]
        for (q, a), key in QUESTION_KEYS.items():
            ctx.numbers[f"{key}@{sel.name}"] = float(acc.get((q, a), np.nan))
        ctx.numbers[f"q_corr_categories@{sel.name}"] = float(c["r"])
    sec.parts += setting_parts(ctx, loaded, "questionnaire")
    sec.add(H.heading("Exclusions"))
    sec.parts += exclusion_parts(ctx, loaded, "questionnaire")
    return sec
