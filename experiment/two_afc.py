"""The 2AFC experiment: which of two images is harder for a neural network to classify?

    python -m experiment.two_afc --participant sub-001 --session 1 --stimuli stimulus_sets/demo-2afc

Both images side by side (native pixel size, or `monitor.image_size_deg`), self-paced, a key
reminder under them, a fixation cross between trials, RT from the stimulus-onset flip (ptb
keyboard). Half of the observers see the set's pairs mirrored (experiment.counterbalance); the
TSV holds what was on screen. Optional feedback after practice trials. See docs/experiment.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiment.config import LabConfig
from experiment.counterbalance import shown_trial
from experiment.runner import RunContext, TrialResult, run_program
from labutil.errors import run_cli


class TwoAfcTask:
    """One trial: the pair, a left/right key, (practice feedback,) then the fixation cross."""

    name = "2afc"

    def fixation_s(self, cfg: LabConfig) -> float:
        return cfg.two_afc.fixation_s

    def break_every(self, cfg: LabConfig) -> int:
        return cfg.two_afc.break_every

    def instructions(self, cfg: LabConfig) -> str:
        return cfg.two_afc.instructions

    def debriefing(self, cfg: LabConfig) -> str:
        return cfg.two_afc.debriefing

    def image_ids(self, trial: dict[str, Any]) -> list[str]:
        return [str(trial["left_stim"]), str(trial["right_stim"])]

    def run_trial(self, ctx: RunContext, trial: dict[str, Any], footer: str) -> TrialResult:
        disp, keys, opts = ctx.disp, ctx.cfg.keys, ctx.cfg.two_afc
        mirrored = ctx.counterbalance.mirror
        shown = shown_trial(trial, mirrored)
        left, right = ctx.images[str(shown["left_stim"])], ctx.images[str(shown["right_stim"])]
        gap = opts.image_gap_px
        left.pos = (-(left.size[0] / 2 + gap / 2), 0)
        right.pos = (right.size[0] / 2 + gap / 2, 0)
        reminder = ctx.reminder(opts.key_reminder)

        def draw() -> None:
            left.draw()
            right.draw()
            disp.draw_footer(footer, reminder)

        info = {"trial": int(trial["trial"]), "phase": trial["phase"], "impossible_side": shown["impossible_side"]}
        show = ctx.show_hook(trial)
        onsets: list[float] = []

        def on_show(t: float, reason: str) -> None:
            onsets.append(t)
            show(t, reason)

        key, rt, onset = disp.wait_keys(draw, [keys.left, keys.right], "trial", info, on_show=on_show)
        side = "left" if key == keys.left else "right"
        correct = side == shown["impossible_side"]
        if trial["phase"] == "practice" and opts.practice_feedback:
            text = "Correct." if correct else "Not correct: the networks get the other image wrong."
            disp.timed_text(text, "feedback", opts.feedback_s, {"trial": int(trial["trial"]), "correct": int(correct)})
        fix_onset = disp.show_fixation(footer)
        row = {
            "trial": int(trial["trial"]),
            "phase": trial["phase"],
            "pair_id": int(trial["pair_id"]),
            "left_stim": shown["left_stim"],
            "right_stim": shown["right_stim"],
            "impossible_side": shown["impossible_side"],
            "response_side": side,
            "chosen_stim": shown["left_stim"] if side == "left" else shown["right_stim"],
            "correct": correct,
            "rt": rt,
            "onset": ctx.session_time(onset),
            "mirrored": mirrored,
        }
        return TrialResult(row, onsets[0], onset + rt, fix_onset)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) one 2AFC session."""
    return run_program(TwoAfcTask(), argv, "python -m experiment.two_afc",
                       "Run a 2AFC session: the observer presses the key for the image that is harder for a "
                       "neural network to classify. Refuses to start if the participant is not registered or has "
                       "no consent record, the stimulus set fails verification or was seen before, the session "
                       "already exists complete, or the display is not as configured (see --pilot and the "
                       "--allow options).")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
