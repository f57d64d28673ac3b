"""The report says what it left out (counts and the option that brings it in), what one observer cannot give,
turns library warnings into sentences, and shows a set's provenance as a sentence, not a raw record."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report.cli import main as report_main
from analysis.report.left_out import left_out_sentences
from analysis.report.set_provenance import describe_set
from analysis.warning_notes import fitting, notes_of_warnings
from human_data import write_2afc_session, write_2afc_set
from labutil.errors import run_cli
from labutil.io import read_json, write_json
from participants.layout import sidecar_path

N_PAIRS = 12


def _mark_simulated(tsv: Path) -> None:
    side = sidecar_path(tsv)
    meta = read_json(side)
    meta["Simulated"] = True
    write_json(side, meta)


def _lab(base: Path, n_people: int, n_simulated: int) -> tuple[Path, Path]:
    sets, root = base / "sets", base / "lab_data"
    pairs = write_2afc_set(sets, "s-2afc", N_PAIRS, acc_trivial=[9] * N_PAIRS, acc_impossible=[1] * N_PAIRS, n_models=10)
    rng = np.random.default_rng(3)
    for i in range(n_people + n_simulated):
        tsv = write_2afc_session(root, f"sub-{i + 1:03d}", pairs, list(rng.random(N_PAIRS) < 0.75))
        if i >= n_people:
            _mark_simulated(tsv)
    write_2afc_session(root, "sub-009", pairs, [True] * 3, status="aborted")
    return sets, root


def _report(base: Path, sets: Path, root: Path, *extra: str) -> int:
    return run_cli(report_main, ["--runs", str(base / "runs"), "--stimuli", str(sets), "--data-root", str(root),
                                 "--out", str(base / "reports"), "--n-boot", "200", *extra])


def test_left_out_sessions_are_counted_on_the_terminal_and_in_the_html(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    sets, root = _lab(tmp_path, n_people=2, n_simulated=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning may escape the report
        assert _report(tmp_path, sets, root) == 0
    out, err = capsys.readouterr()
    assert "2AFC: left out 3 simulated sessions; --include-simulated brings them in" in out
    assert "2AFC: left out 1 incomplete session; --include-incomplete brings it in" in out
    assert "Warning" not in err
    html = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
    assert "2AFC: left out 3 simulated sessions; --include-simulated brings them in." in html


def test_one_observer_says_what_it_cannot_give_instead_of_nan(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    sets, root = _lab(tmp_path, n_people=1, n_simulated=0)
    assert _report(tmp_path, sets, root) == 0
    html = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="2afc"'):html.index('id="questionnaire"')]
    assert "1 observer, 12 test trials." in section and "1 observers" not in section
    assert "With one observer there is no mean over observers" in section
    assert "nan" not in section.lower().replace("n/a", "")
    assert "no t-test over observers (it needs at least two; n = 1)" in section


def test_sentences_name_the_option_per_kind_of_reason() -> None:
    excluded = pd.DataFrame({"reason": ["simulated observer (not analysed unless asked for)",
                                        "pilot session (not analysed unless asked for)",
                                        "session status 'aborted' (only complete sessions are analysed)",
                                        "marked complete but has 3 of 5 expected rows",
                                        "ran on stimulus set 'a', the analysis uses 'b'",
                                        "repeat: sub-001 already has an analysed session (ses-01)"]})
    assert left_out_sentences(excluded, "questionnaire") == [
        "questionnaire: left out 1 simulated session; --include-simulated brings it in",
        "questionnaire: left out 1 pilot session; --include-pilot brings it in",
        "questionnaire: left out 2 incomplete sessions; --include-incomplete brings them in",
        "questionnaire: left out 1 session on another stimulus set; --set-questionnaire NAME brings it in",
        "questionnaire: left out 1 repeated session (listed in the report's exclusions)",
    ]
    assert left_out_sentences(excluded.iloc[:0], "2afc") == []


def test_library_warnings_become_sentences() -> None:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with notes_of_warnings() as notes:
        with fitting("the log-RT mixed model (MixedLM)"):
            warnings.warn("Maximum Likelihood optimization failed to converge.", ConvergenceWarning, stacklevel=1)
        np.array([0.0]) / np.array([0.0])  # an uncaught RuntimeWarning: still a sentence, never raw
    assert notes[0] == ("the log-RT mixed model (MixedLM): the fit did not fully converge; read its estimates and "
                        "intervals with care (Maximum Likelihood optimization failed to converge.)")
    assert notes[1].startswith("a computation: some quantities are undefined on these data")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fitting("outside a report"):  # dropped, as before
            warnings.warn("chatter", ConvergenceWarning, stacklevel=1)


def test_set_provenance_is_one_sentence() -> None:
    meta = {"provenance": {
        "source": {"type": "study", "path": "/x/runs/demo", "study": "demo", "models": ["a", "b", "c"], "epoch": "final"},
        "tolerance": 1,
        "exclusions": [{"kind": "label_errors", "from": "cleanlab", "removed": {"total": 18}},
                       {"kind": "classes", "file": "/x/imagenet_person_classes.txt", "removed": {"total": 0}}],
        "candidates": {"after_exclusions": {"trivial": 827, "in-between": 620, "impossible": 32, "total": 1479}}}}
    assert describe_set(meta) == (
        "study demo (3 models, each model's final epoch); tolerance 1; label issues (cleanlab) removed 18 images; "
        "excluded classes (imagenet_person_classes.txt) removed 0 images; candidates after exclusions: 827 trivial, "
        "620 in-between, 32 impossible")
    published = {"provenance": {"type": "table", "source": "Meding et al. (ICLR 2022), published data: x",
                                "tolerance": 0, "exclusions": {}}}
    assert describe_set(published) == "Meding et al. (ICLR 2022), published data: x; tolerance 0; no exclusions"
