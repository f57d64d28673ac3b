"""What the 2AFC and questionnaire programs share: options, checks, the session record, the
trial loop (PsychoPy ExperimentHandler + TrialHandler2), breaks, abort and resume.

A task module supplies a `Task`: its images, instructions and how one trial runs. The runner
checks everything before touching a file (`experiment.session.plan_session`), opens the window
and preloads every image, then starts the session record and appends each completed trial with
`SessionWriter.append` (fsynced) before the next trial's stimulus appears.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from experiment import answers, counterbalance, geometry
from experiment.checks import Allowances, check_before_window, check_repeat, check_window, require_consent
from experiment.config import LabConfig, config_sha256, key_label, load_config, portable_path, short_key_label
from experiment.counterbalance import Counterbalance
from experiment.session import (SessionPlan, console_prompt, finish_from_disk, plan_session, session_is_complete,
                                session_is_started)
from experiment.simulate import MAX_REPRESSES, NO_PROGRESS_S, REPRESS_AFTER_S, scaled_program_times
from labutil.errors import ArgumentParser, UserError
from labutil.validate import non_negative_int, positive_int
from labutil.versions import software_versions
from participants.events import EventWriter, earlier_showings
from participants.layout import SessionWriter, session_label
from participants.registry import Registry

if TYPE_CHECKING:
    from experiment.display import Display

DEFAULT_DATA_ROOT = Path("lab_data")


class Task(Protocol):
    """One experiment program's part: the images it shows and how a trial runs."""

    name: str  # "2afc" | "questionnaire"

    def fixation_s(self, cfg: LabConfig) -> float: ...

    def break_every(self, cfg: LabConfig) -> int: ...

    def instructions(self, cfg: LabConfig) -> str: ...

    def debriefing(self, cfg: LabConfig) -> str: ...

    def image_ids(self, trial: dict[str, Any]) -> list[str]: ...

    def run_trial(self, ctx: RunContext, trial: dict[str, Any], footer: str) -> TrialResult:
        """Show the trial, collect the answers, flip to fixation."""
        ...


@dataclass(frozen=True)
class TrialResult:
    """A completed trial: its TSV row, and the times the runner needs (display clock)."""

    row: dict[str, Any]
    onset: float  # first stimulus onset flip
    response: float  # the last key press
    fixation_onset: float  # the flip that replaced the stimulus by the fixation cross


@dataclass
class RunContext:
    """Everything a running trial needs."""

    plan: SessionPlan
    cfg: LabConfig
    disp: Display
    images: dict[str, Any]
    t0: float  # display clock at the start of this attempt
    clock_offset: float  # session-clock seconds at t0 (continues across resumed attempts)
    writer: SessionWriter | None = None
    events: EventWriter | None = None
    attempt: int = 1
    counterbalance: Counterbalance = field(default_factory=lambda: Counterbalance(False, False, 0, "none"))
    completed: int = 0  # trials completed (appended) in this attempt
    difficulty: dict[str, str] = field(default_factory=dict)
    # (first stimulus onset, final key press, shown right after a pause screen), session clock, this attempt
    responses: list[tuple[float, float, bool]] = field(default_factory=list)
    # the trial on screen: every onset of its images (session clock, earlier attempts first), and
    # the answers given before its latest interruption
    _trial: int | None = None
    _onsets: list[float] = field(default_factory=list)
    _shown_here: int = 0
    _answers_now: dict[int, str] = field(default_factory=dict)
    _answered_before: dict[int, str] = field(default_factory=dict)
    _carried: tuple[int, list[float], dict[int, str]] | None = None  # a resumed trial's earlier showings

    def session_time(self, t_display: float) -> float:
        """Seconds on the session clock for a display-clock time."""
        return self.clock_offset + (t_display - self.t0)

    def reminder(self, template: str) -> str:
        """The key reminder of the trial screen, with the keys' short names."""
        k, q = self.cfg.keys, self.cfg.questionnaire
        return template.format(left=short_key_label(k.left), right=short_key_label(k.right),
                               quit=short_key_label(k.quit), proceed=short_key_label(k.proceed),
                               confirm_yes=short_key_label(k.confirm_yes), confirm_no=short_key_label(k.confirm_no),
                               ten_plus=short_key_label(q.ten_plus_key), back=short_key_label(q.back_key))

    def begin_trial(self, trial: dict[str, Any]) -> None:
        """A new trial: take over its earlier showings if an earlier attempt showed it."""
        t = int(trial["trial"])
        self._trial, self._onsets, self._shown_here = t, [], 0
        self._answers_now, self._answered_before = {}, {}
        if self._carried and self._carried[0] == t:
            self._onsets = list(self._carried[1])
            self._answered_before = dict(self._carried[2])

    def show_hook(self, trial: dict[str, Any]) -> Any:
        """The callback a task passes to `wait_keys`: logs every showing of the trial's images."""
        def hook(onset: float, reason: str) -> None:
            if reason == "first" and self._onsets and not self._shown_here:
                reason = "after_resume"
            elif reason != "first" and self._answers_now:
                self._answered_before = dict(self._answers_now)
            self._onsets.append(self.session_time(onset))
            self._shown_here += 1
            self.log_event("stimulus", onset, trial, value=reason)
        return hook

    def log_event(self, kind: str, t_display: float, trial: dict[str, Any] | None, question: int | None = None,
                  value: str | None = None, duration: float | None = None) -> None:
        """Append one event to the session's event log (and keep track of the answers given)."""
        if kind == "answer" and question is not None and value is not None:
            self._answers_now[question] = value
        elif kind == "back" and question is not None:
            self._answers_now.pop(question, None)
        if self.events is None:
            return
        self.events.add(onset=self.session_time(t_display), duration=duration, trial_type=kind,
                        attempt=self.attempt, trial=None if trial is None else int(trial["trial"]),
                        phase=None if trial is None else trial["phase"], question=question, value=value)

    def finish_row(self, row: dict[str, Any], frame_intervals: list[float]) -> dict[str, Any]:
        """The row with the columns the runner knows: showings, frames (and answers given before)."""
        period = 1.0 / self.cfg.monitor.frame_rate_hz
        out = {**row, "n_shown": len(self._onsets), "onsets": ";".join(f"{v:.6f}" for v in self._onsets),
               "n_frames": len(frame_intervals),
               "dropped_frames": sum(1 for v in frame_intervals if v > 1.5 * period)}
        if self.plan.task == "questionnaire":
            out["answered_before"] = ";".join(self._answered_before[q] for q in sorted(self._answered_before)) or None
        return out


# ------------------------------------------------------------------------------------------- CLI


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument("--participant", help="registered participant id, e.g. sub-001 (asked in a dialog if left out)")
    p.add_argument("--session", type=positive_int, help="session number, e.g. 1 (asked in a dialog if left out)")
    p.add_argument("--stimuli", type=Path, help="stimulus set folder, e.g. stimulus_sets/demo-2afc "
                   "(asked in a dialog if left out); it is verified before the session starts")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT,
                   help="lab data root holding participants.tsv and the sessions (default: %(default)s)")
    p.add_argument("--private-root", type=Path, default=None,
                   help="the registry's restricted folder; only checked to lie outside the data root "
                        "(default: lab_private)")
    p.add_argument("--config", type=Path, default=None,
                   help="lab configuration TOML overriding the defaults of experiment/lab.toml "
                        "(monitor, keys, texts, timing)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the trial order (default: derived from participant, session and task; "
                        "recorded in the sidecar)")
    p.add_argument("--skip-if-complete", action="store_true",
                   help="exit successfully without doing anything if this session is already complete "
                        "(for scripts that may be re-run, e.g. the demo)")
    p.add_argument("--resume-if-started", action="store_true",
                   help="resume the session when an earlier run left it incomplete (killed, aborted, stalled), "
                        "start it otherwise (for scripts that may be re-run after an interruption, e.g. the demo)")
    p.add_argument("--resume", action="store_true",
                   help="continue an incomplete or aborted session with its next trial in the recorded order "
                        "(without it you are asked on the console; required with --simulate or no terminal)")
    p.add_argument("--pilot", action="store_true",
                   help="pilot run: windowed, with PsychoPy's piloting indicator, and the display checks relaxed "
                        "(recorded as deviations); the sidecar records Pilot: true")
    p.add_argument("--allow-windowed", action="store_true",
                   help="run a session with monitor.fullscreen = false (refused without it outside --pilot); recorded")
    p.add_argument("--no-calibration", action="store_true",
                   help="run although monitor.name has no psychopy.monitors calibration (refused without it "
                        "outside --pilot); recorded")
    p.add_argument("--allow-frame-rate-mismatch", action="store_true",
                   help="run although the measured refresh rate is more than 5 %% off monitor.frame_rate_hz (e.g. a "
                        "display without vsync such as Xvfb, where flips are paced to the nominal rate); recorded")
    p.add_argument("--allow-repeat", action="store_true",
                   help="run although the participant already saw this stimulus set in another session; recorded")
    p.add_argument("--mirror", choices=counterbalance.MODES, default="auto",
                   help="2AFC: show the set's pairs mirrored: auto (half of the observers, by participant number; "
                        "see two_afc.counterbalance_sides), yes or no (default: %(default)s); recorded")
    p.add_argument("--simulate", metavar="OBSERVER", default=None,
                   help="let a simulated observer press the keys through XTEST: a named observer "
                        "(typical, expert, guesser, left-biased, slow, demo) or a .toml/.json spec "
                        "(see docs/experiment.md)")
    p.add_argument("--sim-seed", type=non_negative_int, default=None,
                   help="seed of the simulated observer (default: derived from the order seed and observer)")
    p.add_argument("--sim-rt-scale", type=float, default=1.0,
                   help="multiply the simulated observer's response and reading times, and the program's fixation "
                        "and feedback times (recorded in the sidecar's LabConfig), e.g. 0.05 for a fast demo")
    p.add_argument("--sim-repress-after", type=float, default=REPRESS_AFTER_S, metavar="SECONDS",
                   help="press a simulated key again when no new screen followed it for this long (a press "
                        f"lost under load; at most {MAX_REPRESSES} times; default: %(default)s)")
    p.add_argument("--sim-timeout", type=float, default=NO_PROGRESS_S, metavar="SECONDS",
                   help="end a simulated session (saved, resumable) when no new screen followed a key press "
                        "for this long (default: %(default)s)")
    return p


def fill_from_dialog(args: argparse.Namespace, task: str) -> None:
    """Ask for participant, session and stimuli in a PsychoPy dialog when any is missing."""
    if args.participant is not None and args.session is not None and args.stimuli is not None:
        return
    if args.simulate:
        raise UserError("--participant, --session and --stimuli are required with --simulate")
    from psychopy import gui

    info: dict[str, Any] = {"participant": args.participant or "sub-", "session": 1 if args.session is None else args.session,
                            "stimuli": str(args.stimuli or "")}
    dlg = gui.DlgFromDict(info, title=f"trivial or impossible: {task}", order=["participant", "session", "stimuli"])
    if not dlg.OK:
        raise UserError("session dialog cancelled")
    args.participant = str(info["participant"]).strip()
    try:
        args.session = int(info["session"])
    except ValueError:
        raise UserError(f"session '{info['session']}' must be a number") from None
    args.stimuli = Path(str(info["stimuli"]).strip())


def derived_seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


# ------------------------------------------------------------------------------------------- run


def run_program(task: Task, argv: Sequence[str] | None, prog: str, description: str) -> int:
    """Parse options, check everything, run the session; returns the exit status."""
    args = build_parser(prog, description).parse_args(argv)
    cfg = load_config(args.config)
    fill_from_dialog(args, task.name)
    if args.skip_if_complete and session_is_complete(args.data_root, args.participant, args.session, task.name):
        print(f"{args.participant} session {args.session} ({task.name}) is already complete: nothing to do")
        return 0
    simulator = _prepare_simulation(args)  # checked before anything else, so a bad spec changes nothing
    if simulator is not None:
        cfg = scaled_program_times(cfg, args.sim_rt_scale)
    if args.resume_if_started:
        args.resume = session_is_started(args.data_root, args.participant, args.session, task.name)
    plan = plan_session(task.name, args.data_root, args.participant, args.session, args.stimuli,
                        seed=args.seed, resume=args.resume, prompt=None if args.simulate else console_prompt,
                        private_root=args.private_root)
    if not plan.remaining:  # every trial is on disk; only the final status write was lost
        finish_from_disk(plan)
        print(f"session complete: {plan.tsv} ({len(plan.done)} trials, finished from the rows on disk)")
        return 0
    setup = _check_setup(task, plan, cfg, args)
    if setup.counterbalance.swap_keys:
        cfg = replace(cfg, keys=replace(cfg.keys, left=cfg.keys.right, right=cfg.keys.left))
    listener, simulation = _make_listener(args, cfg, plan, simulator)
    try:
        return _run(task, plan, cfg, args, listener, simulation, setup)
    finally:
        listener.close()


@dataclass
class Setup:
    """What the checks before the window found and allowed."""

    allow: Allowances
    consent: dict[str, str]
    repeat_of: list[str]
    calibration: dict[str, Any] | None
    counterbalance: Counterbalance


def _check_setup(task: Task, plan: SessionPlan, cfg: LabConfig, args: argparse.Namespace) -> Setup:
    """Consent, repeats, full screen and calibration (refused here, before any file or window), and
    the observer's counterbalancing."""
    allow = Allowances.from_args(args)
    registry = Registry(plan.data_root, args.private_root)
    consent = require_consent(registry, plan.participant)
    s = plan.stimset
    repeat_of = [] if plan.resume else check_repeat(registry, plan.participant, plan.session, s.name,
                                                    s.tables_sha256, allow)
    calibration = check_before_window(cfg, allow)
    recorded = plan.meta.get("Counterbalancing") if plan.resume else None
    if task.name != "2afc":
        cb = Counterbalance(False, False, 0, "not used by this task")
    elif isinstance(recorded, dict):
        cb = counterbalance.from_sidecar(recorded)
        if args.mirror != "auto" and (args.mirror == "yes") != cb.mirror:
            raise UserError(f"--mirror {args.mirror}: the session was started with MirrorSides {cb.mirror}; "
                            "resume without --mirror")
    else:
        cb = counterbalance.assign(plan.participant, s.tables_sha256, cfg.two_afc.counterbalance_sides,
                                   cfg.two_afc.swap_keys, args.mirror)
    return Setup(allow, consent, repeat_of, calibration, cb)


def _prepare_simulation(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """The observer model and an XTEST connection for --simulate (None without it)."""
    if not args.simulate:
        return None
    from experiment.observers import load_observer
    from experiment.xkeys import KeyPresser

    model = load_observer(args.simulate)
    if not 0 < args.sim_rt_scale <= 10:
        raise UserError(f"--sim-rt-scale {args.sim_rt_scale}: must be in (0, 10]")
    if not 0.1 <= args.sim_repress_after <= 3600:
        raise UserError(f"--sim-repress-after {args.sim_repress_after}: must be between 0.1 and 3600 seconds")
    if not 1 <= args.sim_timeout <= 86400:
        raise UserError(f"--sim-timeout {args.sim_timeout}: must be between 1 and 86400 seconds")
    return model, KeyPresser()


def _make_listener(args: argparse.Namespace, cfg: LabConfig, plan: SessionPlan,
                   simulator: tuple[Any, Any] | None) -> tuple[Any, dict[str, Any] | None]:
    """Who presses the keys: nobody simulated (a human), or a simulated observer seeded from the plan."""
    from experiment.simulate import NoListener, SimulatedObserver

    if simulator is None:
        return NoListener(), None
    from experiment.observers import ObserverPolicy

    model, presser = simulator
    seed = args.sim_seed if args.sim_seed is not None else derived_seed(plan.seed, model.name, len(plan.done))
    policy = ObserverPolicy(model, seed, args.sim_rt_scale)
    observer = SimulatedObserver(policy, cfg, presser, repress_after_s=args.sim_repress_after,
                                 no_progress_s=args.sim_timeout)
    return observer, {"Observer": model.as_dict(), "Seed": seed, "RTScale": args.sim_rt_scale}


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _run(task: Task, plan: SessionPlan, cfg: LabConfig, args: argparse.Namespace, listener: Any,
         simulation: dict[str, Any] | None, setup: Setup) -> int:
    from psychopy import data, logging

    from experiment.display import Aborted, Display
    from experiment.psychopy_csv import TrialCsv

    logging.console.setLevel(logging.ERROR)
    disp = Display(cfg, args.pilot, listener)
    try:
        window_px = (int(disp.win.size[0]), int(disp.win.size[1]))
        check_window(cfg, window_px, disp.measured_frame_period, setup.allow)  # refused: nothing written
        trials = plan.trials_by_number
        needed = sorted({s for t in plan.remaining for s in task.image_ids(trials[t])})
        t_pre = time.perf_counter()
        images = disp.load_images({s: plan.stimset.image_path(s) for s in needed})
        native = tuple(int(round(v)) for v in images[needed[0]].size)
        geo = geometry.measure(cfg.monitor, window_px, disp.fullscreen, native)  # type: ignore[arg-type]
        if cfg.monitor.image_size_deg > 0:
            disp.scale_images(images, geo.image_px)
        preload_s = time.perf_counter() - t_pre

        # From here on files are written.
        if not plan.resume:
            Registry(plan.data_root, args.private_root).claim_session(plan.participant, plan.session)
        old = plan.meta
        attempts = list(old.get("Attempts", []))
        started_wall = time.time()
        first_wall = old.get("SessionStartedUnix", started_wall)
        frame_rate = 1.0 / disp.measured_frame_period if disp.measured_frame_period > 0 else None
        attempt = {
            "Attempt": len(attempts) + 1, "Started": _now_iso(), "FirstTrialIndex": len(plan.done),
            "Pilot": bool(args.pilot), "Simulation": simulation, "WindowSizePx": list(window_px),
            "Fullscreen": disp.fullscreen, "Geometry": geo.as_sidecar(),
            "ExplicitOptions": setup.allow.as_dict(), "Deviations": list(setup.allow.deviations),
            "Calibration": setup.calibration, "GammaApplied": disp.gamma_record(),
            "PreloadSeconds": round(preload_s, 4), "PreloadedImages": len(images),
            "MeasuredFramePeriodMs": _ms(disp.measured_frame_period),
            "MeasuredFrameRateHz": None if frame_rate is None else round(frame_rate, 3),
            "PacedToNominalRate": disp.paced,
        }
        attempts.append(attempt)
        writer = SessionWriter(plan.tsv, task.name, extended=True)
        writer.start(_sidecar_fields(plan, cfg, task, geo, setup, attempts, first_wall, old))
        events = EventWriter(plan.tsv)
        events.start()
        _complete_earlier_csvs(plan, attempts, list(writer.columns))
        stem = plan.tsv.name[: -len("_beh.tsv")] + f"_attempt-{attempt['Attempt']:02d}_psychopy"
        beh = plan.tsv.parent
        info = {"participant": plan.participant, "session": plan.session, "date": data.getDateStr(),
                "expName": f"trivial-or-impossible-{task.name}", "psychopyVersion": _psychopy_version(),
                "frameRate": None if frame_rate is None else round(frame_rate, 3), "attempt": attempt["Attempt"],
                "pilot": bool(args.pilot), "simulated": simulation is not None}
        csv_out = TrialCsv(beh / f"{stem}.csv", list(writer.columns), info)
        module_file = getattr(sys.modules.get(type(task).__module__), "__file__", None) or __file__
        exp = data.ExperimentHandler(
            name=info["expName"], version=_version(), extraInfo=dict(info), runtimeInfo=None,
            originPath=portable_path(module_file), savePickle=False, saveWideText=False, dataFileName=stem,
        )
        logging.LogFile(str(beh / f"{stem}.log"), level=logging.EXP, filemode="w")
        logging.exp(f"session {plan.participant} {session_label(plan.session)} task-{task.name} attempt "
                    f"{attempt['Attempt']}: preloaded {len(images)} images in {preload_s:.3f} s")
        t0 = disp.now()
        ctx = RunContext(plan, cfg, disp, images, t0, started_wall - first_wall, writer=writer, events=events,
                         attempt=attempt["Attempt"], counterbalance=setup.counterbalance,
                         difficulty=dict(zip(plan.stimset.stimuli["stim_id"], plan.stimset.stimuli["difficulty"])))
        if plan.resume and plan.remaining:
            onsets, given = earlier_showings(plan.tsv, plan.remaining[0])
            ctx._carried = (plan.remaining[0], onsets, given)
        disp.event_hook = lambda kind, onset, dur: ctx.log_event(kind, onset, None, duration=dur)
        status = "incomplete"
        try:
            _session(task, ctx, exp, csv_out)
            status = "complete"
        except Aborted:
            status = "aborted"
        finally:
            if simulation is not None:  # keys pressed again after no new screen came (lost presses)
                simulation["Represses"] = [list(r) for r in getattr(listener, "represses", [])]
            attempt.update({"Ended": _now_iso(), "Status": status if status != "incomplete" else "crashed",
                            "TrialsCompleted": ctx.completed, "Timing": _timing(ctx, task)})
            logging.exp(f"attempt ended: {attempt['Status']}; timing {attempt['Timing']}")
            logging.warning(_timing_summary(attempt["Timing"]))
            writer.set_status(status, Attempts=attempts, Timing=attempt["Timing"],
                              TrialsCompleted=len(plan.done) + ctx.completed)
            exp.saveAsPickle(str(beh / stem))
            exp.abort()
            logging.flush()
        done = len(plan.done) + ctx.completed
        counts = _Counts(plan)
        if status == "complete":
            print(f"session complete: {plan.tsv} ({done} trials)")
            print(_timing_summary(attempt["Timing"]), flush=True)
            disp.text_screen(_fill(task.debriefing(cfg), cfg, counts), "end")
        else:
            print(f"session aborted after {done} of {len(plan.order)} trials: {plan.tsv} "
                  "(continue it with --resume)")
            disp.text_screen(f"Session saved.\n\n{counts.done_text(done)}\n\nThe experimenter can continue "
                             f"the session later.\n\nPress {key_label(cfg.keys.proceed)} to close.", "saved",
                             {"done": done, "of": len(plan.order)}, allow_quit=False)
        return 0
    except Aborted:  # quit confirmed on the end screen: the session is already saved
        return 0
    finally:
        disp.close()


@dataclass(frozen=True)
class _Counts:
    """How trials are counted on every screen: practice k of P, then test trial k of T."""

    practice: list[int]
    test: list[int]
    task: str

    def __init__(self, plan: SessionPlan) -> None:
        object.__setattr__(self, "task", plan.task)
        phases = {t: plan.trials_by_number[t]["phase"] for t in plan.order}
        object.__setattr__(self, "practice", [t for t in plan.order if phases[t] == "practice"])
        object.__setattr__(self, "test", [t for t in plan.order if phases[t] == "test"])

    def label(self, trial: int) -> str:
        """`practice trial 2 of 4` or `trial 13 of 149` (test trials)."""
        if trial in self.practice:
            return f"practice trial {self.practice.index(trial) + 1} of {len(self.practice)}"
        return f"trial {self.test.index(trial) + 1} of {len(self.test)}"

    def done_text(self, done: int) -> str:
        """What is done after `done` trials of the order, in the same counting."""
        if done <= len(self.practice):
            return f"{done} of {len(self.practice)} practice trials done; the {len(self.test)} test trials are still to come."
        return f"{done - len(self.practice)} of {len(self.test)} test trials done."


def _fill(template: str, cfg: LabConfig, counts: _Counts, every: int = 0) -> str:
    """A configured text with its key names and session facts filled in."""
    k, q = cfg.keys, cfg.questionnaire
    n_test = len(counts.test)
    unit = "images" if counts.task == "questionnaire" else "test trials"
    breaks = (f"with a short break after every {every} {unit}" if 0 < every < n_test else "without breaks")
    return template.format(
        left=key_label(k.left), right=key_label(k.right), quit=key_label(k.quit), proceed=key_label(k.proceed),
        confirm_yes=key_label(k.confirm_yes), confirm_no=key_label(k.confirm_no),
        ten_plus=key_label(q.ten_plus_key), back=key_label(q.back_key),
        n_trials=len(counts.practice) + n_test, n_practice=len(counts.practice), n_test=n_test,
        break_every=every, breaks=breaks, q1_options=answers.options_text(cfg, 1),
        q2_options=answers.options_text(cfg, 2), q3_options=answers.options_text(cfg, 3))


def _session(task: Task, ctx: RunContext, exp: Any, csv_out: Any) -> None:
    """Instructions, the practice and test loops with their breaks."""
    from psychopy import data
    from labutil.progress import progress

    plan, cfg, disp = ctx.plan, ctx.cfg, ctx.disp
    trials = plan.trials_by_number
    counts = _Counts(plan)
    k = cfg.keys
    every = task.break_every(cfg)
    text = _fill(task.instructions(cfg), cfg, counts, every)
    if plan.done:
        text = (f"Welcome back. The session continues with {counts.label(plan.remaining[0])}.\n\n" + text)
    disp.text_screen(text, "instructions", {"resume": int(bool(plan.done))})
    fix_t = disp.show_fixation()
    pause_before = True
    with progress(total=len(plan.order), initial=len(plan.done), desc=f"{plan.participant} {task.name}",
              unit="trial", file=sys.stderr) as bar:
        for phase, all_of_phase in (("practice", counts.practice), ("test", counts.test)):
            rows = [trials[t] for t in plan.remaining if trials[t]["phase"] == phase]
            if not rows:
                continue
            if phase == "test" and counts.practice and rows[0]["trial"] == counts.test[0]:
                disp.text_screen(f"The {len(counts.practice)} practice trials are over; the {len(counts.test)} "
                                 f"test trials start now.\n\nPress {key_label(k.proceed)} to start.", "practice_done")
                fix_t, pause_before = disp.show_fixation(), True
            loop = data.TrialHandler2(rows, 1, method="sequential", name=phase, originPath=-1)
            exp.addLoop(loop)
            disp.record_frames(True)
            for _ in loop:
                trial = rows[loop.thisN]
                pos = all_of_phase.index(int(trial["trial"])) + 1
                footer = counts.label(int(trial["trial"]))
                disp.hold_fixation(fix_t, task.fixation_s(cfg))
                ctx.begin_trial(trial)
                f0 = disp.frame_count()
                result = task.run_trial(ctx, trial, footer)
                frames = disp.frames_since(f0)
                row = ctx.finish_row(result.row, frames)
                ctx.writer.append(row)  # fsynced before the next stimulus onset
                csv_out.append(row, frames, phase, loop.thisN)
                fix_t = result.fixation_onset
                for key, value in row.items():
                    if key not in trial:
                        loop.addData(key, value)
                exp.nextEntry()
                ctx.completed += 1
                bar.update(1)
                ctx.responses.append((ctx.session_time(result.onset), ctx.session_time(result.response),
                                      pause_before))
                pause_before = False
                if phase == "test" and every and pos % every == 0 and pos < len(all_of_phase):
                    disp.text_screen(f"Time for a short break.\n\n{pos} of {len(all_of_phase)} test trials done.\n\n"
                                     f"Press {key_label(k.proceed)} to continue.", "break",
                                     {"done": pos, "of": len(all_of_phase)})
                    fix_t, pause_before = disp.show_fixation(), True
            disp.record_frames(False)


def _timing(ctx: RunContext, task: Task) -> dict[str, Any]:
    """Frame statistics and the response-to-next-onset gaps of this attempt; the gaps run from a
    response to the next trial's first onset, so a quit confirmation inside a trial never counts,
    and gaps across a break or instruction screen are left out."""
    out: dict[str, Any] = dict(ctx.disp.frame_stats())
    gaps = []
    for (_, resp0, _), (on1, _, paused) in zip(ctx.responses, ctx.responses[1:]):
        if not paused:
            gaps.append(on1 - resp0)
    out["FixationS"] = task.fixation_s(ctx.cfg)
    if gaps:
        out["ResponseToNextOnsetS"] = {
            "n": len(gaps), "median": round(statistics.median(gaps), 6),
            "min": round(min(gaps), 6), "max": round(max(gaps), 6),
        }
    pauses = ctx.disp.quit_pauses
    out["QuitConfirmations"] = {"n": len(pauses), "TotalS": round(sum(pauses), 3)}
    return out


def _timing_summary(timing: dict[str, Any]) -> str:
    """One line for the console and the log: dropped frames and the response-to-onset gap."""
    text = f"timing: {timing.get('DroppedFrames', 0)} dropped of {timing.get('FramesRecorded', 0)} frames"
    gap = timing.get("ResponseToNextOnsetS")
    if gap:
        text += (f"; response to next onset median {gap['median'] * 1000:.1f} ms (fixation "
                 f"{timing['FixationS'] * 1000:.0f} ms, max {gap['max'] * 1000:.1f} ms)")
    return text


def _sidecar_fields(plan: SessionPlan, cfg: LabConfig, task: Task, geo: geometry.Geometry, setup: Setup,
                    attempts: list[dict[str, Any]], first_wall: float, old: dict[str, Any]) -> dict[str, Any]:
    s = plan.stimset
    g = geo.as_sidecar()
    return {
        "TaskName": task.name,
        "SessionStatus": "incomplete",
        "ExpectedTrials": len(plan.order),
        "StimulusSet": {"Name": s.name, "Path": portable_path(s.path), "Kind": s.kind,
                        "TablesSHA256": s.tables_sha256, "SetSeed": s.meta.get("seed")},
        "TrialOrder": plan.order,
        "TrialOrderSeed": plan.seed,
        "LabConfig": cfg.as_dict(),
        "LabConfigSHA256": config_sha256(cfg),
        "ImageSizePx": g["ImageSizePx"],
        "ImageSizeDeg": g["ImageSizeDeg"],
        "ImageSizeDegMethod": geometry.METHOD,
        "PixelsPerDegree": g["PixelsPerDegree"],
        "Geometry": g,
        "Counterbalancing": setup.counterbalance.as_sidecar(),
        "Consent": {"Recorded": True, "FormVersion": setup.consent.get("form_version"),
                    "Date": setup.consent.get("date")},
        "RepeatOf": sorted(set(old.get("RepeatOf", [])) | set(setup.repeat_of)),
        "Deviations": [d for a in attempts for d in a.get("Deviations", [])],
        "Pilot": bool(old.get("Pilot", False)) or any(a.get("Pilot") for a in attempts),
        "Simulated": bool(old.get("Simulated", False)) or any(a.get("Simulation") for a in attempts),
        "SessionStartedUnix": first_wall,
        "Software": software_versions(extra=("python-xlib", "psychtoolbox")),
        "Attempts": attempts,
    }


def _complete_earlier_csvs(plan: SessionPlan, attempts: list[dict[str, Any]], columns: list[str]) -> None:
    """Give each earlier attempt's PsychoPy csv a row for every trial it completed (rebuilt from the
    BIDS rows where a kill came between the two writes)."""
    from experiment.psychopy_csv import complete_from_rows

    if len(attempts) < 2:
        return
    lines = plan.tsv.read_text(encoding="utf-8").split("\n")
    header, body = lines[0].split("\t"), [dict(zip(lines[0].split("\t"), ln.split("\t"))) for ln in lines[1:-1]]
    starts = [int(a.get("FirstTrialIndex", 0)) for a in attempts]
    software = plan.meta.get("Software", {})
    for a, lo, hi in zip(attempts[:-1], starts, starts[1:]):
        stem = plan.tsv.name[: -len("_beh.tsv")] + f"_attempt-{int(a['Attempt']):02d}_psychopy.csv"
        info = {"participant": plan.participant, "session": plan.session, "date": a.get("Started"),
                "expName": f"trivial-or-impossible-{plan.task}", "psychopyVersion": software.get("psychopy"),
                "frameRate": a.get("MeasuredFrameRateHz"), "attempt": a.get("Attempt"),
                "pilot": int(bool(a.get("Pilot"))), "simulated": int(bool(a.get("Simulation")))}
        complete_from_rows(plan.tsv.parent / stem, [c for c in header if c], body[lo:hi], info)


def _psychopy_version() -> str:
    import psychopy

    return str(psychopy.__version__)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1000, 3)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("trivial-or-impossible")
    except metadata.PackageNotFoundError:
        return "unknown"
