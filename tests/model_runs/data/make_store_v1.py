"""How store_v1/ was made: run at commit 6a8040d (store format 1, the Parquet writer) from the
repository root with `python tests/model_runs/data/make_store_v1.py`. Kept so the reader of
format 1 is tested against files that writer really wrote; do not rerun with a newer writer."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from model_runs.store import ModelWriter, create_study

out = Path("tests/model_runs/data/store_v1")
shutil.rmtree(out, ignore_errors=True)
labels = np.array([0, 1, 2, 0, 1, 2, 1, 0, 2, 1, 0])
images = pd.DataFrame({"image_index": np.arange(11), "image_id": [f"val/{i}" for i in range(11)], "label": labels,
                       "class_name": [f"c{l}" for l in labels]})
study = create_study(out, {"name": "v1", "models": [{"model_id": "done"}, {"model_id": "going"}]}, images)
rng = np.random.default_rng(7)
preds = {m: rng.integers(0, 3, size=(3, 11)) for m in ("done", "going")}
for m, finish in (("done", True), ("going", False)):
    w = ModelWriter(study, m)
    w.start({"condition": "base", "arch": "mlp", "config": {"seed": m}})
    for e, p in enumerate(preds[m][: 3 if finish else 2]):
        w.commit_epoch(e, p, {"val_loss": 1.0 / (e + 1)}, train_decisions=(np.arange(4), p[:4], p[:4] == labels[:4]))
    if finish:
        w.save_probabilities(np.full((11, 3), 1 / 3))
        w.finish()
np.save(out / "expected_predictions.npy", np.stack([preds["done"], preds["going"]]))  # going: rows 0-1 committed
