"""Forgetting events (Toneva et al. 2019), first epoch learned and iteration learned (Baldock et
al. 2021) of each image, from one model's correctness over epochs.

`correct` is bool (n_epochs, n_images), rows in ascending epoch order, `epochs` the epoch numbers
of the rows. Epoch 0 (the untrained network) is left out by the callers by default: its correct
images are chance hits, and counting them would add a spurious "forgetting" at epoch 1.

- forgetting events: transitions correct -> incorrect between consecutive epochs. This is
  allenai/cartography's `compute_forgetfulness` (which walks the trend with a `learnt` flag that
  starts False) except for images never predicted correctly, which cartography scores 1000
  ("never learnt, most forgettable"); `forgetfulness` returns that convention, `forgetting_events`
  the plain count (0 for them) beside a `never_learned` mask.
- first epoch learned: the first epoch at which the image is correct (NaN if never).
- iteration learned: the first epoch from which the image stays correct to the last epoch
  (NaN if it is wrong at the last epoch).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: cartography's score of an image that is never predicted correctly.
NEVER_LEARNED = 1000


def _as_bool(correct: np.ndarray) -> np.ndarray:
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2:
        raise ValueError(f"correctness must be (n_epochs, n_images), not {c.shape}")
    return c


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """Per image, how often it goes from correct at one epoch to wrong at the next (int64)."""
    c = _as_bool(correct)
    return np.count_nonzero(c[:-1] & ~c[1:], axis=0).astype(np.int64)


def never_learned(correct: np.ndarray) -> np.ndarray:
    """Per image, whether it is wrong at every epoch."""
    return ~_as_bool(correct).any(axis=0)


def forgetfulness(correct: np.ndarray) -> np.ndarray:
    """Forgetting events with cartography's convention: NEVER_LEARNED for never-correct images."""
    return np.where(never_learned(correct), NEVER_LEARNED, forgetting_events(correct))


def first_epoch_learned(correct: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Per image, the first epoch at which it is correct; NaN if it never is."""
    c = _as_bool(correct)
    e = np.asarray(epochs, dtype=np.float64)
    first = np.argmax(c, axis=0)
    return np.where(c.any(axis=0), e[first], np.nan)


def iteration_learned(correct: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Per image, the first epoch from which it stays correct through the last; NaN if wrong at the last."""
    c = _as_bool(correct)
    e = np.asarray(epochs, dtype=np.float64)
    n = c.shape[0]
    # length of the run of correct epochs that ends at the last epoch
    wrong_from_end = np.argmax(~c[::-1], axis=0)
    run = np.where(c.all(axis=0), n, wrong_from_end)
    return np.where(run > 0, e[np.clip(n - run, 0, n - 1)], np.nan)


def learning_table(correct: np.ndarray, epochs: np.ndarray) -> pd.DataFrame:
    """Per image: forgetting events, never learned, first epoch and iteration learned, share of epochs correct."""
    c = _as_bool(correct)
    return pd.DataFrame({
        "image_index": np.arange(c.shape[1]),
        "forgetting_events": forgetting_events(c),
        "never_learned": never_learned(c),
        "first_epoch_learned": first_epoch_learned(c, epochs),
        "iteration_learned": iteration_learned(c, epochs),
        "share_epochs_correct": c.mean(axis=0) if c.shape[0] else np.full(c.shape[1], np.nan),
    })


def censored(values: np.ndarray, after: float) -> np.ndarray:
    """NaN (not learned by the last epoch) replaced by `after` (one past the last epoch), so that
    not-learned images rank after every learned one and means over models stay defined (a lower bound)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), after, v)
