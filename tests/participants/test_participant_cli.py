"""`python -m participants`: register, list, consent, pay, export; one-line errors that change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labutil.errors import run_cli
from participants.cli import build_parser, main
from participants.layout import SessionWriter, beh_path

REPO = Path(__file__).resolve().parents[2]
NAME, EMAIL = "Grace Hopper", "g.hopper@navy.example"


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process, in the test's working directory (default roots)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "participants", *argv], capture_output=True, text=True,
                          env=env, timeout=60)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _session(root: Path, pid: str, extra: dict | None = None) -> Path:
    tsv = beh_path(root, pid, 1, "questionnaire")
    w = SessionWriter(tsv, "questionnaire")
    w.start({"Observer": pid, **(extra or {})})
    w.append({"trial": 1, "phase": "test", "stim_id": "im1", "n_categories": 10, "main_category": "maybe",
              "unusual": "very", "rt_q1": 1.25, "rt_q2": 0.5, "rt_q3": None})
    w.set_status("complete")
    return tsv


def _walk_text(root: Path) -> str:
    return "\n".join(str(p.relative_to(root)) + "\n" + (p.read_text(errors="replace") if p.is_file() else "")
                     for p in sorted(root.rglob("*"))).casefold()


@pytest.mark.subprocess
def test_a_whole_lab_round_in_real_processes(tmp_path: Path) -> None:
    r = _cli("register", "--cnn-familiarity", "knows_cnns", "--age", "27", "--gender", "male",
             "--handedness", "left", "--group", "main", "--name", NAME, "--email", EMAIL)
    assert (r.returncode, r.stdout, r.stderr) == (0, "sub-001\n", "")
    data, private = tmp_path / "lab_data", tmp_path / "lab_private"  # the default locations
    _session(data, "sub-001")
    r = _cli("consent", "sub-001", "--date", "2024-02-01", "--form-version", "v3")
    assert r.returncode == 0, r.stderr
    r = _cli("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["participant_id", "age", "gender", "handedness", "cnn_familiarity", "group",
                                "notes", "registered", "sessions", "consent", "hours_paid"]
    assert lines[1].split()[:6] == ["sub-001", "27", "male", "left", "knows_cnns", "main"]
    assert "01:questionnaire:complete(1)" in lines[1] and lines[1].split()[-2:] == ["v3", "0"]
    assert "grace" not in r.stdout.casefold() and "hopper" not in r.stdout.casefold()
    r = _cli("export", str(tmp_path / "share"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"exported 4 files to {tmp_path / 'share'}; checked against 1 registered identities\n"
    exported = sorted(str(p.relative_to(tmp_path / "share")) for p in (tmp_path / "share").rglob("*") if p.is_file())
    assert exported == ["participants.json", "participants.tsv",
                        "sub-001/ses-01/beh/sub-001_ses-01_task-questionnaire_beh.json",
                        "sub-001/ses-01/beh/sub-001_ses-01_task-questionnaire_beh.tsv"]
    for root in (data, tmp_path / "share"):
        text = _walk_text(root)
        assert all(s not in text for s in ("grace", "hopper", "g.hopper", "navy.example"))
    assert NAME in (private / "identities.tsv").read_text()


def test_every_verb_has_help_that_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    verbs = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert sorted(verbs) == ["consent", "export", "list", "pay", "register"]
    for verb, sub in verbs.items():
        with pytest.raises(SystemExit) as done:
            main([verb, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        for action in sub._actions:
            assert action.help, f"{verb} {action.dest} has no help"
            assert all(opt in text for opt in action.option_strings)


def test_pay_and_consent_are_recorded_in_the_private_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _run(capsys, "register", "--cnn-familiarity", "naive", "--name", NAME)[:2] == (0, "sub-001\n")
    assert _run(capsys, "pay", "sub-001", "--hours", "2", "--amount", "20", "--date", "2024-03-04")[0] == 0
    assert _run(capsys, "pay", "sub-001", "--hours", "0.5", "--amount", "5.5", "--currency", "CHF")[0] == 0
    rows = (tmp_path / "lab_private" / "payments.tsv").read_text().splitlines()
    assert [r.split("\t")[:5] for r in rows[1:]] == [["sub-001", "2024-03-04", "2", "20.00", "EUR"],
                                                      ["sub-001", _today(), "0.5", "5.50", "CHF"]]
    code, out, _ = _run(capsys, "list")
    assert code == 0 and out.splitlines()[1].split()[-2:] == ["-", "2.5"]


def _today() -> str:
    import datetime as dt

    return dt.date.today().isoformat()


@pytest.mark.parametrize(("argv", "message"), [
    (["register", "--cnn-familiarity", "naive", "--age", "twelve"], "error: --age 'twelve': must be a whole number"),
    (["register", "--cnn-familiarity", "expert"], "error: --cnn-familiarity 'expert': must be one of"),
    (["register", "--cnn-familiarity", "naive", "--name", "Grace Hopper", "--notes", "Hopper again"],
     "error: --notes contains a registered name part"),
    (["register", "--cnn-familiarity", "naive", "--private-root", "lab_data/private"],
     "error: private folder lab_data/private lies inside the data root lab_data"),
    (["consent", "sub-009", "--date", "2024-01-01", "--form-version", "v1"],
     "error: sub-009 is not registered in lab_data/participants.tsv"),
    (["pay", "sub-009", "--hours", "1", "--amount", "10"], "error: sub-009 is not registered in"),
    (["pay", "sub-001", "--hours", "-1", "--amount", "10"], "error: --hours -1.0"),
    (["pay", "sub-001", "--hours", "1", "--amount", "10", "--date", "01.02.2024"], "error: --date '01.02.2024'"),
    (["export", "lab_data/copy"], "error: lab_data/copy lies inside the data root"),
    (["export", "occupied"], "error: occupied already exists and is not an empty folder"),
])
def test_user_errors_are_one_line_exit_2_and_change_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, snapshot, argv: list[str], message: str) -> None:
    assert _run(capsys, "register", "--cnn-familiarity", "naive", "--name", NAME, "--email", EMAIL)[0] == 0
    _session(tmp_path / "lab_data", "sub-001")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "keep.txt").write_text("mine")
    before = snapshot()
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1, err
    assert snapshot() == before


def test_export_refuses_a_data_tree_that_names_a_participant(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, snapshot) -> None:
    _run(capsys, "register", "--cnn-familiarity", "naive", "--name", NAME, "--email", EMAIL)
    _run(capsys, "register", "--cnn-familiarity", "naive")
    tsv = _session(tmp_path / "lab_data", "sub-002", {"ExperimenterNote": "observer reminded g.hopper@navy.example"})
    before = snapshot()
    code, out, err = _run(capsys, "export", "share")
    assert code == 2 and out == ""
    rel = tsv.with_suffix(".json").relative_to(tmp_path)
    assert err == f"error: {rel} contains the registered email of sub-001; nothing exported\n"
    assert "hopper" not in err.casefold()  # the message names the file, never the identity
    assert snapshot() == before  # no export folder, no temporary folder left


def test_export_without_the_private_folder_that_holds_the_identities_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _run(capsys, "register", "--cnn-familiarity", "naive", "--name", NAME)
    code, _, err = _run(capsys, "export", "share", "--private-root", str(tmp_path / "elsewhere"))
    assert code == 2 and "pass --private-root so the export can be checked" in err
    assert not (tmp_path / "share").exists()
