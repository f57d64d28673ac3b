"""Shared helpers of the experiment.web tests: a study app in process, and a served one as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiment.web.config import load_web_config
from experiment.web.state import StateStore
from experiment.web.study import OnlineStudy

REPO = Path(__file__).resolve().parents[3]
CLIENT = {"screen": [1920, 1080], "window": [1280, 720], "dpr": 1.0, "fullscreen": True}

TEST_CONFIG = """\
[study]
completion_code = "TESTCODE1"
completion_url = ""

[screen]
fullscreen = true
min_window_px = [800, 600]

[two_afc]
fixation_s = 0.05
break_every = 3

[questionnaire]
fixation_s = 0.05
break_every = 0

[catch]
every = 4
"""


def write_config(path: Path, text: str = TEST_CONFIG) -> Path:
    path.write_text(text)
    return path


def make_study(tmp: Path, stimuli: Path, config: Path | None = None, database: str | None = None) -> OnlineStudy:
    cfg = load_web_config(config)
    store = StateStore(database or f"sqlite:///{tmp / 'state.sqlite'}")
    return OnlineStudy(stimuli, tmp / "lab_data", tmp / "lab_private", cfg, store)


def two_afc_body(plan: dict[str, Any], index: int, side: str = "left", rt: float = 0.8) -> dict[str, Any]:
    t = plan["trials"][index]
    return {"index": index, "trial": t["trial"], "key": plan["keys"][side], "rt": rt, "onset": 1.0 + index,
            "client": dict(CLIENT)}


def questionnaire_body(plan: dict[str, Any], index: int, n: int = 2, main: str = "yes",
                       unusual: str = "no") -> dict[str, Any]:
    t = plan["trials"][index]
    return {"index": index, "trial": t["trial"], "answers": {"n_categories": n, "main_category": main,
                                                              "unusual": unusual},
            "rt": [0.5, 0.6, 0.7], "onset": 2.0 * index, "client": dict(CLIENT)}


@dataclass
class Served:
    """A `python -m experiment.web serve` process and its URL."""

    proc: subprocess.Popen
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def serve(stimuli: Path, tmp: Path, config: Path | None = None, port: int = 0, database: str | None = None,
          timeout: float = 30) -> Served:
    """Start the server as a separate process and wait for its startup line."""
    cmd = [sys.executable, "-m", "experiment.web", "serve", "--stimuli", str(stimuli), "--data-root",
           str(tmp / "lab_data"), "--private-root", str(tmp / "lab_private"), "--port", str(port)]
    if config:
        cmd += ["--config", str(config)]
    if database:
        cmd += ["--database", database]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"server exited with {proc.wait()} before its startup line")
        m = re.search(r"at (http://\S+?)/\?", line)
        if m:
            return Served(proc, m.group(1))
    proc.kill()
    raise AssertionError("no startup line")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shots_dir(tmp: Path) -> Path:
    """Where the browser tests put their screenshots: $EXPERIMENT_WEB_SHOTS (outside the repo) or a temp folder."""
    out = Path(os.environ.get("EXPERIMENT_WEB_SHOTS") or tmp / "shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


_SNAPSHOT = """() => {
  const t = document.getElementById('jspsych-target');
  const shown = (e) => !!e && e.getClientRects().length > 0 && !e.closest('[hidden]');
  const q = t && t.querySelector('.question');
  const btn = t && t.querySelector('button.jspsych-btn');
  const text = t && shown(t) ? t.innerText : '';
  return {
    count: (typeof jsPsych !== 'undefined' && jsPsych) ? jsPsych.data.get().count() : 0,
    done: shown(document.getElementById('completion-code')),
    consent: shown(document.getElementById('consent-agree')),
    catch: text.includes('Attention check') ? t.querySelector('b').innerText : null,
    buttons: !!(t && t.querySelector('button')),
    canvas: shown(document.getElementById('jspsych-canvas-stimulus')),
    question: q ? q.dataset.q : null,
    button: shown(btn) ? btn.innerText : null,
  };
}"""


class Driver:
    """Clicks through the page as a participant would, recording every answer it gives."""

    def __init__(self, page: Any, shots: Path, prefix: str) -> None:
        self.page, self.shots, self.prefix = page, shots, prefix
        self.answers: list[Any] = []  # 2afc: 'f'/'j' per trial; questionnaire: (n, main, unusual) per image
        self.catches: list[str] = []
        self._q: list[str] = []
        self._seen: set[str] = set()

    def shot(self, name: str) -> None:
        if name not in self._seen:  # one screenshot per kind of screen
            self._seen.add(name)
            self.page.screenshot(path=str(self.shots / f"{self.prefix}_{len(self._seen):02d}_{name}.png"))

    def run(self, choose: Any, trials: int | None = None, timeout: float = 60) -> bool:
        """Answer screens until the completion code shows (True), or until `trials` trials were answered and
        the next trial is on screen (False)."""
        page, deadline, answered = self.page, time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            st = page.evaluate(_SNAPSHOT)  # one consistent look at the screen
            n = st["count"]
            if st["done"]:
                self.shot("completion")
                return True
            if st["catch"] is not None:
                self.shot("catch")
                self.catches.append(st["catch"])
                if st["buttons"]:
                    page.click(f"#jspsych-target button:text-is('{st['catch']}')")
                else:
                    page.keyboard.press(st["catch"].lower())
                self._wait_next(n)
            elif st["canvas"]:
                if trials is not None and answered >= trials:
                    return False  # the next trial is on screen, unanswered
                self.shot("trial")
                key = choose(len(self.answers))
                page.keyboard.press(key)
                self.answers.append(key)
                answered += 1
                self._wait_next(n)
            elif st["question"]:
                q = int(st["question"])
                self.shot(f"question{q}")
                label = choose(len(self.answers))[q - 1]
                page.click(f"#jspsych-target button:text-is('{label}')")
                self._q.append(label)
                if q == 3:
                    self.answers.append(tuple(self._q))
                    self._q = []
                    answered += 1
                self._wait_next(n)
            elif st["button"]:
                self.shot(st["button"].split()[0].lower())
                page.click("#jspsych-target button.jspsych-btn >> nth=0")
                self._wait_next(n)
            elif st["consent"]:
                self.shot("consent")
                page.click("#consent-agree")
            else:
                time.sleep(0.03)
        raise AssertionError(f"page stuck: {page.inner_text('body')[:300]!r}")

    def _count(self) -> int:
        """jsPsych trials finished so far on this page (0 before jsPsych runs)."""
        return int(self.page.evaluate("typeof jsPsych !== 'undefined' && jsPsych ? jsPsych.data.get().count() : 0"))

    def _wait_next(self, n: int) -> None:
        """Wait until the screen just answered has ended (jsPsych recorded one more trial)."""
        self.page.wait_for_function("n => jsPsych.data.get().count() > n", arg=n, timeout=10000)
