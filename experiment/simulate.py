"""A simulated observer that drives the real program with real key presses.

The program tells its listener which screen it has just shown (right after the onset flip); the
simulated observer decides, waits its response time and presses the key through XTEST, so the
press travels the same path as a human's (X server -> ptb keyboard -> trial loop).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Protocol

from experiment import answers
from experiment.config import LabConfig
from experiment.observers import ObserverPolicy, QuestionnaireAnswer
from experiment.xkeys import KeyPresser

PROCEED_SCREENS = ("instructions", "practice_done", "break", "end", "saved")


class ScreenListener(Protocol):
    """Told about every screen right after its onset flip."""

    def on_screen(self, screen: str, info: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


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


class SimulatedObserver:
    """Presses the keys its policy chooses, each after the policy's delay, from its own thread."""

    def __init__(self, policy: ObserverPolicy, cfg: LabConfig, presser: KeyPresser | None = None) -> None:
        self.policy = policy
        self.cfg = cfg
        self.presser = presser or KeyPresser()
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
            while True:
                item = self._queue.get()
                if item is None:
                    return
                screen, info = item
                decision = self.decide(screen, info)
                if decision is None:
                    continue
                key, delay = decision
                time.sleep(delay)
                self.presser.press(key)
                self.pressed.append((screen, key))
        except BaseException as exc:  # reported by the program, which would otherwise wait forever
            self.error = exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.presser.close()
