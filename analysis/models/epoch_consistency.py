"""Error consistency over training: with the base condition at every epoch, between consecutive
epochs of each model, and the epoch shift of the "+k epochs" conditions.

With base, per epoch: model M at its epoch e is compared with every base model B (B != M) at the
matching base epoch, and the kappas are averaged over the base models. Two alignments:

- "same epoch": base epoch e; epochs past base's last epoch are compared with base's last epoch
  (the authors' notebook 01_build_arrays does the same).
- "shifted": for a condition that trains k epochs longer than base (k = its final epoch minus
  base's final epoch, > 0: the "+1 epoch" and "+10 epochs" conditions), epoch e is compared with
  base epoch e - k (capped at base's last epoch), from e = k on. This is the paper's definition:
  "+1 epoch" at epoch 1 against base at epoch 0, and so on, so the final epochs meet.

Epoch shift: the final decisions of every model are compared with base at *every* base epoch;
`best_base_epoch` is the base epoch they agree with best (highest mean kappa; the first on ties)
and `epochs_ahead` = final epoch - best_base_epoch. A "+k" model whose final errors are closest
to base's final ones has epochs_ahead = k; a condition whose final errors look like those of a
less-trained base (e.g. fewer training images) has its best base epoch before base's last.
Together with the two alignments above this says whether shifting the "+k" conditions by k is
what the decisions support: where "+k" repeats base's schedule deterministically, its epoch e
equals base's epoch e (kappa 1 at the same epoch) and the shifted comparison is the lower curve.

Consecutive epochs: kappa between epochs e and e + 1 of the same model (how stable its pattern of
errors is from one epoch to the next; the untrained epoch 0 is included).

All counts come from one matrix product per pair of models (every epoch against every epoch),
so a model's epochs are read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.models.consistency import kappa_from_counts

SAME, SHIFTED = "same epoch", "shifted"


def cross_epoch_kappa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kappa of every row of `a` (epochs x images) with every row of `b`: (len(a), len(b))."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (epochs, images) arrays over the same images, got {a.shape} and {b.shape}")
    dtype = np.float32 if a.shape[1] < 2**24 else np.float64  # integer counts are exact below 2**24
    both = a.astype(dtype) @ b.astype(dtype).T
    ra = a.sum(axis=1, dtype=np.int64)[:, None]
    rb = b.sum(axis=1, dtype=np.int64)[None, :]
    return kappa_from_counts(both.astype(np.float64), ra, rb, a.shape[1])


def consecutive_kappa(correct: np.ndarray) -> np.ndarray:
    """Kappa between each epoch and the next of one model's (epochs, images) correctness."""
    c = np.asarray(correct, dtype=bool)
    if c.shape[0] < 2:
        return np.zeros(0)
    both = np.count_nonzero(c[1:] & c[:-1], axis=1)
    right = c.sum(axis=1, dtype=np.int64)
    return kappa_from_counts(both, right[:-1], right[1:], c.shape[1])


def condition_shifts(final_epochs: Sequence[int], conditions: Sequence[str], base: str) -> dict[str, int]:
    """Epochs each condition trains longer than base (largest final epoch of its models minus base's; >= 0)."""
    finals: dict[str, int] = {}
    for e, c in zip(final_epochs, conditions):
        finals[c] = max(finals.get(c, int(e)), int(e))
    ref = finals[base]
    return {c: max(0, e - ref) for c, e in finals.items()}


def aligned_base_epochs(epochs: np.ndarray, base_epochs: np.ndarray, shift: int) -> np.ndarray:
    """For each of a model's epochs, the row of `base_epochs` it is compared with, or -1 (no match).

    The base epoch is e - shift, capped at base's last epoch; epochs below `shift` (or a base epoch
    that was not stored) have no match.
    """
    base_epochs = np.asarray(base_epochs)
    target = np.minimum(np.asarray(epochs) - shift, base_epochs[-1])
    rows = np.searchsorted(base_epochs, target)
    rows = np.minimum(rows, len(base_epochs) - 1)
    ok = (target >= base_epochs[0]) & (base_epochs[rows] == target)
    return np.where(ok, rows, -1)


@dataclass
class EpochConsistency:
    """The tables of one study: with base per epoch, consecutive epochs, final decisions against base epochs."""

    with_base: pd.DataFrame  # model_id, condition, alignment, shift, epoch, base_epoch, kappa, n_base_models
    consecutive: pd.DataFrame  # model_id, condition, from_epoch, to_epoch, kappa
    final_vs_base: pd.DataFrame  # model_id, condition, final_epoch, base_epoch, kappa
    shift: pd.DataFrame  # one row per non-base model: best base epoch of its final decisions
    base_epochs: np.ndarray
    shifts: dict[str, int]

    def condition_shift(self) -> pd.DataFrame:
        """Per condition: nominal shift, mean epochs ahead, best base epoch, kappa at base's final epoch."""
        if self.shift.empty:
            return pd.DataFrame(columns=["condition", "nominal_shift", "n_models", "best_base_epoch_mean",
                                         "epochs_ahead_mean", "best_kappa_mean", "kappa_with_base_final_mean"])
        g = self.shift.groupby("condition", sort=False)
        return g.agg(nominal_shift=("nominal_shift", "first"), n_models=("model_id", "count"),
                     best_base_epoch_mean=("best_base_epoch", "mean"), epochs_ahead_mean=("epochs_ahead", "mean"),
                     best_kappa_mean=("best_kappa", "mean"),
                     kappa_with_base_final_mean=("kappa_with_base_final", "mean")).reset_index()


def _rows_with_base(m: str, cond: str, epochs: np.ndarray, base_epochs: np.ndarray, kappa: np.ndarray,
                    shift: int, alignment: str) -> list[dict]:
    """Rows of the with-base table for one model and alignment; `kappa` is (n_base, E_m, E_base)."""
    rows = aligned_base_epochs(epochs, base_epochs, shift)
    out = []
    for i, (e, r) in enumerate(zip(epochs, rows)):
        if r < 0:
            continue
        vals = kappa[:, i, r]
        ok = vals[np.isfinite(vals)]
        out.append({"model_id": m, "condition": cond, "alignment": alignment, "shift": shift, "epoch": int(e),
                    "base_epoch": int(base_epochs[r]), "kappa": float(ok.mean()) if ok.size else float("nan"),
                    "n_base_models": int(ok.size)})
    return out


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where a column has no finite value."""
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=0)
    n = ok.sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _shift_row(m: str, cond: str, final_epoch: int, shift: int, base_epochs: np.ndarray, curve: np.ndarray) -> dict:
    """The epoch-shift row of one model from its final decisions' kappa with every base epoch."""
    defined = np.isfinite(curve)
    best = int(np.flatnonzero(defined)[np.argmax(curve[defined])]) if defined.any() else -1  # first maximum
    return {"model_id": m, "condition": cond, "final_epoch": final_epoch, "nominal_shift": shift,
            "kappa_with_base_final": float(curve[-1]),
            "best_base_epoch": int(base_epochs[best]) if best >= 0 else -1,
            "best_kappa": float(curve[best]) if best >= 0 else float("nan"),
            "epochs_ahead": final_epoch - int(base_epochs[best]) if best >= 0 else -1}


def epoch_consistency(study: object, model_ids: Sequence[str], conditions: Sequence[str], base: str,
                      keep: np.ndarray | None = None, progress: bool = False) -> EpochConsistency:
    """Read every model's epochs once and compute the with-base, consecutive and shift tables."""
    from tqdm import tqdm

    from analysis.models.conditions import check_base
    from analysis.models.decisions import open_any

    check_base(conditions, base)
    study = open_any(study)
    sel = slice(None) if keep is None else np.asarray(keep, dtype=bool)

    def read(m: str) -> tuple[np.ndarray, np.ndarray]:
        d = study.epoch_decisions(m, with_prediction=False)
        return np.asarray(d.epochs), d.correct[:, sel]

    base_ids = [m for m, c in zip(model_ids, conditions) if c == base]
    base_data = {m: read(m) for m in base_ids}
    base_epochs = base_data[base_ids[0]][0]
    for e, _ in base_data.values():
        base_epochs = np.intersect1d(base_epochs, e)
    base_rows = {m: np.searchsorted(e, base_epochs) for m, (e, _) in base_data.items()}
    shifts = condition_shifts([int(study.committed_epochs(m)[-1]) for m in model_ids], conditions, base)
    with_base: list[dict] = []
    consecutive: list[dict] = []
    final_rows: list[dict] = []
    shift_rows: list[dict] = []
    for m, cond in tqdm(list(zip(model_ids, conditions)), desc="epoch consistency", unit="model", disable=not progress,
                        leave=False):
        epochs, c = base_data[m] if m in base_data else read(m)
        consecutive += [{"model_id": m, "condition": cond, "from_epoch": int(a), "to_epoch": int(b), "kappa": float(k)}
                        for a, b, k in zip(epochs[:-1], epochs[1:], consecutive_kappa(c))]
        partners = [b for b in base_ids if b != m]
        if not partners:
            continue
        kappa = np.stack([cross_epoch_kappa(c, base_data[b][1][base_rows[b]]) for b in partners])
        with_base += _rows_with_base(m, cond, epochs, base_epochs, kappa, 0, SAME)
        if shifts[cond] > 0:
            with_base += _rows_with_base(m, cond, epochs, base_epochs, kappa, shifts[cond], SHIFTED)
        curve = _nanmean_rows(kappa[:, -1, :])  # final decisions against every base epoch
        final_rows += [{"model_id": m, "condition": cond, "final_epoch": int(epochs[-1]), "base_epoch": int(be),
                        "kappa": float(k)} for be, k in zip(base_epochs, curve)]
        if cond != base:
            shift_rows.append(_shift_row(m, cond, int(epochs[-1]), shifts[cond], base_epochs, curve))
    return EpochConsistency(pd.DataFrame(with_base), pd.DataFrame(consecutive), pd.DataFrame(final_rows),
                            pd.DataFrame(shift_rows), base_epochs, shifts)


def shift_figure(ec: EpochConsistency, order: Sequence[str], title: str):
    """Left: the "+k" conditions' kappa with base per epoch, same epoch (solid) and shifted by k
    (dashed). Right: every condition's final decisions against base at each base epoch (mean over
    the condition's models), the best base epoch marked."""
    from analysis.models.ddd_figures import condition_colors
    from analysis.plotting import new_figure

    colors = condition_colors(order)
    shifted = [c for c in order if ec.shifts.get(c, 0) > 0]
    fig, axes = new_figure(9.0, 3.4, 1, 2, squeeze=False)
    left, right = axes[0]
    wb = ec.with_base
    for cond in shifted:
        for alignment, style in ((SAME, "-"), (SHIFTED, "--")):
            g = wb[(wb["condition"] == cond) & (wb["alignment"] == alignment)].groupby("epoch")["kappa"].mean()
            if len(g):
                label = f"{cond}: base epoch e" if alignment == SAME else f"{cond}: base epoch e - {ec.shifts[cond]}"
                left.plot(g.index, g.to_numpy(), style, color=colors[cond], lw=1.5, label=label)
    left.set_xlabel("epoch e of the condition")
    left.set_ylabel("kappa with base")
    left.set_title("conditions trained longer than base" if shifted else "no condition trains longer than base")
    if shifted:
        left.legend(frameon=False, fontsize=7)
    fv = ec.final_vs_base
    for cond in order:
        g = fv[fv["condition"] == cond].groupby("base_epoch")["kappa"].mean()
        if not len(g) or not np.isfinite(g.to_numpy()).any():
            continue
        lw = 2.0 if cond in shifted else 0.9
        right.plot(g.index, g.to_numpy(), color=colors[cond], lw=lw, label=cond)
        best = g.idxmax()
        right.plot([best], [g[best]], "o", color=colors[cond], ms=4)
    right.set_xlabel("base epoch")
    right.set_ylabel("kappa of final decisions with base")
    right.set_title("which base epoch the final decisions match (dot: best)")
    right.legend(frameon=False, fontsize=6, ncol=2)
    fig.suptitle(title)
    return fig
