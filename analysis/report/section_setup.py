"""Report part (methods section): the setup of every session, with each deviation flagged.

Per session: visual angle of the images, pixels per degree, full screen, the monitor calibration,
measured against nominal frame rate, dropped frames, trials shown more than once, the
counterbalancing and every deviation an explicit option or --pilot allowed (from the sidecar the
experiment wrote; docs/formats.md). Sessions recorded before these fields existed say "not
recorded", which is itself flagged.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.humans.shown import reshown_trials
from analysis.report import html as H
from analysis.report.context import Context
from labutil.errors import UserError
from participants.layout import find_sessions, read_session

SETUP_COLUMNS = ["participant_id", "session", "task", "status", "image_deg", "px_per_deg", "fullscreen",
                 "calibration", "frame_rate_hz", "nominal_hz", "dropped_frames", "frames", "reshown_trials",
                 "mirrored", "pilot", "simulated", "flags"]
FRAME_RATE_TOLERANCE = 0.05


def _calibration(attempt: dict[str, Any]) -> str:
    cal = attempt.get("Calibration")
    if not isinstance(cal, dict):
        return "none" if "Calibration" in attempt else "not recorded"
    gamma = cal.get("Gamma")
    return f"{cal.get('Monitor')} ({cal.get('CalibrationDate') or 'no date'}, gamma {gamma})"


def session_setup(meta: dict[str, Any], trials: pd.DataFrame) -> dict[str, Any]:
    """One row of the setup table from a session's sidecar and trials."""
    attempts = [a for a in meta.get("Attempts", []) if isinstance(a, dict)]
    last = attempts[-1] if attempts else {}
    dropped = sum(int((a.get("Timing") or {}).get("DroppedFrames", 0)) for a in attempts)
    frames = sum(int((a.get("Timing") or {}).get("FramesRecorded", 0)) for a in attempts)
    nominal = ((meta.get("LabConfig") or {}).get("monitor") or {}).get("frame_rate_hz")
    rates = [a.get("MeasuredFrameRateHz") for a in attempts if a.get("MeasuredFrameRateHz") is not None]
    cb = meta.get("Counterbalancing") or {}
    reshown = int((pd.to_numeric(trials["n_shown"], errors="coerce") > 1).sum()) if "n_shown" in trials else None
    flags: list[str] = list(dict.fromkeys(meta.get("Deviations", [])))
    if "Geometry" not in meta:
        flags.append("geometry not recorded (session older than the window checks)")
    if attempts and not all(a.get("Fullscreen") for a in attempts):
        flags.append("not full screen")
    if any("Calibration" in a and not a.get("Calibration") for a in attempts):
        flags.append("no monitor calibration")
    if nominal and any(abs(r - nominal) > FRAME_RATE_TOLERANCE * nominal for r in rates):
        flags.append(f"frame rate off the nominal {nominal:g} Hz")
    if dropped:
        flags.append(f"{dropped} dropped frames")
    if reshown:
        flags.append(f"{reshown} trials shown more than once")
    return {
        "image_deg": meta.get("ImageSizeDeg"), "px_per_deg": meta.get("PixelsPerDegree"),
        "fullscreen": None if not attempts else all(bool(a.get("Fullscreen")) for a in attempts),
        "calibration": _calibration(last) if last else "not recorded",
        "frame_rate_hz": round(min(rates), 1) if rates else None, "nominal_hz": nominal,
        "dropped_frames": dropped, "frames": frames, "reshown_trials": reshown,
        "mirrored": cb.get("MirrorSides") if cb else None,
        "pilot": bool(meta.get("Pilot")), "simulated": bool(meta.get("Simulated")),
        "flags": "; ".join(flags) or "-",
    }


def setup_table(data_root: Any) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Setup rows of every session under the data root, the re-shown trials, and unreadable files."""
    rows, reshown, unreadable = [], [], []
    for path in find_sessions(data_root):
        try:
            s = read_session(path)
        except UserError as exc:
            unreadable.append(str(exc))
            continue
        rows.append({"participant_id": s.participant_id, "session": s.session, "task": s.task, "status": s.status,
                     **session_setup(s.meta, s.trials)})
        listed = reshown_trials(s.trials.assign(participant_id=s.participant_id, session=s.session))
        if len(listed):
            reshown.append(listed.assign(task=s.task))
    table = pd.DataFrame(rows, columns=SETUP_COLUMNS)
    shown = pd.concat(reshown, ignore_index=True) if reshown else pd.DataFrame()
    return table, shown, unreadable


def setup_parts(ctx: Context) -> list[str]:
    """The methods section's setup table and the list of re-shown trials."""
    table, shown, unreadable = setup_table(ctx.cfg.data_root)
    parts = [H.heading("Setup of every session")]
    if table.empty:
        return parts + [H.paragraph(f"No sessions under {ctx.cfg.data_root}/.")]
    n_flagged = int((table["flags"] != "-").sum())
    parts.append(H.paragraph(
        f"{len(table)} sessions; {n_flagged} with a deviation from the configured setup (flags). Visual angle "
        "and pixels per degree come from the real window (docs/experiment.md); frame rate is the lowest measured "
        "over a session's attempts."))
    parts.append(H.table(table, caption="Setup per session", max_rows=200,
                         csv_name=ctx.save_table("session_setup", table)))
    if len(shown):
        parts.append(H.table(shown, caption="Trials shown more than once (a cancelled quit or a resume); "
                                            "the analyses keep them unless asked to leave them out", max_rows=200,
                             csv_name=ctx.save_table("reshown_trials", shown)))
    else:
        parts.append(H.paragraph("No trial was shown more than once."))
    for msg in unreadable:
        parts.append(H.paragraph(f"unreadable session: {msg}", "missing"))
    return parts
