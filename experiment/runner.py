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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from experiment.config import LabConfig, config_sha256, key_label, load_config, visual_angle_deg
from experiment.session import SessionPlan, console_prompt, plan_session, session_is_complete
from labutil.errors import ArgumentParser, UserError
from labutil.validate import non_negative_int, positive_int
from labutil.versions import software_versions
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
    completed: int = 0  # trials completed (appended) in this attempt
    difficulty: dict[str, str] = field(default_factory=dict)
    # (stimulus onset, final key press, shown right after a pause screen), session clock, this attempt
    responses: list[tuple[float, float, bool]] = field(default_factory=list)

    def session_time(self, t_display: float) -> float:
        """Seconds on the session clock for a display-clock time."""
        return self.clock_offset + (t_display - self.t0)


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
    p.add_argument("--resume", action="store_true",
                   help="continue an incomplete or aborted session with its next trial in the recorded order "
                        "(without it you are asked on the console; required with --simulate or no terminal)")
    p.add_argument("--pilot", action="store_true",
                   help="pilot run: windowed, with PsychoPy's piloting indicator; the sidecar records Pilot: true")
    p.add_argument("--simulate", metavar="OBSERVER", default=None,
                   help="let a simulated observer press the keys through XTEST: a named observer "
                        "(typical, expert, guesser, left-biased, slow, demo) or a .toml/.json spec "
                        "(see docs/experiment.md)")
    p.add_argument("--sim-seed", type=non_negative_int, default=None,
                   help="seed of the simulated observer (default: derived from the order seed and observer)")
    p.add_argument("--sim-rt-scale", type=float, default=1.0,
                   help="multiply the simulated observer's response and reading times (e.g. 0.05 for a fast demo)")
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
    plan = plan_session(task.name, args.data_root, args.participant, args.session, args.stimuli,
                        seed=args.seed, resume=args.resume, prompt=None if args.simulate else console_prompt,
                        private_root=args.private_root)
    listener, simulation = _make_listener(args, cfg, plan, simulator)
    try:
        return _run(task, plan, cfg, args, listener, simulation)
    finally:
        listener.close()


def _prepare_simulation(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """The observer model and an XTEST connection for --simulate (None without it)."""
    if not args.simulate:
        return None
    from experiment.observers import load_observer
    from experiment.xkeys import KeyPresser

    model = load_observer(args.simulate)
    if not 0 < args.sim_rt_scale <= 10:
        raise UserError(f"--sim-rt-scale {args.sim_rt_scale}: must be in (0, 10]")
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
    return SimulatedObserver(policy, cfg, presser), {"Observer": model.as_dict(), "Seed": seed,
                                                     "RTScale": args.sim_rt_scale}


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _run(task: Task, plan: SessionPlan, cfg: LabConfig, args: argparse.Namespace, listener: Any,
         simulation: dict[str, Any] | None) -> int:
    from psychopy import data, logging

    from experiment.display import Aborted, Display

    logging.console.setLevel(logging.ERROR)
    disp = Display(cfg, args.pilot, listener)
    try:
        trials = plan.trials_by_number
        needed = sorted({s for t in plan.remaining for s in task.image_ids(trials[t])})
        t_pre = time.perf_counter()
        images = disp.load_images({s: plan.stimset.image_path(s) for s in needed})
        preload_s = time.perf_counter() - t_pre
        first = images[needed[0]]
        size_px = [int(round(v)) for v in first.size]
        mon = cfg.monitor
        size_deg = visual_angle_deg(size_px[0], mon.width_cm, mon.resolution_px[0], mon.distance_cm)

        # From here on files are written.
        if not plan.resume:
            Registry(plan.data_root, args.private_root).claim_session(plan.participant, plan.session)
        old = plan.meta
        attempts = list(old.get("Attempts", []))
        started_wall = time.time()
        first_wall = old.get("SessionStartedUnix", started_wall)
        attempt = {
            "Attempt": len(attempts) + 1, "Started": _now_iso(), "FirstTrialIndex": len(plan.done),
            "Pilot": bool(args.pilot), "Simulation": simulation, "WindowSizePx": [int(v) for v in disp.win.size],
            "Fullscreen": disp.fullscreen, "PreloadSeconds": round(preload_s, 4),
            "PreloadedImages": len(images), "MeasuredFramePeriodMs": _ms(disp.measured_frame_period),
            "PacedToNominalRate": disp.paced,
        }
        attempts.append(attempt)
        writer = SessionWriter(plan.tsv, task.name)
        writer.start(_sidecar_fields(plan, cfg, task, size_px, size_deg, attempts, first_wall, old))
        stem = plan.tsv.name[: -len("_beh.tsv")] + f"_attempt-{attempt['Attempt']:02d}_psychopy"
        beh = plan.tsv.parent
        exp = data.ExperimentHandler(
            name=f"trivial-or-impossible-{task.name}", version=_version(),
            extraInfo={"participant": plan.participant, "session": plan.session, "attempt": attempt["Attempt"],
                       "pilot": bool(args.pilot), "simulated": simulation is not None},
            runtimeInfo=None, originPath=str(Path(__file__).resolve()), savePickle=True, saveWideText=True,
            dataFileName=str(beh / stem),
        )
        logging.LogFile(str(beh / f"{stem}.log"), level=logging.EXP, filemode="w")
        logging.exp(f"session {plan.participant} {session_label(plan.session)} task-{task.name} attempt "
                    f"{attempt['Attempt']}: preloaded {len(images)} images in {preload_s:.3f} s")
        t0 = disp.now()
        ctx = RunContext(plan, cfg, disp, images, t0, started_wall - first_wall, writer=writer,
                         difficulty=dict(zip(plan.stimset.stimuli["stim_id"], plan.stimset.stimuli["difficulty"])))
        status = "incomplete"
        try:
            _session(task, ctx, exp)
            status = "complete"
        except Aborted:
            status = "aborted"
        finally:
            attempt.update({"Ended": _now_iso(), "Status": status if status != "incomplete" else "crashed",
                            "TrialsCompleted": ctx.completed, "Timing": _timing(ctx, task)})
            logging.exp(f"attempt ended: {attempt['Status']}; timing {attempt['Timing']}")
            logging.warning(_timing_summary(attempt["Timing"]))
            writer.set_status(status, Attempts=attempts, Timing=attempt["Timing"],
                              TrialsCompleted=len(plan.done) + ctx.completed)
            exp.close()
            logging.flush()
        done = len(plan.done) + ctx.completed
        if status == "complete":
            print(f"session complete: {plan.tsv} ({done} trials)")
            print(_timing_summary(attempt["Timing"]), flush=True)
            disp.text_screen("Thank you!\n\nThe session is complete.\n\n"
                             f"Press {key_label(cfg.keys.proceed)} to finish.", "end")
        else:
            print(f"session aborted after {done} of {len(plan.order)} trials: {plan.tsv} "
                  "(continue it with --resume)")
        return 0
    except Aborted:  # quit confirmed on the end screen: the session is already saved
        return 0
    finally:
        disp.close()


def _session(task: Task, ctx: RunContext, exp: Any) -> None:
    """Instructions, the practice and test loops with their breaks."""
    from psychopy import data
    from tqdm import tqdm

    plan, cfg, disp = ctx.plan, ctx.cfg, ctx.disp
    trials = plan.trials_by_number
    phases = {t: trials[t]["phase"] for t in plan.order}
    practice_all = [t for t in plan.order if phases[t] == "practice"]
    test_all = [t for t in plan.order if phases[t] == "test"]
    k = cfg.keys
    text = task.instructions(cfg).format(
        left=key_label(k.left), right=key_label(k.right), quit=key_label(k.quit), proceed=key_label(k.proceed),
        confirm_yes=key_label(k.confirm_yes), confirm_no=key_label(k.confirm_no),
        ten_plus=key_label(cfg.questionnaire.ten_plus_key))
    if plan.done:
        text = (f"Welcome back. The session continues with trial {len(plan.done) + 1} of {len(plan.order)}.\n\n"
                + text)
    disp.text_screen(text, "instructions", {"resume": int(bool(plan.done))})
    fix_t = disp.show_fixation()
    pause_before = True
    with tqdm(total=len(plan.order), initial=len(plan.done), desc=f"{plan.participant} {task.name}",
              unit="trial", file=sys.stderr) as bar:
        for phase, all_of_phase in (("practice", practice_all), ("test", test_all)):
            rows = [trials[t] for t in plan.remaining if phases[t] == phase]
            if not rows:
                continue
            if phase == "test" and practice_all and rows[0]["trial"] == test_all[0]:
                disp.text_screen("The practice trials are over; the test trials start now.\n\n"
                                 f"Press {key_label(k.proceed)} to start.", "practice_done")
                fix_t, pause_before = disp.show_fixation(), True
            loop = data.TrialHandler2(rows, 1, method="sequential", name=phase)
            exp.addLoop(loop)
            disp.record_frames(True)
            for _ in loop:
                trial = rows[loop.thisN]
                pos = all_of_phase.index(int(trial["trial"])) + 1
                footer = f"{'practice ' if phase == 'practice' else ''}{pos} / {len(all_of_phase)}"
                disp.hold_fixation(fix_t, task.fixation_s(cfg))
                result = task.run_trial(ctx, trial, footer)
                ctx.writer.append(result.row)  # fsynced before the next stimulus onset
                fix_t = result.fixation_onset
                for key, value in result.row.items():
                    if key not in trial:
                        loop.addData(key, value)
                exp.nextEntry()
                ctx.completed += 1
                bar.update(1)
                ctx.responses.append((ctx.session_time(result.onset), ctx.session_time(result.response),
                                      pause_before))
                pause_before = False
                every = task.break_every(cfg)
                if phase == "test" and every and pos % every == 0 and pos < len(all_of_phase):
                    disp.text_screen(f"Time for a short break.\n\n{pos} of {len(all_of_phase)} done.\n\n"
                                     f"Press {key_label(k.proceed)} to continue.", "break",
                                     {"done": pos, "of": len(all_of_phase)})
                    fix_t, pause_before = disp.show_fixation(), True
            disp.record_frames(False)


def _timing(ctx: RunContext, task: Task) -> dict[str, Any]:
    """Frame statistics and the response-to-next-onset gaps of this attempt."""
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
    return out


def _timing_summary(timing: dict[str, Any]) -> str:
    """One line for the console and the log: dropped frames and the response-to-onset gap."""
    text = f"timing: {timing.get('DroppedFrames', 0)} dropped of {timing.get('FramesRecorded', 0)} frames"
    gap = timing.get("ResponseToNextOnsetS")
    if gap:
        text += (f"; response to next onset median {gap['median'] * 1000:.1f} ms (fixation "
                 f"{timing['FixationS'] * 1000:.0f} ms, max {gap['max'] * 1000:.1f} ms)")
    return text


def _sidecar_fields(plan: SessionPlan, cfg: LabConfig, task: Task, size_px: list[int], size_deg: float,
                    attempts: list[dict[str, Any]], first_wall: float, old: dict[str, Any]) -> dict[str, Any]:
    s = plan.stimset
    return {
        "TaskName": task.name,
        "SessionStatus": "incomplete",
        "ExpectedTrials": len(plan.order),
        "StimulusSet": {"Name": s.name, "Path": str(s.path.resolve()), "Kind": s.kind,
                        "TablesSHA256": s.tables_sha256, "SetSeed": s.meta.get("seed")},
        "TrialOrder": plan.order,
        "TrialOrderSeed": plan.seed,
        "LabConfig": cfg.as_dict(),
        "LabConfigSHA256": config_sha256(cfg),
        "ImageSizePx": size_px,
        "ImageSizeDeg": round(size_deg, 4),
        "ImageSizeDegMethod": "2*atan(size_cm / (2 * distance_cm)), size_cm = px * monitor.width_cm / "
                              "monitor.resolution_px[0]",
        "Pilot": bool(old.get("Pilot", False)) or any(a.get("Pilot") for a in attempts),
        "Simulated": bool(old.get("Simulated", False)) or any(a.get("Simulation") for a in attempts),
        "SessionStartedUnix": first_wall,
        "Software": software_versions(extra=("python-xlib", "psychtoolbox")),
        "Attempts": attempts,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1000, 3)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("trivial-or-impossible")
    except metadata.PackageNotFoundError:
        return "unknown"
