"""Item-response theory over models x images of final correctness: each model is a respondent with
an ability theta, each image an item with a difficulty b and (2PL) a discrimination a, and

    P(model i right on image j) = sigmoid(a_j * (theta_i - b_j))       (1PL, Rasch: a_j = 1)

Fitted by joint maximum a posteriori (L-BFGS on all parameters at once, vectorised, so 100 models
x 2,000 images take a few seconds) with the priors b ~ N(0, 3^2), log a ~ N(0, 1) and theta ~
N(0, 1) (2PL: fixes the scale) or N(0, 2^2) (1PL, whose scale a = 1 fixes). The priors keep the difficulty of images that every model gets right (or
wrong) finite: there a maximum-likelihood fit runs off to -inf (+inf). Why not girth's marginal
ML: it multiplies the likelihoods of all items per respondent in linear space, which underflows
with thousands of images (tested: NaN at 1,500 items); the tests compare this fit with girth's
where girth works (many respondents, few items).

With every model answering every image, the number of models right is a sufficient statistic of
1PL difficulty, so the 1PL difficulty ranks images exactly as the share of models correct does
(reversed); what IRT adds is the 2PL discrimination (does the image separate strong from weak
models?) and the placement of difficulty on the models' ability scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_SD_DIFFICULTY = 3.0
PRIOR_SD_LOG_DISCRIMINATION = 1.0
PRIOR_SD_ABILITY = {"1pl": 2.0, "2pl": 1.0}


@dataclass(frozen=True)
class IRTFit:
    """Fitted parameters: ability per model, difficulty and discrimination per image."""

    model: str  # "1pl" or "2pl"
    ability: np.ndarray  # (n_models,)
    difficulty: np.ndarray  # (n_items,)
    discrimination: np.ndarray  # (n_items,) (1PL: all 1)
    converged: bool
    n_iterations: int
    neg_log_posterior: float


def _unpack(x: np.ndarray, n_models: int, n_items: int, two_pl: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    theta = x[:n_models]
    b = x[n_models:n_models + n_items]
    log_a = x[n_models + n_items:] if two_pl else np.zeros(n_items)
    return theta, b, log_a


def _objective(x: np.ndarray, y: np.ndarray, two_pl: bool) -> tuple[float, np.ndarray]:
    """Negative log posterior and its gradient."""
    n_models, n_items = y.shape
    theta, b, log_a = _unpack(x, n_models, n_items, two_pl)
    a = np.exp(log_a)
    diff = theta[:, None] - b[None, :]
    eta = a[None, :] * diff
    # log(1 + e^eta) - y * eta, stably
    nll = float(np.sum(np.logaddexp(0.0, eta) - y * eta))
    vt = PRIOR_SD_ABILITY["2pl" if two_pl else "1pl"] ** 2
    vb, va = PRIOR_SD_DIFFICULTY**2, PRIOR_SD_LOG_DISCRIMINATION**2
    prior = 0.5 * float(theta @ theta) / vt + 0.5 * float(b @ b) / vb + (0.5 * float(log_a @ log_a) / va if two_pl else 0.0)
    r = 0.5 * (1.0 + np.tanh(0.5 * eta)) - y  # sigmoid(eta) - y
    g_theta = r @ a + theta / vt
    g_b = -a * r.sum(axis=0) + b / vb
    if not two_pl:
        return nll + prior, np.concatenate([g_theta, g_b])
    g_log_a = a * np.einsum("ij,ij->j", r, diff) + log_a / va
    return nll + prior, np.concatenate([g_theta, g_b, g_log_a])


def _start(y: np.ndarray, two_pl: bool) -> np.ndarray:
    """Starting values: standardised logits of the models' accuracies, minus logits of the images' shares."""
    n_models, n_items = y.shape
    acc = np.clip(y.mean(axis=1), 0.02, 0.98)
    theta = np.log(acc / (1 - acc))
    theta = (theta - theta.mean()) / (theta.std() or 1.0)
    share = np.clip(y.mean(axis=0), 0.02, 0.98)
    b = -np.log(share / (1 - share))
    return np.concatenate([theta, b, np.zeros(n_items if two_pl else 0)])


def fit_irt(correct: np.ndarray, model: str = "2pl", max_iterations: int = 5000) -> IRTFit:
    """Fit a 1PL or 2PL model to bool (n_models, n_items) correctness (see the module docstring)."""
    from scipy.optimize import minimize

    if model not in ("1pl", "2pl"):
        raise ValueError(f"model must be '1pl' or '2pl', not {model!r}")
    y = np.asarray(correct, dtype=np.float64)
    if y.ndim != 2 or min(y.shape) < 2:
        raise ValueError(f"IRT needs at least 2 models and 2 images, not {y.shape}")
    two_pl = model == "2pl"
    res = minimize(_objective, _start(y, two_pl), args=(y, two_pl), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iterations, "maxfun": 2 * max_iterations, "gtol": 1e-6})
    theta, b, log_a = _unpack(res.x, *y.shape, two_pl)
    return IRTFit(model, theta.copy(), b.copy(), np.exp(log_a), bool(res.success), int(res.nit), float(res.fun))


def simulate(n_models: int, n_items: int, seed: int, discrimination: tuple[float, float] = (0.5, 2.5)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 2PL models x items correctness matrix from N(0, 1) abilities and difficulties and uniform
    discriminations (seeded); returns (correct, ability, difficulty, discrimination)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    b = rng.normal(size=n_items)
    a = rng.uniform(*discrimination, size=n_items)
    p = 1.0 / (1.0 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    return rng.random((n_models, n_items)) < p, theta, b, a
