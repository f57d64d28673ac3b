"""Counterbalancing of the 2AFC layout across observers: mirrored sides and swapped response keys.

A stimulus set fixes which image of a pair is on the left. Shown as it is to every observer, side
and difficulty would be confounded across observers. So half of the observers see every pair
mirrored: which half is decided by the parity of the participant number, offset by one bit of a
seed drawn from the set's checksum (so it does not depend on who happens to be registered
first, and is the same for everyone using the set). Consecutive participants alternate, so over
any even number of consecutive participants the impossible image is on each side equally often.
The optional key swap uses the next bit of the number, so mirror and swap are crossed within
every four consecutive participants. The session's TSV holds what was on screen (left_stim,
right_stim, impossible_side, response_side) and a `mirrored` column; `analysis` maps it back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from labutil.errors import UserError

MODES = ("auto", "yes", "no")


def counterbalance_seed(tables_sha256: str) -> int:
    """A seed fixed by the stimulus set (first 4 bytes of SHA-256 of its checksum)."""
    return int.from_bytes(hashlib.sha256(f"counterbalance/{tables_sha256}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Counterbalance:
    mirror: bool
    swap_keys: bool
    seed: int
    rule: str

    def as_sidecar(self) -> dict[str, Any]:
        return {"MirrorSides": self.mirror, "SwapKeys": self.swap_keys, "Seed": self.seed, "Rule": self.rule}


RULE = ("mirror = (participant number + seed) is odd; swap_keys = (participant number // 2 + seed // 2) "
        "is odd; seed = first 4 bytes of SHA-256 of 'counterbalance/<TablesSHA256>'")


def assign(pid: str, tables_sha256: str, sides: bool, keys: bool, mode: str = "auto") -> Counterbalance:
    """The counterbalancing of participant `pid` (sub-NNN) on a set; `mode` yes/no overrides the mirror."""
    if mode not in MODES:
        raise UserError(f"--mirror '{mode}': must be one of {', '.join(MODES)}")
    n = int(pid[4:])
    seed = counterbalance_seed(tables_sha256)
    mirror = sides and (n + seed) % 2 == 1
    if mode != "auto":
        mirror = mode == "yes"
    swap = keys and (n // 2 + seed // 2) % 2 == 1
    rule = RULE if mode == "auto" else f"--mirror {mode} (set by the experimenter)"
    return Counterbalance(mirror, swap, seed, rule)


def from_sidecar(record: dict[str, Any]) -> Counterbalance:
    """The counterbalancing a resumed session was started with."""
    return Counterbalance(bool(record.get("MirrorSides")), bool(record.get("SwapKeys")),
                          int(record.get("Seed", 0)), str(record.get("Rule", "")))


def shown_trial(trial: dict[str, Any], mirror: bool) -> dict[str, Any]:
    """The trial as it is shown: left and right exchanged when mirrored."""
    if not mirror:
        return dict(trial)
    out = dict(trial)
    out["left_stim"], out["right_stim"] = trial["right_stim"], trial["left_stim"]
    out["impossible_side"] = "right" if trial["impossible_side"] == "left" else "left"
    return out
