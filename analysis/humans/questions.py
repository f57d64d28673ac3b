"""The questionnaire's questions, answers and codes, and the difficulty categories, in one place
for the questionnaire analysis, its answers-against-difficulty statistics and its agreement."""

from __future__ import annotations

from typing import Any

import pandas as pd

DIFFICULTIES = ("trivial", "in-between", "impossible")
BALANCE_ORDER = ("in-between", "trivial", "impossible")
QUESTIONS: dict[str, dict[str, Any]] = {
    "n_categories": {"label": "Q1: number of categories", "answers": [str(i) for i in range(11)],
                     "codes": {str(i): i for i in range(11)}},
    "main_category": {"label": "Q2: main category?", "answers": ["yes", "maybe", "no"],
                      "codes": {"no": 0, "maybe": 1, "yes": 2}},
    "unusual": {"label": "Q3: unusual presentation?", "answers": ["no", "slightly", "very"],
                "codes": {"no": 0, "slightly": 1, "very": 2}},
}
CODE_COLUMNS = {"n_categories": "n_categories", "main_category": "main_category_code", "unusual": "unusual_code"}
MEAN_COLUMNS = {"n_categories": "mean_n_categories", "main_category": "mean_main_category", "unusual": "mean_unusual"}


def answers(r: pd.DataFrame, question: str) -> pd.Series:
    """The answers to one question as text (Q1 counts as '0', '1', ...)."""
    return r[question].astype(str)


def answer_label(question: str, answer: str) -> str:
    """An answer as the observers saw it: Q1's code 10 is the key "10+" (ten or more categories)."""
    return "10+" if question == "n_categories" and str(answer) == "10" else str(answer)
