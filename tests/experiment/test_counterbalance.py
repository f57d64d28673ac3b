"""Counterbalancing of the 2AFC layout: which observers see the set mirrored, and what they see."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment.counterbalance import assign, counterbalance_seed, shown_trial
from experiment_fixtures import make_2afc_set
from labutil.errors import UserError


def test_consecutive_participants_alternate_and_keys_cross_the_mirror() -> None:
    sha = "ab" * 32
    seed = counterbalance_seed(sha)
    cbs = [assign(f"sub-{n:03d}", sha, sides=True, keys=True) for n in range(1, 9)]
    assert [c.mirror for c in cbs] == [(n + seed) % 2 == 1 for n in range(1, 9)]
    assert sum(c.mirror for c in cbs[:4]) == 2 and sum(c.mirror for c in cbs[2:6]) == 2
    # every four consecutive participants hold each (mirror, swap) combination once
    assert len({(c.mirror, c.swap_keys) for c in cbs[:4]}) == 4
    assert all(c.seed == seed for c in cbs)


def test_off_by_configuration_or_set_by_the_experimenter() -> None:
    sha = "cd" * 32
    assert not any(assign(f"sub-{n:03d}", sha, sides=False, keys=False).mirror for n in range(1, 5))
    assert assign("sub-001", sha, True, False, mode="yes").mirror is True
    assert assign("sub-002", sha, True, False, mode="no").mirror is False
    with pytest.raises(UserError, match="--mirror 'sometimes'"):
        assign("sub-001", sha, True, False, mode="sometimes")


def test_over_an_even_number_of_observers_the_impossible_image_is_on_each_side_equally_often(tmp_path: Path) -> None:
    s = make_2afc_set(tmp_path / "set", n_practice=2, n_test=9, seed=3)
    trials = s.trials.to_dict("records")
    for first in (1, 2, 5):
        pids = [f"sub-{n:03d}" for n in range(first, first + 4)]
        for t in trials:
            sides = [shown_trial(t, assign(p, s.tables_sha256, True, False).mirror)["impossible_side"] for p in pids]
            assert sides.count("left") == 2 == sides.count("right"), (t["trial"], sides)


def test_a_mirrored_trial_exchanges_the_images_and_the_side() -> None:
    t = {"trial": 3, "phase": "test", "pair_id": 7, "left_stim": "a", "right_stim": "b", "impossible_side": "left"}
    m = shown_trial(t, True)
    assert (m["left_stim"], m["right_stim"], m["impossible_side"]) == ("b", "a", "right")
    assert shown_trial(t, False) == t and shown_trial(m, True) == t
