"""Report section: methods, provenance, software versions."""

from __future__ import annotations

import datetime as dt
import time

from analysis.report import html as H
from analysis.report.context import Context, places
from analysis.report.section_setup import setup_parts
from labutil.versions import software_versions


def methods_section(ctx: Context, started: float) -> H.Section:
    cfg = ctx.cfg
    sec = H.Section("methods", "Methods, provenance and exclusions")
    sec.add(H.paragraph(
        "2AFC accuracy per observer with an exact (Clopper-Pearson) 95 % interval and an exact binomial test against 50 % "
        f"({'two-sided' if cfg.binomial_alternative == 'two-sided' else 'one-sided, above chance'}; log10 p where p "
        "underflows; Holm's correction over observers); SDs over observers with ddof = 1. Intervals that make a claim about "
        "observers (mean accuracy, mean inter-observer error consistency, the questionnaire's per-answer model accuracy and "
        "agreement) resample observers and items together (two-way bootstrap, percentile intervals, seed "
        f"{cfg.seed}; an observer is never paired with its own copy); this bootstrap is conservative (with no real "
        "differences between observers or items it is about sqrt(3) wider than the binomial interval; Owen 2007). "
        "ICC(2,1) has its exact F-distribution interval (McGraw & Wong 1996). Population: a logistic mixed model of "
        "correctness with crossed random intercepts for observer and pair and a fixed effect of trial position "
        "(statsmodels BinomialBayesMixedGLM, variational Bayes; the intercept's variance adds the sampling of observers and "
        "pairs, s_o^2 / n_o + s_p^2 / n_p, which mean-field VB leaves out), giving the mean accuracy over observers and pairs "
        "with a 95 % credible interval; log RT on correctness and position with a random intercept per observer "
        "(MixedLM, REML). Signal detection: signal = impossible image on the left, a yes = a left press; d', c with the "
        "log-linear correction. Error consistency is Cohen's kappa on trial-by-trial correctness (Geirhos et al., 2020) "
        "over the pairs every observer saw (analysis.models.consistency); per pair of observers a bootstrap over trials. "
        "Questionnaire: mean model accuracy (n_correct / n_models of the stimulus set) per answer as the mean over "
        "observers of each observer's mean, and pooled; Pearson r and Spearman rho with Fisher-z intervals; chi-squared "
        "with Cramér's V; ordinal regression (OrderedModel) of each answer on difficulty; agreement at the level of the "
        "data (Q1: quadratic-weighted kappa, Krippendorff's alpha interval/ratio, ICC(2,1); Q2/Q3: ordinal alpha, "
        "linear/quadratic-weighted kappa; Fleiss' kappa and unweighted Cohen's kappa as the nominal reference). Practice "
        "trials and sessions that are not complete are left out by default and listed."))
    sec.add(H.heading("Provenance"))
    pairs = [("created", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
             ("runs folder", str(cfg.runs)), ("stimulus sets", places(cfg.stimuli)),
             ("data root", str(cfg.data_root)), ("difficulty tolerance (models section)", cfg.tolerance),
             ("bootstrap seed", cfg.seed), ("bootstrap resamples", cfg.n_boot), ("balancing seed", cfg.balance_seed),
             ("per-observer binomial tests", cfg.binomial_alternative),
             ("incomplete sessions included", cfg.include_incomplete), ("pilot sessions included", cfg.include_pilot),
             ("simulated sessions included", cfg.include_simulated),
             ("trials shown more than once left out", cfg.leave_out_reshown),
             *ctx.provenance]
    sec.add(H.key_values(pairs))
    for part in setup_parts(ctx):
        sec.add(part)
    sec.add(H.heading("Software"))
    sec.add(H.key_values(list(software_versions(("statsmodels", "scikit-learn", "matplotlib")).items())))
    sec.add(H.paragraph(f"Report built in {time.perf_counter() - started:.1f} s. Participants appear under their "
                        "pseudonymous ids only.", "note"))
    return sec
