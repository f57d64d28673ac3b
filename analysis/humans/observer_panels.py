"""Per-observer questionnaire answers by difficulty (the paper's appendix Fig. 27 and 28).

For every observer and question: how many trivial, in-between and impossible images got each
answer. Q1 keeps every answer apart, 0 to 9 and "10+" (the answer key for ten or more, stored as
10): the authors' notebook histograms Q1 with `np.histogram(..., bins=10, range=[0, 10])`, whose
last bin [9, 10] counts 9 and 10+ together. Every answer of a question is listed, with zero
counts, so that observers can be compared panel by panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.humans.questions import DIFFICULTIES, QUESTIONS, answer_label

COLUMNS = ["participant_id", "question", "answer", "answer_label", "difficulty", "n_responses"]


def observer_answer_counts(r: pd.DataFrame) -> pd.DataFrame:
    """Long table: per observer, question, answer and difficulty, the number of responses.

    `r` is the questionnaire responses of `analysis.humans.questionnaire.responses` (participant_id,
    difficulty, n_categories, main_category, unusual).
    """
    rows = []
    for pid, g in r.groupby("participant_id", sort=True):
        for q, spec in QUESTIONS.items():
            given = g[q].astype(str)
            for a in spec["answers"]:
                for d in DIFFICULTIES:
                    n = int(((given == a) & (g["difficulty"] == d)).sum())
                    rows.append({"participant_id": pid, "question": q, "answer": a, "answer_label": answer_label(q, a),
                                 "difficulty": d, "n_responses": n})
    return pd.DataFrame(rows, columns=COLUMNS)


def panels_figures(counts: pd.DataFrame, per_figure: int = 4, title: str = "") -> list:
    """Figures of `per_figure` observers each (rows) x the three questions (columns): grouped bars of
    answer counts per difficulty (the paper shows four observers per figure)."""
    from matplotlib.ticker import MaxNLocator

    from analysis.plotting import COLORS, new_figure

    observers = list(dict.fromkeys(counts["participant_id"]))
    figures = []
    for start in range(0, len(observers), per_figure):
        chunk = observers[start:start + per_figure]
        fig, axes = new_figure(10.0, 1.9 * len(chunk) + 0.6, len(chunk), 3, squeeze=False,
                               gridspec_kw={"width_ratios": [2.4, 1, 1]})
        top = int(counts.loc[counts["participant_id"].isin(chunk), "n_responses"].max() or 1)
        for i, (row, pid) in enumerate(zip(axes, chunk)):
            for ax, (q, spec) in zip(row, QUESTIONS.items()):
                c = counts[(counts["participant_id"] == pid) & (counts["question"] == q)]
                x = np.arange(len(spec["answers"]))
                width = 0.8 / len(DIFFICULTIES)
                for k, d in enumerate(DIFFICULTIES):
                    n = c[c["difficulty"] == d].set_index("answer")["n_responses"].reindex(spec["answers"], fill_value=0)
                    ax.bar(x + (k - 1) * width, n.to_numpy(), width, color=COLORS[d], label=d)
                ax.set_xticks(x, [answer_label(q, a) for a in spec["answers"]], fontsize=7)
                ax.set_ylim(0, top * 1.08)
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                if ax is row[0]:
                    ax.set_ylabel(f"{pid}\nresponses")
                if i == len(chunk) - 1:
                    ax.set_xlabel(spec["label"])
        axes[0][-1].legend(frameon=False, fontsize=7, loc="upper right")
        fig.suptitle(f"{title} observers {start + 1}-{start + len(chunk)} of {len(observers)}".strip())
        figures.append(fig)
    return figures


def per_observer_summary(counts: pd.DataFrame, questions: Sequence[str] = tuple(QUESTIONS)) -> pd.DataFrame:
    """Per observer and difficulty: responses and the mean answer code of each question (Q1: the count,
    10+ as 10; Q2 no 0, maybe 1, yes 2; Q3 no 0, slightly 1, very 2)."""
    rows = []
    for (pid, d), g in counts.groupby(["participant_id", "difficulty"], sort=False):
        row = {"participant_id": pid, "difficulty": d}
        for q in questions:
            s = g[g["question"] == q]
            codes = s["answer"].map(QUESTIONS[q]["codes"]).astype(float)
            n = s["n_responses"].to_numpy(dtype=float)
            row[f"mean_{q}"] = float((codes.to_numpy() * n).sum() / n.sum()) if n.sum() else float("nan")
        row["n_responses"] = int(g.loc[g["question"] == questions[0], "n_responses"].sum())
        rows.append(row)
    return pd.DataFrame(rows)
