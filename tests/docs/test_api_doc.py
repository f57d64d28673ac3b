"""docs/api.md runs: every Python block, in order, against a small store and session folder, printing the
values computed here independently (scikit-learn's and statsmodels' kappas, a hand-written Krippendorff's
alpha, plain numpy / pandas means)."""

from __future__ import annotations

import contextlib
import io
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from human_data import write_2afc_session, write_2afc_set, write_questionnaire_session, write_questionnaire_set
from model_runs.store import ModelWriter, create_study

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
N_MODELS, N_IMAGES, N_CLASSES = 6, 40, 4
TWO_AFC = {"sub-001": [1, 1, 1, 0, 1, 1, 0, 1, 1, 1], "sub-002": [1, 0, 1, 1, 1, 0, 1, 1, 1, 1],
           "sub-003": [1, 1, 0, 0, 1, 1, 1, 0, 1, 1]}
DIFFICULTY = ["trivial", "in-between", "impossible"] * 3
N_CORRECT = [10, 5, 0, 9, 4, 1, 10, 6, 0]  # of 10 models
MAIN = {"sub-001": ["yes", "maybe", "no", "yes", "maybe", "no", "yes", "yes", "no"],
        "sub-002": ["yes", "yes", "no", "maybe", "maybe", "no", "yes", "maybe", "maybe"],
        "sub-003": ["yes", "maybe", "maybe", "yes", "no", "no", "maybe", "yes", "no"]}
CODES = {"no": 0, "maybe": 1, "yes": 2}


def _correct() -> np.ndarray:
    """(models, images) correctness with images from easy to hard, so that all three levels occur."""
    rng = np.random.default_rng(7)
    p = np.linspace(1.05, -0.05, N_IMAGES).clip(0, 1)
    return rng.random((N_MODELS, N_IMAGES)) < p[None, :]


def _write_store(path: Path, correct: np.ndarray) -> None:
    labels = np.arange(N_IMAGES) % N_CLASSES
    images = pd.DataFrame({"image_index": np.arange(N_IMAGES), "image_id": [f"val/{i}" for i in range(N_IMAGES)],
                           "label": labels, "class_name": [f"c{c}" for c in labels]})
    ids = [f"base-{m}" for m in range(N_MODELS)]
    definition = {"name": path.name, "dataset": {"name": "synthetic", "n_classes": N_CLASSES}, "recipe": {"epochs": 1},
                  "models": [{"model_id": m, "condition": "base", "arch": "toy"} for m in ids]}
    study = create_study(path, definition, images)
    for m, row in zip(ids, correct):
        w = ModelWriter(study, m)
        w.start({"condition": "base", "arch": "toy", "config": {"model_id": m}})
        w.commit_epoch(0, (labels + 1) % N_CLASSES, {"val_loss": 0.0})
        w.commit_epoch(1, np.where(row, labels, (labels + 1) % N_CLASSES), {"val_loss": 0.0})
        w.finish("complete")


def _write_lab(sets: Path, root: Path) -> None:
    pairs = write_2afc_set(sets, "demo-2afc", len(TWO_AFC["sub-001"]))
    for pid, correct in TWO_AFC.items():
        write_2afc_session(root, pid, pairs, [bool(c) for c in correct])
    write_2afc_session(root, "sub-004", pairs, [True, True], status="aborted")  # left out: not complete
    quest = write_questionnaire_set(sets, "demo-questionnaire", DIFFICULTY, N_CORRECT)
    for pid, main in MAIN.items():
        answers = {f"s{i + 1}": (1 + i % 3, a, "no") for i, a in enumerate(main)}
        write_questionnaire_session(root, pid, quest, answers, session=2)


def _krippendorff_ordinal(ratings: np.ndarray) -> float:
    """Krippendorff's alpha, ordinal metric, from the coincidence matrix (Krippendorff 2011), complete data."""
    values = np.unique(ratings)
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in ratings:
        for i, j in combinations(range(len(unit)), 2):
            a, b = index[unit[i]], index[unit[j]]
            o[a, b] += 1 / (len(unit) - 1)
            o[b, a] += 1 / (len(unit) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta = np.zeros_like(o)
    for c in range(len(values)):
        for k in range(len(values)):
            lo, hi = min(c, k), max(c, k)
            delta[c, k] = (n_c[lo:hi + 1].sum() - (n_c[c] + n_c[k]) / 2) ** 2
    observed = (o * delta).sum() / n
    expected = (np.outer(n_c, n_c) * delta).sum() / (n * (n - 1))
    return 1 - observed / expected


def _expected(correct: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    n_correct = correct.sum(axis=0)
    trivial, impossible = n_correct >= N_MODELS - 1, n_correct <= 1
    inbetween = ~trivial & ~impossible
    out = {"models": N_MODELS, "images": N_IMAGES, "trivial": trivial.mean(), "in-between": inbetween.mean(),
           "impossible": impossible.mean()}
    out["model error consistency"] = np.mean([cohen_kappa_score(a, b) for a, b in combinations(correct, 2)])
    out["model error consistency, in-between images"] = np.mean(
        [cohen_kappa_score(a, b) for a, b in combinations(correct[:, inbetween], 2)])
    out["2AFC sessions left out"] = 1
    for pid, c in TWO_AFC.items():
        out[f"2AFC accuracy {pid}"] = np.mean(c)
    out["2AFC accuracy, mean over observers"] = np.mean([np.mean(c) for c in TWO_AFC.values()])
    out["2AFC inter-observer error consistency"] = np.mean(
        [cohen_kappa_score(a, b) for a, b in combinations(TWO_AFC.values(), 2)])
    accuracy = np.array(N_CORRECT) / 10
    for answer in ("yes", "maybe", "no"):
        per_observer = [accuracy[[a == answer for a in main]].mean() for main in MAIN.values()]
        out[f"mean model accuracy, main category {answer}"] = np.mean(per_observer)
    codes = np.array([[CODES[MAIN[pid][i]] for pid in MAIN] for i in range(len(DIFFICULTY))])  # (images, observers)
    out["questionnaire observers"] = len(MAIN)
    out["main category agreement, Fleiss' kappa"] = fleiss_kappa(aggregate_raters(codes)[0])
    out["main category agreement, Krippendorff's alpha (ordinal)"] = _krippendorff_ordinal(codes)
    return out


def _run_blocks(text: str) -> dict[str, float]:
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "api_doc"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)  # noqa: S102
    printed = {}
    for line in out.getvalue().splitlines():
        name, _, value = line.rpartition(": ")
        assert name, f"docs/api.md printed a line that is not 'name: value': {line!r}"
        printed[name] = float(value)
    return printed


def test_every_snippet_runs_and_prints_the_independently_computed_values(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    correct = _correct()
    _write_store(tmp_path / "runs" / "demo", correct)
    _write_lab(tmp_path / "stimulus_sets", tmp_path / "lab_data")
    expected = _expected(correct)
    assert min(expected["trivial"], expected["impossible"]) > 0.1 and expected["in-between"] > 0.2  # all levels occur
    monkeypatch.chdir(tmp_path)
    printed = _run_blocks(DOC.read_text(encoding="utf-8"))
    assert set(printed) == set(expected)  # every printed number is checked, and every checked one printed
    for name, value in expected.items():
        assert printed[name] == pytest.approx(value, abs=6e-5), name
    # the demo's output shown under each snippet names what the snippets print (observer ids aside)
    shown = re.findall(r"```text\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    names = {line.rpartition(": ")[0] for block in shown for line in block.strip().splitlines()}
    assert {n for n in names if "sub-" not in n} == {n for n in printed if "sub-" not in n}
