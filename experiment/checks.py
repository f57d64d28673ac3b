"""What must hold before a session with an observer may start, and what the experimenter allowed.

Outside `--pilot`, every condition that would spoil the data is refused with one line (nothing
written): no consent record, the same stimulus set again, a windowed session, a monitor without
a `psychopy.monitors` calibration, a window whose size differs from `monitor.resolution_px`, and
a measured frame rate more than 5 % off `monitor.frame_rate_hz`. Each (but consent and the window
size) can be allowed by an explicit option, which the sidecar records with what it allowed
(`Deviations`). Simulated observers pass through exactly the same checks as people.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiment.config import LabConfig
from labutil.errors import UserError
from labutil.io import read_json
from participants.layout import session_label, sidecar_path
from participants.registry import Registry

FRAME_RATE_TOLERANCE = 0.05  # a measured refresh rate more than 5 % off the nominal one is refused


@dataclass
class Allowances:
    """The explicit options of one attempt and the deviations they allowed (for the sidecar)."""

    pilot: bool = False
    allow_windowed: bool = False
    no_calibration: bool = False
    allow_frame_rate_mismatch: bool = False
    allow_repeat: bool = False
    deviations: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Allowances:
        return cls(bool(args.pilot), bool(args.allow_windowed), bool(args.no_calibration),
                   bool(args.allow_frame_rate_mismatch), bool(args.allow_repeat))

    def as_dict(self) -> dict[str, Any]:
        """`ExplicitOptions` of the attempt record."""
        return {"Pilot": self.pilot, "AllowWindowed": self.allow_windowed, "NoCalibration": self.no_calibration,
                "AllowFrameRateMismatch": self.allow_frame_rate_mismatch, "AllowRepeat": self.allow_repeat}

    def allow(self, allowed: bool, option: str, what: str) -> None:
        """Record a deviation the option allows, or refuse it."""
        if self.pilot:
            self.deviations.append(f"{what} (pilot)")
        elif allowed:
            self.deviations.append(f"{what} ({option})")
        else:
            raise UserError(f"{what}; refused outside --pilot unless you pass {option} (recorded in the sidecar)")


# ------------------------------------------------------------------------------- consent, repeats


def require_consent(registry: Registry, pid: str) -> dict[str, str]:
    """The participant's latest consent record (private folder); a one-line refusal if there is none."""
    records = [r for r in registry.private_records("consent.tsv") if r.get("participant_id") == pid]
    if not records:
        raise UserError(f"{pid} has no consent record in {registry.private_root / 'consent.tsv'}; record it first: "
                        f"python -m participants consent {pid} --date YYYY-MM-DD --form-version V")
    return records[-1]


def sessions_on_set(registry: Registry, pid: str, session: int, tables_sha256: str) -> list[str]:
    """Labels (`ses-01`) of the participant's other sessions that ran on this stimulus set."""
    out = []
    for info in registry.sessions(pid):
        if info.session == session:
            continue
        side = sidecar_path(info.path)
        meta = read_json(side) if side.is_file() else {}
        ref = meta.get("StimulusSet") if isinstance(meta, dict) else None
        if isinstance(ref, dict) and ref.get("TablesSHA256") == tables_sha256:
            out.append(f"{session_label(info.session)} ({info.status}, {info.n_trials} trials)")
    return out


def check_repeat(registry: Registry, pid: str, session: int, set_name: str, tables_sha256: str,
                 allow: Allowances) -> list[str]:
    """Refuse (unless --allow-repeat) a participant who already saw this stimulus set in another session."""
    earlier = sessions_on_set(registry, pid, session, tables_sha256)
    if earlier:
        what = f"{pid} already saw stimulus set '{set_name}' in {', '.join(earlier)}"
        if allow.allow_repeat:
            allow.deviations.append(f"{what} (--allow-repeat)")
        else:
            raise UserError(f"{what}; pass --allow-repeat to run it again (recorded in the sidecar)")
    return earlier


# ------------------------------------------------------------------------------- display


def calibration_record(name: str) -> dict[str, Any] | None:
    """The saved psychopy.monitors calibration of a monitor name: name, date, gamma, size; None if none."""
    from psychopy import monitors

    if name not in monitors.getAllMonitors():
        return None
    mon = monitors.Monitor(name, autoLog=False)
    date = mon.getCalibDate()
    gamma = mon.getGamma()
    return {
        "Monitor": name,
        "Calibration": str(mon.currentCalibName),
        "CalibrationDate": monitors.strFromDate(date) if date else None,
        "Gamma": None if gamma is None else [float(g) for g in _as_list(gamma)],
        "WidthCm": mon.getWidth(),
        "DistanceCm": mon.getDistance(),
        "SizePix": None if mon.getSizePix() is None else [int(v) for v in mon.getSizePix()],
        "LinearizeMethod": mon.getLinearizeMethod(),
    }


def _as_list(value: Any) -> list[Any]:
    try:
        return list(value)
    except TypeError:
        return [value]


def check_before_window(cfg: LabConfig, allow: Allowances) -> dict[str, Any] | None:
    """The checks that need no window: full screen and the monitor's calibration (returned)."""
    where = cfg.files[-1]
    if not cfg.monitor.fullscreen:
        allow.allow(allow.allow_windowed, "--allow-windowed",
                    f"monitor.fullscreen is false in {Path(where).name}: a windowed session")
    calib = calibration_record(cfg.monitor.name)
    if calib is None:
        allow.allow(allow.no_calibration, "--no-calibration",
                    f"monitor '{cfg.monitor.name}' has no psychopy.monitors calibration "
                    "(see docs/running-a-study.md)")
    return calib


def check_window(cfg: LabConfig, window_px: tuple[int, int], frame_period_s: float, allow: Allowances) -> None:
    """The checks on the open window: its real size, and the measured refresh rate."""
    want = tuple(cfg.monitor.resolution_px)
    if tuple(window_px) != want and not allow.pilot:
        raise UserError(f"the window is {window_px[0]} x {window_px[1]} px but monitor.resolution_px is "
                        f"{want[0]} x {want[1]} ({Path(cfg.files[-1]).name}): visual angles would be wrong; "
                        "set resolution_px to the screen's resolution")
    nominal = cfg.monitor.frame_rate_hz
    measured = 1.0 / frame_period_s if frame_period_s > 0 else float("inf")
    if abs(measured - nominal) > FRAME_RATE_TOLERANCE * nominal:
        allow.allow(allow.allow_frame_rate_mismatch, "--allow-frame-rate-mismatch",
                    f"measured frame rate {measured:.1f} Hz is more than {FRAME_RATE_TOLERANCE:.0%} off "
                    f"monitor.frame_rate_hz = {nominal:g}")
