"""`python -m analysis.report` end to end on small fixtures: outputs, self-containment, missing
parts, pseudonymity, failure safety, and rendering in headless Chromium."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.report.cli import main as report_main
from human_data import write_2afc_session, write_2afc_set, write_questionnaire_session, write_questionnaire_set
from labutil.errors import run_cli
from participants.registry import Registry

N_PAIRS = 10
NAMES = [("Erika Mustermann", "erika.mustermann@example.org"), ("Jan Jansen", "jan.jansen@example.org"),
         ("Mario Rossi", "mario.rossi@example.org")]


def make_lab(base: Path) -> dict[str, Path]:
    """Stimulus sets, a registry with identities, 2AFC and questionnaire sessions (one incomplete)."""
    sets, root, private = base / "stimulus_sets", base / "lab_data", base / "lab_private"
    reg = Registry(root, private)
    pids = [reg.register(cnn_familiarity="naive", age=25 + i, name=n, email=e) for i, (n, e) in enumerate(NAMES)]
    rng = np.random.default_rng(0)
    pairs = write_2afc_set(sets, "demo-2afc", N_PAIRS, acc_trivial=list(rng.integers(8, 11, N_PAIRS)),
                           acc_impossible=list(rng.integers(0, 3, N_PAIRS)), n_models=10)
    for pid in pids:
        write_2afc_session(root, pid, pairs, list(rng.random(N_PAIRS) < 0.8), rts=list(0.6 + rng.random(N_PAIRS)))
    write_2afc_session(root, pids[0], pairs, [True] * 4, session=3, status="aborted")
    diff = ["trivial", "in-between", "impossible"] * 4
    quest = write_questionnaire_set(sets, "demo-q", diff, [10, 5, 0] * 4,
                                    meta={"label_issues": {"stim_ids": ["s1"]}})
    levels = {"trivial": (1, "yes", "no"), "in-between": (2, "maybe", "slightly"), "impossible": (4, "no", "very")}
    for pid in pids:
        answers = {}
        for i, d in enumerate(diff):
            n, main, odd = levels[d] if rng.random() < 0.7 else (3, "maybe", "no")
            answers[f"s{i + 1}"] = (n, main, odd)
        write_questionnaire_session(root, pid, quest, answers, session=2)
    return {"sets": sets, "root": root, "private": private}


def run_report(base: Path, paths: dict[str, Path], *extra: str) -> int:
    return run_cli(report_main, ["--runs", str(base / "runs"), "--stimuli", str(paths["sets"]),
                                 "--data-root", str(paths["root"]), "--out", str(base / "reports"),
                                 "--n-boot", "200", *extra])


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "data", "poster"):
                self.refs.append((tag, k, v or ""))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    paths = make_lab(base)
    assert run_report(base, paths) == 0
    return base, paths, base / "reports" / "report_files"


def test_writes_html_figures_and_tables(report):
    _, _, out = report
    html = (out.parent / "report.html").read_text()
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) >= 10
    assert all(p.with_suffix(".svg").is_file() for p in pngs)
    for name in ("2afc_observers", "2afc_consistency_pairs", "2afc_pairs", "questionnaire_all_model_accuracy",
                 "questionnaire_fig6_agreement", "comparison_with_paper", "2afc_excluded_sessions"):
        assert (out / "tables" / f"{name}.csv").is_file(), name
    for section in ("Models and dichotomous data difficulty", "2AFC experiment", "Questionnaire", "Comparison with the paper",
                    "Methods, provenance and exclusions"):
        assert section in html
    assert "No decisions store found" in html  # no runs/ in this lab: said, not hidden
    assert not list(out.parent.glob(".*.tmp"))
    assert "report_files/tables/2afc_observers.csv" in html


def test_numbers_in_tables_match_a_direct_computation(report):
    _, paths, out = report
    obs = pd.read_csv(out / "tables" / "2afc_observers.csv")
    from participants.layout import find_sessions, read_session
    from statsmodels.stats.proportion import proportion_confint

    for s in (read_session(p) for p in find_sessions(paths["root"], "2afc")):
        if not s.complete:
            assert s.participant_id not in set(obs["participant_id"]) or s.session not in set(obs["session"])
            continue
        t = s.trials[s.trials["phase"] == "test"]
        row = obs[obs["participant_id"] == s.participant_id].iloc[0]
        assert row["n_correct"] == t["correct"].sum()
        lo, hi = proportion_confint(int(t["correct"].sum()), len(t), method="beta")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-9)
    ex = pd.read_csv(out / "tables" / "2afc_excluded_sessions.csv")
    assert list(ex["status"]) == ["aborted"]


def test_human_inference_tables_match_the_sessions(report):
    from participants.layout import find_sessions, read_session
    from scipy.stats import binomtest

    _, paths, out = report
    sdt = pd.read_csv(out / "tables" / "2afc_sdt.csv").set_index("participant_id")
    obs = pd.read_csv(out / "tables" / "2afc_observers.csv").set_index("participant_id")
    for s in (read_session(p) for p in find_sessions(paths["root"], "2afc")):
        if not s.complete:
            continue
        t = s.trials[s.trials["phase"] == "test"]
        signal = t["impossible_side"] == "left"
        left = t["response_side"] == "left"
        row = sdt.loc[s.participant_id]
        assert (row["hits"], row["false_alarms"]) == ((signal & left).sum(), (~signal & left).sum())
        k = int(t["correct"].sum())
        assert obs.loc[s.participant_id, "p_binomial"] == pytest.approx(binomtest(k, len(t), 0.5, alternative="greater").pvalue)
    summary = pd.read_csv(out / "tables" / "2afc_summary.csv").set_index("measure")
    for m in ("accuracy", "error_consistency"):
        assert summary.loc[m, "mean_ci_low"] <= summary.loc[m, "mean"] <= summary.loc[m, "mean_ci_high"]
    mm = pd.read_csv(out / "tables" / "2afc_mixed_model.csv")
    pop = mm[mm["quantity"].str.startswith("accuracy of the population")].iloc[0]
    assert 0.5 < pop["estimate"] < 1 and pop["ci_low"] < pop["estimate"] < pop["ci_high"]
    ag = pd.read_csv(out / "tables" / "questionnaire_all_agreement.csv")
    assert {"weighted_kappa_quadratic", "krippendorff_alpha_ordinal", "icc_2_1", "fleiss_kappa"} <= set(ag["measure"])
    for name in ("correlations", "difficulty_chi2", "ordinal_regression"):
        assert (out / "tables" / f"questionnaire_all_{name}.csv").is_file()


def test_html_is_self_contained_and_images_decode(report):
    from PIL import Image

    _, _, out = report
    html = (out.parent / "report.html").read_text()
    parser = _Refs()
    parser.feed(html)
    assert not parser.tags & {"script", "link", "iframe", "object", "embed"}
    assert "url(" not in html.split("</style>")[0]
    imgs = [v for tag, k, v in parser.refs if tag == "img"]
    assert len(imgs) == len(list((out / "figures").glob("*.png")))
    for tag, k, v in parser.refs:
        assert v.startswith("data:image/png;base64,") if tag == "img" else v.startswith("#"), (tag, k, v[:40])
    for v in imgs:
        im = Image.open(io.BytesIO(base64.b64decode(v.split(",", 1)[1])))
        im.load()
        assert im.size[0] > 100 and im.size[1] > 100


def test_only_pseudonymous_ids(report):
    base, paths, out = report
    assert "sub-001" in (out.parent / "report.html").read_text()
    needles = [re.compile(rf"\\b{re.escape(w.lower())}\\b") for n, e in NAMES for w in (*n.split(), e)]
    checked = 0
    for f in [out.parent / "report.html", *out.rglob("*")]:
        if f.is_file() and f.suffix != ".png":  # PNG pixels and base64 data hold no text
            text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=\\s]+", "", f.read_text().lower())
            assert not [w.pattern for w in needles if w.search(text)], f
            checked += 1
    assert checked > 20


def test_comparison_table_lists_every_paper_number(report):
    _, _, out = report
    comp = pd.read_csv(out / "tables" / "comparison_with_paper.csv")
    from analysis.report.paper import PAPER

    assert list(comp["paper"]) == pytest.approx([p.value for p in PAPER])
    row = comp[comp["quantity"] == "2AFC accuracy, mean over observers"].iloc[0]
    obs = pd.read_csv(out / "tables" / "2afc_observers.csv")
    assert row["this_data_unrounded"] == pytest.approx(obs["accuracy"].mean())
    assert "no agreement expected" in row["note"] or "agrees" in row["note"]
    assert comp[comp["quantity"].str.startswith("share of trivial")]["note"].iloc[0] == "not available in this data"


def test_missing_parts_are_reported(tmp_path, capsys):
    code = run_cli(report_main, ["--runs", str(tmp_path / "runs"), "--stimuli", str(tmp_path / "sets"),
                                 "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--n-boot", "100"])
    assert code == 0
    html = (tmp_path / "out" / "report.html").read_text()
    for text in ("No decisions store found", "No usable 2AFC sessions", "No usable questionnaire sessions"):
        assert text in html
    assert "report.html" in capsys.readouterr().out


def test_sets_given_one_by_one_and_report_name(report, tmp_path):
    base, paths, _ = report
    sets = [str(paths["sets"] / "demo-2afc"), str(paths["sets"] / "demo-q")]
    code = run_cli(report_main, ["--runs", str(tmp_path / "runs"), "--stimuli", *sets, "--data-root", str(paths["root"]),
                                 "--out", str(tmp_path / "out"), "--name", "lab-2026", "--n-boot", "100"])
    assert code == 0
    html = (tmp_path / "out" / "lab-2026.html").read_text()
    assert "Stimulus set" not in html or "not found" not in html
    assert (tmp_path / "out" / "lab-2026_files" / "tables" / "questionnaire_fig6_model_accuracy.csv").is_file()
    assert run_cli(report_main, ["--name", "../x"]) == 2


def test_failure_leaves_the_previous_report_untouched(report, tmp_path, capsys):
    base, paths, out = report
    lab = tmp_path / "lab"
    shutil.copytree(base, lab)
    paths = {k: lab / v.relative_to(base) for k, v in paths.items()}
    old = lab / "reports" / "report.html"
    before = old.read_bytes()
    tsv = next((paths["root"] / "sub-002").rglob("*task-2afc_beh.tsv"))
    lines = tsv.read_text().split("\n")
    lines[3] = lines[3].replace("\tright\t", "\tup\t", 1).replace("\tleft\t", "\tup\t", 1)
    tsv.write_text("\n".join(lines))
    assert run_report(lab, paths) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tsv) in err and "row 4" in err and err.count("\n") == 1
    assert old.read_bytes() == before
    assert not list((lab / "reports").glob(".*.tmp"))


def test_several_studies_need_a_choice(tmp_path, capsys):
    for s in ("a", "b"):
        (tmp_path / "runs" / s).mkdir(parents=True)
        (tmp_path / "runs" / s / "study.toml").write_text(f'name = "{s}"\n')
    code = run_cli(report_main, ["--runs", str(tmp_path / "runs"), "--data-root", str(tmp_path / "d"),
                                 "--stimuli", str(tmp_path / "s"), "--out", str(tmp_path / "o")])
    assert code == 2 and "--study" in capsys.readouterr().err
    assert not (tmp_path / "o" / "report.html").exists()


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as ex:
        report_main(["--help"])
    assert ex.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--runs", "--study", "--no-models", "--stimuli", "--data-root", "--out", "--name", "--set-2afc", "--set-questionnaire",
                "--tolerance", "--include-incomplete", "--balance-seed", "--seed", "--n-boot", "--two-sided"):
        assert opt in text


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    _, _, out = report
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={shot}", "--window-size=1200,2000", (out.parent / "report.html").resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not re.search(r"ERR_FILE_NOT_FOUND|Failed to load resource|net::ERR", proc.stderr)
    im = np.asarray(Image.open(shot).convert("RGB"))
    assert im.shape[:2] == (2000, 1200)
    non_white = (im < 245).any(axis=2).mean()
    assert non_white > 0.03, f"screenshot nearly blank ({non_white:.1%} non-white)"
    assert len(np.unique(im.reshape(-1, 3), axis=0)) > 50  # text, plots in colour


def test_models_section_from_a_decisions_store(structured_study, tmp_path):
    pytest.importorskip("analysis.models.ddd")
    code = run_cli(report_main, ["--runs", str(structured_study.path.parent), "--study", structured_study.path.name,
                                 "--stimuli", str(tmp_path / "none"), "--data-root", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "out"), "--n-boot", "100"])
    assert code == 0
    out = tmp_path / "out" / "report_files"
    html = (out.parent / "report.html").read_text()
    assert "No decisions store" not in html and "No usable 2AFC sessions" in html
    pngs = list((out / "models").rglob("*.png"))
    assert len(pngs) >= 3 and all(p.with_suffix(".svg").is_file() for p in pngs)
    assert len(list((out / "models").rglob("*.csv"))) >= 3 and "report_files/models/" in html
    correct = structured_study.final_decisions().correct
    n_right = correct.sum(axis=0)
    m = correct.shape[0]
    comp = pd.read_csv(out / "tables" / "comparison_with_paper.csv").set_index("quantity")
    assert comp.loc["share of trivial images (k = 1)", "this_data_unrounded"] == pytest.approx(np.mean(n_right >= m - 1))
    assert comp.loc["share of impossible images (k = 1)", "this_data_unrounded"] == pytest.approx(np.mean(n_right <= 1))


def test_model_table_instead_of_a_store(tmp_path: Path) -> None:
    """A per-image models-correct table gives the split, the histogram and the paper comparison."""
    table = tmp_path / "per_image.csv"
    # 4 models, k = 1: trivial >= 3 correct (4 images), impossible <= 1 (5 images), in-between 1
    pd.DataFrame({"n_ok": [4, 4, 4, 3, 2, 1, 0, 0, 0, 0], "bad_label": [0] * 9 + [1]}).to_csv(table, index=False)
    code = run_cli(report_main, ["--model-table", str(table), "--model-table-correct-col", "n_ok",
                                 "--model-table-n-models", "4", "--model-table-label-col", "bad_label",
                                 "--stimuli", str(tmp_path / "none"), "--data-root", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "reports")])
    assert code == 0
    files = tmp_path / "reports" / "report_files"
    comparison = pd.read_csv(files / "tables" / "comparison_with_paper.csv").set_index("quantity")
    assert comparison.loc["share of trivial images (k = 1)", "this_data_unrounded"] == pytest.approx(0.4)
    assert comparison.loc["share of in-between images (k = 1)", "this_data_unrounded"] == pytest.approx(0.1)
    assert comparison.loc["share of impossible images (k = 1)", "this_data_unrounded"] == pytest.approx(0.5)
    assert (files / "models" / "histogram.png").is_file()
    hist = pd.read_csv(files / "models" / "histogram.csv").set_index("n_correct")
    assert hist["n_images"].tolist() == [4, 1, 1, 1, 3] and hist["n_label_issues"].tolist() == [1, 0, 0, 0, 0]
