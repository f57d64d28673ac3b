"""The online observer's seeds: trial order, and the attention checks' positions and answers.

The left/right mirror and the key swap are the lab programs' own rule
(`experiment.counterbalance.assign`: by participant number, offset by a seed of the set), so lab
and online observers are counterbalanced the same way.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def observer_seed(participant_id: str, session: int, set_sha256: str) -> int:
    """The observer's counterbalancing and order seed: a fixed function of who, which session, which set."""
    digest = hashlib.sha256(f"web/{participant_id}/ses-{session:02d}/{set_sha256}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def catch_positions(n_test: int, every: int, seed: int, task: str) -> list[dict[str, Any]]:
    """Attention checks after every `every`-th test trial: {after_test, expected} with a seeded expected answer
    (2afc: left | right; questionnaire: a Q2 level)."""
    if every <= 0:
        return []
    rng = np.random.default_rng([seed, 0xCA7C])
    options = ("left", "right") if task == "2afc" else ("no", "maybe", "yes")
    return [{"after_test": k, "expected": str(options[int(rng.integers(len(options)))])}
            for k in range(every, n_test + 1, every)]
