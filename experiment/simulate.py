"""A simulated observer that drives the real program with real key presses.

The program tells its listener which screen it has just shown (right after the onset flip); the
simulated observer decides, waits its response time and presses the key through XTEST, so the
press travels the same path as a human's (X server -> ptb keyboard -> trial loop). A key whose
press seems lost (no new screen after `repress_after_s`) is pressed again, and a session that
shows no new screen for `no_progress_s` ends with one line.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from experiment import answers
from experiment.config import LabConfig
from experiment.observers import ObserverPolicy, QuestionnaireAnswer
from experiment.xkeys import KeyPresser
from labutil.errors import UserError

PROCEED_SCREENS = ("instructions", "practice_done", "break", "end", "saved")
FINAL_SCREENS = ("end", "saved")  # the program closes after them: no new screen follows the key
REPRESS_AFTER_S = 5.0  # a key with no new screen after this long is pressed again ...
MAX_REPRESSES = 3  # ... at most this many times
NO_PROGRESS_S = 120.0  # no new screen this long after a key press: the session ends


def scaled_program_times(cfg: LabConfig, scale: float) -> LabConfig:
    """The lab configuration with the program's own waits (fixation cross between trials, practice
    feedback) multiplied by `scale`, as the simulated observer's times are (--sim-rt-scale); the
    sidecar's LabConfig then records the times the simulated session really used."""
    if scale == 1.0:
        return cfg
    return replace(cfg, two_afc=replace(cfg.two_afc, fixation_s=cfg.two_afc.fixation_s * scale,
                                        feedback_s=cfg.two_afc.feedback_s * scale),
                   questionnaire=replace(cfg.questionnaire, fixation_s=cfg.questionnaire.fixation_s * scale))


class SimulationStalled(UserError):
    """The program showed no new screen for too long after the simulated observer's key press."""


class ScreenListener(Protocol):
    """Told about every screen right after its onset flip."""

    def on_screen(self, screen: str, info: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def raise_listener_error(listener: object) -> None:
    """Raise what went wrong in a simulated observer's thread: a UserError (a stalled session) as
    it is, one line; anything else, a bug, as a RuntimeError with its traceback."""
    err = getattr(listener, "error", None)
    if isinstance(err, UserError):
        raise err
    if err is not None:
        raise RuntimeError(f"simulated observer failed: {err!r}") from err


class NoListener:
    """A human at the keyboard: nothing to do."""

    def on_screen(self, screen: str, info: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def answer_key(cfg: LabConfig, question: int, answer: QuestionnaireAnswer) -> str:
    """The key that gives `answer` to questionnaire question 1, 2 or 3."""
    value = (answer.n_categories, answer.main_category, answer.unusual)[question - 1]
    return answers.answer_key(cfg, question, value)


@dataclass
class _Waiting:
    """A pressed key the program has not answered with a new screen yet."""

    screen: str
    key: str
    first: float  # monotonic time of the first press
    last: float = 0.0  # of the latest press
    represses: int = 0

    def __post_init__(self) -> None:
        self.last = self.last or self.first


class SimulatedObserver:
    """Presses the keys its policy chooses, each after the policy's delay, from its own thread."""

    def __init__(self, policy: ObserverPolicy, cfg: LabConfig, presser: KeyPresser | None = None,
                 repress_after_s: float = REPRESS_AFTER_S, max_represses: int = MAX_REPRESSES,
                 no_progress_s: float = NO_PROGRESS_S) -> None:
        if not (0 < repress_after_s and 0 < no_progress_s and max_represses >= 0):
            raise ValueError("repress_after_s and no_progress_s must be positive, max_represses >= 0")
        self.policy = policy
        self.cfg = cfg
        self.presser = presser or KeyPresser()
        self.repress_after_s = repress_after_s
        self.max_represses = max_represses
        self.no_progress_s = no_progress_s
        self.represses: list[tuple[str, str]] = []  # (screen, key) pressed again, for diagnostics
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._answer: QuestionnaireAnswer | None = None
        self.error: BaseException | None = None
        self.pressed: list[tuple[str, str]] = []  # (screen, key), for diagnostics
        self._thread = threading.Thread(target=self._run, name="simulated-observer", daemon=True)
        self._thread.start()

    def on_screen(self, screen: str, info: dict[str, Any]) -> None:
        self._queue.put((screen, dict(info)))

    def decide(self, screen: str, info: dict[str, Any]) -> tuple[str, float] | None:
        """The key to press for a screen and the delay before pressing it (None: no answer)."""
        keys = self.cfg.keys
        if screen in PROCEED_SCREENS:
            return keys.proceed, self.policy.proceed_delay()
        if screen == "confirm_quit":  # a simulated observer never quits on its own
            return keys.confirm_no, self.policy.proceed_delay()
        if screen == "trial":
            side = self.policy.choose_side(str(info["impossible_side"]))
            return (keys.left if side == "left" else keys.right), self.policy.rt()
        if screen == "question":
            q = int(info["question"])
            if q == 1 or self._answer is None:
                self._answer = self.policy.answer(str(info.get("difficulty", "")))
            return answer_key(self.cfg, q, self._answer), self.policy.rt()
        return None

    def _run(self) -> None:
        try:
            wait: _Waiting | None = None  # the last key pressed, while no new screen has come
            while True:
                try:
                    item = self._queue.get(timeout=None if wait is None else self._timeout(wait))
                except queue.Empty:
                    self._no_new_screen(wait)
                    continue
                if item is None:
                    return
                screen, info = item
                decision = self.decide(screen, info)
                wait = None
                if decision is None:
                    continue
                key, delay = decision
                time.sleep(delay)
                self.presser.press(key)
                self.pressed.append((screen, key))
                if screen not in FINAL_SCREENS:
                    wait = _Waiting(screen, key, time.monotonic())
        except BaseException as exc:  # reported by the program, which would otherwise wait forever
            self.error = exc

    def _timeout(self, wait: _Waiting) -> float:
        """Seconds until the next re-press, or until the no-progress limit once none is left."""
        now = time.monotonic()
        left = wait.first + self.no_progress_s - now
        if wait.represses < self.max_represses:
            left = min(left, wait.last + self.repress_after_s - now)
        return max(left, 0.0)

    def _no_new_screen(self, wait: _Waiting | None) -> None:
        """No new screen came in time: the press seems lost, so press the key again; past the
        no-progress limit, end with a one-line error (the program reports it and exits)."""
        assert wait is not None
        waited = time.monotonic() - wait.first
        if waited >= self.no_progress_s:
            raise SimulationStalled(
                f"simulated observer: no new screen {waited:.0f} s after pressing '{wait.key}' on the "
                f"{wait.screen} screen ({wait.represses + 1} presses); the session is saved, continue it "
                "with --resume")
        if wait.represses < self.max_represses:
            self.presser.press(wait.key)
            self.represses.append((wait.screen, wait.key))
            wait.represses += 1
            wait.last = time.monotonic()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.presser.close()
