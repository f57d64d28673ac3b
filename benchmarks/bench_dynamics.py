"""Speed of the learning-dynamics analyses (issue 14), on the machine it runs on.

1. IRT 2PL over models x images of dichotomous final correctness (difficulty spread wide, as in
   DDD): `analysis.dynamics.irt.fit_irt` (fit once per response pattern, alternating warm start)
   against the plain per-image L-BFGS fit of the same objective (every image its own parameters,
   no warm start), measured in the same run on the same matrix; also 1PL.
2. Forgetting events, first epoch and iteration learned of one model with 91 epochs x the images.

    python benchmarks/bench_dynamics.py [--models 100 --images 20000 --epochs 91]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dichotomous(n_models: int, n_images: int, seed: int = 0) -> np.ndarray:
    """2PL correctness with difficulties spread wide (most images right or wrong for every model)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    b = rng.normal(0.0, 3.0, n_images)
    a = rng.uniform(1.0, 4.0, n_images)
    p = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b)))
    return rng.random(p.shape) < p


def plain_2pl(y: np.ndarray) -> tuple[float, int]:
    """The baseline: L-BFGS on every image's own parameters from the logit start; (seconds, iterations)."""
    from scipy.optimize import minimize

    from analysis.dynamics import irt

    t = time.perf_counter()
    yy = y.astype(np.float64)
    w = np.ones(y.shape[1])
    res = minimize(irt._objective_2pl, irt._start(y, yy.mean(axis=0), y.shape[1]), args=(yy, w), jac=True,
                   method="L-BFGS-B", options={"maxiter": 5000, "maxfun": 10000, "gtol": 1e-6})
    return time.perf_counter() - t, int(res.nit)


def main() -> None:
    from analysis.dynamics import forgetting as fg
    from analysis.dynamics.irt import fit_irt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=91)
    a = ap.parse_args()
    y = dichotomous(a.models, a.images)
    n_patterns = len(np.unique(np.packbits(y, axis=0).T, axis=0))
    print(f"IRT on {a.models} models x {a.images:,} images ({n_patterns:,} distinct response patterns)")
    t = time.perf_counter()
    f1 = fit_irt(y, "1pl")
    print(f"  1PL fit_irt: {time.perf_counter() - t:8.2f} s ({f1.n_iterations} iterations)")
    t = time.perf_counter()
    f2 = fit_irt(y, "2pl")
    ours = time.perf_counter() - t
    print(f"  2PL fit_irt: {ours:8.2f} s ({f2.n_iterations} sweeps + iterations)")
    base, nit = plain_2pl(y)
    print(f"  2PL plain per-image L-BFGS: {base:8.2f} s ({nit} iterations); ratio {base / ours:.1f}x")
    rng = np.random.default_rng(1)
    c = rng.random((a.epochs, a.images)) < 0.7
    e = np.arange(1, a.epochs + 1)
    t = time.perf_counter()
    fg.forgetting_events(c), fg.first_epoch_learned(c, e), fg.iteration_learned(c, e)
    print(f"forgetting / first / iteration learned, one model {a.epochs} x {a.images:,}: {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
