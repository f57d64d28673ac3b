"""Signal detection for the left/right decision of the 2AFC task: sensitivity d' and criterion c.

Each trial shows two images; the observer presses left or right for the one harder for a network.
We treat it as a yes/no detection of "impossible image on the left":

- signal trial: the impossible image is on the left; noise trial: it is on the right;
- a "yes" is a left press: hit = left press on a signal trial, false alarm = left press on a
  noise trial;
- d' = z(H) - z(F) and c = -(z(H) + z(F)) / 2 (Macmillan & Creelman 2005). c < 0: a bias to
  press left, c > 0: a bias to press right, c = 0: no side bias. For an unbiased observer the
  proportion correct is Phi(d' / 2).

Rates use the log-linear correction (Hautus 1995) for every observer alike, so rates of 0 or 1
stay finite: H = (hits + 0.5) / (signal trials + 1), F = (false alarms + 0.5) / (noise trials + 1).
Standard errors are the delta-method ones (Gourevitch & Galanter 1967):
var(d') = H(1-H) / ((N_s + 1) phi(z_H)^2) + F(1-F) / ((N_n + 1) phi(z_F)^2), var(c) = var(d') / 4
(N + 1: the corrected trial counts).
The side-bias test per observer is the Wald z = c / SE(c) (two-sided, Holm-corrected over
observers); over observers, a one-sample t-test of c against 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import holm


def rates(hits: int, n_signal: int, false_alarms: int, n_noise: int) -> tuple[float, float]:
    """Log-linear corrected hit and false-alarm rates (Hautus 1995)."""
    return (hits + 0.5) / (n_signal + 1), (false_alarms + 0.5) / (n_noise + 1)


def dprime_c(hits: int, n_signal: int, false_alarms: int, n_noise: int) -> dict[str, float]:
    """d', c and their delta-method standard errors from the counts of one observer."""
    from scipy.stats import norm

    h, f = rates(hits, n_signal, false_alarms, n_noise)
    zh, zf = norm.ppf(h), norm.ppf(f)
    var = h * (1 - h) / ((n_signal + 1) * norm.pdf(zh) ** 2) + f * (1 - f) / ((n_noise + 1) * norm.pdf(zf) ** 2)
    se = float(np.sqrt(var))
    return {"hit_rate": float(h), "fa_rate": float(f), "dprime": float(zh - zf), "criterion": float(-(zh + zf) / 2) + 0.0,  # + 0.0: no "-0"
            "dprime_se": se, "criterion_se": se / 2}


def sdt_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per observer: counts, corrected rates, d', c, their SEs and the side-bias test (Holm)."""
    from scipy.stats import norm

    rows = []
    for (pid, ses), g in trials.groupby(["participant_id", "session"], sort=True):
        signal = g["impossible_side"] == "left"
        left = g["response_side"] == "left"
        counts = {"n_signal": int(signal.sum()), "n_noise": int((~signal).sum()),
                  "hits": int((signal & left).sum()), "false_alarms": int((~signal & left).sum())}
        est = dprime_c(counts["hits"], counts["n_signal"], counts["false_alarms"], counts["n_noise"])
        z = est["criterion"] / est["criterion_se"]
        rows.append({"participant_id": pid, "session": int(ses), **counts, **est,
                     "share_left": float(left.mean()), "p_side_bias": float(2 * norm.sf(abs(z)))})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_side_bias_holm"] = holm(out["p_side_bias"])
    return out


def population_bias(table: pd.DataFrame) -> dict[str, float]:
    """Mean criterion over observers and a one-sample t-test of c against 0 (scipy)."""
    from scipy.stats import ttest_1samp

    c = table["criterion"].to_numpy(dtype=float) if len(table) else np.array([])
    if c.size < 2:
        return {"mean_criterion": float(np.mean(c)) if c.size else float("nan"), "t": float("nan"), "p_value": float("nan"), "n": int(c.size)}
    res = ttest_1samp(c, 0.0)
    return {"mean_criterion": float(c.mean()), "t": float(res.statistic), "p_value": float(res.pvalue), "n": int(c.size)}
