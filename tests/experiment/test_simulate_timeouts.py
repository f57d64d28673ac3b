"""The simulated observer presses a key again when no new screen follows it (a press lost under
load), and ends a session that makes no progress with a one-line error the program reports."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from experiment.config import load_config
from experiment.observers import NAMED_OBSERVERS, ObserverPolicy
from experiment.simulate import SimulatedObserver, SimulationStalled, raise_listener_error
from labutil.errors import UserError


class FakePresser:
    """Records presses with their times instead of sending them to an X server."""

    def __init__(self) -> None:
        self.presses: list[tuple[str, float]] = []

    def press(self, key: str) -> None:
        self.presses.append((key, time.monotonic()))

    def close(self) -> None:
        pass


def _observer(**kw) -> tuple[SimulatedObserver, FakePresser]:
    cfg = load_config(None)
    presser = FakePresser()
    policy = ObserverPolicy(NAMED_OBSERVERS["demo"], seed=1, rt_scale=0.1)  # proceed after 0.02 s
    return SimulatedObserver(policy, cfg, presser, **kw), presser


def _wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond()


def test_a_lost_press_is_repeated_until_a_new_screen_comes() -> None:
    obs, presser = _observer(repress_after_s=0.2, max_represses=3, no_progress_s=30)
    space = obs.cfg.keys.proceed
    t0 = time.monotonic()
    obs.on_screen("instructions", {})
    _wait_for(lambda: len(presser.presses) == 2)  # the first press, then one again after 0.2 s
    gap = presser.presses[1][1] - presser.presses[0][1]
    assert 0.19 <= gap < 1.0, gap
    obs.on_screen("trial", {"impossible_side": "left"})  # the program went on
    _wait_for(lambda: len(presser.presses) == 3)
    time.sleep(0.1)
    obs.on_screen("break", {})  # the trial key was answered in time: never repeated
    _wait_for(lambda: len(presser.presses) == 4)
    obs.on_screen("end", {})  # after the end screen the program closes: nothing is repeated
    _wait_for(lambda: len(presser.presses) == 5)
    time.sleep(0.5)
    keys = [k for k, _ in presser.presses]
    assert keys[:2] == [space, space] and keys[3:] == [space, space] and keys[2] in (obs.cfg.keys.left, obs.cfg.keys.right)
    assert obs.represses == [("instructions", space)] and obs.error is None
    assert time.monotonic() - t0 < 5
    obs.close()


def test_no_progress_ends_with_a_one_line_error() -> None:
    obs, presser = _observer(repress_after_s=0.1, max_represses=2, no_progress_s=0.6)
    t0 = time.monotonic()
    obs.on_screen("instructions", {})
    _wait_for(lambda: obs.error is not None)
    elapsed = time.monotonic() - t0
    assert isinstance(obs.error, SimulationStalled) and isinstance(obs.error, UserError)
    msg = str(obs.error)
    assert msg.startswith("simulated observer: no new screen ")
    assert "after pressing 'space' on the instructions screen (3 presses)" in msg
    assert "continue it with --resume" in msg and "\n" not in msg
    assert len(presser.presses) == 3  # the press and two repeats, then no more
    assert 0.6 <= elapsed < 3, elapsed
    obs.close()


def test_the_program_reports_a_stalled_simulation_as_its_one_line_error() -> None:
    """What Display._check_listener raises in the trial loop (tested without importing PsychoPy)."""
    stalled = SimulationStalled("simulated observer: no new screen 120 s after pressing 'space'")
    with pytest.raises(SimulationStalled):
        raise_listener_error(SimpleNamespace(error=stalled))
    with pytest.raises(RuntimeError, match="simulated observer failed"):  # a bug keeps its traceback
        raise_listener_error(SimpleNamespace(error=ValueError("x")))
    raise_listener_error(SimpleNamespace(error=None))
