"""Report section: this data's numbers beside the paper's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context
from analysis.report.paper import PAPER


def comparison_table(numbers: dict[str, float], reference_data: bool) -> pd.DataFrame:
    """The paper's number, this data's number (rounded like the paper) and a note per quantity."""
    rows = []
    for pn in PAPER:
        key = pn.key
        if key.startswith("q_"):
            value, extra = numbers.get(f"{key}@fig6"), numbers.get(f"{key}@all")
        elif key.startswith("ddd_"):
            value, extra = ddd_value(numbers, key), None
        else:
            value, extra = numbers.get(key), None
        if value is None or not np.isfinite(value):
            note = "not available in this data"
            shown = None
        else:
            shown = round(float(value), pn.decimals) if pn.decimals else int(round(value))
            if shown == pn.value:
                note = "agrees at the published precision"
            else:
                diff = f"{int(shown - pn.value):+d}" if pn.decimals == 0 else f"{shown - pn.value:+.{pn.decimals}f}"
                note = f"differs by {diff}"
                if not (reference_data and key.startswith("q_")):
                    note += " (different observers, models or images: no agreement expected)"
        if extra is not None and np.isfinite(extra):
            note += f"; on all images: {extra:.{pn.decimals}f}"
        rows.append({"quantity": pn.quantity, "context": pn.context, "paper": pn.value,
                     "this_data": shown, "this_data_unrounded": value, "note": note})
    return pd.DataFrame(rows)


# like quantities only: the paper's flips are changes of the predicted label (this data: mean over
# models of each model's mean from epoch 1 on), not the changes of correctness (`correctness_flip_share`)
DDD_KEYS = {"ddd_trivial": "models.shares.trivial", "ddd_in_between": "models.shares.in-between",
            "ddd_impossible": "models.shares.impossible", "ddd_flips": "models.label_flip_share"}


def ddd_value(numbers: dict[str, float], key: str) -> float | None:
    """This data's value of a paper's DDD number, only where it is the same quantity: the shares at
    k = 1 (from the split table at k = 1, or the headline when the analysis used k = 1), label flips."""
    if key == "ddd_flips":
        return numbers.get(DDD_KEYS[key])
    level = DDD_KEYS[key].rsplit(".", 1)[1]
    if f"models.splits.k1.{level}" in numbers:
        return numbers[f"models.splits.k1.{level}"]
    return numbers.get(DDD_KEYS[key]) if numbers.get("models.tolerance") == 1 else None


def section_paper(ctx: Context) -> H.Section:
    sec = H.Section("paper", "Comparison with the paper")
    table = comparison_table(ctx.numbers, ctx.reference_data)
    sec.add(H.paragraph(
        "Meding et al. (ICLR 2022) against this data. Questionnaire numbers use the Fig. 6 selection (label errors "
        "left out, subsets balanced by the seeded draw) and the mean over observers of each observer's mean; the "
        "value on all images is given in the note. Values are rounded as the paper rounds them."))
    sec.add(H.table(table.drop(columns=["this_data_unrounded"]), caption="The paper's numbers and this data's",
                    max_rows=None, csv_name=ctx.save_table("comparison_with_paper", table)))
    return sec
