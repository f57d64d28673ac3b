"""`status STUDY_DIR`: which models are done, running, interrupted or failed, with accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_runs.runner import model_status
from model_runs.store import open_study


def study_status(study_dir: Path) -> list[dict[str, Any]]:
    """One row per model of the study definition (also those never started)."""
    study = open_study(study_dir)
    defined = [m["model_id"] for m in study.definition.get("models", [])]
    extra = [m for m in study.model_ids() if m not in defined]
    rows = []
    for entry_id in [*defined, *extra]:
        entry = next((m for m in study.definition.get("models", []) if m["model_id"] == entry_id), {})
        status = model_status(study, entry_id)
        info = study.run_info(entry_id) if status != "pending" else {}
        epochs = info.get("epochs", [])
        rows.append({
            "model_id": entry_id,
            "condition": entry.get("condition", info.get("condition", "")),
            "arch": entry.get("arch", info.get("arch", "")),
            "status": status,
            "epoch": int(epochs[-1]["epoch"]) if epochs else None,
            "epochs": entry.get("epochs"),
            "val_accuracy": epochs[-1]["val_accuracy"] if epochs else None,
            "error": info.get("error", "") if status == "failed" else "",
            "time_s": (info.get("timings") or {}).get("total_s"),
        })
    return rows


def print_status(study_dir: Path) -> None:
    study = open_study(study_dir)
    rows = study_status(study_dir)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    dataset = study.definition.get("dataset", {}).get("name", "?")
    print(f"{study_dir}: study '{study.name}' on {dataset}, {study.n_images} validation images, {len(rows)} models: {summary}")
    width = max([len(r["model_id"]) for r in rows] + [8])
    cwidth = max([len(str(r["condition"])) for r in rows] + [9])
    print(f"{'model':<{width}}  {'condition':<{cwidth}}  {'arch':<14} {'status':<11} {'epoch':>9}  {'val_acc':>7}  {'time':>7}")
    for r in rows:
        epoch = f"{r['epoch']}/{r['epochs']}" if r["epoch"] is not None else f"-/{r['epochs']}"
        acc = f"{r['val_accuracy']:.4f}" if r["val_accuracy"] is not None else "-"
        t = f"{r['time_s']:.1f}s" if r["time_s"] is not None else "-"
        line = f"{r['model_id']:<{width}}  {str(r['condition']):<{cwidth}}  {str(r['arch']):<14} {r['status']:<11} {epoch:>9}  {acc:>7}  {t:>7}"
        if r["error"]:
            line += f"  {r['error']}"
        print(line)
    if counts.get("interrupted"):
        print(f"resume interrupted models with: python -m model_runs resume {study_dir}")
