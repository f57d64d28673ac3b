"""Report section: which distributions of image difficulty produce dichotomous data difficulty
(simulations, the authors' notebook Fig. 10), beside this data's histogram and the Beta that fits it."""

from __future__ import annotations

import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context
from analysis.report.model_inputs import per_image

N_IMAGES = 50_000  # as ImageNet's validation set, so the simulated shares are smooth


def section_simulations(ctx: Context) -> H.Section:
    from analysis.models import ddd_simulation as sim
    from analysis.models.difficulty import check_tolerance
    from analysis.plotting import save_figure

    sec = H.Section("simulations", "Which difficulty distributions produce DDD: simulations")
    cfg = ctx.cfg
    data = per_image(ctx)
    n_models = data.n_models if data is not None else 11
    check_tolerance(n_models, cfg.tolerance)
    scenarios = list(sim.DEFAULT_SCENARIOS)
    observed = None
    if data is not None:
        fit = sim.fit_beta_binomial(data.n_correct, data.n_models)
        observed = sim.histogram(data.n_correct, data.n_models)
        scenarios.append(sim.Scenario(f"Beta({fit['a']:.2f}, {fit['b']:.2f}): fitted to {data.name}", "beta",
                                      {"a": fit["a"], "b": fit["b"]}))
    table, hist = sim.summary(scenarios, n_models, N_IMAGES, cfg.tolerance, cfg.seed)
    where = (f"{data.n_models} models as in {data.name}" if data is not None
             else "11 models as in the paper (no model data given)")
    sec.add(H.paragraph(
        f"Each scenario draws how likely each of {N_IMAGES:,} images is to be classified correctly and then how many of "
        f"{n_models} models ({where}) get it right (seed {cfg.seed} + the scenario's number). Beta: every model has the "
        "same probability p_i ~ Beta(a, b) on image i; logistic density: p_i from the density 1 / (1 + exp(w (p - 0.5))) "
        "(the paper's 'sigmoid decay'); IRT: model j with ability theta_j, image i with difficulty d_i, "
        "P(right) = 1 / (1 + exp(-4 (theta_j - d_i))), d_i ~ N(0, 2), theta_j ~ N(1, SD); binomial: every image "
        "equally hard, independent models."))
    name = "simulations_ddd"
    caption = ("Share of images by number of models right in each scenario, coloured trivial / in-between / impossible "
               f"at tolerance k = {cfg.tolerance} (shares in the panel titles)"
               + (f"; black outline: {data.name}" if data is not None else "")
               + ". DDD, the pile-up at 'none' and 'all', appears when image difficulty is spread widely and bimodally "
               "(U-shaped Betas) or, in the IRT scenarios, when the models differ little in ability compared with how "
               "much images differ in difficulty; it vanishes for a unimodal Beta, for models of very different "
               "ability, and for equally hard images (the binomial null of the models section).")
    fig = sim.scenarios_figure(hist, table, cfg.tolerance, "Which difficulty distributions produce DDD",
                               observed, data.name if data is not None else "observed")
    sec.add(ctx.figure_html({"name": name, **save_figure(fig, ctx.fig_dir, name), "caption": caption}))
    shown = table.drop(columns=["n_models", "n_images"])
    sec.add(H.table(shown, caption=f"Per scenario ({n_models} models, {N_IMAGES:,} images): parameters, seed, mean "
                    "accuracy, shares of trivial / in-between / impossible images and the dispersion ratio "
                    "Var(count) / (m p (1 - p)) (1 for independent models)",
                    max_rows=None, digits=3, csv_name=ctx.save_table(name, table)))
    ctx.save_table(f"{name}_histograms", hist)
    if data is not None:
        gain = fit["log_likelihood"] - fit["binomial_log_likelihood"]
        sec.add(H.paragraph(
            f"Maximum-likelihood beta-binomial fit to {data.name} ({fit['n_images']:,} images, {data.n_models} models): "
            f"Beta(a = {fit['a']:.3f}, b = {fit['b']:.3f}), mean accuracy {fit['mean_accuracy']:.3f}; its log-likelihood "
            f"exceeds that of the binomial (independent, equally good models on equally hard images) by {gain:,.1f}. "
            + ("Both a and b are below 1: the fitted difficulty distribution is U-shaped, the DDD regime."
               if fit["a"] < 1 and fit["b"] < 1 else
               "Not both a and b are below 1: the fitted difficulty distribution is not U-shaped.")))
        ctx.numbers.update({"simulations.fit_a": fit["a"], "simulations.fit_b": fit["b"]})
        ctx.save_table(f"{name}_fit", pd.DataFrame([fit]))
    return sec
