"""The online study behind the HTTP routes: starting and resuming sessions, validating and
appending trials, setup records and completion. Independent of the web framework.

Every trial is validated and appended (fsynced) to the same BIDS `_beh.tsv` the lab programs
write (`participants.layout.SessionWriter`, plus `session_columns`) before the reply goes out. The
TSV is the truth about progress: after a restart a session's completed trials are read back from
it (a torn last line removed), so a retried post is recognised by its trial index and never
appended twice. A `Rejection` carries a 4xx status and a message without ids or paths; nothing
is written before every check has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiment.session import trial_order
from experiment.web.config import PLATFORM_PARAMS, WebConfig
from experiment import counterbalance
from experiment.counterbalance import shown_trial
from experiment.web.counterbalance import catch_positions, observer_seed
from experiment.web.state import Assignment, StateStore, new_assignment
from labutil.io import read_json, write_json
from labutil.versions import software_versions
from participants.layout import (
    EXTRA_COLUMNS,
    ONLINE_COLUMNS,
    SessionWriter,
    beh_path,
    read_session,
    repair_truncated_tail,
    sidecar_path,
)
from participants.registry import Registry
from stimuli.sets import IMAGES_DIR, StimulusSet, open_verified_set

_PLATFORM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STIM_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_BROWSER = re.compile(r"^[A-Za-z0-9 ._()/-]{1,60}$")
MAX_ONSETS = 20  # showings of one trial that a post may report
MAX_EVENTS = 500  # per kind and session: a flood of events cannot grow the sidecar without bound


class Rejection(Exception):
    """A refused request: an HTTP 4xx status and a message that names no id, name or path."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def session_columns(task: str) -> dict[str, tuple[str, str]]:
    """The columns an online session adds after the task's own: the lab programs' `mirrored` (2AFC) or
    `onset` (questionnaire), `n_shown` and `onsets`, then `ONLINE_COLUMNS`."""
    extra = EXTRA_COLUMNS[task]
    names = ("mirrored", "n_shown", "onsets") if task == "2afc" else ("onset", "n_shown", "onsets")
    return {n: extra[n] for n in names} | ONLINE_COLUMNS


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Runtime:
    """A running session in memory: its lock, writer, order and the trials already in the TSV."""

    assignment: Assignment
    tsv: Path
    writer: SessionWriter
    order: list[int]
    done: list[int]
    attempt_offset_s: float  # session-clock seconds at the start of the current attempt
    browser: str = "n/a"
    lock: threading.Lock = field(default_factory=threading.Lock)


class OnlineStudy:
    """One stimulus set offered online, writing into one data root."""

    def __init__(self, stimuli: Path, data_root: Path, private_root: Path | None, cfg: WebConfig,
                 store: StateStore) -> None:
        self.stimset: StimulusSet = open_verified_set(stimuli)
        self.task = self.stimset.kind
        self.cfg = cfg
        self.store = store
        self.data_root = Path(data_root)
        self.registry = Registry(data_root, private_root)
        self.registry.private_records("platform_ids.tsv")  # a private folder open to others is refused now
        self.set_key = f"{self.stimset.name}:{self.stimset.tables_sha256}"
        self.trials = {int(r["trial"]): r for r in self.stimset.trials.to_dict("records")}
        self.stim_ids = set(self.stimset.stimuli["stim_id"].astype(str))
        self.n_test = int((self.stimset.trials["phase"] == "test").sum())
        self.n_practice = len(self.trials) - self.n_test
        self._start_lock = threading.Lock()
        self._runtimes: dict[str, Runtime] = {}
        self._runtimes_lock = threading.Lock()

    # ------------------------------------------------------------------------------ images

    def image_path(self, name: str) -> Path:
        """The PNG of a stimulus named `<stim_id>.png`, only from the set's images/ folder."""
        if not name.endswith(".png") or not _STIM_ID.match(name[:-4]) or name[:-4] not in self.stim_ids:
            raise Rejection(404, "no such image")
        path = self.stimset.image_path(name[:-4]).resolve()
        images = (self.stimset.path / IMAGES_DIR).resolve()
        if images not in path.parents or not path.is_file():
            raise Rejection(404, "no such image")
        return path

    # ------------------------------------------------------------------------------ start / resume

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """A page load: resume the session of a valid token or of a known platform id, or (with consent)
        register the platform id and start a new session. Returns the session plan for the page."""
        _only_keys(body, {"ids", "token", "consent", "browser"})
        ids = body.get("ids")
        if not isinstance(ids, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ids.items()):
            raise Rejection(400, "ids must be an object of strings")
        pid_param, study_param, session_param = PLATFORM_PARAMS[self.cfg.platform]
        platform_id = ids.get(pid_param, "")
        if not _PLATFORM_ID.match(platform_id):
            raise Rejection(400, f"the address must carry a valid {pid_param}")
        study_id = ids.get(study_param, "") if study_param else ""
        if study_id and not _PLATFORM_ID.match(study_id):
            raise Rejection(400, f"{study_param} is malformed")
        if session_param and ids.get(session_param, "") and not _PLATFORM_ID.match(ids[session_param]):
            raise Rejection(400, f"{session_param} is malformed")
        browser = _browser(body.get("browser"))
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 100):
            raise Rejection(400, "token must be a string")
        consent = body.get("consent", False)
        if not isinstance(consent, bool):
            raise Rejection(400, "consent must be true or false")
        with self._start_lock:
            known = self._known_participant(platform_id)
            a = self.store.get(known, self.set_key) if known else None
            if a is not None:
                if not (token and secrets.compare_digest(token_hash(token), a.token_sha256)):
                    token = secrets.token_urlsafe(32)  # a new tab or browser: the old token stops working
                    self.store.set_token(a, token_hash(token))
                self._drop_runtime(a)
                return self._plan(a, token, browser, resumed=True)
            if not consent:
                raise Rejection(403, "consent is required to start")
            pid, _ = self.registry.platform_participant(self.cfg.platform, platform_id, study_id)
            session = self.registry.next_session(pid)
            self.registry.record_consent(pid, dt.date.today(), self.cfg.consent_form_version)
            seed = observer_seed(pid, session, self.stimset.tables_sha256)
            cb = counterbalance.assign(pid, self.stimset.tables_sha256, self.cfg.mirror_sides and self.task == "2afc",
                                       self.cfg.swap_keys and self.task == "2afc")
            token = secrets.token_urlsafe(32)
            a = new_assignment(pid, self.set_key, session, token_hash(token), seed, cb.mirror, cb.swap_keys)
            self._create_session(a, cb.as_sidecar())
            self.store.insert(a)
            return self._plan(a, token, browser, resumed=False)

    def _known_participant(self, platform_id: str) -> str | None:
        for row in self.registry.private_records("platform_ids.tsv"):
            if row["platform"] == self.cfg.platform and row["platform_id"] == platform_id:
                return row["participant_id"]
        return None

    def _create_session(self, a: Assignment, cb: dict[str, Any]) -> None:
        """Write the sidecar and the TSV header of a new session."""
        tsv = beh_path(self.data_root, a.participant_id, a.session, self.task)
        order = trial_order(self.stimset.trials, a.seed)
        writer = SessionWriter(tsv, self.task, extra_columns=session_columns(self.task))
        s = self.stimset
        writer.start({
            "TaskName": self.task, "SessionStatus": "incomplete", "ExpectedTrials": len(order),
            "StimulusSet": {"Name": s.name, "Kind": s.kind, "TablesSHA256": s.tables_sha256,
                            "SetSeed": s.meta.get("seed")},
            "TrialOrder": order, "TrialOrderSeed": a.seed, "Setting": "online",
            "Counterbalancing": cb,
            "WebConfig": self.cfg.as_dict(), "Platform": self.cfg.platform,
            "CatchTrials": [dict(c, Response=None, Passed=None) for c in self._catches(a)],
            "ImageSizePx": self._image_px(), "ImageSizeDeg": None,
            "ImageSizeDegMethod": "2*atan(size_cm / (2 * viewing_distance_cm)), size_cm from the credit-card "
                                  "calibration (Calibration); null without it",
            "Consent": {"Recorded": True, "FormVersion": self.cfg.consent_form_version,
                        "Date": dt.date.today().isoformat()},
            "Deviations": [],
            "SessionStartedUnix": time.time(), "Software": software_versions(extra=("starlette", "uvicorn")),
            "Attempts": [], "Setup": [], "Calibration": None, "FullscreenEvents": [], "PossiblyReshownTrials": [],
        })

    def _catches(self, a: Assignment) -> list[dict[str, Any]]:
        every = self.cfg.catch_every
        return catch_positions(self.n_test, every, a.seed, self.task)

    def _plan(self, a: Assignment, token: str, browser: str, resumed: bool) -> dict[str, Any]:
        rt = self._runtime(a)
        with rt.lock:
            if browser != "n/a":
                rt.browser = browser

            def attempt(meta: dict[str, Any]) -> None:
                attempts = meta.setdefault("Attempts", [])
                rt.attempt_offset_s = round(time.time() - float(meta.get("SessionStartedUnix", time.time())), 6)
                attempts.append({"Attempt": len(attempts) + 1, "Started": _now_iso(), "FirstTrialIndex": len(rt.done),
                                 "Browser": browser, "SessionClockOffsetS": rt.attempt_offset_s,
                                 "Fullscreen": False})  # true once the page is in full screen, false again if left
                if len(attempts) > 1 and len(rt.done) < len(rt.order):
                    meta.setdefault("PossiblyReshownTrials", []).append(rt.order[len(rt.done)])

            if a.status != "complete":
                self._update_sidecar(rt, attempt)
        keys = self._keys(a)
        out: dict[str, Any] = {
            "token": token, "task": self.task, "resumed": resumed, "complete": a.status == "complete",
            "done": len(rt.done), "n_trials": len(rt.order), "n_practice": self.n_practice, "n_test": self.n_test,
            "trials": [self._client_trial(i, t, a) for i, t in enumerate(rt.order)],
            "keys": keys, "catch": [{"after_test": c["after_test"], "expected": c["expected"]}
                                    for c in self._catches(a)],
            "screen": {"min_window_px": list(self.cfg.min_window_px), "fullscreen": self.cfg.fullscreen,
                       "calibration": self.cfg.calibration, "image_pixels": self.cfg.image_pixels,
                       "image_gap_px": self.cfg.image_gap_px},
            "fixation_s": self.cfg.fixation_s_2afc if self.task == "2afc" else self.cfg.fixation_s_questionnaire,
            "break_every": self.cfg.break_every_2afc if self.task == "2afc" else self.cfg.break_every_questionnaire,
            "instructions": self._instructions(keys),
            "setup_done": bool(self._meta(rt).get("Setup")),
            "clock_offset_s": rt.attempt_offset_s,
        }
        if a.status == "complete":
            out.update(self._completion())
        return out

    def _keys(self, a: Assignment) -> dict[str, str]:
        left, right = self.cfg.left_key, self.cfg.right_key
        return {"left": right, "right": left} if a.swap_keys else {"left": left, "right": right}

    def _instructions(self, keys: dict[str, str]) -> str:
        if self.task == "2afc":
            text, every = self.cfg.instructions_2afc, self.cfg.break_every_2afc
        else:
            text, every = self.cfg.instructions_questionnaire, self.cfg.break_every_questionnaire
        return text.format(left=keys["left"].upper(), right=keys["right"].upper(), n_practice=self.n_practice,
                           n_test=self.n_test, break_every=every or self.n_test)

    def _client_trial(self, index: int, number: int, a: Assignment) -> dict[str, Any]:
        """What the page needs to show a trial; never the impossible side or a difficulty."""
        t = self.trials[number]
        out: dict[str, Any] = {"index": index, "trial": number, "phase": t["phase"]}
        if self.task == "2afc":
            shown = shown_trial(t, a.mirror)
            out.update(left=str(shown["left_stim"]), right=str(shown["right_stim"]))
        else:
            out["stim"] = str(t["stim_id"])
        return out

    def _completion(self) -> dict[str, Any]:
        code = self.cfg.completion_code
        url = self.cfg.completion_url.format(code=code) if self.cfg.completion_url else ""
        return {"completion_code": code, "redirect_url": url}

    # ------------------------------------------------------------------------------ runtimes

    def _runtime(self, a: Assignment) -> Runtime:
        key = f"{a.participant_id}/{a.session}"
        with self._runtimes_lock:
            rt = self._runtimes.get(key)
            if rt is None:
                rt = self._load_runtime(a)
                self._runtimes[key] = rt
            rt.assignment = a
            return rt

    def _drop_runtime(self, a: Assignment) -> None:
        """Forget the cached session so that the next use re-reads it from its files (a page load)."""
        with self._runtimes_lock:
            old = self._runtimes.pop(f"{a.participant_id}/{a.session}", None)
        if old is not None:
            with old.lock:  # wait for a post in flight
                pass

    def _load_runtime(self, a: Assignment) -> Runtime:
        tsv = beh_path(self.data_root, a.participant_id, a.session, self.task)
        meta = read_json(sidecar_path(tsv))
        order = [int(t) for t in meta["TrialOrder"]]
        repair_truncated_tail(tsv)
        done = [int(t) for t in read_session(tsv).trials["trial"]]
        if done != order[: len(done)]:
            raise Rejection(409, "this session's records are inconsistent; contact the experimenter")
        writer = SessionWriter(tsv, self.task, extra_columns=session_columns(self.task))
        # after a server restart the page goes on without reloading: its clock and browser continue
        attempts, setup = meta.get("Attempts") or [{}], meta.get("Setup") or [{}]
        browser = f"{setup[-1].get('Browser', 'n/a')} {setup[-1].get('BrowserVersion', '')}".strip()
        return Runtime(a, tsv, writer, order, done, float(attempts[-1].get("SessionClockOffsetS", 0.0)),
                       browser if setup[-1].get("Browser", "n/a") != "n/a" else "n/a")

    def _authorise(self, token: Any) -> Runtime:
        if not isinstance(token, str) or not token or len(token) > 100:
            raise Rejection(401, "missing or malformed token")
        a = self.store.by_token(token_hash(token))
        if a is None or a.set_key != self.set_key:
            raise Rejection(401, "unknown token (the session may have been opened in another tab)")
        return self._runtime(a)

    @staticmethod
    def _meta(rt: Runtime) -> dict[str, Any]:
        return read_json(sidecar_path(rt.tsv))

    @staticmethod
    def _update_sidecar(rt: Runtime, change: Any) -> None:
        meta = read_json(sidecar_path(rt.tsv))
        change(meta)
        write_json(sidecar_path(rt.tsv), meta)

    # ------------------------------------------------------------------------------ trials

    def trial(self, token: Any, body: Any) -> dict[str, Any]:
        """Validate one completed trial and append it; a retried post of a stored trial is acknowledged
        without writing. Returns the index of the next trial."""
        rt = self._authorise(token)
        if not isinstance(body, dict):
            raise Rejection(400, "the body must be a JSON object")
        with rt.lock:
            if rt.assignment.status == "complete":
                raise Rejection(409, "the session is already complete")
            index, number = _int(body, "index", 0, len(rt.order) - 1), _int(body, "trial", 1, 10**9)
            if number != rt.order[index]:
                raise Rejection(409, f"trial {index + 1} of this session is not trial number {number}")
            if index < len(rt.done):
                return {"stored": False, "duplicate": True, "next": len(rt.done)}
            if index > len(rt.done):
                raise Rejection(409, f"trial {index + 1} posted before trial {len(rt.done) + 1}")
            row = self._row(rt, number, body)
            rt.writer.append(row)  # fsynced before the reply
            rt.done.append(number)
            self.store.set_progress(rt.assignment, len(rt.done), "running")
            return {"stored": True, "duplicate": False, "next": len(rt.done)}

    def _row(self, rt: Runtime, number: int, body: dict[str, Any]) -> dict[str, Any]:
        t = self.trials[number]
        common = {"index", "trial", "onset", "client"}
        optional = {"earlier_onsets"}
        if self.task == "2afc":
            _only_keys(body, common | optional | {"key", "rt"}, required=common | {"key", "rt"})
            keys = self._keys(rt.assignment)
            key = body["key"]
            if key not in (keys["left"], keys["right"]):
                raise Rejection(400, f"key must be '{keys['left']}' or '{keys['right']}'")
            side = "left" if key == keys["left"] else "right"
            shown = shown_trial(t, rt.assignment.mirror)
            row: dict[str, Any] = {
                "trial": number, "phase": t["phase"], "pair_id": int(t["pair_id"]),
                "left_stim": shown["left_stim"], "right_stim": shown["right_stim"],
                "impossible_side": shown["impossible_side"], "response_side": side,
                "chosen_stim": shown["left_stim"] if side == "left" else shown["right_stim"],
                "correct": side == shown["impossible_side"], "rt": _rt(body, "rt"),
            }
        else:
            _only_keys(body, common | optional | {"answers", "rt"}, required=common | {"answers", "rt"})
            answers = body["answers"]
            rts = body["rt"]
            if not isinstance(answers, dict) or set(answers) != {"n_categories", "main_category", "unusual"}:
                raise Rejection(400, "answers must hold n_categories, main_category and unusual")
            if not isinstance(rts, list) or len(rts) != 3:
                raise Rejection(400, "rt must be a list of three numbers")
            n_cat = _int(answers, "n_categories", 0, 10)
            if answers["main_category"] not in ("yes", "maybe", "no"):
                raise Rejection(400, "main_category must be yes, maybe or no")
            if answers["unusual"] not in ("no", "slightly", "very"):
                raise Rejection(400, "unusual must be no, slightly or very")
            rt_values = [_rt({"rt": v}, "rt") for v in rts]
            row = {"trial": number, "phase": t["phase"], "stim_id": str(t["stim_id"]), "n_categories": n_cat,
                   "main_category": answers["main_category"], "unusual": answers["unusual"],
                   "rt_q1": rt_values[0], "rt_q2": rt_values[1], "rt_q3": rt_values[2]}
        onset = round(rt.attempt_offset_s + _number(body, "onset", 0.0, 7 * 86400.0), 6)
        onsets = _earlier_onsets(body.get("earlier_onsets", []), onset) + [onset]
        if self.task == "2afc":
            row["mirrored"] = rt.assignment.mirror
        row.update(onset=onset, n_shown=len(onsets), onsets=";".join(f"{v:.6f}" for v in onsets))
        row.update(_client(body["client"]), setting="online", browser=rt.browser)
        return row

    # ------------------------------------------------------------------------------ events, finish

    def event(self, token: Any, body: Any) -> dict[str, Any]:
        """Record a setup result (browser check, calibration), a full-screen change or an attention check."""
        rt = self._authorise(token)
        if not isinstance(body, dict):
            raise Rejection(400, "the body must be a JSON object")
        kind = body.get("kind")
        with rt.lock:
            if rt.assignment.status == "complete":
                raise Rejection(409, "the session is already complete")
            if kind == "setup":
                _only_keys(body, {"kind", "width", "height", "browser", "browser_version", "os", "mobile",
                                  "vsync_rate", "client"}, required={"kind", "width", "height", "client"})
                w, h = _int(body, "width", 1, 20000), _int(body, "height", 1, 20000)
                mw, mh = self.cfg.min_window_px
                if w < mw or h < mh:
                    raise Rejection(422, f"the window ({w} x {h}) is smaller than {mw} x {mh}")
                rec = {"Time": _now_iso(), "CheckedWindowPx": [w, h], "Browser": _browser(body.get("browser")),
                       "BrowserVersion": _browser(body.get("browser_version")), "OS": _browser(body.get("os")),
                       "Mobile": bool(body.get("mobile") is True),
                       "VsyncRateHz": _number(body, "vsync_rate", 0.0, 1000.0) if "vsync_rate" in body else None,
                       **_client_record(body["client"])}
                self._append_event(rt, "Setup", rec)
                if rec["Browser"] != "n/a":
                    rt.browser = f"{rec['Browser']} {rec['BrowserVersion']}".strip()
            elif kind == "calibration":
                _only_keys(body, {"kind", "item_width_px", "px_per_mm", "client"}, required={"kind", "item_width_px", "px_per_mm", "client"})
                px_mm = _number(body, "px_per_mm", 0.5, 50.0)
                rec = {"Time": _now_iso(), "Method": "credit card (85.60 mm) matched on screen, jsPsych virtual-chinrest",
                       "ItemWidthPx": _number(body, "item_width_px", 10.0, 5000.0), "CssPxPerMm": px_mm,
                       "ViewingDistanceCm": self.cfg.viewing_distance_cm, **_client_record(body["client"])}
                rec["ImageSizeDeg"] = self._image_deg(px_mm, rec["DevicePixelRatio"])
                geometry = self._geometry(px_mm, rec["DevicePixelRatio"], rec["ImageSizeDeg"])
                self._update_sidecar(rt, lambda m: m.update(Calibration=rec, ImageSizeDeg=rec["ImageSizeDeg"],
                                                             PixelsPerDegree=geometry["PixelsPerDegree"],
                                                             Geometry=geometry))
            elif kind in ("fullscreen_exit", "fullscreen_enter"):
                _only_keys(body, {"kind", "index", "client"}, required={"kind", "index", "client"})
                rec = {"Time": _now_iso(), "Event": "exit" if kind == "fullscreen_exit" else "enter",
                       "TrialIndex": _int(body, "index", 0, len(rt.order)), **_client_record(body["client"])}
                self._append_event(rt, "FullscreenEvents", rec)
                self._update_sidecar(rt, lambda m: _attempt_fullscreen(m, rec["Event"]))
                if rec["Event"] == "exit":
                    self._append_event(rt, "Deviations", f"left full screen before trial {rec['TrialIndex'] + 1} "
                                                          f"({rec['Time']})")
            elif kind == "catch":
                _only_keys(body, {"kind", "after_test", "response", "rt"}, required={"kind", "after_test", "response", "rt"})
                self._catch(rt, body)
            else:
                raise Rejection(400, "kind must be setup, calibration, fullscreen_exit, fullscreen_enter or catch")
        return {"stored": True}

    def _image_px(self) -> list[int]:
        """Width and height of the set's first image, in pixels."""
        from PIL import Image

        first = self.stimset.image_path(str(self.stimset.stimuli["stim_id"].iloc[0]))
        with Image.open(first) as im:
            return [int(im.size[0]), int(im.size[1])]

    def _image_deg(self, css_px_per_mm: float, dpr: float) -> float:
        """Visual angle of the set's image width on this screen, at the configured viewing distance."""
        width_px = self._image_px()[0]
        css_px = width_px / dpr if self.cfg.image_pixels == "device" else width_px
        size_cm = css_px / css_px_per_mm / 10
        return round(math.degrees(2 * math.atan(size_cm / (2 * self.cfg.viewing_distance_cm))), 4)

    def _geometry(self, css_px_per_mm: float, dpr: float, image_deg: float) -> dict[str, Any]:
        """The calibrated geometry in the lab's terms: image pixels per cm and per degree at the centre."""
        px_per_cm = css_px_per_mm * 10 * (dpr if self.cfg.image_pixels == "device" else 1.0)
        d = self.cfg.viewing_distance_cm
        return {"Source": "online credit-card calibration", "ImagePixels": self.cfg.image_pixels,
                "ImagePxPerCm": round(px_per_cm, 4), "ViewingDistanceCm": d, "ImageSizeDeg": image_deg,
                "PixelsPerDegree": round(px_per_cm * 2 * d * math.tan(math.radians(0.5)), 4)}

    def _append_event(self, rt: Runtime, key: str, rec: dict[str, Any]) -> None:
        def add(meta: dict[str, Any]) -> None:
            events = meta.setdefault(key, [])
            if len(events) >= MAX_EVENTS:
                raise Rejection(429, "too many events for this session")
            events.append(rec)

        self._update_sidecar(rt, add)

    def _catch(self, rt: Runtime, body: dict[str, Any]) -> None:
        after = _int(body, "after_test", 1, self.n_test)
        response = body["response"]
        if not isinstance(response, str) or len(response) > 16:
            raise Rejection(400, "response must be a short string")
        rt_s = _rt(body, "rt")

        def record(meta: dict[str, Any]) -> None:
            for c in meta.get("CatchTrials", []):
                if c["after_test"] == after:
                    if c.get("Response") is not None:
                        raise Rejection(409, "this attention check is already answered")
                    c.update(Response=response, Passed=response == c["expected"], RT=rt_s, Time=_now_iso())
                    return
            raise Rejection(400, "no attention check at that position")

        self._update_sidecar(rt, record)

    def finish(self, token: Any) -> dict[str, Any]:
        """Mark a session whose every trial is stored complete and return the completion code / redirect."""
        rt = self._authorise(token)
        with rt.lock:
            if rt.assignment.status != "complete":
                if len(rt.done) != len(rt.order):
                    raise Rejection(409, f"{len(rt.order) - len(rt.done)} trials are still to do")
                meta = self._meta(rt)
                catches = meta.get("CatchTrials", [])
                rt.writer.set_status("complete", TrialsCompleted=len(rt.done), Ended=_now_iso(),
                                     CatchTrialsPassed=sum(bool(c.get("Passed")) for c in catches),
                                     CatchTrialsTotal=len(catches))
                self.store.set_progress(rt.assignment, len(rt.done), "complete")
        return {"complete": True, **self._completion()}


def _attempt_fullscreen(meta: dict[str, Any], event: str) -> None:
    """The current attempt ran in full screen if the page entered it and never left it."""
    attempts = meta.get("Attempts") or []
    if not attempts:
        return
    last = attempts[-1]
    if event == "exit":
        last.update(Fullscreen=False, FullscreenLeft=True)
    elif not last.get("FullscreenLeft"):
        last["Fullscreen"] = True


# ---------------------------------------------------------------------------------- validation


def _only_keys(body: dict[str, Any], allowed: set[str], required: set[str] | None = None) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise Rejection(400, f"unexpected field {extra[0][:40]!r}")
    missing = sorted((required or set()) - set(body))
    if missing:
        raise Rejection(400, f"missing field {missing[0]!r}")


def _int(body: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejection(400, f"{key} must be a whole number")
    if not lo <= value <= hi:
        raise Rejection(400, f"{key} must lie in {lo}..{hi}")
    return value


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejection(400, f"{key} must be a number")
    if not lo <= value <= hi:
        raise Rejection(400, f"{key} must lie in {lo:g}..{hi:g}")
    return float(value)


def _rt(body: dict[str, Any], key: str) -> float:
    value = _number(body, key, 0.0, 3600.0)
    if value <= 0:
        raise Rejection(400, f"{key} must be positive")
    return round(value, 6)


def _earlier_onsets(value: Any, onset: float) -> list[float]:
    """Session-clock onsets of earlier showings of the trial (before a reload), as the page kept them."""
    if not isinstance(value, list) or len(value) > MAX_ONSETS:
        raise Rejection(400, f"earlier_onsets must be a list of at most {MAX_ONSETS} numbers")
    out = [_number({"v": v}, "v", 0.0, onset) for v in value]
    if out != sorted(out):
        raise Rejection(400, "earlier_onsets must be in time order")
    return [round(v, 6) for v in out]


def _browser(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    if not isinstance(value, str) or not _BROWSER.match(value):
        raise Rejection(400, "browser must be a short name")
    return value


def _size(value: Any, what: str) -> list[int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                and 1 <= v <= 20000 for v in value)):
        raise Rejection(400, f"{what} must be [width, height] in pixels")
    return [int(value[0]), int(value[1])]


def _client_record(client: Any) -> dict[str, Any]:
    """Screen, window, devicePixelRatio and full-screen state reported by the page, checked."""
    if not isinstance(client, dict):
        raise Rejection(400, "client must be an object")
    _only_keys(client, {"screen", "window", "dpr", "fullscreen"}, required={"screen", "window", "dpr", "fullscreen"})
    if not isinstance(client["fullscreen"], bool):
        raise Rejection(400, "fullscreen must be true or false")
    return {"ScreenPx": _size(client["screen"], "screen"), "WindowPx": _size(client["window"], "window"),
            "DevicePixelRatio": _number(client, "dpr", 0.1, 10.0), "Fullscreen": client["fullscreen"]}


def _client(client: Any) -> dict[str, Any]:
    rec = _client_record(client)
    return {"screen_px": "x".join(map(str, rec["ScreenPx"])), "window_px": "x".join(map(str, rec["WindowPx"])),
            "device_pixel_ratio": rec["DevicePixelRatio"], "fullscreen": rec["Fullscreen"]}
