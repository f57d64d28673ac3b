"""The questionnaire: three questions about one image at a time, answered by key or mouse click.

    python -m experiment.questionnaire --participant sub-001 --session 2 --stimuli stimulus_sets/demo-questionnaire

Q1 how many objects of different categories (0-9, a key for 10+), Q2 is there a main category
(no / maybe / yes), Q3 is the presentation unusual (no / slightly / very): one polarity, the
first option always "none of it" (see experiment.answers). The number row, the keypad and a
click on the labelled buttons all answer; the back key returns to the previous question of the
same image. Each answer's RT counts from the flip that showed its question. See docs/experiment.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiment.answers import COLUMNS, KEYPAD, QUESTIONS, decode_answer, option_labels, options_text, question_keys
from experiment.config import LabConfig, short_key_label
from experiment.runner import RunContext, TrialResult, run_program
from labutil.errors import run_cli

__all__ = ["QuestionnaireTask", "question_text", "main"]


def question_text(cfg: LabConfig, question: int) -> str:
    """The question with its answer keys."""
    return f"{question}. {QUESTIONS[question - 1]}\n\n{options_text(cfg, question)}"


class _Buttons:
    """One row of labelled, clickable answer buttons under the question."""

    def __init__(self, disp: Any, labels: list[str], keys: list[str], y: float) -> None:
        from psychopy import visual

        gap = 8 if len(labels) > 3 else 24
        fit = (disp.win.size[0] - 40 - (len(labels) - 1) * gap) / len(labels)
        width = min(64 if len(labels) > 3 else 150, fit)
        total = len(labels) * width + (len(labels) - 1) * gap
        self.items = []
        for i, (label, key) in enumerate(zip(labels, keys)):
            x = -total / 2 + width / 2 + i * (width + gap)
            rect = visual.Rect(disp.win, width=width, height=48, pos=(x, y), units="pix", lineColor="white",
                               fillColor=[-0.4, -0.4, -0.4], autoLog=False)
            text = visual.TextStim(disp.win, text=f"{label}\n[{short_key_label(key)}]", height=15, pos=(x, y),
                                   units="pix", color="white", autoLog=False)
            self.items.append((rect, text, key))

    def draw(self) -> None:
        for rect, text, _ in self.items:
            rect.draw()
            text.draw()

    def targets(self) -> list[tuple[Any, str]]:
        return [(rect, key) for rect, _, key in self.items]


class QuestionnaireTask:
    """One trial: the image with Q1, Q2, Q3 in turn (back key: previous question), then the fixation cross."""

    name = "questionnaire"

    def __init__(self) -> None:
        self._text: Any = None
        self._buttons: dict[int, _Buttons] = {}

    def fixation_s(self, cfg: LabConfig) -> float:
        return cfg.questionnaire.fixation_s

    def break_every(self, cfg: LabConfig) -> int:
        return cfg.questionnaire.break_every

    def instructions(self, cfg: LabConfig) -> str:
        return cfg.questionnaire.instructions

    def debriefing(self, cfg: LabConfig) -> str:
        return cfg.questionnaire.debriefing

    def image_ids(self, trial: dict[str, Any]) -> list[str]:
        return [str(trial["stim_id"])]

    def run_trial(self, ctx: RunContext, trial: dict[str, Any], footer: str) -> TrialResult:
        disp, cfg = ctx.disp, ctx.cfg
        stim_id = str(trial["stim_id"])
        image = ctx.images[stim_id]
        half_h = disp.win.size[1] / 2
        top = half_h - 20 - image.size[1] / 2  # image near the top, the question and buttons below it
        image.pos = (0, min(top, 110))
        if self._text is None:
            self._text = disp.new_text()
        text = self._text
        text.pos = (0, image.pos[1] - image.size[1] / 2 - 50)
        button_y = text.pos[1] - 80
        for q in (1, 2, 3):
            if q not in self._buttons:
                self._buttons[q] = _Buttons(disp, option_labels(q), question_keys(cfg, q), button_y)
        reminder = ctx.reminder(cfg.questionnaire.key_reminder)
        back = cfg.questionnaire.back_key
        answers: dict[int, int | str] = {}
        rts: dict[int, float] = {}
        onsets: dict[int, float] = {}
        corrections = 0
        image_on: list[float] = []  # onsets of the image in this attempt (first, then after a cancelled quit)
        show = ctx.show_hook(trial)
        disp.show_mouse(True)
        q = 1
        while q <= 3:
            text.text = f"{q}. {QUESTIONS[q - 1]}"
            buttons = self._buttons[q]

            def draw() -> None:
                image.draw()
                text.draw()
                buttons.draw()
                disp.draw_footer(footer, reminder if q > 1 else "")  # no previous question on Q1

            def on_show(t: float, reason: str) -> None:
                if reason != "first" or not image_on:  # a new question under the same image is no new showing
                    image_on.append(t)
                    show(t, reason)

            info = {"trial": int(trial["trial"]), "phase": trial["phase"], "question": q,
                    "difficulty": ctx.difficulty.get(stim_id, "")}
            keys = question_keys(cfg, q) + ([back] if q > 1 else [])
            key, rt, onset = disp.wait_keys(draw, keys, "question", info, on_show=on_show,
                                            aliases=KEYPAD if q == 1 else None, buttons=buttons.targets())
            if key == back:
                corrections += 1
                q -= 1
                answers.pop(q, None)
                ctx.log_event("back", onset + rt, trial, question=q)
                continue
            answers[q], rts[q], onsets[q] = decode_answer(cfg, q, key), rt, onset
            ctx.log_event("answer", onset + rt, trial, question=q, value=f"{COLUMNS[q - 1]}={answers[q]}")
            q += 1
        disp.show_mouse(False)
        last_press = onsets[3] + rts[3]
        fix_onset = disp.show_fixation(footer)
        row = {
            "trial": int(trial["trial"]),
            "phase": trial["phase"],
            "stim_id": stim_id,
            "n_categories": answers[1],
            "main_category": answers[2],
            "unusual": answers[3],
            "rt_q1": rts[1],
            "rt_q2": rts[2],
            "rt_q3": rts[3],
            "onset": ctx.session_time(image_on[-1]),
            "corrections": corrections,
        }
        return TrialResult(row, image_on[0], last_press, fix_onset)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) one questionnaire session."""
    return run_program(QuestionnaireTask(), argv, "python -m experiment.questionnaire",
                       "Run a questionnaire session: three questions about each image, answered with the number "
                       "keys, the keypad or the mouse. Refuses to start if the participant is not registered or "
                       "has no consent record, the stimulus set fails verification or was seen before, the "
                       "session already exists complete, or the display is not as configured (see --pilot and "
                       "the --allow options).")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
