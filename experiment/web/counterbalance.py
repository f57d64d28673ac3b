"""Per-observer counterbalancing of the online 2AFC: a seeded mirror of the set's sides, an optional
key swap, and the seeded positions and answers of the attention checks.

Kept small and separate so that it can be unified with the lab programs' counterbalancing
(issue 9) once that exists: the decision is a function of the recorded seed only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def observer_seed(participant_id: str, session: int, set_sha256: str) -> int:
    """The observer's counterbalancing and order seed: a fixed function of who, which session, which set."""
    digest = hashlib.sha256(f"web/{participant_id}/ses-{session:02d}/{set_sha256}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def counterbalance(seed: int, mirror_sides: bool, swap_keys: bool) -> tuple[bool, bool]:
    """(mirror, swap) for one observer: each true for a seeded half of the observers when enabled."""
    rng = np.random.default_rng([seed, 0xCB])
    mirror, swap = bool(rng.integers(2)), bool(rng.integers(2))
    return mirror and mirror_sides, swap and swap_keys


def mirrored_trial(trial: dict[str, Any], mirror: bool) -> dict[str, Any]:
    """The 2AFC trial as shown: left and right exchanged (and the impossible side with them) when mirrored."""
    if not mirror:
        return dict(trial)
    out = dict(trial)
    out["left_stim"], out["right_stim"] = trial["right_stim"], trial["left_stim"]
    out["impossible_side"] = "left" if trial["impossible_side"] == "right" else "right"
    return out


def catch_positions(n_test: int, every: int, seed: int, task: str) -> list[dict[str, Any]]:
    """Attention checks after every `every`-th test trial: {after_test, expected} with a seeded expected answer
    (2afc: left | right; questionnaire: a Q2 level)."""
    if every <= 0:
        return []
    rng = np.random.default_rng([seed, 0xCA7C])
    options = ("left", "right") if task == "2afc" else ("no", "maybe", "yes")
    return [{"after_test": k, "expected": str(options[int(rng.integers(len(options)))])}
            for k in range(every, n_test + 1, every)]
