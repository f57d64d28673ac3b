"""A stimulus set's provenance (set.json) in one readable line for the report, instead of the raw record."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _source(src: Any) -> str:
    if isinstance(src, str):
        return src
    if not isinstance(src, dict):
        return "source not recorded"
    if src.get("type") == "study":
        models = src.get("models") or []
        epoch = src.get("epoch", "final")
        when = "each model's final epoch" if epoch == "final" else f"epoch {epoch}"
        return f"study {src.get('study')} ({len(models)} models, {when})"
    if src.get("type") == "table":
        n = src.get("n_models")
        return f"per-image table {Path(str(src.get('path', '?'))).name}" + (f" ({n} models)" if n else "")
    return ", ".join(f"{k} {v}" for k, v in src.items() if isinstance(v, str | int | float))


def _exclusions(records: Any) -> str:
    from stimuli.sizes import exclusion_name

    if not isinstance(records, list) or not records:
        return "no exclusions"
    parts = []
    for rec in records:
        if isinstance(rec, dict):
            removed = (rec.get("removed") or {}).get("total")
            parts.append(exclusion_name(rec)[0] + (f" removed {removed} images" if removed is not None else ""))
    return "; ".join(parts) or "no exclusions"


def describe_set(meta: dict[str, Any]) -> str:
    """'study demo (22 models, each model's final epoch); tolerance 1; label issues (cleanlab) removed 18 images;
    candidates after exclusions: 827 trivial, 620 in-between, 32 impossible'."""
    prov = meta.get("provenance") or {}
    parts = [_source(prov.get("source", prov.get("type")))]
    if "tolerance" in prov:
        parts.append(f"tolerance {prov['tolerance']}")
    parts.append(_exclusions(prov.get("exclusions")))
    after = (prov.get("candidates") or {}).get("after_exclusions")
    if isinstance(after, dict):
        parts.append("candidates after exclusions: " + ", ".join(
            f"{after.get(d, 0)} {d}" for d in ("trivial", "in-between", "impossible")))
    return "; ".join(parts)
