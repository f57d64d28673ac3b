"""The questionnaire's questions, their answer options in screen order, and their keys.

One polarity on every question: the first option is always "none of what the question asks"
(0 categories, no main category, not unusual) and the last one the most of it (10+, yes, very).
So key 1 means "no" on both Q2 and Q3, and the same finger never means "yes" on one question and
"no" on the next. The options are also clickable buttons and are listed in the instructions.
"""

from __future__ import annotations

from experiment.config import DIGIT_KEYS, LabConfig, short_key_label

QUESTIONS = (
    "How many objects belonging to different categories are in the image?",
    "Is there a main category in the image?",
    "Is the presentation of the objects unusual in any manner?",
)
COLUMNS = ("n_categories", "main_category", "unusual")
Q2_OPTIONS = ("no", "maybe", "yes")  # screen order, first = none of it
Q3_OPTIONS = ("no", "slightly", "very")
KEYPAD = {f"num_{d}": d for d in DIGIT_KEYS}  # keypad digits answer like the number row


def question_keys(cfg: LabConfig, question: int) -> list[str]:
    """The answer keys of question 1, 2 or 3, in screen order."""
    q = cfg.questionnaire
    if question == 1:
        return [*DIGIT_KEYS, q.ten_plus_key]
    return list(q.q2_keys if question == 2 else q.q3_keys)


def option_labels(question: int) -> list[str]:
    """The answers of a question in screen order, as shown on its buttons."""
    if question == 1:
        return [*DIGIT_KEYS, "10+"]
    return list(Q2_OPTIONS if question == 2 else Q3_OPTIONS)


def options_text(cfg: LabConfig, question: int) -> str:
    """One line naming each answer and its key, e.g. `1 = no   2 = maybe   3 = yes`."""
    if question == 1:
        return f"0-9, {short_key_label(cfg.questionnaire.ten_plus_key)} = 10 or more"
    return "   ".join(f"{short_key_label(k)} = {label}"
                      for k, label in zip(question_keys(cfg, question), option_labels(question)))


def decode_answer(cfg: LabConfig, question: int, key: str) -> int | str:
    """The TSV value of an answer key: 0-10 for Q1, a level for Q2 and Q3."""
    index = question_keys(cfg, question).index(key)
    if question == 1:
        return index  # 0-9, and 10 for the 10+ key
    return option_labels(question)[index]


def answer_key(cfg: LabConfig, question: int, value: int | str) -> str:
    """The key that gives answer `value` to a question (inverse of decode_answer)."""
    keys = question_keys(cfg, question)
    if question == 1:
        return keys[min(int(value), 10)]
    return keys[option_labels(question).index(str(value))]
