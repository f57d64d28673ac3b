"""Per-image statistics as correlates of difficulty (after Pliushch et al., "When Deep Classifiers
Agree"), their correlation with difficulty and agreement, and a per-dataset cache.

Statistics, on the image as the network sees it at evaluation (`eval_pixels`), 8-bit grayscale
(ITU-R 601 luma) unless stated:
- `segments`: number of regions of Felzenszwalb & Huttenlocher's graph segmentation of the RGB
  image (skimage `felzenszwalb`, scale 100, sigma 0.5, min_size 50);
- `local_entropy`: mean over pixels of the Shannon entropy (bits) of the gray levels in a disk of
  radius 5 around each pixel (skimage `filters.rank.entropy`);
- `dct_share`: share of 2-D DCT-II coefficients (orthonormal, of the gray image) that hold 99.98 %
  of its energy, taking the largest coefficients first (low = compressible, simple image);
- `edge_strength`: mean Sobel gradient magnitude of the gray image scaled to [0, 1]. This is a
  plain local-contrast measure: it responds to every intensity change, texture and noise
  included. The original used "crisp boundaries" (Isola et al., 2014), which learns from each
  image the pointwise mutual information of neighbouring pixels' features and keeps only
  boundaries between statistically distinct regions (object contours), after spectral
  clustering and non-maximum suppression; it is far slower and ignores texture edges. Expect
  `edge_strength` to track texture energy as much as object boundaries.

Correlations are Spearman's r with a 95 % interval from Fisher's z with the Bonett & Wright (2000)
standard error sqrt((1 + r^2 / 2) / (n - 3)).

Cache: the statistics of every image of a dataset are stored in
`<cache_dir>/image_stats-<key>.parquet`, where key hashes the dataset definition, the image ids
and the parameters above; partial results are saved every `checkpoint` images, so an interrupted
run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.errors import UserError

STATISTICS: tuple[str, ...] = ("segments", "local_entropy", "dct_share", "edge_strength")
PARAMS: dict[str, Any] = {
    "version": 1,
    "felzenszwalb": {"scale": 100, "sigma": 0.5, "min_size": 50},
    "entropy_disk_radius": 5,
    "dct_energy": 0.9998,
    "edge": "sobel-mean",
}
DEFAULT_CACHE_DIR = Path(".cache/analysis/image_stats")

ImageGetter = Callable[[int], Any]


def _to_arrays(image: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 (h, w, 3), gray uint8 (h, w)) from a PIL image or an array."""
    from PIL import Image

    if isinstance(image, Image.Image):
        rgb = np.array(image.convert("RGB"))
        gray = np.array(image.convert("L"))
        return rgb, gray
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max(initial=0) <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2), a
    if a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[:, :, :3]
        return rgb, np.array(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))
    raise ValueError(f"cannot read an image of shape {a.shape}")


def dct_energy_share(gray: np.ndarray, energy: float = PARAMS["dct_energy"]) -> float:
    """Share of orthonormal 2-D DCT coefficients needed (largest first) to hold `energy` of the energy."""
    from scipy.fft import dctn

    coef = dctn(np.asarray(gray, dtype=np.float64), norm="ortho")
    e = np.sort((coef**2).ravel())[::-1]
    total = e.sum()
    if total == 0:
        return 1.0 / e.size
    needed = int(np.searchsorted(np.cumsum(e), energy * total * (1 - 1e-12)) + 1)
    return min(needed, e.size) / e.size


def image_statistics(image: Any) -> dict[str, float]:
    """The four statistics of one image (see the module docstring)."""
    from skimage.filters import sobel
    from skimage.filters.rank import entropy
    from skimage.morphology import disk
    from skimage.segmentation import felzenszwalb

    rgb, gray = _to_arrays(image)
    fz = PARAMS["felzenszwalb"]
    seg = felzenszwalb(rgb, scale=fz["scale"], sigma=fz["sigma"], min_size=fz["min_size"], channel_axis=-1)
    ent = entropy(gray, disk(PARAMS["entropy_disk_radius"]))
    return {
        "segments": float(len(np.unique(seg))),
        "local_entropy": float(ent.mean()),
        "dct_share": dct_energy_share(gray),
        "edge_strength": float(sobel(gray.astype(np.float64) / 255.0).mean()),
    }


def cache_key(dataset: dict[str, Any], image_ids: Sequence[str]) -> str:
    """Hash of the dataset definition, its image ids and the statistics' parameters."""
    h = hashlib.sha256()
    h.update(json.dumps({"dataset": dataset, "params": PARAMS}, sort_keys=True, default=str).encode())
    for i in image_ids:
        h.update(str(i).encode() + b"\0")
    return h.hexdigest()[:20]


def dataset_image_getter(dataset: dict[str, Any]) -> ImageGetter:
    """`open_dataset(dataset).eval_pixels` from model_runs (imported only when needed)."""
    try:
        from model_runs.datasets import open_dataset
    except ImportError as exc:
        raise UserError(f"image statistics need model_runs.datasets to read images ({exc})") from None
    ds = open_dataset(dataset)
    return ds.eval_pixels


def compute_image_stats(
    image_ids: Sequence[str],
    get_image: ImageGetter,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    key: str | None = None,
    checkpoint: int = 1000,
    progress: bool = True,
) -> pd.DataFrame:
    """Statistics of every image (image_index = position in `image_ids`), cached under cache_dir.

    `get_image(i)` returns image i (PIL image or array). Without `cache_dir` nothing is stored.
    """
    from labutil.progress import progress as progress_bar

    from labutil.io import atomic_write_bytes, write_json

    n = len(image_ids)
    path = Path(cache_dir) / f"image_stats-{key}.parquet" if cache_dir is not None and key else None
    done = pd.DataFrame(columns=["image_index", *STATISTICS])
    if path is not None and path.is_file():
        try:
            done = pd.read_parquet(path)
        except Exception:  # a damaged cache is recomputed, never trusted
            done = pd.DataFrame(columns=["image_index", *STATISTICS])
    have = set(done["image_index"].astype(int)) if len(done) else set()
    todo = [i for i in range(n) if i not in have]
    rows: list[dict[str, float]] = []

    def save() -> None:
        if path is None:
            return
        import io

        frame = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if rows else done
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        atomic_write_bytes(path, buf.getvalue())
        write_json(path.with_suffix(".json"), {"key": key, "n_images": n, "params": PARAMS, "done": len(frame)})

    for count, i in enumerate(progress_bar(todo, desc="image statistics", unit="img", disable=not progress), start=1):
        rows.append({"image_index": i, **image_statistics(get_image(i))})
        if count % checkpoint == 0:
            save()
    if todo:
        save()
    frame = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if rows else done
    frame = frame.astype({"image_index": "int64"}).drop_duplicates("image_index", keep="last")
    frame = frame.sort_values("image_index").reset_index(drop=True)
    return frame[frame["image_index"] < n].reset_index(drop=True)


def spearman_ci(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """Spearman r, its CI (Fisher z, Bonett-Wright SE) and n, ignoring NaNs; NaN if undefined."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), float("nan"), n
    r = float(stats.spearmanr(x, y).statistic)
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    se = np.sqrt((1 + r**2 / 2) / (n - 3))
    q = stats.norm.ppf(0.5 + level / 2)
    return r, float(np.tanh(z - q * se)), float(np.tanh(z + q * se)), n


def difficulty_correlations(stats_frame: pd.DataFrame, share_correct: np.ndarray) -> pd.DataFrame:
    """Spearman r (with CI) of each statistic against the per-image share of models correct."""
    rows = []
    for s in STATISTICS:
        r, lo, hi, n = spearman_ci(stats_frame[s].to_numpy(), share_correct)
        rows.append({"statistic": s, "spearman_r": r, "ci_low": lo, "ci_high": hi, "n_images": n})
    return pd.DataFrame(rows)


def agreement_correlations(stats_frame: pd.DataFrame, all_right: np.ndarray, epochs: np.ndarray) -> pd.DataFrame:
    """Per epoch and statistic: Spearman r (with CI) against 'all models right' on the image.

    `all_right` is bool (n_epochs, n_images): the images that count towards that epoch's
    true-positive agreement. NaN at epochs where no image (or every image) is agreed on.
    """
    rows = []
    for s in STATISTICS:
        v = stats_frame[s].to_numpy()
        for e, agreed in zip(epochs, all_right):
            r, lo, hi, n = spearman_ci(v, agreed.astype(np.float64))
            rows.append({"statistic": s, "epoch": int(e), "spearman_r": r, "ci_low": lo, "ci_high": hi, "n_images": n})
    return pd.DataFrame(rows)
