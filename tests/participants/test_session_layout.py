"""Session files (participants.layout): round trip, validation errors naming file and row, crash repair."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from labutil.errors import UserError
from participants.layout import (
    COLUMNS,
    SessionWriter,
    beh_path,
    find_sessions,
    read_session,
    repair_truncated_tail,
    sidecar_path,
)

HEADER_2AFC = "trial\tphase\tpair_id\tleft_stim\tright_stim\timpossible_side\tresponse_side\tchosen_stim\tcorrect\trt\tonset"


def _row(trial: int, **over: object) -> dict[str, object]:
    row = {"trial": trial, "phase": "test", "pair_id": 10 + trial, "left_stim": f"t{trial}", "right_stim": f"i{trial}",
           "impossible_side": "right", "response_side": "right", "chosen_stim": f"i{trial}", "correct": True,
           "rt": 0.8125, "onset": 2.0 * trial}
    return row | over


def _write(root: Path, rows: list[dict[str, object]]) -> Path:
    tsv = beh_path(root, "sub-003", 1, "2afc")
    w = SessionWriter(tsv, "2afc")
    w.start({"ExpectedTrials": 2, "StimulusSet": "demo"})
    for r in rows:
        w.append(r)
    return tsv


def test_paths_follow_bids(tmp_path: Path) -> None:
    assert beh_path(tmp_path, "sub-003", 2, "questionnaire") == \
        tmp_path / "sub-003/ses-02/beh/sub-003_ses-02_task-questionnaire_beh.tsv"
    with pytest.raises(UserError, match="must look like sub-001"):
        beh_path(tmp_path, "s3", 1, "2afc")
    with pytest.raises(UserError, match="unknown task 'rating'"):
        beh_path(tmp_path, "sub-003", 1, "rating")


def test_two_afc_round_trip(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [_row(1), _row(2, response_side="left", chosen_stim="t2", correct=False, rt=None)])
    SessionWriter(tsv, "2afc").set_status("complete", EndTime="12:00")
    assert tsv.read_text() == (
        HEADER_2AFC + "\n"
        "1\ttest\t11\tt1\ti1\tright\tright\ti1\t1\t0.812500\t2.000000\n"
        "2\ttest\t12\tt2\ti2\tright\tleft\tt2\t0\tn/a\t4.000000\n")
    s = read_session(tsv)
    assert (s.participant_id, s.session, s.task, s.status, s.complete) == ("sub-003", 1, "2afc", "complete", True)
    assert s.trials["trial"].tolist() == [1, 2]
    assert s.trials["correct"].tolist() == [True, False]
    assert s.trials["rt"].iloc[0] == 0.8125 and math.isnan(s.trials["rt"].iloc[1])
    assert s.meta["ExpectedTrials"] == 2 and s.meta["EndTime"] == "12:00"
    assert s.meta["correct"]["Description"].startswith("1 if the observer chose the impossible image")
    assert find_sessions(tmp_path) == [tsv] and find_sessions(tmp_path, "questionnaire") == []


def test_restarting_a_session_keeps_the_header_once_and_the_rows(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [_row(1)])
    w = SessionWriter(tsv, "2afc")
    w.start({"Resumed": True})
    w.append(_row(2))
    s = read_session(tsv)
    assert s.trials["trial"].tolist() == [1, 2] and s.meta["Resumed"] is True and s.status == "incomplete"
    assert tsv.read_text().count("trial\tphase") == 1


def test_questionnaire_round_trip(tmp_path: Path) -> None:
    tsv = beh_path(tmp_path, "sub-001", 2, "questionnaire")
    w = SessionWriter(tsv, "questionnaire")
    w.start({})
    w.append({"trial": 1, "phase": "practice", "stim_id": "q1", "n_categories": 10, "main_category": "maybe",
              "unusual": "slightly", "rt_q1": 1.5, "rt_q2": 0.25, "rt_q3": 3.0})
    s = read_session(tsv)
    assert s.trials.iloc[0].to_dict() == {"trial": 1, "phase": "practice", "stim_id": "q1", "n_categories": 10,
                                          "main_category": "maybe", "unusual": "slightly", "rt_q1": 1.5,
                                          "rt_q2": 0.25, "rt_q3": 3.0}
    assert list(s.trials.columns) == list(COLUMNS["questionnaire"])
    assert s.meta["unusual"]["Levels"] == {"no": "no", "slightly": "slightly", "very": "very"}


def test_a_row_missing_a_field_is_a_bug_not_written(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [])
    row = _row(1)
    del row["rt"]
    with pytest.raises(ValueError, match="lacks"):
        SessionWriter(tsv, "2afc").append(row)
    assert tsv.read_text() == HEADER_2AFC + "\n"


def test_a_missing_column_names_the_file(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [_row(1)])
    lines = tsv.read_text().splitlines()
    tsv.write_text("\n".join("\t".join(line.split("\t")[:-2]) for line in lines) + "\n")
    with pytest.raises(UserError) as err:
        read_session(tsv)
    assert str(err.value) == f"{tsv}: missing column(s) rt, onset"


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("correct", "yes", "0 or 1"),
    ("rt", "fast", "a number or n/a"),
    ("trial", "2.5", "an integer"),
    ("phase", "main", "practice or test"),
    ("response_side", "up", "left or right"),
])
def test_a_bad_value_names_file_row_and_column(tmp_path: Path, column: str, value: str, expected: str) -> None:
    tsv = _write(tmp_path, [_row(1), _row(2)])
    lines = tsv.read_text().splitlines()
    cells = lines[2].split("\t")
    cells[HEADER_2AFC.split("\t").index(column)] = value
    lines[2] = "\t".join(cells)
    tsv.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        read_session(tsv)
    assert str(err.value) == f"{tsv}: row 3: column '{column}' = '{value}', expected {expected}"


def test_questionnaire_levels_are_checked(tmp_path: Path) -> None:
    tsv = beh_path(tmp_path, "sub-001", 1, "questionnaire")
    tsv.parent.mkdir(parents=True)
    header = "\t".join(COLUMNS["questionnaire"])
    tsv.write_text(f"{header}\n1\ttest\tq1\t11\tyes\tno\t1\t1\t1\n")
    with pytest.raises(UserError, match=r"row 2: column 'n_categories' = '11', expected an integer 0-10"):
        read_session(tsv)
    tsv.write_text(f"{header}\n1\ttest\tq1\t3\tsure\tno\t1\t1\t1\n")
    with pytest.raises(UserError, match=r"row 2: column 'main_category' = 'sure', expected yes, maybe or no"):
        read_session(tsv)


def test_a_truncated_line_is_reported_and_repaired(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [_row(1), _row(2)])
    complete = tsv.read_bytes()
    with open(tsv, "ab") as fh:
        fh.write(b"3\ttest\t13\tt3\ti3\tri")  # power cut mid-row
    with pytest.raises(UserError) as err:
        read_session(tsv)
    assert str(err.value) == f"{tsv}: row 4: truncated line (no line end)"
    assert repair_truncated_tail(tsv) == len(b"3\ttest\t13\tt3\ti3\tri")
    assert tsv.read_bytes() == complete
    assert read_session(tsv).trials["trial"].tolist() == [1, 2]
    assert repair_truncated_tail(tsv) == 0 and tsv.read_bytes() == complete


def test_a_line_with_too_few_fields_names_the_row(tmp_path: Path) -> None:
    tsv = _write(tmp_path, [_row(1)])
    with open(tsv, "a") as fh:
        fh.write("2\ttest\t12\n")
    with pytest.raises(UserError) as err:
        read_session(tsv)
    assert str(err.value) == f"{tsv}: row 3: 3 fields, expected 11 (truncated or malformed line)"


def test_other_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a session file name"):
        read_session(tmp_path / "data.tsv")
    missing = beh_path(tmp_path, "sub-001", 1, "2afc")
    with pytest.raises(UserError, match="file not found"):
        read_session(missing)
    missing.parent.mkdir(parents=True)
    missing.write_text("")
    with pytest.raises(UserError, match="empty file"):
        read_session(missing)
    assert not sidecar_path(missing).exists()
