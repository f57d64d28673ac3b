"""The registry's rules that its mutation run (issue 18) found unpinned, each stated from
docs/formats.md: online observers' platform ids kept in the private folder only, the bookkeeping
file's checks, a private folder made beforehand, the bounds of consent and payment records, the
session numbering edges, and the identity scan of UTF-16 and Windows-1252 files."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from labutil.errors import UserError
from participants.layout import SessionWriter, beh_path, sidecar_path
from participants.registry import COLUMNS, Registry, decodings

NAME = "Ada Lovelace"
TODAY = dt.date.today()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (the lock file left out: it is opened, never written)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".registry.lock"}


def _tsv_rows(path: Path) -> list[dict[str, str]]:
    header, *lines = path.read_text().splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]


def _state(data_root: Path) -> dict:
    return json.loads((data_root / ".registry.json").read_text())


def _recorded_now(text: str) -> bool:
    """True if `text` is an ISO time with offset, within a minute of now."""
    when = dt.datetime.fromisoformat(text)
    return when.tzinfo is not None and abs((dt.datetime.now().astimezone() - when).total_seconds()) < 60


# ------------------------------------------------------------------------------ platform ids


def test_a_platform_id_registers_an_online_participant_and_stays_in_the_private_folder(
        data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    assert reg.register(cnn_familiarity="naive") == "sub-001"
    assert reg.platform_participant("prolific", "5f0c8a9b1d2e", "study-7") == ("sub-002", True)
    assert reg.platform_participant("prolific", "5f0c8a9b1d2e", "study-8") == ("sub-002", False)  # seen before
    assert reg.platform_participant("mturk", "5f0c8a9b1d2e") == ("sub-003", True)  # same id, other platform
    assert reg.platform_participant("prolific", "60aa11bb22cc") == ("sub-004", True)
    rows = _tsv_rows(data_root / "participants.tsv")
    assert [r["participant_id"] for r in rows] == ["sub-001", "sub-002", "sub-003", "sub-004"]
    for r in rows[1:]:
        assert r == {"participant_id": r["participant_id"], "age": "n/a", "gender": "n/a", "handedness": "n/a",
                     "cnn_familiarity": "n/a", "group": "online", "notes": "n/a", "registered": TODAY.isoformat()}
    ids = _tsv_rows(private_root / "platform_ids.tsv")
    assert [(r["participant_id"], r["platform"], r["platform_id"], r["study_id"]) for r in ids] == [
        ("sub-002", "prolific", "5f0c8a9b1d2e", "study-7"),
        ("sub-003", "mturk", "5f0c8a9b1d2e", "n/a"),
        ("sub-004", "prolific", "60aa11bb22cc", "n/a"),
    ]
    assert all(_recorded_now(r["recorded"]) for r in ids)
    assert (private_root / "platform_ids.tsv").read_text().splitlines()[0] == \
        "participant_id\tplatform\tplatform_id\tstudy_id\trecorded"
    assert _mode(private_root) == 0o700 and _mode(private_root / "platform_ids.tsv") == 0o600
    binding = json.loads((private_root / "registry.json").read_text())
    state = _state(data_root)
    assert binding["registry_id"] == state["registry_id"]
    assert state["last_participant"] == 4 and state["private_bound"] is True
    assert not any(b"5f0c8a9b1d2e" in data or b"60aa11bb22cc" in data for data in _tree(data_root).values())
    assert json.loads((data_root / "participants.json").read_text())["group"]  # the sidecar is written


def test_the_first_participant_of_a_platform_gets_the_sidecar_and_ids_never_come_back(data_root: Path) -> None:
    reg = Registry(data_root)
    assert reg.platform_participant("sona", "abcdef") == ("sub-001", True)
    assert json.loads((data_root / "participants.json").read_text())["participant_id"]
    assert reg.platform_participant("sona", "ghijkl", group="pilot") == ("sub-002", True)
    assert _tsv_rows(data_root / "participants.tsv")[1]["group"] == "pilot"
    (data_root / "participants.tsv").unlink()  # the table deleted: the numbers are still taken
    assert reg.platform_participant("sona", "mnopqr") == ("sub-003", True)
    assert reg.register(cnn_familiarity="naive") == "sub-004"
    leaks = {leak.path.name: (leak.participant_id, leak.kind) for leak in _scan(reg, data_root.parent, {
        "a.txt": "from platform id ABCDEF here", "b.txt": "abcdefg is another id"})}
    assert leaks == {"a.txt": ("sub-001", "platform id")}


def _scan(reg: Registry, where: Path, files: dict[str, str]) -> list:
    folder = where / "scan"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return reg.find_identity_leaks(folder)


def test_a_platform_id_shorter_than_six_characters_is_not_scanned_for(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.platform_participant("sona", "abcde")
    reg.platform_participant("sona", "uvwxyz")
    found = {leak.path.name for leak in _scan(reg, data_root.parent, {"five.txt": "abcde", "six.txt": "uvwxyz"})}
    assert found == {"six.txt"}


@pytest.mark.parametrize(("args", "message"), [
    (("", "abcdef"), "--platform: must not be empty"),
    (("p" * 33, "abcdef"), "--platform: longer than 32 characters"),
    (("pro\tlific", "abcdef"), "--platform: must be one line without tabs"),
    (("prolific", ""), "--platform-id: must not be empty"),
    (("prolific", "   "), "--platform-id: must not be empty"),
    (("prolific", "a" * 129), "--platform-id: longer than 128 characters"),
    (("prolific", "ab\ncd"), "--platform-id: must be one line without tabs"),
    (("prolific", "abcdef", "s" * 129), "--study-id: longer than 128 characters"),
    (("prolific", "abcdef", "st\rudy"), "--study-id: must be one line without tabs"),
    (("prolific", "abcdef", "", "on line"), "--group 'on line'"),
])
def test_a_bad_platform_argument_is_refused_by_name_and_changes_nothing(
        data_root: Path, private_root: Path, snapshot, args: tuple, message: str) -> None:
    reg = Registry(data_root, private_root)
    reg.platform_participant("prolific", "000000")
    before = snapshot()
    with pytest.raises(UserError) as err:
        reg.platform_participant(*args)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert snapshot() == before


def test_platform_arguments_at_their_length_limits_are_accepted(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    assert reg.platform_participant("p" * 32, "a" * 128, "s" * 128) == ("sub-001", True)
    [row] = _tsv_rows(private_root / "platform_ids.tsv")
    assert (row["platform"], row["platform_id"], row["study_id"]) == ("p" * 32, "a" * 128, "s" * 128)


def test_a_platform_id_is_not_recorded_in_an_open_or_foreign_private_folder(
        tmp_path: Path, data_root: Path, private_root: Path, snapshot) -> None:
    reg = Registry(data_root, private_root)
    reg.platform_participant("prolific", "abcdef")
    private_root.chmod(0o750)
    before = snapshot()
    with pytest.raises(UserError, match="lab_private is accessible by group/others"):
        reg.platform_participant("prolific", "ghijkl")
    with pytest.raises(UserError, match="accessible by group/others"):
        reg.platform_participant("prolific", "abcdef")  # not even a known id is looked up
    assert snapshot() == before
    private_root.chmod(0o700)
    other = Registry(tmp_path / "other_data", private_root)
    with pytest.raises(UserError, match="belongs to another data root"):
        other.platform_participant("prolific", "ghijkl")
    assert not (tmp_path / "other_data" / "participants.tsv").exists()
    assert "ghijkl" not in (private_root / "platform_ids.tsv").read_text()


# ------------------------------------------------------------------------------ the bookkeeping file


def _write_state(data_root: Path, state: object) -> None:
    data_root.mkdir(parents=True, exist_ok=True)
    (data_root / ".registry.json").write_text(json.dumps(state))


@pytest.mark.parametrize(("state", "message"), [
    ([1, 2], ": not an object"),
    ({"registry_id": "ab", "last_participant": -1}, ":last_participant: -1 is out of range"),
    ({"registry_id": "ab", "last_participant": "3"}, ":last_participant: '3' is not an integer"),
    ({"registry_id": "ab", "last_session": [1]}, ":last_session: not an object"),
    ({"registry_id": "ab", "last_session": {"sub-001": -2}}, ":last_session.sub-001: -2 is out of range"),
    ({"registry_id": "ab", "last_session": {"sub-001": 1.5}}, ":last_session.sub-001: 1.5 is not an integer"),
    ({"registry_id": "ab", "private_bound": "yes"}, ":private_bound: not true or false"),
])
def test_a_damaged_bookkeeping_file_is_a_one_line_error_naming_file_and_key(
        data_root: Path, state: object, message: str) -> None:
    _write_state(data_root, state)
    before = _tree(data_root)
    with pytest.raises(UserError) as err:
        Registry(data_root).register(cnn_familiarity="naive")
    text = str(err.value)
    assert text.startswith(f"{data_root / '.registry.json'}{message}") and "\n" not in text, text
    assert _tree(data_root) == before


def test_a_bookkeeping_file_with_only_its_id_is_read_with_zero_counters(data_root: Path) -> None:
    """Every counter may be missing (0, {} and false); zero counters are allowed."""
    _write_state(data_root, {"format_version": 1, "registry_id": "ab"})
    reg = Registry(data_root)
    assert reg.identity_check_possible()
    assert reg.register(cnn_familiarity="naive") == "sub-001"
    _write_state(data_root, {"registry_id": "ab", "last_participant": 0, "last_session": {"sub-001": 0}})
    assert reg.next_session("sub-001") == 1
    _write_state(data_root, {"registry_id": "ab"})
    reg.claim_session("sub-001", 4)
    assert _state(data_root)["last_session"] == {"sub-001": 4}
    assert reg.next_session("sub-001") == 5


# ------------------------------------------------------------------------------ the private folder


def test_a_private_folder_made_beforehand_is_bound_on_first_use(data_root: Path, private_root: Path) -> None:
    private_root.mkdir(mode=0o700)
    reg = Registry(data_root, private_root)
    assert reg.register(cnn_familiarity="naive", name=NAME) == "sub-001"
    assert [r["name"] for r in reg.private_records("identities.tsv")] == [NAME]
    assert json.loads((private_root / "registry.json").read_text())["registry_id"] == _state(data_root)["registry_id"]


def test_consent_without_a_registered_identity_creates_and_binds_the_private_folder(
        data_root: Path, private_root: Path, tmp_path: Path) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive")
    assert reg.identity_check_possible() and not private_root.exists()
    reg.record_consent(pid, "2024-05-02", "v2")
    assert _mode(private_root) == 0o700 and _mode(private_root / "consent.tsv") == 0o600
    binding = json.loads((private_root / "registry.json").read_text())
    assert binding["registry_id"] == _state(data_root)["registry_id"]
    assert binding["data_root"] == str(data_root.resolve())
    assert _state(data_root)["private_bound"] is True
    shutil.move(private_root, tmp_path / "elsewhere")  # private records exist but are not at hand
    assert not reg.identity_check_possible()


def test_an_unbound_registry_can_always_check_identities(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    assert reg.identity_check_possible()  # nothing registered at all
    reg.register(cnn_familiarity="naive")
    assert reg.identity_check_possible()  # no identity ever recorded: nothing to look for


# ------------------------------------------------------------------------------ consent and payments


def test_consent_and_payment_records_hold_the_time_they_were_entered(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive")
    reg.record_consent(pid, TODAY, "f" * 40)  # the longest form version
    reg.record_payment(pid, 100, 0, TODAY)  # the most hours, nothing paid
    reg.record_payment(pid, 0.25, 100000)  # the largest amount, today by default
    [consent] = _tsv_rows(private_root / "consent.tsv")
    assert consent["form_version"] == "f" * 40 and consent["date"] == TODAY.isoformat()
    assert _recorded_now(consent["recorded"])
    paid = _tsv_rows(private_root / "payments.tsv")
    assert [(p["hours"], p["amount"], p["date"]) for p in paid] == [
        ("100", "0.00", TODAY.isoformat()), ("0.25", "100000.00", TODAY.isoformat())]
    assert all(_recorded_now(p["recorded"]) for p in paid)


@pytest.mark.parametrize(("call", "message"), [
    (lambda reg: reg.record_consent("sub-001", TODAY + dt.timedelta(days=1), "v1"), "lies in the future"),
    (lambda reg: reg.record_consent("sub-001", "2024-01-01", "f" * 41), "--form-version: longer than 40"),
    (lambda reg: reg.record_payment("sub-001", 1, 10, TODAY + dt.timedelta(days=1)), "lies in the future"),
    (lambda reg: reg.record_payment("sub-001", 101, 10), "--hours 101"),
    (lambda reg: reg.record_payment("sub-001", 100.5, 10), "--hours 100.5"),
    (lambda reg: reg.record_payment("sub-001", 1, 100000.5), "--amount 100000.5"),
    (lambda reg: reg.record_payment("sub-001", 1, 100001), "--amount 100001"),
])
def test_consent_and_payment_out_of_bounds_are_refused(data_root: Path, private_root: Path, snapshot,
                                                       call, message: str) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name=NAME)
    before = snapshot()
    with pytest.raises(UserError, match=message):
        call(reg)
    assert snapshot() == before


# ------------------------------------------------------------------------------ reading and sessions


def test_the_table_of_an_empty_registry_has_the_columns_and_age_is_nullable_int(data_root: Path) -> None:
    reg = Registry(data_root)
    empty = reg.participants()
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    reg.register(cnn_familiarity="naive", age=30)
    reg.register(cnn_familiarity="naive")
    df = reg.participants()
    assert str(df["age"].dtype) == "Int64" and df["age"].iloc[0] == 30 and df["age"].isna().tolist() == [False, True]


def test_require_gives_none_for_every_field_not_given(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="knows_cnns", registered="2024-05-02")
    assert reg.require(pid) == {"participant_id": pid, "age": None, "gender": None, "handedness": None,
                                "cnn_familiarity": "knows_cnns", "group": None, "notes": None,
                                "registered": "2024-05-02"}


def test_claiming_session_one_or_a_number_in_use(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive")
    reg.claim_session(pid, 1)
    assert _state(data_root)["last_session"] == {pid: 1}
    (data_root / pid / "ses-03").mkdir(parents=True)
    before = (data_root / ".registry.json").read_bytes()
    reg.claim_session(pid, 3)  # already taken by the folder: nothing to record
    assert (data_root / ".registry.json").read_bytes() == before
    with pytest.raises(UserError) as err:
        reg.claim_session(pid, 0)
    assert str(err.value) == "session number 0 must be 1 or more"
    assert reg.next_session(pid) == 4


def _session(data_root: Path, pid: str, folder: str, name: str, order: list[int], rows: int,
             status: str = "incomplete", tail: str = "") -> Path:
    tsv = data_root / pid / folder / "beh" / name
    w = SessionWriter(tsv, "2afc")
    w.start({"TaskName": "2afc", "TrialOrder": order, "TrialOrderSeed": 1})
    for i in order[:rows]:
        w.append({"trial": i, "phase": "test", "pair_id": i, "left_stim": f"s{i}a", "right_stim": f"s{i}b",
                  "impossible_side": "left", "response_side": "left", "chosen_stim": f"s{i}a",
                  "correct": True, "rt": 0.5, "onset": float(i)})
    if status != "incomplete":
        w.set_status(status)
    if tail:
        with open(tsv, "a") as fh:
            fh.write(tail)
    return tsv


def test_sessions_status_from_complete_rows_past_a_torn_line_else_from_the_sidecar(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive")
    # every trial of the order on disk, the status write lost, then a torn line: complete
    _session(data_root, pid, "ses-01", f"{pid}_ses-01_task-2afc_beh.tsv", [1, 2], 2, tail="3\ttest\t3")
    # a header only: no trial done
    _session(data_root, pid, "ses-02", f"{pid}_ses-02_task-2afc_beh.tsv", [1, 2], 0)
    # a row that cannot be read: the sidecar's word
    bad = _session(data_root, pid, "ses-03", f"{pid}_ses-03_task-2afc_beh.tsv", [1, 2], 1, "aborted")
    bad.write_text(bad.read_text().replace("\t0.500000\t", "\tslow\t", 1))
    # no status in the sidecar and a row that cannot be read: incomplete
    quiet = _session(data_root, pid, "ses-04", f"{pid}_ses-04_task-2afc_beh.tsv", [1, 2], 1)
    quiet.write_text(quiet.read_text().replace("\t0.500000\t", "\tslow\t", 1))
    side = json.loads(sidecar_path(quiet).read_text())
    side.pop("SessionStatus", None)
    sidecar_path(quiet).write_text(json.dumps(side))
    # a session folder without a number (made by hand): listed as session 0
    odd = _session(data_root, pid, "ses-pilot", f"{pid}_ses-pilot_task-2afc_beh.tsv", [1, 2], 1, "aborted")
    got = [(s.session, s.task, s.status, s.n_trials) for s in reg.sessions(pid)]
    assert got == [(0, "2afc", "aborted", 1), (1, "2afc", "complete", 2), (2, "2afc", "incomplete", 0),
                   (3, "2afc", "aborted", 1), (4, "2afc", "incomplete", 1)]
    assert reg.sessions(pid)[0].path == odd and beh_path(data_root, pid, 1, "2afc").is_file()


# ------------------------------------------------------------------------------ the identity scan


def test_a_name_in_a_utf16_big_endian_file_with_a_broken_character_is_found(data_root: Path, private_root: Path,
                                                                            tmp_path: Path) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name=NAME)
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "be.txt").write_bytes(b"\xfe\xff" + f"observer {NAME}\n".encode("utf-16-be"))
    (folder / "cut.txt").write_bytes(f"observer {NAME}\n".encode("utf-16") + b"\x00\xd8\x41")  # lone surrogate, odd
    assert {leak.path.name: leak.kind for leak in reg.find_identity_leaks(folder)} == {"be.txt": "name",
                                                                                      "cut.txt": "name"}


def test_a_name_written_in_windows_1252_is_found(data_root: Path, private_root: Path, tmp_path: Path) -> None:
    """Š and Ž are bytes 0x8a and 0x8e in Windows-1252 (control characters in Latin-1); 0x81 is
    undefined there and must not stop the scan."""
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name="Šárka Žáková")
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "cp.txt").write_bytes("observer Šárka Žáková\n".encode("cp1252") + b"\x81")
    (folder / "part.txt").write_bytes("by Žáková".encode("cp1252"))
    assert {leak.path.name: leak.kind for leak in reg.find_identity_leaks(folder)} == {"cp.txt": "name",
                                                                                      "part.txt": "name part"}
    assert "Šárka Žáková\n\ufffd" in decodings("Šárka Žáková\n".encode("cp1252") + b"\x81")[-1]


def test_the_platform_folder_of_another_user_is_refused(data_root: Path, private_root: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a file another owner needs root")
    reg = Registry(data_root, private_root)
    reg.platform_participant("prolific", "abcdef")
    os.chown(private_root / "platform_ids.tsv", 65534, -1)
    with pytest.raises(UserError, match="belongs to another user"):
        reg.platform_participant("prolific", "ghijkl")


# ------------------------------------------------------------------------------ a hand-edited table


@pytest.mark.parametrize(("edit", "message"), [
    (lambda good: good.encode("utf-8").replace(b"wore", b"w\xf6re"), "participants.tsv: not UTF-8 text"),
    (lambda good: b"", "participants.tsv: empty file (no header)"),
    (lambda good: good.encode()[:-1], "participants.tsv: row 3: truncated line (no line end)"),
    (lambda good: (good + "sub-003\t20\n").encode(), "participants.tsv: row 4: 2 fields, expected 8"),
])
def test_a_damaged_table_is_an_error_naming_file_and_row(data_root: Path, edit, message: str) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive", notes="wore glasses")
    reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    tsv.write_bytes(edit(tsv.read_text()))
    with pytest.raises(UserError) as err:
        reg.participants()
    assert str(err.value) == f"{tsv}: {message.split(': ', 1)[1]}"


def test_a_column_added_by_hand_is_kept(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    lines = tsv.read_text().splitlines()
    tsv.write_text(f"{lines[0]}\tlab note\n{lines[1]}\troom 2\n")
    assert reg.register(cnn_familiarity="naive") == "sub-002"
    assert tsv.read_text().splitlines() == [f"{lines[0]}\tlab note", f"{lines[1]}\troom 2",
                                            f"sub-002\tn/a\tn/a\tn/a\tnaive\tn/a\tn/a\t{TODAY.isoformat()}\tn/a"]
    assert reg.participants()["lab note"].tolist()[0] == "room 2"


# ------------------------------------------------------------------------------ more of the private folder


def test_the_familiarity_is_required(data_root: Path) -> None:
    for value in (None, "", "n/a"):
        with pytest.raises(UserError, match="--cnn-familiarity .*must be one of naive, knows_cnns, works_on_cnns"):
            Registry(data_root).register(cnn_familiarity=value)
    assert not (data_root / "participants.tsv").exists()


def test_numbers_above_99_are_read_whole_from_table_and_state(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    tsv.write_text(tsv.read_text().replace("sub-001", "sub-120"))  # a table merged by hand
    assert reg.register(cnn_familiarity="naive") == "sub-121"
    assert _state(data_root)["last_participant"] == 121
    tsv.write_text(tsv.read_text().splitlines()[0] + "\n")  # every row withdrawn
    assert reg.register(cnn_familiarity="naive") == "sub-122"


def test_a_new_bookkeeping_file_holds_every_field(data_root: Path) -> None:
    Registry(data_root).register(cnn_familiarity="naive")
    state = _state(data_root)
    assert set(state) == {"format_version", "registry_id", "last_participant", "last_session", "private_bound"}
    assert state["format_version"] == 1 and len(state["registry_id"]) == 32 and int(state["registry_id"], 16) >= 0
    assert (state["last_participant"], state["last_session"], state["private_bound"]) == (1, {}, False)


def test_a_private_path_that_is_a_file_is_refused(data_root: Path, private_root: Path) -> None:
    private_root.write_text("not a folder")
    with pytest.raises(UserError) as err:
        Registry(data_root, private_root).register(cnn_familiarity="naive", name=NAME)
    assert str(err.value) == f"private folder {private_root} is not a folder"


def test_the_refusal_of_an_open_folder_or_file_says_which_chmod_fixes_it(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", name=NAME)
    private_root.chmod(0o705)
    with pytest.raises(UserError) as err:
        reg.record_consent(pid, "2024-01-01", "v1")
    assert str(err.value) == (f"{private_root} is accessible by group/others (mode 705); "
                              f"run: chmod 700 {private_root}")
    private_root.chmod(0o700)
    ident = private_root / "identities.tsv"
    ident.chmod(0o640)
    with pytest.raises(UserError) as err:
        reg.record_consent(pid, "2024-01-01", "v1")
    assert str(err.value) == f"{ident} is accessible by group/others (mode 640); run: chmod 600 {ident}"


def test_a_private_folder_below_missing_folders_is_created(data_root: Path, tmp_path: Path) -> None:
    private = tmp_path / "secure" / "lab" / "private"
    reg = Registry(data_root, private)
    reg.register(cnn_familiarity="naive", name=NAME)
    assert _mode(private) == 0o700 and [r["name"] for r in reg.private_records("identities.tsv")] == [NAME]
    binding = json.loads((private / "registry.json").read_text())
    assert binding == {"format_version": 1, "registry_id": _state(data_root)["registry_id"],
                       "data_root": str(data_root.resolve())}


def test_the_private_folder_and_its_files_are_never_wider_than_owner_only(
        data_root: Path, private_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Observed at the system calls: the folder is 0700 when it is first seen (before any chmod),
    and every file is 0600 when it is renamed into place (so no moment exposes its text)."""
    seen: dict[str, int] = {}
    real_chmod, real_replace = os.chmod, os.replace

    def chmod(path, mode, *a, **kw):
        if Path(path) == private_root and str(path) not in seen:
            seen[str(path)] = _mode(Path(path))
        return real_chmod(path, mode, *a, **kw)

    def replace(src, dst, *a, **kw):
        if Path(dst).parent == private_root:
            seen[Path(dst).name] = _mode(Path(src))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "chmod", chmod)
    monkeypatch.setattr(os, "replace", replace)
    old = os.umask(0o022)
    try:
        reg = Registry(data_root, private_root)
        pid = reg.register(cnn_familiarity="naive", name=NAME, email="ada@example.org")
        reg.record_consent(pid, "2024-05-02", "v1")
        reg.record_payment(pid, 1, 10)
        reg.platform_participant("prolific", "abcdef")
    finally:
        os.umask(old)
    assert seen == {str(private_root): 0o700, "registry.json": 0o600, "identities.tsv": 0o600,
                    "consent.tsv": 0o600, "payments.tsv": 0o600, "platform_ids.tsv": 0o600}


def test_a_kill_after_binding_the_private_folder_leaves_the_binding_usable(
        data_root: Path, private_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first identity binds the private folder to a new registry id; that id is saved in the
    data root at once, so a kill before the table is written does not lock the folder out."""
    import participants.registry as registry_mod

    real = registry_mod.atomic_write_text

    def killed_at_the_table(path, text, mode=None):
        if Path(path).name == "participants.tsv":
            raise KeyboardInterrupt("killed")
        return real(path, text, mode)

    monkeypatch.setattr(registry_mod, "atomic_write_text", killed_at_the_table)
    with pytest.raises(KeyboardInterrupt):
        Registry(data_root, private_root).register(cnn_familiarity="naive", name=NAME)
    monkeypatch.setattr(registry_mod, "atomic_write_text", real)
    binding = json.loads((private_root / "registry.json").read_text())
    assert _state(data_root)["registry_id"] == binding["registry_id"]
    reg = Registry(data_root, private_root)
    assert reg.register(cnn_familiarity="naive", name="Grace Hopper") == "sub-001"
    assert [r["name"] for r in reg.private_records("identities.tsv")] == ["Grace Hopper"]


# ------------------------------------------------------------------------------ more of the identity scan


def _registry_with(data_root: Path, private_root: Path, *people: dict[str, str]) -> Registry:
    reg = Registry(data_root, private_root)
    for person in people:
        reg.register(cnn_familiarity="naive", **person)
    return reg


def test_a_file_is_reported_with_the_most_specific_kind_of_any_participant(
        data_root: Path, private_root: Path, tmp_path: Path) -> None:
    """Kinds rank e-mail and platform id, then full name, then e-mail user, then name part,
    across participants (a later participant's more specific hit wins)."""
    reg = _registry_with(data_root, private_root, {"name": NAME, "email": "countess@example.org"},
                         {"name": "Grace Hopper", "email": "g.hopper@example.org"})
    reg.platform_participant("prolific", "5f0c8a9b1d2e")
    leaks = {leak.path.name: (leak.participant_id, leak.kind) for leak in _scan(reg, tmp_path, {
        "name_then_mail.txt": f"{NAME} wrote to g.hopper@example.org",
        "user_then_name.txt": "countess met Grace Hopper",
        "part_then_user.txt": "lovelace and g.hopper",
        "name_then_platform.txt": f"{NAME} is 5f0c8a9b1d2e",
        "name_and_own_user.txt": f"{NAME} alias countess",
    })}
    assert leaks == {
        "name_then_mail.txt": ("sub-002", "email"),
        "user_then_name.txt": ("sub-002", "name"),
        "part_then_user.txt": ("sub-002", "email user"),
        "name_then_platform.txt": ("sub-003", "platform id"),
        "name_and_own_user.txt": ("sub-001", "name"),
    }


def test_short_and_format_word_parts_are_not_scanned_alone(data_root: Path, private_root: Path,
                                                            tmp_path: Path) -> None:
    """Name parts and e-mail users of 3+ characters are scanned as words; shorter ones, and ones
    that are words of the data format, only as part of the full name or address."""
    reg = _registry_with(data_root, private_root, {"name": "Li Wei", "email": "jo@example.org"},
                         {"email": "bob@example.org"}, {"email": "test@example.org"})
    leaks = {leak.path.name: (leak.participant_id, leak.kind) for leak in _scan(reg, tmp_path, {
        "li.txt": "li was here", "jo.txt": "jo was here", "wei.txt": "by Wei", "bob.txt": "by bob",
        "test.txt": "phase test", "mail.txt": "reach Kontakt:jo@example.orgTel. 0123"})}
    assert leaks == {"wei.txt": ("sub-001", "name part"), "bob.txt": ("sub-002", "email user"),
                     "mail.txt": ("sub-001", "email")}


@pytest.mark.parametrize(("header", "row", "flagged"), [
    ("participant_id\tname", f"sub-001\t{NAME}", {"full.txt"}),
    ("participant_id\temail", "sub-001\tcountess@example.org", {"mail.txt"}),
])
def test_an_identities_file_without_a_column_is_scanned_for_the_other(
        data_root: Path, private_root: Path, tmp_path: Path, header: str, row: str, flagged: set) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name="Someone Else")
    (private_root / "identities.tsv").write_text(f"{header}\n{row}\n")
    found = {leak.path.name for leak in _scan(reg, tmp_path, {
        "full.txt": f"by {NAME}", "mail.txt": "to countess@example.org", "xx.txt": "xxxx XXXX"})}
    assert found == flagged


def test_a_new_identity_is_checked_against_notes_and_groups_of_others(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", group="hopper_lab")
    reg.register(cnn_familiarity="naive", notes="room 2 - pilot")
    with open(reg.tsv, "a", encoding="utf-8") as fh:  # an address hand-edited into the notes
        fh.write("sub-003\tn/a\tn/a\tn/a\tnaive\tn/a\tcontact eva.b@example.orgplease\t2026-01-01\n")
    reg.state_path.write_text(reg.state_path.read_text().replace('"last_participant": 2', '"last_participant": 3'))
    with pytest.raises(UserError) as err:
        reg.register(cnn_familiarity="naive", name="Hopper")
    assert str(err.value) == ("the new participant's name stands in the group of sub-001 in participants.tsv; "
                              "remove it there first (notes must not identify anyone)")
    with pytest.raises(UserError, match="new participant's e-mail stands in the notes of sub-003"):
        reg.register(cnn_familiarity="naive", email="eva.b@example.org")
    assert reg.register(cnn_familiarity="naive", email="someone@example.org") == "sub-004"  # no name given


# ------------------------------------------------------------------------------ field checks at their edges


def test_empty_optional_fields_are_not_given(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive", age="", gender="", handedness="", group="", notes="",
                       name="", email="")
    assert reg.require(pid) | {"registered": None} == {
        "participant_id": pid, "age": None, "gender": None, "handedness": None, "cnn_familiarity": "naive",
        "group": None, "notes": None, "registered": None}


def test_field_lengths_and_ages_at_their_limits(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", age=10, notes="X-ray " + "n" * 194, name="N" * 120,
                       email="e" * 188 + "@example.org")
    assert reg.require(pid)["age"] == 10 and len(reg.require(pid)["notes"]) == 200
    assert reg.register(cnn_familiarity="naive", age=120) == "sub-002"
    [ident] = reg.private_records("identities.tsv")
    assert (len(ident["name"]), len(ident["email"])) == (120, 200)


@pytest.mark.parametrize(("fields", "message"), [
    ({"age": 9}, "--age '9': must be a whole number of years between 10 and 120"),
    ({"age": 121}, "--age '121': must be a whole number of years between 10 and 120"),
    ({"notes": "n" * 201}, "--notes: longer than 200 characters"),
    ({"notes": "mail me at home@"}, "--notes: contains '@'; notes must not hold contact details"),
    ({"name": "N" * 121}, "--name: longer than 120 characters"),
    ({"name": "Ada\tLovelace"}, "--name: must be one line without tabs"),
    ({"email": "e" * 189 + "@example.org"}, "--email: longer than 200 characters"),
    ({"email": "a\tb@example.org"}, "--email: must be one line without tabs"),
])
def test_field_refusals_name_the_flag_and_the_limit(data_root: Path, fields: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        Registry(data_root).register(**({"cnn_familiarity": "naive"} | fields))
    assert str(err.value) == message
    assert not (data_root / "participants.tsv").exists()


def test_registration_dated_today_is_accepted(data_root: Path) -> None:
    reg = Registry(data_root)
    assert reg.require(reg.register(cnn_familiarity="naive", registered=TODAY))["registered"] == TODAY.isoformat()


def test_the_private_folder_inside_the_data_root_message_says_how_to_fix(data_root: Path) -> None:
    with pytest.raises(UserError) as err:
        Registry(data_root, data_root / "private")
    assert str(err.value) == (f"private folder {data_root / 'private'} lies inside the data root {data_root}; "
                              "put it outside (e.g. --private-root lab_private)")


def test_every_missing_column_is_named(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    tsv.write_text(tsv.read_text().replace("gender", "sex").replace("handedness", "hand"))
    with pytest.raises(UserError) as err:
        reg.participants()
    assert str(err.value) == f"{tsv}: missing column(s) gender, handedness"


def test_platform_numbers_above_99_and_a_bookkeeping_file_without_counters(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    tsv.write_text(tsv.read_text().replace("sub-001", "sub-120"))
    assert reg.platform_participant("sona", "abcdef") == ("sub-121", True)
    assert _state(data_root)["last_participant"] == 121
    _write_state(data_root, {"registry_id": _state(data_root)["registry_id"]})  # counters lost
    tsv.write_text(tsv.read_text().splitlines()[0] + "\n")
    assert reg.platform_participant("sona", "ghijkl") == ("sub-001", True)
    _write_state(data_root, {"registry_id": _state(data_root)["registry_id"], "last_participant": 1})
    assert reg.next_session("sub-001") == 1
    assert _state(data_root)["last_session"] == {"sub-001": 1}
