"""Label issues from stored probabilities (cleanlab), from a table, from a list."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.models.label_issues import label_issue_mask, label_issues_from_probabilities
from labutil.errors import UserError


def _probs(labels, flip, n_classes, seed):
    """Confident, correct probabilities except on `flip`, where another class gets 0.9."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.05, (len(labels), n_classes))
    target = np.where(flip, (labels + 1) % n_classes, labels)
    p[np.arange(len(labels)), target] = 0.9
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def test_from_stored_probabilities(make_study):
    from cleanlab.filter import find_label_issues

    n, k = 60, 3
    labels = np.arange(n) % k
    flip = np.zeros(n, bool)
    flip[[4, 17, 31]] = True
    probs = {"base-a": _probs(labels, flip, k, 0), "base-b": _probs(labels, flip, k, 1)}
    study = make_study({m: np.ones(n, bool) for m in probs}, labels=labels, n_classes=k, probabilities=probs)
    mask = label_issue_mask(study)
    mean = (probs["base-a"].astype(np.float64) + probs["base-b"]) / 2
    np.testing.assert_array_equal(mask, find_label_issues(labels, mean / mean.sum(axis=1, keepdims=True)))
    assert np.flatnonzero(mask).tolist() == [4, 17, 31]


def test_without_probabilities_is_a_user_error(make_study):
    study = make_study({"base-a": np.ones(4, bool)})
    with pytest.raises(UserError, match="no model stored final-epoch probabilities"):
        label_issue_mask(study)


def test_from_table_and_list(make_study, tmp_path):
    ids = [f"val/n0/{i}.JPEG" for i in range(5)]
    study = make_study({"base-a": np.ones(5, bool)}, image_ids=ids)
    t = tmp_path / "errors.csv"
    t.write_text("val_index,filepath,label_error_mturk\n0,val/n0/0.JPEG,0\n1,val/n0/3.JPEG,1\n2,val/n0/9.JPEG,1\n")
    assert label_issue_mask(study, t).tolist() == [False, False, False, True, False]
    by_index = tmp_path / "by_index.tsv"
    by_index.write_text("image_index\tflag\n" + "".join(f"{i}\t{int(i in (1, 2))}\n" for i in range(5)))
    assert label_issue_mask(study, by_index, column="flag").tolist() == [False, True, True, False, False]
    assert label_issue_mask(study, ["val/n0/1.JPEG"]).tolist() == [False, True, False, False, False]
    assert label_issue_mask(study, [0, 4]).tolist() == [True, False, False, False, True]
    with pytest.raises(UserError, match="no column 'nope'"):
        label_issue_mask(study, t, column="nope")
    with pytest.raises(UserError, match="not in the study"):
        label_issue_mask(study, ["val/n0/77.JPEG"])
    t.write_text("filepath,label_error_mturk\nother/x.JPEG,1\n")
    with pytest.raises(UserError, match="matches the study's image ids"):
        label_issue_mask(study, t)


def test_shape_errors():
    with pytest.raises(UserError):
        label_issues_from_probabilities(np.array([0, 1, 3]), np.full((3, 2), 0.5))
