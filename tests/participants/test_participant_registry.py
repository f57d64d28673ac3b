"""The registry: ids in order and never reused, restricted private folder, no identity in the data tree."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from labutil.errors import UserError
from participants.layout import SessionWriter, beh_path
from participants.registry import Registry

NAME, EMAIL = "Ada Lovelace", "ada.lovelace@example.org"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _walk_text(root: Path) -> str:
    """Paths and contents of every file under root, lower-cased."""
    parts = []
    for p in sorted(root.rglob("*")):
        parts.append(str(p.relative_to(root)))
        if p.is_file():
            parts.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts).casefold()


def _two_afc_session(root: Path, pid: str, session: int, n_rows: int, status: str) -> Path:
    tsv = beh_path(root, pid, session, "2afc")
    w = SessionWriter(tsv, "2afc")
    w.start({"TaskName": "2afc"})
    for i in range(1, n_rows + 1):
        w.append({"trial": i, "phase": "test", "pair_id": i, "left_stim": f"s{i}a", "right_stim": f"s{i}b",
                  "impossible_side": "left", "response_side": "left", "chosen_stim": f"s{i}a",
                  "correct": True, "rt": 0.5, "onset": float(i)})
    if status != "incomplete":
        w.set_status(status)
    return tsv


def test_ids_are_allocated_in_order_and_rows_hold_the_fields(data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    assert reg.register(cnn_familiarity="naive", age=24, gender="female", handedness="right",
                        group="main", notes="wore glasses", registered="2024-05-02") == "sub-001"
    assert reg.register(cnn_familiarity="works_on_cnns", registered=dt.date(2024, 5, 3)) == "sub-002"
    assert reg.register(cnn_familiarity="knows_cnns", age="31") == "sub-003"
    assert (data_root / "participants.tsv").read_text().splitlines()[:3] == [
        "participant_id\tage\tgender\thandedness\tcnn_familiarity\tgroup\tnotes\tregistered",
        "sub-001\t24\tfemale\tright\tnaive\tmain\twore glasses\t2024-05-02",
        "sub-002\tn/a\tn/a\tn/a\tworks_on_cnns\tn/a\tn/a\t2024-05-03",
    ]
    assert reg.require("sub-001") == {"participant_id": "sub-001", "age": 24, "gender": "female",
                                      "handedness": "right", "cnn_familiarity": "naive", "group": "main",
                                      "notes": "wore glasses", "registered": "2024-05-02"}
    assert reg.require("sub-003")["registered"] == dt.date.today().isoformat()
    df = reg.participants()
    assert list(df["participant_id"]) == ["sub-001", "sub-002", "sub-003"]
    assert df["age"].tolist()[0] == 24 and df["age"].isna().tolist() == [False, True, False]
    assert reg.is_registered("sub-002") and not reg.is_registered("sub-004")
    side = (data_root / "participants.json").read_text()
    assert "works_on_cnns" in side and "must not identify" in side
    assert not private_root.exists()  # nothing identifying given: no private folder


def test_ids_are_never_reused_after_rows_or_the_table_are_deleted(data_root: Path) -> None:
    reg = Registry(data_root)
    for _ in range(3):
        reg.register(cnn_familiarity="naive")
    tsv = data_root / "participants.tsv"
    lines = tsv.read_text().splitlines(keepends=True)
    tsv.write_text("".join(lines[:-1]))  # withdraw sub-003 by deleting its row
    assert reg.register(cnn_familiarity="naive") == "sub-004"
    tsv.unlink()
    assert reg.register(cnn_familiarity="naive") == "sub-005"
    assert list(reg.participants()["participant_id"]) == ["sub-005"]


def _register_one(args: tuple[str, int]) -> str:
    root, i = args
    return Registry(Path(root), Path(root).parent / "lab_private").register(cnn_familiarity="naive", age=20 + i)


def test_concurrent_registrations_get_distinct_ids(data_root: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=4, mp_context=ctx) as pool:
        ids = list(pool.map(_register_one, [(str(data_root), i) for i in range(12)]))
    assert sorted(ids) == [f"sub-{n:03d}" for n in range(1, 13)]
    df = Registry(data_root).participants()
    assert sorted(df["participant_id"]) == sorted(ids)
    assert sorted(df["age"].tolist()) == list(range(20, 32))


def test_private_folder_is_owner_only_and_holds_identity_consent_and_payments(
        data_root: Path, private_root: Path) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", name=NAME, email=EMAIL)
    reg.record_consent(pid, "2024-05-02", "v2.1")
    reg.record_payment(pid, 1.5, 15, "2024-05-03")
    assert _mode(private_root) == 0o700
    files = sorted(p.name for p in private_root.iterdir())
    assert files == ["consent.tsv", "identities.tsv", "payments.tsv", "registry.json"]
    assert all(_mode(private_root / f) == 0o600 for f in files)
    assert (private_root / "identities.tsv").read_text() == f"participant_id\tname\temail\nsub-001\t{NAME}\t{EMAIL}\n"
    [consent] = reg.private_records("consent.tsv")
    assert (consent["participant_id"], consent["date"], consent["form_version"]) == ("sub-001", "2024-05-02", "v2.1")
    [paid] = reg.private_records("payments.tsv")
    assert (paid["date"], paid["hours"], paid["amount"], paid["currency"]) == ("2024-05-03", "1.5", "15.00", "EUR")
    # The data tree stays readable for the lab and names nobody.
    assert _mode(data_root / "participants.tsv") & 0o044 == 0o044
    text = _walk_text(data_root)
    for needle in (NAME, "lovelace", EMAIL, "ada.lovelace", "example.org"):
        assert needle.casefold() not in text


def test_a_private_folder_open_to_group_or_others_is_refused(
        data_root: Path, private_root: Path, snapshot) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", name=NAME)
    private_root.chmod(0o750)
    before = snapshot()
    with pytest.raises(UserError, match=r"lab_private is accessible by group/others \(mode 750\)"):
        reg.register(cnn_familiarity="naive", name="Grace Hopper")
    with pytest.raises(UserError, match="accessible by group/others"):
        reg.record_consent(pid, "2024-01-01", "v1")
    private_root.chmod(0o700)
    (private_root / "identities.tsv").chmod(0o644)
    with pytest.raises(UserError, match=r"identities.tsv is accessible by group/others \(mode 644\)"):
        reg.record_payment(pid, 1, 10)
    (private_root / "identities.tsv").chmod(0o600)
    private_root.chmod(0o750)
    assert snapshot() == before


def test_a_private_folder_inside_the_data_root_is_refused(data_root: Path) -> None:
    with pytest.raises(UserError, match="lies inside the data root"):
        Registry(data_root, data_root / "private")
    with pytest.raises(UserError, match="lies inside the data root"):
        Registry(data_root, data_root)
    assert not data_root.exists()


def test_a_private_folder_of_another_data_root_is_refused(tmp_path: Path, private_root: Path) -> None:
    Registry(tmp_path / "real", private_root).register(cnn_familiarity="naive", name=NAME)
    demo = Registry(tmp_path / "demo", private_root)
    with pytest.raises(UserError, match="belongs to another data root"):
        demo.register(cnn_familiarity="naive", name="Grace Hopper")
    assert demo.register(cnn_familiarity="naive") == "sub-001"  # no identity: the folder is not touched
    assert "Grace" not in (private_root / "identities.tsv").read_text()
    assert demo.private_records("identities.tsv") == []


def test_next_session_is_never_reused(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive")
    other = reg.register(cnn_familiarity="naive")
    assert reg.next_session(pid) == 1
    _two_afc_session(data_root, pid, 1, 2, "complete")
    assert reg.next_session(pid) == 2
    _two_afc_session(data_root, pid, 2, 1, "incomplete")
    shutil.rmtree(data_root / pid / "ses-02")  # a deleted folder does not free its number
    assert reg.next_session(pid) == 3
    (data_root / pid / "ses-05").mkdir(parents=True)  # made by hand
    assert reg.next_session(pid) == 6
    reg.claim_session(pid, 9)
    reg.claim_session(pid, 4)  # lower than the highest: no effect
    assert reg.next_session(pid) == 10
    assert reg.next_session(other) == 1
    with pytest.raises(UserError, match="sub-007 is not registered"):
        reg.next_session("sub-007")


def test_sessions_lists_task_status_and_completed_trials(data_root: Path) -> None:
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive")
    other = reg.register(cnn_familiarity="naive")
    t1 = _two_afc_session(data_root, pid, 1, 3, "complete")
    q = beh_path(data_root, pid, 2, "questionnaire")
    w = SessionWriter(q, "questionnaire")
    w.start({})
    w.append({"trial": 1, "phase": "test", "stim_id": "a", "n_categories": 2, "main_category": "yes",
              "unusual": "no", "rt_q1": 1.0, "rt_q2": 1.0, "rt_q3": 1.0})
    with open(q, "a") as fh:
        fh.write("2\ttest\tb\t3")  # a crash mid-row: not a completed trial
    _two_afc_session(data_root, other, 1, 1, "aborted")
    got = [(s.session, s.task, s.status, s.n_trials, s.path) for s in reg.sessions(pid)]
    assert got == [(1, "2afc", "complete", 3, t1), (2, "questionnaire", "incomplete", 1, q)]
    assert [(s.participant_id, s.status) for s in reg.sessions(other)] == [(other, "aborted")]
    assert reg.sessions(reg.register(cnn_familiarity="naive")) == []


def test_require_names_the_registry_file(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive")
    with pytest.raises(UserError) as err:
        reg.require("sub-009")
    assert str(err.value) == f"sub-009 is not registered in {data_root}/participants.tsv"
    with pytest.raises(UserError, match="must look like sub-001"):
        reg.require("009")


@pytest.mark.parametrize(("fields", "message"), [
    ({"age": "abc"}, "--age 'abc': must be a whole number"),
    ({"age": 7}, "--age '7'"),
    ({"age": 300}, "--age '300'"),
    ({"cnn_familiarity": "expert"}, "--cnn-familiarity 'expert': must be one of naive, knows_cnns, works_on_cnns"),
    ({"gender": "f"}, "--gender 'f'"),
    ({"handedness": "both"}, "--handedness 'both'"),
    ({"group": "a group"}, "--group 'a group'"),
    ({"notes": "call ada@example.org"}, "--notes: contains '@'"),
    ({"notes": "line\nbreak"}, "--notes: must be one line"),
    ({"notes": "friend of LOVELACE"}, "--notes contains a registered name part"),
    ({"notes": "same as Ada Lovelace"}, "--notes contains a registered name"),
    ({"notes": "new one is Grace", "name": "Grace Hopper"}, "--notes contains a registered name part"),
    ({"email": "not-an-address"}, "--email 'not-an-address'"),
    ({"registered": "2024-13-01"}, "--registered '2024-13-01': not a date"),
    ({"registered": (dt.date.today() + dt.timedelta(days=2)).isoformat()}, "lies in the future"),
])
def test_invalid_fields_are_refused_and_change_nothing(
        data_root: Path, private_root: Path, snapshot, fields: dict, message: str) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name=NAME, email=EMAIL)
    before = snapshot()
    with pytest.raises(UserError) as err:
        reg.register(**({"cnn_familiarity": "naive"} | fields))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert snapshot() == before


def test_invalid_consent_and_payment_change_nothing(data_root: Path, private_root: Path, snapshot) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", name=NAME)
    before = snapshot()
    for call, message in [
        (lambda: reg.record_consent("sub-002", "2024-01-01", "v1"), "sub-002 is not registered"),
        (lambda: reg.record_consent(pid, "yesterday", "v1"), "--date 'yesterday': not a date"),
        (lambda: reg.record_consent(pid, "2024-01-01", ""), "--form-version: must not be empty"),
        (lambda: reg.record_payment(pid, 0, 10), "--hours 0"),
        (lambda: reg.record_payment(pid, 2, -5), "--amount -5"),
        (lambda: reg.record_payment(pid, 2, float("nan")), "--amount nan"),
        (lambda: reg.record_payment(pid, 2, 10, currency="euro"), "--currency 'euro'"),
    ]:
        with pytest.raises(UserError, match=message):
            call()
    assert snapshot() == before


def test_identity_leaks_are_found_by_whole_word_case_insensitive(
        data_root: Path, private_root: Path, tmp_path: Path) -> None:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name=NAME, email=EMAIL)
    reg.register(cnn_familiarity="naive", name="Will Right")
    folder = tmp_path / "scan"
    folder.mkdir()
    files = {
        "clean.tsv": "trial\tphase\tresponse_side\n1\ttest\tright\n",  # 'right' is a format word
        "adamant.txt": "adamant about lovelaces",  # not whole words
        "full.json": '{"observer": "ADA LOVELACE"}',
        "part.log": "session run by lovelace",
        "mail.csv": "x,Ada.Lovelace@Example.org",
        "user.txt": "login ada.lovelace on lab-pc",
        "will.txt": "Will Right was here",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "sub_lovelace.tsv").write_text("nothing inside")  # identity in the file name
    leaks = {leak.path.name: (leak.participant_id, leak.kind) for leak in reg.find_identity_leaks(folder)}
    assert leaks == {
        "full.json": ("sub-001", "name"),
        "part.log": ("sub-001", "name part"),
        "mail.csv": ("sub-001", "email"),
        "user.txt": ("sub-001", "email user"),
        "sub_lovelace.tsv": ("sub-001", "name part"),
        "will.txt": ("sub-002", "name"),
    }


def test_a_hand_edited_table_with_bad_rows_is_a_one_line_error(data_root: Path) -> None:
    reg = Registry(data_root)
    reg.register(cnn_familiarity="naive", age=30)
    tsv = data_root / "participants.tsv"
    good = tsv.read_text()
    tsv.write_text(good.replace("\t30\t", "\tthirty\t"))
    with pytest.raises(UserError, match=r"participants.tsv: row 2: age 'thirty' is not a whole number or n/a"):
        reg.participants()
    tsv.write_text(good + good.splitlines()[1] + "\n")
    with pytest.raises(UserError, match=r"row 3: participant_id 'sub-001' is malformed or repeated"):
        reg.register(cnn_familiarity="naive")
    tsv.write_text(good.replace("cnn_familiarity", "familiarity"))
    with pytest.raises(UserError, match=r"participants.tsv: missing column\(s\) cnn_familiarity"):
        reg.require("sub-001")
