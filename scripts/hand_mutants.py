"""Hand-made mutants of the core modules, each applied alone in a copy of the tree, the named tests run.

A mutant is a small wrong change a reviewer could miss (an off-by-one in the bins, swapped
arguments, a dropped fsync, the wrong quantile, side or denominator, a missing dropna, a privacy
check skipped). Each is applied to a temporary copy of the working tree (never to the tree
itself), the tests named with it are run there, and the mutant counts as killed when they fail.

    .venv/bin/python scripts/hand_mutants.py                 # every mutant (slow: about an hour on two cores)
    .venv/bin/python scripts/hand_mutants.py --group issue   # the ones issue 18 lists
    .venv/bin/python scripts/hand_mutants.py --only stats-holm-bonferroni consistency-mc-median
    .venv/bin/python scripts/hand_mutants.py --list          # names, and whether each still applies

The `issue` group holds the mutants issue 18 names (the tests were written for them); the
`review` group holds others, made afterwards without writing tests for them first. A mutant
whose old text no longer occurs exactly once in its file is reported `stale` and not scored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not display and not slurm and not gpu"]


@dataclass(frozen=True)
class Mutant:
    """One change: `old` (occurring exactly once in `file`) replaced by `new`; `tests` are pytest arguments."""

    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    group: str = "review"


T_CONS = "tests/analysis/models/test_consistency.py"
T_CONS_P = "tests/analysis/models/test_consistency_properties.py"
T_DIFF = "tests/analysis/models/test_difficulty.py"
T_DIFF_P = "tests/analysis/models/test_difficulty_properties.py"
T_AGREE = "tests/analysis/models/test_agreement.py"
T_STATS = "tests/analysis/test_stats.py"
T_STATS_P = "tests/analysis/test_stats_properties.py"
T_2AFC = "tests/analysis/humans/test_two_afc.py"
T_2AFC_P = "tests/analysis/humans/test_two_afc_properties.py"
T_BOOT = "tests/analysis/humans/test_bootstrap.py"
T_RATERS = "tests/analysis/humans/test_raters.py"
T_RATERS_P = "tests/analysis/humans/test_raters_properties.py"
T_STORE = "tests/model_runs/test_store.py"
T_STORE_R = "tests/model_runs/test_store_reading.py"
T_STORE_D = "tests/model_runs/test_store_durability.py"
T_STORE_K = "tests/model_runs/test_store_kills.py"
T_STORE_V1 = "tests/model_runs/test_store_v1.py"
T_SESSION = "tests/experiment/test_session.py"
T_LAYOUT = "tests/participants/test_session_layout.py"
T_LAYOUT_D = "tests/participants/test_session_append_durability.py"
T_REG = "tests/participants/test_participant_registry.py"
T_REG_S = "tests/participants/test_registry_safety.py"
T_IO = "tests/labutil"
T_RULE = "tests/labutil/test_difficulty_rule.py"

ISSUE = [
    Mutant("consistency-exact-support-short", "analysis/models/consistency.py",
           "support = np.arange(max(0, r1 + r2 - n), min(r1, r2) + 1)",
           "support = np.arange(max(0, r1 + r2 - n), min(r1, r2))", (T_CONS_P, T_CONS), "issue"),
    Mutant("consistency-mc-median", "analysis/models/consistency.py",
           "return IndependenceTest(kappa, p, method, float(k_null.mean()), float(k_null.std()), float(np.log10(p)))",
           "return IndependenceTest(kappa, p, method, float(np.median(k_null)), float(k_null.std()), float(np.log10(p)))",
           (T_CONS_P, T_CONS), "issue"),
    Mutant("difficulty-interior-never-pooled", "analysis/models/difficulty.py",
           "        if exp[i] < min_expected:\n            merge(i, i + 1)",
           "        if False:\n            merge(i, i + 1)", (T_DIFF_P, T_DIFF), "issue"),
    Mutant("stats-pearson-nan-in-y-kept", "analysis/stats.py",
           "    keep = np.isfinite(a) & np.isfinite(b)\n    a, b = a[keep], b[keep]\n    nan = float(\"nan\")\n    if a.size < 3",
           "    keep = np.isfinite(a)\n    a, b = a[keep], b[keep]\n    nan = float(\"nan\")\n    if a.size < 3",
           (T_STATS_P, T_STATS), "issue"),
    Mutant("two-afc-rt-incorrect-over-correct", "analysis/humans/two_afc.py",
           "\"rt_median_incorrect\": float(rt[~g[\"correct\"].astype(bool)].median())",
           "\"rt_median_incorrect\": float(rt[g[\"correct\"].astype(bool)].median())", (T_2AFC_P, T_2AFC), "issue"),
    Mutant("two-afc-kappa-bounds-one-observer", "analysis/humans/two_afc.py",
           "consistency.kappa_bounds(acc[i], acc[j])", "consistency.kappa_bounds(acc[i], acc[i])",
           (T_2AFC_P, T_2AFC), "issue"),
    Mutant("bootstrap-lower-quantile-5", "analysis/humans/bootstrap.py",
           "return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))",
           "return float(np.quantile(values, 0.05)), float(np.quantile(values, 1 - a))", (T_2AFC_P, T_BOOT), "issue"),
    Mutant("store-run-json-before-rows", "model_runs/store.py",
           "        correct = predictions == self._labels[None, :]\n        n = len(self._labels)\n",
           "        correct = predictions == self._labels[None, :]\n        n = len(self._labels)\n"
           "        info[\"epochs\"] = kept + [{\"epoch\": int(e), \"val_accuracy\": float(a), **m} for e, a, m in "
           "zip(epochs, correct.mean(axis=1), metrics)]\n        self._write_info(info)\n",
           (T_STORE_D, T_STORE), "issue"),
    Mutant("layout-append-no-fsync", "participants/layout.py",
           "                fh.write(text)\n                fh.flush()\n                os.fsync(fh.fileno())\n",
           "                fh.write(text)\n                fh.flush()\n", (T_LAYOUT_D, T_LAYOUT), "issue"),
    Mutant("store-stale-consolidated-kept", "model_runs/store.py",
           "        _remove_v1_decisions(self.dir)\n", "", (T_STORE_D, T_STORE, T_STORE_V1), "issue"),
    Mutant("store-consolidated-train-file-kept-on-resume", "model_runs/store.py",
           "        (self.dir / TRAIN_DECISIONS_FILE).unlink(missing_ok=True)\n", "", (T_STORE_D, T_STORE), "issue"),
    Mutant("store-uncommitted-train-visible", "model_runs/store.py",
           "return df[df[\"epoch\"].isin(committed)].reset_index(drop=True)", "return df.reset_index(drop=True)",
           (T_STORE_D, T_STORE), "issue"),
    Mutant("store-complete-other-config", "model_runs/store.py",
           "if old.get(\"config\") != info.get(\"config\"):",
           "if old.get(\"status\") != \"complete\" and old.get(\"config\") != info.get(\"config\"):",
           (T_STORE_D, T_STORE), "issue"),
    Mutant("registry-data-inside-private", "participants/registry.py",
           "if private in data.parents:", "if private == data.parent:", (T_REG_S, T_REG), "issue"),
    Mutant("registry-owner-unchecked", "participants/registry.py",
           "if st.st_uid != os.getuid():", "if False:", (T_REG_S, T_REG), "issue"),
    Mutant("registry-session-from-state-alone", "participants/registry.py",
           "return max([int(state.get(\"last_session\", {}).get(pid, 0)), *on_disk])",
           "return int(state.get(\"last_session\", {}).get(pid, 0))", (T_REG_S, T_REG), "issue"),
    Mutant("io-atomic-write-no-fsync", "labutil/io.py",
           "            fh.write(data)\n            fh.flush()\n            os.fsync(fh.fileno())\n",
           "            fh.write(data)\n            fh.flush()\n", (T_IO,), "issue"),
]

REVIEW = [
    # --- the difficulty rule and the models-correct histogram
    Mutant("rule-trivial-strict", "labutil/difficulty.py",
           "out[n_correct >= n_models - tolerance] = TRIVIAL", "out[n_correct > n_models - tolerance] = TRIVIAL",
           (T_RULE, T_DIFF)),
    Mutant("rule-impossible-strict", "labutil/difficulty.py",
           "out[n_correct <= tolerance] = IMPOSSIBLE", "out[n_correct < tolerance] = IMPOSSIBLE", (T_RULE, T_DIFF)),
    Mutant("rule-overlap-allowed-at-equality", "labutil/difficulty.py",
           "if 2 * tolerance >= smallest:", "if 2 * tolerance > smallest:", (T_RULE, T_DIFF)),
    Mutant("rule-tolerance-from-largest-group", "labutil/difficulty.py",
           "smallest = int(np.min(n_models))", "smallest = int(np.max(n_models))", (T_RULE, T_DIFF)),
    Mutant("difficulty-histogram-last-bin-cut", "analysis/models/difficulty.py",
           "minlength=n_models + 1)[: n_models + 1]", "minlength=n_models)[: n_models]", (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-binomial-mean-wrong-denominator", "analysis/models/difficulty.py",
           "/ (n * m)) if n and m", "/ (n * (m + 1))) if n and m", (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-dispersion-ddof", "analysis/models/difficulty.py",
           "var_obs = np.sum((k - mean_obs) ** 2 * counts) / n", "var_obs = np.sum((k - mean_obs) ** 2 * counts) / (n - 1)",
           (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-right-tail-never-pooled", "analysis/models/difficulty.py",
           "while len(exp) > 1 and exp[-1] < min_expected:", "while len(exp) > 1 and exp[-1] < 0:", (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-poisson-binomial-reversed", "analysis/models/difficulty.py",
           "pmf = np.convolve(pmf, [1.0 - p, p])", "pmf = np.convolve(pmf, [p, 1.0 - p])", (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-binomial-exponent", "analysis/models/difficulty.py",
           "np.power(1.0 - float(p), n_models - k)", "np.power(1.0 - float(p), k)", (T_DIFF_P, T_DIFF)),
    Mutant("difficulty-dof-one-more", "analysis/models/difficulty.py",
           "dof = max(len(exp) - 2, 1)", "dof = max(len(exp) - 1, 1)", (T_DIFF_P, T_DIFF)),
    # --- error consistency
    Mutant("consistency-denominator", "analysis/models/consistency.py",
           "den = n * (r1 + r2) - 2.0 * r1 * r2", "den = n * (r1 + r2) - r1 * r2", (T_CONS_P, T_CONS)),
    Mutant("consistency-kappa-min-wrong-cell", "analysis/models/consistency.py",
           "obs_min = 1 - (np.minimum(p1, 1 - p2) + np.minimum(1 - p1, p2))",
           "obs_min = 1 - (np.minimum(p1, 1 - p2) + np.minimum(1 - p1, 1 - p2))", (T_CONS_P, T_CONS)),
    Mutant("consistency-bootstrap-one-tail", "analysis/models/consistency.py",
           "tail = (1 - level) / 2 * 100", "tail = (1 - level) * 100", (T_CONS_P, T_CONS)),
    Mutant("consistency-two-sided-is-one-sided", "analysis/models/consistency.py",
           "return np.abs(k) >= abs(kappa) - tol", "return k >= abs(kappa) - tol", (T_CONS_P, T_CONS)),
    Mutant("consistency-greater-excludes-observed", "analysis/models/consistency.py",
           "return k >= kappa - tol", "return k > kappa + tol", (T_CONS_P, T_CONS)),
    Mutant("consistency-less-wrong-side", "analysis/models/consistency.py",
           "return k <= kappa + tol", "return k >= kappa - tol", (T_CONS_P, T_CONS)),
    Mutant("consistency-mc-dependent-null", "analysis/models/consistency.py",
           "probs = np.array([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)])",
           "probs = np.array([p1 * p1, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)])", (T_CONS_P, T_CONS)),
    Mutant("consistency-hypergeom-swapped", "analysis/models/consistency.py",
           "return log_choose(r1, x) + log_choose(n - r1, r2 - x) - log_choose(n, r2)",
           "return log_choose(r1, x) + log_choose(n - r2, r2 - x) - log_choose(n, r2)", (T_CONS_P, T_CONS)),
    Mutant("consistency-matrix-same-marginal", "analysis/models/consistency.py",
           "right[:, None], right[None, :], d.shape[1])", "right[:, None], right[:, None], d.shape[1])",
           (T_CONS_P, T_CONS)),
    Mutant("consistency-mc-sd-around-zero", "analysis/models/consistency.py",
           "float(k_null.mean()), float(k_null.std()), float(np.log10(p))",
           "float(k_null.mean()), float(np.sqrt(np.mean(k_null ** 2))), float(np.log10(p))", (T_CONS_P, T_CONS)),
    # --- true-positive agreement
    Mutant("agreement-any-right-counts-zero", "analysis/models/agreement.py",
           "any_right = np.count_nonzero(n > 0, axis=-1)\n    with", "any_right = np.count_nonzero(n >= 0, axis=-1)\n    with",
           (T_AGREE,)),
    Mutant("agreement-lower-bound-mean-error", "analysis/models/agreement.py",
           "return 1.0 - np.minimum(errors.sum(axis=0), 1.0)", "return 1.0 - np.minimum(errors.mean(axis=0), 1.0)",
           (T_AGREE,)),
    Mutant("agreement-sd-population", "analysis/models/agreement.py",
           "acc.std(axis=0, ddof=1)", "acc.std(axis=0)", (T_AGREE,)),
    # --- statistics
    Mutant("stats-summary-population-sd", "analysis/stats.py",
           "sd = float(np.std(x, ddof=1))", "sd = float(np.std(x))", (T_STATS_P, T_STATS)),
    Mutant("stats-holm-bonferroni", "analysis/stats.py",
           "adj = np.maximum.accumulate((m - np.arange(m)) * q[order])", "adj = np.maximum.accumulate(m * q[order])",
           (T_STATS_P, T_STATS)),
    Mutant("stats-holm-not-monotone", "analysis/stats.py",
           "adj = np.maximum.accumulate((m - np.arange(m)) * q[order])", "adj = (m - np.arange(m)) * q[order]",
           (T_STATS_P, T_STATS)),
    Mutant("stats-spearman-plain-se", "analysis/stats.py",
           "np.sqrt((1 + rho**2 / 2) / (a.size - 3))", "np.sqrt(1 / (a.size - 3))", (T_STATS_P, T_STATS)),
    Mutant("stats-chi2-yates", "analysis/stats.py",
           "res = chi2_contingency(t, correction=False)", "res = chi2_contingency(t, correction=True)",
           (T_STATS_P, T_STATS)),
    Mutant("stats-cramers-v-max-side", "analysis/stats.py",
           "(n * (min(t.shape) - 1))", "(n * (max(t.shape) - 1))", (T_STATS_P, T_STATS)),
    Mutant("stats-log10-p-greater-off-by-one", "analysis/stats.py",
           "greater = float(logsumexp(logpmf[int(k):]))", "greater = float(logsumexp(logpmf[int(k) + 1:]))",
           (T_STATS_P, T_STATS)),
    Mutant("stats-clopper-pearson-wilson", "analysis/stats.py",
           "proportion_ci(confidence_level=confidence, method=\"exact\")",
           "proportion_ci(confidence_level=confidence, method=\"wilson\")", (T_STATS_P, T_STATS)),
    Mutant("stats-pearson-two-points", "analysis/stats.py",
           "if a.size < 3 or np.ptp(a) == 0", "if a.size < 2 or np.ptp(a) == 0", (T_STATS_P, T_STATS)),
    Mutant("stats-spearman-nan-in-x-kept", "analysis/stats.py",
           "    keep = np.isfinite(a) & np.isfinite(b)\n    a, b = a[keep], b[keep]\n    nan = float(\"nan\")\n    if a.size < 4",
           "    keep = np.isfinite(b)\n    a, b = a[keep], b[keep]\n    nan = float(\"nan\")\n    if a.size < 4",
           (T_STATS_P, T_STATS)),
    Mutant("stats-chi2-empty-column-kept", "analysis/stats.py",
           "t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t",
           "t = t[t.sum(axis=1) > 0] if t.size else t", (T_STATS_P, T_STATS)),
    # --- 2AFC, bootstrap, raters
    Mutant("two-afc-left-choices-wrong-side", "analysis/humans/two_afc.py",
           "\"left_choices\": float((g[\"response_side\"] == \"left\").mean())",
           "\"left_choices\": float((g[\"response_side\"] == \"right\").mean())", (T_2AFC_P, T_2AFC)),
    Mutant("two-afc-unseen-pairs-kept", "analysis/humans/two_afc.py",
           "wide = wide.dropna(axis=1, how=\"any\")", "wide = wide.dropna(axis=1, how=\"all\")", (T_2AFC_P, T_2AFC)),
    Mutant("two-afc-impossible-stim-swapped", "analysis/humans/two_afc.py",
           "t[\"impossible_stim\"] = np.where(left, t[\"left_stim\"], t[\"right_stim\"])",
           "t[\"impossible_stim\"] = np.where(left, t[\"right_stim\"], t[\"left_stim\"])", (T_2AFC_P, T_2AFC)),
    Mutant("two-afc-summary-incorrect-from-correct", "analysis/humans/two_afc.py",
           "float(observers[\"rt_median_incorrect\"].mean())", "float(observers[\"rt_median_correct\"].mean())",
           (T_2AFC_P, T_2AFC)),
    Mutant("bootstrap-observer-paired-with-copy", "analysis/humans/bootstrap.py",
           "    np.fill_diagonal(wts, 0.0)\n", "", (T_2AFC_P, T_BOOT)),
    Mutant("bootstrap-last-item-never-drawn", "analysis/humans/bootstrap.py",
           "rng.integers(0, n_items, n_items)", "rng.integers(0, n_items - 1, n_items)", (T_2AFC_P, T_BOOT)),
    Mutant("bootstrap-observer-mean-unweighted-denominator", "analysis/humans/bootstrap.py",
           "return float((r[ok] * per_observer[ok]).sum() / r[ok].sum())",
           "return float((r[ok] * per_observer[ok]).sum() / ok.sum())", (T_2AFC_P, T_BOOT)),
    Mutant("raters-bootstrap-upper-quantile", "analysis/humans/raters.py",
           "return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))",
           "return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a / 2))", (T_RATERS_P, T_RATERS)),
    Mutant("raters-icc-columns-ss", "analysis/humans/raters.py",
           "ss_cols = n * ((r.mean(axis=0) - grand) ** 2).sum()", "ss_cols = k * ((r.mean(axis=0) - grand) ** 2).sum()",
           (T_RATERS,)),
    Mutant("raters-alpha-nominal-expected", "analysis/humans/raters.py",
           "d_e = float(total) / (n * (n - 1))", "d_e = float(total) / (n * n)", (T_RATERS,)),
    # --- the store
    Mutant("store-read-offset-in-items", "model_runs/store.py",
           "offset=first * width * dtype.itemsize", "offset=first * width", (T_STORE, T_STORE_R)),
    Mutant("store-rows-no-fdatasync", "model_runs/store.py",
           "        os.fdatasync(fd)  # data and the new size", "        pass  # data and the new size",
           (T_STORE_D, T_STORE, T_STORE_K)),
    Mutant("store-resume-keeps-one-uncommitted-row", "model_runs/store.py",
           "_truncate_rows(self.dir / CORRECT_FILE, len(epochs), packed_width(n))",
           "_truncate_rows(self.dir / CORRECT_FILE, len(epochs) + 1, packed_width(n))", (T_STORE_D, T_STORE)),
    Mutant("store-recommit-keeps-epoch", "model_runs/store.py",
           "if int(e[\"epoch\"]) < int(epochs[0])]", "if int(e[\"epoch\"]) <= int(epochs[0])]", (T_STORE_D, T_STORE)),
    Mutant("store-resume-uncommitted-train-part-kept", "model_runs/store.py",
           "            if f.name not in committed:\n                f.unlink()", "            if False:\n                f.unlink()",
           (T_STORE_D, T_STORE)),
    Mutant("store-truncate-no-fsync", "model_runs/store.py",
           "            os.ftruncate(fd, keep_rows * width_bytes)\n            os.fsync(fd)",
           "            os.ftruncate(fd, keep_rows * width_bytes)", (T_STORE_D, T_STORE)),
    # --- session planning and the session file
    Mutant("session-test-order-not-shuffled", "experiment/session.py",
           "return practice + [int(t) for t in rng.permutation(test)]", "return practice + [int(t) for t in test]",
           (T_SESSION,)),
    Mutant("session-other-set-accepted-on-resume", "experiment/session.py",
           "if recorded_set != stimset.tables_sha256:", "if recorded_set is None:", (T_SESSION,)),
    Mutant("session-other-seed-accepted-on-resume", "experiment/session.py",
           "if seed is not None and seed != recorded_seed:", "if seed is not None and seed < 0:", (T_SESSION,)),
    Mutant("session-order-on-disk-unchecked", "experiment/session.py",
           "if done != order[: len(done)]:", "if len(done) > len(order):", (T_SESSION,)),
    Mutant("session-unregistered-participant", "experiment/session.py",
           "Registry(data_root, private_root).require(participant)",
           "Registry(data_root, private_root).is_registered(participant)", (T_SESSION,)),
    Mutant("layout-repair-eats-newline", "participants/layout.py",
           "keep = data.rfind(b\"\\n\") + 1", "keep = data.rfind(b\"\\n\")", (T_LAYOUT, T_SESSION)),
    Mutant("layout-rows-count-header", "participants/layout.py",
           "return max(data.count(b\"\\n\") - 1, 0)", "return data.count(b\"\\n\")", (T_LAYOUT, T_SESSION)),
    Mutant("layout-repair-no-fsync", "participants/layout.py",
           "        fh.truncate(keep)\n        fh.flush()\n        os.fsync(fh.fileno())",
           "        fh.truncate(keep)\n        fh.flush()", (T_LAYOUT_D, T_LAYOUT)),
    # --- the registry's privacy
    Mutant("registry-group-access-allowed", "participants/registry.py",
           "if stat.S_IMODE(st.st_mode) & 0o077:", "if stat.S_IMODE(st.st_mode) & 0o007:", (T_REG_S, T_REG)),
    Mutant("registry-files-in-private-unchecked", "participants/registry.py",
           "for path in [p, *p.iterdir()]:", "for path in [p]:", (T_REG_S, T_REG)),
    Mutant("registry-private-below-data-accepted", "participants/registry.py",
           "if private == data or data in private.parents:", "if private == data:", (T_REG_S, T_REG)),
    Mutant("registry-private-files-readable", "participants/registry.py",
           "        atomic_write_text(path, text, mode=0o600)\n        os.chmod(path, 0o600)",
           "        atomic_write_text(path, text, mode=0o644)\n        os.chmod(path, 0o644)", (T_REG_S, T_REG)),
    # --- atomic writes and leftovers
    Mutant("io-no-folder-fsync", "labutil/io.py",
           "    if sync_dir:\n        fsync_dir(path.parent)", "    if False:\n        fsync_dir(path.parent)", (T_IO,)),
    Mutant("io-live-writer-temp-removed", "labutil/io.py",
           "return not pid_alive(int(m.group(\"pid\")))", "return True", (T_IO,)),
    Mutant("io-zombie-alive", "labutil/io.py",
           "return fh.read().rsplit(\")\", 1)[1].split()[0] != \"Z\"", "return True", (T_IO,)),
    Mutant("io-temp-left-after-failed-write", "labutil/io.py",
           "        if os.path.exists(tmp):\n            os.unlink(tmp)\n", "", (T_IO,)),
]

MUTANTS = ISSUE + REVIEW


def copy_tree(dest: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files of the working tree into `dest`."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def status_of(m: Mutant, tree: Path) -> str | None:
    """None if the mutant applies, else why not (its old text not found exactly once, or none of its tests exist)."""
    text = (tree / m.file).read_text()
    if text.count(m.old) != 1:
        return f"stale: old text found {text.count(m.old)} times in {m.file}"
    return None if existing_tests(m, tree) else "stale: none of its test files exists"


def existing_tests(m: Mutant, tree: Path) -> tuple[str, ...]:
    """The mutant's test files that exist in `tree` (an older tree may lack the newer ones)."""
    return tuple(t for t in m.tests if (tree / t).exists())


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, float, str]:
    """Run pytest on `tests` in the copy; (exit status, seconds, last output line)."""
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    try:
        res = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests], cwd=tree, env=env,
                             capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - t0, "timeout"
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    return res.returncode, time.monotonic() - t0, lines[-1] if lines else res.stderr.strip()[-200:]


def check_imports_from(tree: Path) -> None:
    """The copy's packages, not the shared editable install, must be the ones imported there."""
    out = subprocess.run([sys.executable, "-c", "import analysis, labutil; print(analysis.__file__)"], cwd=tree,
                         capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"error: the copy imports analysis from {out}, not from {tree}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", choices=["issue", "review", "all"], default="all", help="which mutants to run")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run just these mutants")
    ap.add_argument("--list", action="store_true", help="list the mutants and whether each applies; run nothing")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per mutant's test run (a timeout counts as killed)")
    ap.add_argument("--baseline", action="store_true", help="first run each test selection unmutated (it must pass)")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if (args.group == "all" or m.group == args.group) and (not args.only or m.name in args.only)]
    if args.only and len(chosen) != len(set(args.only)):
        unknown = sorted(set(args.only) - {m.name for m in chosen})
        ap.error(f"unknown mutant(s): {', '.join(unknown)}")
    if args.list:
        for m in chosen:
            print(f"{m.group:6} {m.name:48} {status_of(m, ROOT) or 'applies'} ({' '.join(existing_tests(m, ROOT))})")
        return 0
    os.nice(10)  # a shared machine
    with tempfile.TemporaryDirectory(prefix="hand_mutants_") as tmp:
        tree = Path(tmp) / "tree"
        copy_tree(tree)
        check_imports_from(tree)
        if args.baseline:
            for tests in sorted({existing_tests(m, tree) for m in chosen} - {()}):
                rc, secs, last = run_tests(tree, tests, args.timeout)
                print(f"baseline {'ok' if rc == 0 else 'FAILS'} ({secs:.0f} s) {' '.join(tests)}: {last}", flush=True)
                if rc != 0:
                    return 1
        killed, survived, stale = [], [], []
        for m in chosen:
            why = status_of(m, tree)
            if why:
                stale.append(m.name)
                print(f"{m.name:48} {why}", flush=True)
                continue
            path = tree / m.file
            original = path.read_text()
            path.write_text(original.replace(m.old, m.new))
            try:
                rc, secs, last = run_tests(tree, existing_tests(m, tree), args.timeout)
            finally:
                path.write_text(original)
            ok = rc != 0 and rc != 5  # 5: no tests collected
            (killed if ok else survived).append(m.name)
            print(f"{m.name:48} {'killed' if ok else 'SURVIVED'} ({secs:.0f} s) {last}", flush=True)
    scored = len(killed) + len(survived)
    print(f"\n{len(killed)} of {scored} killed ({100 * len(killed) / max(scored, 1):.1f} %)"
          + (f", {len(stale)} stale" if stale else ""))
    for name in survived:
        print(f"survived: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
