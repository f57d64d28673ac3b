"""Report part of the questionnaire section: every observer's answers by difficulty (the paper's
appendix Fig. 27 and 28), Q1 with 9 and 10+ apart."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context


def observer_parts(ctx: Context, trials: pd.DataFrame, stimuli: pd.DataFrame, selection: Any) -> list[str]:
    """Per-observer panels (figures of four observers) and the table of their counts for one item selection."""
    from analysis.humans.observer_panels import (
        observer_answer_counts,
        panels_figures,
        per_observer_summary,
    )
    from analysis.humans.questionnaire import responses
    from analysis.plotting import save_figure

    test = trials[trials["phase"] == "test"] if "phase" in trials else trials
    counts = observer_answer_counts(responses(test, stimuli, selection))
    s = selection.name
    parts = [H.heading("Per observer", 4)]
    for i, fig in enumerate(panels_figures(counts, title=f"{s}:"), start=1):
        name = f"questionnaire_{s}_observers_{i}"
        parts.append(ctx.figure_html({
            "name": name, **save_figure(fig, ctx.fig_dir, name),
            "caption": "Each observer's answers (rows) to the three questions (columns): how many trivial, in-between "
                       "and impossible images got each answer (the paper's Fig. 27/28). Q1 shows 9 and 10+ as separate "
                       "answers (the paper's histogram joined them). Similar panels mean the observers used the answer "
                       "scales alike; the figures in the section above pool them."}))
    summary = per_observer_summary(counts)
    parts.append(H.table(summary, caption="Per observer and difficulty: responses and mean answer code (Q1 the count, "
                         "10+ as 10; Q2 no 0 / maybe 1 / yes 2; Q3 no 0 / slightly 1 / very 2)", max_rows=0, digits=3,
                         csv_name=ctx.save_table(f"questionnaire_{s}_observers_summary", summary)))
    ctx.save_table(f"questionnaire_{s}_observers_counts", counts)
    return parts
