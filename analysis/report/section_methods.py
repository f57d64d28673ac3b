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
        "2AFC accuracy per observer with an exact (Clopper-Pearson) 95 % interval and an exact two-sided binomial "
        "test against 50 % (scipy, statsmodels); SDs over observers with ddof = 1. Error consistency is Cohen's kappa "
        "on trial-by-trial correctness (Geirhos et al., 2020) over the pairs every observer saw (analysis.models.consistency); "
        f"intervals by percentile bootstrap over trials (seed {cfg.seed}). Questionnaire: mean model accuracy "
        "(n_correct / n_models of the stimulus set) per answer as the mean over observers of each observer's mean, "
        "and pooled; Pearson r with a Fisher-z interval; Fleiss' kappa (Q2, Q3), Krippendorff's alpha (interval) "
        "and ICC(2,1) (Q1), pairwise Cohen's kappa, bootstrap intervals over images. Practice trials and sessions "
        "that are not complete are left out by default and listed."))
    sec.add(H.heading("Provenance"))
    pairs = [("created", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
             ("runs folder", str(cfg.runs)), ("stimulus sets", places(cfg.stimuli)),
             ("data root", str(cfg.data_root)), ("difficulty tolerance (models section)", cfg.tolerance),
             ("bootstrap seed", cfg.seed), ("balancing seed", cfg.balance_seed),
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
