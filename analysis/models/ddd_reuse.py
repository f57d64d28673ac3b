"""Reuse of a finished DDD analysis: the report's models section takes the results that
`python -m analysis.ddd` wrote (`ddd-result.pkl` beside its figures) instead of running the same
analysis again, but only when they are exactly what a fresh run would give.

The key is a SHA-256 of everything the results depend on: the study path as given, every file of
the store (relative path, size, modification time in ns), the options that change the analysis
(all of DDDOptions but those that only concern image statistics or the progress bar), the source
of the analysis, store and utility packages, and the versions of numpy, pandas, scipy and
matplotlib. It is taken before the analysis reads the store, so a store changed during or after
the run never matches. A run with image statistics serves one without: its results up to the
image-statistics step are kept (that step adds figures, tables and notes only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

from analysis.models.outputs import DDDResult, FigureOut, TableOut, Writer

RESULT_FILE = "ddd-result.pkl"
FORMAT = 1
# Options that only concern the image-statistics step or how progress is shown.
IMAGE_STATS_ONLY = ("image_stats", "cache_dir", "data_root", "progress")
CODE = ("analysis", "model_runs", "labutil")


def _code_digest() -> str:
    """SHA-256 of the Python source of the packages the analysis runs (and the libraries' versions)."""
    import matplotlib
    import numpy
    import pandas
    import scipy

    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256(json.dumps([numpy.__version__, pandas.__version__, scipy.__version__,
                                   matplotlib.__version__]).encode())
    for package in CODE:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def store_state(study_path: str | Path) -> list[tuple[str, int, int]]:
    """Every file of the store folder: relative path, size, modification time (ns)."""
    root = Path(study_path)
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


def fingerprint(study_path: str | Path, options: Any) -> str:
    """The key of a DDD analysis of this store, in its present state, with these options."""
    opts = {k: v for k, v in dataclasses.asdict(options).items() if k not in IMAGE_STATS_ONLY}
    text = json.dumps({"format": FORMAT, "study": str(Path(study_path)), "store": store_state(study_path),
                       "options": opts, "code": _code_digest()}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def save_result(out_dir: Path, key: str, result: DDDResult, written: list[str],
                before_image_stats: tuple[int, int, int], image_stats: bool) -> None:
    """Write `ddd-result.pkl` into the analysis' output folder: the key, the result (paths relative
    to the folder), the files in the order written, and where the image-statistics step's outputs begin."""
    from labutil.io import atomic_write_bytes

    rel = dataclasses.replace(
        result, out_dir=Path("."),
        figures=[dataclasses.replace(f, png=Path(f.png.name), svg=Path(f.svg.name)) for f in result.figures],
        tables=[dataclasses.replace(t, csv=Path(t.csv.name)) for t in result.tables])
    atomic_write_bytes(Path(out_dir) / RESULT_FILE, pickle.dumps(
        {"format": FORMAT, "key": key, "result": rel, "written": list(written), "before_image_stats": before_image_stats,
         "image_stats": image_stats}, protocol=pickle.HIGHEST_PROTOCOL))


def reuse_result(src_dir: Path, study_path: str | Path, options: Any, out_dir: Path) -> DDDResult | None:
    """The results in `src_dir` copied into `out_dir` when their key is that of a fresh analysis of
    the store with `options`; None (nothing written) otherwise."""
    path = Path(src_dir) / RESULT_FILE
    try:
        saved = pickle.loads(path.read_bytes())
    except Exception:  # missing, damaged, or from another version: analyse afresh
        return None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("key") != fingerprint(study_path, options):
        return None
    if options.image_stats and not saved["image_stats"]:
        return None
    res: DDDResult = saved["result"]
    if not options.image_stats and saved["image_stats"]:
        n_fig, n_tab, n_notes = saved["before_image_stats"]
        res = dataclasses.replace(res, figures=res.figures[:n_fig], tables=res.tables[:n_tab], notes=res.notes[:n_notes])
    kept = {n for f in res.figures for n in (f.png.name, f.svg.name)} | {t.csv.name for t in res.tables}
    names = [n for n in saved["written"] if n in kept]  # the manifest as the Writer would list them
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=False)
        for name in names:
            shutil.copy2(Path(src_dir) / name, out / name)
    except OSError:
        shutil.rmtree(out, ignore_errors=True)
        return None
    from labutil.io import write_json

    write_json(out / Writer.MANIFEST, {"headline": res.headline, "notes": res.notes, "files": names})
    return dataclasses.replace(
        res, out_dir=out,
        figures=[FigureOut(f.name, out / f.png.name, out / f.svg.name, f.caption) for f in res.figures],
        tables=[TableOut(t.name, out / t.csv.name, t.frame) for t in res.tables])
