"""Bit-identical models: groups of models whose decisions agree on every image at every epoch.

Such models are one model counted several times (on a CPU, "non-deterministic" algorithms are
deterministic, so the demo's two `nondeterministic` runs repeat `base`). Their kappa is 1 and
lifts every mean over pairs; the analysis lists them and gives each mean with them and with one
model per group (the first in report order), so the reader sees how much they weigh.

Identity is decided by the predicted labels of every stored epoch (a hash, see
`analysis.models.decisions.decisions_fingerprint`); where both models stored final-epoch
probabilities, those must be equal byte for byte too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd


def identical_groups(
    model_ids: Sequence[str],
    fingerprints: Mapping[str, str],
    probabilities: Callable[[str], np.ndarray | None] | None = None,
) -> list[list[str]]:
    """Groups (two or more models, in `model_ids` order) with equal fingerprints (and probabilities).

    `probabilities(m)` returns a model's stored probabilities or None; it is called only for
    models whose fingerprint another model shares.
    """
    by_print: dict[str, list[str]] = {}
    for m in model_ids:
        by_print.setdefault(fingerprints[m], []).append(m)
    groups: list[list[str]] = []
    for members in by_print.values():
        if len(members) < 2:
            continue
        if probabilities is None:
            groups.append(members)
            continue
        split: list[tuple[np.ndarray | None, list[str]]] = []
        for m in members:
            p = probabilities(m)
            for ref, group in split:
                if ref is None or p is None or (ref.shape == p.shape and np.array_equal(ref, p)):
                    group.append(m)
                    break
            else:
                split.append((p, [m]))
        groups.extend(g for _, g in split if len(g) > 1)
    rank = {m: i for i, m in enumerate(model_ids)}
    return sorted(groups, key=lambda g: rank[g[0]])


def duplicates(groups: Sequence[Sequence[str]]) -> set[str]:
    """The models left out when one model per group is kept (all but each group's first)."""
    return {m for g in groups for m in g[1:]}


def groups_table(groups: Sequence[Sequence[str]], conditions: Mapping[str, str]) -> pd.DataFrame:
    """One row per model of a group: group number (1..), model_id, condition, kept (first of its group)."""
    rows = [{"group": i, "model_id": m, "condition": conditions[m], "kept": j == 0}
            for i, g in enumerate(groups, start=1) for j, m in enumerate(g)]
    return pd.DataFrame(rows, columns=["group", "model_id", "condition", "kept"])


def mean_off_diagonal(kappa: np.ndarray, model_ids: Sequence[str], leave_out: set[str] = frozenset()) -> float:
    """Mean kappa over the pairs of different models (NaN pairs ignored), without `leave_out`."""
    keep = np.array([m not in leave_out for m in model_ids])
    k = np.asarray(kappa, dtype=np.float64)[np.ix_(keep, keep)]
    if k.shape[0] < 2:
        return float("nan")
    off = ~np.eye(k.shape[0], dtype=bool)
    values = k[off]
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
