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
            value, extra = numbers.get(DDD_KEYS[key]), None
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


DDD_KEYS = {"ddd_trivial": "models.shares.trivial", "ddd_in_between": "models.shares.in-between",
            "ddd_impossible": "models.shares.impossible", "ddd_flips": "models.flip_share"}


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
