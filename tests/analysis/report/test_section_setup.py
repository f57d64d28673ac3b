"""The methods section's setup table: per session, the recorded geometry and display checks, flagged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.report.section_setup import session_setup, setup_table
from human_data import write_2afc_set, write_2afc_session
from labutil.io import read_json, write_json
from participants.layout import sidecar_path


def _lab_meta(**over: object) -> dict:
    attempt = {"Fullscreen": True, "MeasuredFrameRateHz": 59.9, "Calibration": {"Monitor": "lab", "CalibrationDate":
               "2026_01_05 10:00", "Gamma": [2.2]}, "Timing": {"DroppedFrames": 0, "FramesRecorded": 900}}
    meta = {"ImageSizeDeg": 6.2093, "PixelsPerDegree": 36.08, "Geometry": {}, "Deviations": [],
            "LabConfig": {"monitor": {"frame_rate_hz": 60.0}}, "Attempts": [attempt],
            "Counterbalancing": {"MirrorSides": True}}
    meta.update(over)
    return meta


def test_a_clean_lab_session_has_no_flags() -> None:
    row = session_setup(_lab_meta(), pd.DataFrame({"n_shown": [1, 1]}))
    assert row["flags"] == "-" and row["fullscreen"] is True and row["frame_rate_hz"] == 59.9
    assert row["calibration"] == "lab (2026_01_05 10:00, gamma [2.2])" and row["reshown_trials"] == 0
    assert row["image_deg"] == 6.2093 and row["mirrored"] is True


def test_each_deviation_is_flagged() -> None:
    attempt = {"Fullscreen": False, "MeasuredFrameRateHz": 423.0, "Calibration": None,
               "Timing": {"DroppedFrames": 7, "FramesRecorded": 100}}
    meta = _lab_meta(Attempts=[attempt], Deviations=["monitor.fullscreen is false (--allow-windowed)"])
    row = session_setup(meta, pd.DataFrame({"n_shown": [1, 2, 3]}))
    flags = row["flags"].split("; ")
    assert flags == ["monitor.fullscreen is false (--allow-windowed)", "not full screen", "no monitor calibration",
                     "frame rate off the nominal 60 Hz", "7 dropped frames", "2 trials shown more than once"]
    assert row["calibration"] == "none" and row["dropped_frames"] == 7


def test_old_sessions_say_not_recorded_and_the_table_covers_every_session(tmp_path: Path) -> None:
    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=3)
    old = write_2afc_session(tmp_path / "data", "sub-001", sset, [True, False, True])
    new = write_2afc_session(tmp_path / "data", "sub-002", sset, [True, True, True])
    meta = read_json(sidecar_path(new))
    write_json(sidecar_path(new), {**meta, **_lab_meta()})
    table, shown, unreadable = setup_table(tmp_path / "data")
    assert list(table["participant_id"]) == ["sub-001", "sub-002"] and unreadable == [] and shown.empty
    assert table.loc[0, "calibration"] == "not recorded" and "geometry not recorded" in table.loc[0, "flags"]
    assert table.loc[1, "flags"] == "-"
    assert old.is_file()
