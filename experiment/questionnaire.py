"""The questionnaire: three questions about one image at a time, answered with number keys.

    python -m experiment.questionnaire --participant sub-001 --session 2 --stimuli stimulus_sets/demo-questionnaire

Q1 how many objects of different categories (0-9, a key for 10+), Q2 is there a main category
(yes / maybe / no), Q3 is the presentation unusual (no / slightly / very). Each answer's RT counts
from the flip that showed its question. See docs/experiment.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiment.config import DIGIT_KEYS, LabConfig, key_label
from experiment.observers import MAIN_CATEGORY_ORDER, UNUSUAL_ORDER
from experiment.runner import RunContext, TrialResult, run_program
from labutil.errors import run_cli

QUESTIONS = (
    "How many objects belonging to different categories are in the image?",
    "Is there a main category in the image?",
    "Is the presentation of the objects unusual in any manner?",
)


def question_keys(cfg: LabConfig, question: int) -> list[str]:
    """The answer keys of question 1, 2 or 3, in answer order."""
    q = cfg.questionnaire
    if question == 1:
        return [*DIGIT_KEYS, q.ten_plus_key]
    return list(q.main_category_keys if question == 2 else q.unusual_keys)


def question_text(cfg: LabConfig, question: int) -> str:
    """The question with its answer keys."""
    q = cfg.questionnaire
    if question == 1:
        options = f"0-9, or {key_label(q.ten_plus_key)} for 10 or more"
    else:
        labels = MAIN_CATEGORY_ORDER if question == 2 else UNUSUAL_ORDER
        keys = question_keys(cfg, question)
        options = "   ".join(f"{key_label(k)} = {label}" for k, label in zip(keys, labels))
    return f"{question}. {QUESTIONS[question - 1]}\n\n{options}"


def decode_answer(cfg: LabConfig, question: int, key: str) -> int | str:
    """The TSV value of an answer key: 0-10 for Q1, a level for Q2 and Q3."""
    keys = question_keys(cfg, question)
    if question == 1:
        return keys.index(key)  # 0-9, and 10 for the 10+ key
    return (MAIN_CATEGORY_ORDER if question == 2 else UNUSUAL_ORDER)[keys.index(key)]


class QuestionnaireTask:
    """One trial: the image with Q1, Q2, Q3 in turn, then the fixation cross."""

    name = "questionnaire"

    def fixation_s(self, cfg: LabConfig) -> float:
        return cfg.questionnaire.fixation_s

    def break_every(self, cfg: LabConfig) -> int:
        return cfg.questionnaire.break_every

    def instructions(self, cfg: LabConfig) -> str:
        return cfg.questionnaire.instructions

    def image_ids(self, trial: dict[str, Any]) -> list[str]:
        return [str(trial["stim_id"])]

    def run_trial(self, ctx: RunContext, trial: dict[str, Any], footer: str) -> TrialResult:
        disp, cfg = ctx.disp, ctx.cfg
        stim_id = str(trial["stim_id"])
        image = ctx.images[stim_id]
        half_h = disp.win.size[1] / 2
        top = half_h - 20 - image.size[1] / 2  # image near the top, the question below it
        image.pos = (0, min(top, 90))
        if getattr(self, "_text", None) is None:
            self._text = disp.new_text()
        text = self._text
        text.pos = (0, image.pos[1] - image.size[1] / 2 - 70)
        answers: list[int | str] = []
        rts: list[float] = []
        first_onset = last_press = 0.0
        for q in (1, 2, 3):
            text.text = question_text(cfg, q)

            def draw() -> None:
                image.draw()
                text.draw()
                disp.draw_footer(footer)

            info = {"trial": int(trial["trial"]), "phase": trial["phase"], "question": q,
                    "difficulty": ctx.difficulty.get(stim_id, "")}
            key, rt, onset = disp.wait_keys(draw, question_keys(cfg, q), "question", info)
            answers.append(decode_answer(cfg, q, key))
            rts.append(rt)
            if q == 1:
                first_onset = onset
            last_press = onset + rt
        fix_onset = disp.show_fixation(footer)
        row = {
            "trial": int(trial["trial"]),
            "phase": trial["phase"],
            "stim_id": stim_id,
            "n_categories": answers[0],
            "main_category": answers[1],
            "unusual": answers[2],
            "rt_q1": rts[0],
            "rt_q2": rts[1],
            "rt_q3": rts[2],
        }
        return TrialResult(row, first_onset, last_press, fix_onset)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) one questionnaire session."""
    return run_program(QuestionnaireTask(), argv, "python -m experiment.questionnaire",
                       "Run a questionnaire session: three questions about each image, answered with number keys. "
                       "Refuses to start if the participant is not registered, the stimulus set fails "
                       "verification or the session already exists complete.")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
