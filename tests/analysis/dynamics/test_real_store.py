"""The learning-dynamics loader on a store that really trained with the [store] arrays on: its
cartography and RSA equal direct computations from what `model_runs.store` returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from analysis.dynamics.load import load_activations, load_dynamics
from analysis.dynamics.rsa import similarity_table
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution
from tests.model_runs.conftest import TINY_STUDY

STORE = "[store]\nepoch_probabilities = true\nactivations = 24\nactivations_seed = 3\n\n"
CONDITIONS = '[[conditions]]\nname = "base"\n\n[[conditions]]\nname = "init"\nvary = {init_seed = [1, 2]}\n'


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dyn")
    path = tmp / "tiny.toml"
    path.write_text(TINY_STUDY.format(name="tiny", arch="mlp", epochs=4, batch_size=16, train_per_class=8, val_per_class=6,
                                      extra="") + "\n" + STORE + CONDITIONS)
    run_models(load_study(str(path)), tmp / "tiny", ["base", "init-1", "init-2"], Execution(device="cpu", threads=1, quiet=True))
    return tmp / "tiny"


def test_cartography_equals_the_stored_probabilities_reduced_by_hand(trained: Path) -> None:
    study = open_study(trained)
    ids = ["base", "init-1", "init-2"]
    d = load_dynamics(study, ids, from_epoch=1)
    assert not d.missing_probabilities
    for row, m in enumerate(ids):
        p = study.epoch_probabilities(m).astype(np.float64)[1:]  # epochs 1..4 (epoch 0: untrained)
        c = study.epoch_decisions(m).correct[1:]
        assert p.shape == (4, study.n_images)
        for j in range(study.n_images):  # per image, from the definitions (Swayamdipta et al. 2020)
            mean = sum(p[:, j]) / 4
            assert d.confidence[row, j] == pytest.approx(mean)
            assert d.variability[row, j] == pytest.approx((sum((p[:, j] - mean) ** 2) / 4) ** 0.5)
            assert d.correctness[row, j] == pytest.approx(c[:, j].sum() / 4)


def test_rsa_equals_a_direct_computation_from_the_stored_activations(trained: Path) -> None:
    study = open_study(trained)
    acts, missing = load_activations(study, ["base", "init-1", "init-2"])
    assert missing == [] and all(a[0].shape == (24,) for a in acts.values())
    table = similarity_table(acts, {"base": "base", "init-1": "init", "init-2": "init"}, "base")
    index, base = study.activations("base")
    order = np.argsort(index)
    for m in ("init-1", "init-2"):
        other_index, other = study.activations(m)
        assert np.array_equal(np.sort(other_index), index[order])  # the same seeded images for every model
        x = base[order].astype(np.float64)
        y = other[np.argsort(other_index)].astype(np.float64)
        k = len(index)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        rdm_x = [1 - pearsonr(x[i], x[j])[0] for i, j in pairs]
        rdm_y = [1 - pearsonr(y[i], y[j])[0] for i, j in pairs]
        got = table.loc[table["model_id"] == m, "similarity"].item()
        assert got == pytest.approx(spearmanr(rdm_x, rdm_y)[0], abs=1e-9)
