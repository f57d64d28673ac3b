"""The 2AFC experiment: which of two images is harder for a neural network to classify?

    python -m experiment.two_afc --participant sub-001 --session 1 --stimuli stimulus_sets/demo-2afc

Both images side by side at their native pixel size, self-paced, a fixation cross between trials,
RT from the stimulus-onset flip (ptb keyboard). See docs/experiment.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiment.config import LabConfig
from experiment.runner import RunContext, TrialResult, run_program
from labutil.errors import run_cli


class TwoAfcTask:
    """One trial: the pair, a left/right key, then the fixation cross."""

    name = "2afc"

    def fixation_s(self, cfg: LabConfig) -> float:
        return cfg.two_afc.fixation_s

    def break_every(self, cfg: LabConfig) -> int:
        return cfg.two_afc.break_every

    def instructions(self, cfg: LabConfig) -> str:
        return cfg.two_afc.instructions

    def image_ids(self, trial: dict[str, Any]) -> list[str]:
        return [str(trial["left_stim"]), str(trial["right_stim"])]

    def run_trial(self, ctx: RunContext, trial: dict[str, Any], footer: str) -> TrialResult:
        disp, keys = ctx.disp, ctx.cfg.keys
        left, right = ctx.images[str(trial["left_stim"])], ctx.images[str(trial["right_stim"])]
        gap = ctx.cfg.two_afc.image_gap_px
        left.pos = (-(left.size[0] / 2 + gap / 2), 0)
        right.pos = (right.size[0] / 2 + gap / 2, 0)

        def draw() -> None:
            left.draw()
            right.draw()
            disp.draw_footer(footer)

        info = {"trial": int(trial["trial"]), "phase": trial["phase"], "impossible_side": trial["impossible_side"]}
        key, rt, onset = disp.wait_keys(draw, [keys.left, keys.right], "trial", info)
        fix_onset = disp.show_fixation(footer)
        side = "left" if key == keys.left else "right"
        row = {
            "trial": int(trial["trial"]),
            "phase": trial["phase"],
            "pair_id": int(trial["pair_id"]),
            "left_stim": trial["left_stim"],
            "right_stim": trial["right_stim"],
            "impossible_side": trial["impossible_side"],
            "response_side": side,
            "chosen_stim": trial["left_stim"] if side == "left" else trial["right_stim"],
            "correct": side == trial["impossible_side"],
            "rt": rt,
            "onset": ctx.session_time(onset),
        }
        return TrialResult(row, onset, onset + rt, fix_onset)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) one 2AFC session."""
    return run_program(TwoAfcTask(), argv, "python -m experiment.two_afc",
                       "Run a 2AFC session: the observer presses the key for the image that is harder for a "
                       "neural network to classify. Refuses to start if the participant is not registered, the "
                       "stimulus set fails verification or the session already exists complete.")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
