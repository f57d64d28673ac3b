"""Import of the original study's published questionnaire data into the project's own formats.

`../shared/reference/` (see its README) holds the 8 observers' answers to the follow-up
questionnaire (Experiment 2: 300 test images + 6 training images) and, per image, how many of the
authors' 11 models classify it correctly. `python -m analysis.reference import` writes:

- a questionnaire stimulus set (`stimuli.sets`) with `"images": "not included"` in set.json (the
  ImageNet images are not part of the published data; `file` and `sha256` are `n/a`, the set can be
  analysed but not shown). stimuli.tsv: `stim_id` `item-001`..`item-300` (test items in the
  original order) and `practice-T1`..`practice-T6`, `source_image_id` = the ImageFolder path,
  `label` = class index, `class_name` = wnid, `n_correct` / `n_models` = the 11 models,
  `difficulty` = the design category of the original (`order.npy`) for test items (for training
  items, from the 11 models). set.json records the provenance, `analysis_exclusions` (items 44,
  222 and 254: replaced images whose difficulty does not match their design category, dropped
  in every analysis as the authors did), `label_issues` (cleanlab's MTurk-confirmed label errors)
  and `reference` (the published Fig. 6 subset, and whether the seeded draw reproduces it);
- one complete questionnaire session per observer (`sub-001`..`sub-008`, observer 1..8, ses-01)
  in a data root, through `participants.layout.SessionWriter`: answers mapped from the codes
  (Q2 0/1/2 = no/maybe/yes, Q3 0/1/2 = no/slightly/very), reaction times `n/a` (not published).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labutil.errors import ArgumentParser, UserError, run_cli
from labutil.paths import check_output_dir
from labutil.tables import check_cells, read_table
from labutil.validate import Invalid, check_name, parse_int
from labutil.versions import software_versions

DEFAULT_REFERENCE = Path("../shared/reference")
TRIALS_CSV = "experiment_two_trials.csv"
RESULTS_CSV = "experiment_two_results_long.csv"
SOURCE_REPO = "wichmann-lab/trivial-or-impossible@b7c3eab79b7781eafe7126e5f1ec1ba6fd842538"
MODELS = ["CLIP", "CORnet_RT", "bagnet33", "hrnet_w44", "resnet152", "resnet50_l2_eps1", "resnet50_swsl",
          "resnet50_trained_on_SIN", "simclr_resnet50x1", "squeezenet1_1", "vit_base_patch16_224"]
FIG6_SEED = 1312
N_PRACTICE = 6
MAIN_CATEGORY = {0: "no", 1: "maybe", 2: "yes"}
ODD_PRESENTATION = {0: "no", 1: "slightly", 2: "very"}
TRIAL_COLUMNS = ["trial", "is_training", "val_index", "filepath", "wnid", "class_index", "design_category",
                 "sota_n_correct", "sota_difficulty", "label_error_mturk", "replaced_item_excluded",
                 "in_fig6_equalized_subset"]
RESULT_COLUMNS = ["observer", "sheet", "trial", "question", "answer", "answer_label"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"{path}: file not found (is --reference the folder with the published data?)")
    df = read_table(path, required=columns, dtype={"trial": str})
    if df.empty:
        raise UserError(f"{path}: no rows (the published table has one row per trial)")
    return df


_TRIAL = re.compile(r"T[0-9]+|[0-9]+")


def _trial_name(value: str) -> str:
    if not _TRIAL.fullmatch(value):
        raise Invalid(f"'{value}' is not a trial (allowed: T1, T2, ... for training trials, 1, 2, ... for test trials)")
    return value


def check_trials(trials: pd.DataFrame, path: Path) -> None:
    """Every cell the import uses has the published type and range."""
    names = check_cells(trials, "trial", path, _trial_name)
    if len(set(names)) != len(names):
        raise UserError(f"{path}: trial '{next(n for n in names if names.count(n) > 1)}' occurs twice")
    for col in ("is_training", "label_error_mturk", "replaced_item_excluded", "in_fig6_equalized_subset"):
        check_cells(trials, col, path, lambda v: parse_int(v, 0, 1))
    check_cells(trials, "class_index", path, lambda v: parse_int(v, 0))
    check_cells(trials, "sota_n_correct", path, lambda v: parse_int(v, 0, len(MODELS)))


def check_results(results: pd.DataFrame, path: Path, trials: pd.DataFrame) -> None:
    """Observers and answers are integers; every trial answered is a test trial of the trials table."""
    check_cells(results, "observer", path, lambda v: parse_int(v, 1))
    check_cells(results, "answer", path, lambda v: parse_int(v, 0))
    test = {str(t) for t, train in zip(trials["trial"], trials["is_training"]) if int(train) == 0}
    check_cells(results, "trial", path, lambda v: v if v in test else _unknown_trial(v))


def _unknown_trial(value: str) -> str:
    raise Invalid(f"'{value}' is not a test trial of {TRIALS_CSV}")


def stim_id(trial: str) -> str:
    """`item-044` for test trial 44, `practice-T1` for training trial T1."""
    return f"practice-{trial}" if trial.startswith("T") else f"item-{int(trial):03d}"


def build_set_tables(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """stimuli.tsv and trials.tsv rows (practice first, then the 300 test items in order)."""
    t = trials.copy()
    t["practice"] = t["is_training"].astype(int) == 1
    t = pd.concat([t[t["practice"]], t[~t["practice"]]], ignore_index=True)
    t["stim_id"] = [stim_id(str(s)) for s in t["trial"]]
    difficulty = t["design_category"].where(~t["practice"], t["sota_difficulty"])
    bad = ~difficulty.isin(["trivial", "in-between", "impossible"])
    if bad.any():
        raise UserError(f"{TRIALS_CSV}: trial {t.loc[bad, 'trial'].iloc[0]}: no valid design category")
    stimuli = pd.DataFrame({
        "stim_id": t["stim_id"], "source_image_id": t["filepath"], "label": t["class_index"].astype(int),
        "class_name": t["wnid"], "n_correct": t["sota_n_correct"].astype(int), "n_models": len(MODELS),
        "difficulty": difficulty,
    })
    set_trials = pd.DataFrame({"trial": range(1, len(t) + 1),
                               "phase": ["practice" if p else "test" for p in t["practice"]],
                               "stim_id": t["stim_id"]})
    return stimuli, set_trials


def build_sessions(results: pd.DataFrame, set_trials: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """One table of questionnaire rows (participants.layout columns) per observer."""
    r = results.copy()
    r["trial"] = r["trial"].astype(int)
    wide = r.pivot_table(index=["observer", "trial"], columns="question", values="answer", aggfunc="first")
    needed = ["n_categories", "main_category", "odd_presentation"]
    if any(q not in wide.columns for q in needed) or wide[needed].isna().any().any():
        raise UserError(f"{RESULTS_CSV}: every observer and trial needs all three questions")
    labels = r.pivot_table(index=["observer", "trial"], columns="question", values="answer_label", aggfunc="first")
    trial_of = dict(zip(set_trials["stim_id"], set_trials["trial"]))
    out = {}
    for obs, g in wide.groupby(level="observer"):
        rows = []
        for (_, item), a in g.iterrows():
            main = MAIN_CATEGORY.get(int(a["main_category"]))
            odd = ODD_PRESENTATION.get(int(a["odd_presentation"]))
            n_cat = int(a["n_categories"])
            lab = labels.loc[(obs, item)]
            if main is None or odd is None or not 0 <= n_cat <= 10 or lab["main_category"] != main or lab["odd_presentation"] != odd:
                raise UserError(f"{RESULTS_CSV}: observer {obs}, trial {item}: answer codes do not match the README's labels")
            sid = stim_id(str(item))
            rows.append({"trial": int(trial_of[sid]), "phase": "test", "stim_id": sid, "n_categories": n_cat,
                         "main_category": main, "unusual": odd, "rt_q1": None, "rt_q2": None, "rt_q3": None})
        out[int(obs)] = pd.DataFrame(rows).sort_values("trial")
    return out


def fig6_subset_check(stimuli: pd.DataFrame, set_trials: pd.DataFrame, meta: dict[str, Any], published: list[str]) -> bool:
    """Does the seeded balanced draw (seed 1312, label errors dropped) give the published subset?"""
    from analysis.humans.questionnaire import select_items

    order = list(set_trials.loc[set_trials["phase"] == "test", "stim_id"])
    sel = select_items(stimuli, order, meta, drop_label_issues=True, balance=True, seed=FIG6_SEED)
    return sorted(sel.stim_ids) == sorted(published)


def import_reference(reference: Path, sets_root: Path, data_root: Path, name: str) -> dict[str, Any]:
    """Write the questionnaire set and the 8 observers' sessions; refuses to overwrite anything."""
    from participants.layout import SessionWriter, beh_path, find_sessions
    from stimuli.sets import IMAGES_NOT_INCLUDED, write_set

    check_name(name, "--name")
    check_output_dir(sets_root, "--out-sets")
    check_output_dir(data_root, "--data-root")
    trials_csv, results_csv = Path(reference) / TRIALS_CSV, Path(reference) / RESULTS_CSV
    trials = _read_csv(trials_csv, TRIAL_COLUMNS)
    check_trials(trials, trials_csv)
    results = _read_csv(results_csv, RESULT_COLUMNS)
    check_results(results, results_csv, trials)
    set_path = Path(sets_root) / name
    if set_path.exists():
        raise UserError(f"{set_path}: stimulus set already exists (choose another --name)")
    if find_sessions(data_root) or (Path(data_root) / "participants.tsv").exists():
        raise UserError(f"{data_root}: already holds participants or sessions; import into a new data root")

    stimuli, set_trials = build_set_tables(trials)
    sessions = build_sessions(results, set_trials)
    if len(sessions) != 8 or any(len(s) != 300 for s in sessions.values()):
        raise UserError(f"{results_csv}: expected 8 observers x 300 test trials")
    test = trials[trials["is_training"].astype(int) == 0]
    sid = [stim_id(str(s)) for s in test["trial"]]
    replaced = [s for s, f in zip(sid, test["replaced_item_excluded"]) if int(f) == 1]
    all_sid = [stim_id(str(s)) for s in trials["trial"]]
    label_issues = [s for s, f in zip(all_sid, trials["label_error_mturk"]) if int(f) == 1]
    published = [s for s, f in zip(sid, test["in_fig6_equalized_subset"]) if int(f) == 1]
    meta: dict[str, Any] = {
        "kind": "questionnaire",
        "images": IMAGES_NOT_INCLUDED,
        "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "software": software_versions(),
        "seed": None,
        "provenance": {
            "type": "table", "path": str(trials_csv), "sha256": _sha256(trials_csv), "image_root": None,
            "answers": {"path": str(results_csv), "sha256": _sha256(results_csv)},
            "source": f"Meding et al. (ICLR 2022), published data: {SOURCE_REPO}",
            "models": MODELS, "epoch": "final (pretrained)", "tolerance": 0,
            "difficulty": "design category of the original experiment (order.npy) for test items; "
                          "11/11 correct = trivial, 0/11 = impossible for training items",
            "exclusions": {},
        },
        "rendering": {"transform": "n/a: images not included", "display_size": None},
        "analysis_exclusions": {"stim_ids": replaced, "reason": "items 44, 222 and 254 were replaced by new images "
                                "(notebook 99) whose model results do not match their in-between design category; "
                                "the authors drop them in every analysis"},
        "label_issues": {"stim_ids": label_issues, "source": "cleanlab MTurk-confirmed ImageNet validation label "
                         "errors (label_error_mturk)"},
        "reference": {"fig6_equalized_subset": {"stim_ids": published, "seed": FIG6_SEED,
                      "procedure": "label errors and analysis exclusions dropped, then in-between and trivial "
                                   "items drawn down to the impossible count with numpy RandomState(1312).choice"}},
    }
    reproduced = fig6_subset_check(stimuli, set_trials, meta, published)
    meta["reference"]["fig6_equalized_subset"]["reproduced_by_seeded_draw"] = reproduced
    sset = write_set(set_path, meta, stimuli, set_trials, images={})

    written = []
    for obs, rows in sorted(sessions.items()):
        pid = f"sub-{obs:03d}"
        writer = SessionWriter(beh_path(data_root, pid, 1, "questionnaire"), "questionnaire")
        writer.start({
            "TaskName": "questionnaire",
            "ExpectedTrials": len(rows),
            "StimulusSet": {"Name": sset.name, "Path": str(sset.path), "TablesSHA256": sset.tables_sha256},
            "Source": {"dataset": f"Meding et al. (ICLR 2022), {SOURCE_REPO}", "file": str(results_csv),
                       "sha256": _sha256(results_csv), "observer": obs, "sheet": f"subj{obs}"},
            "Notes": "imported from published answers: reaction times were not published (n/a); the six "
                     "training trials' answers were not published.",
        })
        writer.append_rows(rows.to_dict("records"))
        writer.set_status("complete")
        written.append(writer.tsv)
    return {"set": sset.path, "sessions": written, "fig6_reproduced": reproduced,
            "n_items": len(sid), "n_label_issues": len(label_issues), "n_excluded": len(replaced)}


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m analysis.reference",
        description="Import the original study's published questionnaire data (8 observers, 300 images, "
                    "11 models) as a stimulus set without images plus one questionnaire session per observer, "
                    "so that `python -m analysis.report` runs on it.")
    sub = p.add_subparsers(dest="verb", required=True)
    imp = sub.add_parser("import", help="write the stimulus set and the sessions",
                         description="Write a questionnaire stimulus set (images not included) and one session per "
                                     "observer. Nothing existing is overwritten.")
    imp.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                     help=f"folder with {TRIALS_CSV} and {RESULTS_CSV} (default: %(default)s)")
    imp.add_argument("--out-sets", type=Path, default=Path("stimulus_sets"),
                     help="stimulus sets folder to write the set into (default: %(default)s)")
    imp.add_argument("--name", default="reference-exp2",
                     help="name of the new stimulus set (default: %(default)s)")
    imp.add_argument("--data-root", type=Path, required=True,
                     help="data root for the 8 observers' sessions (sub-001..sub-008); must not hold "
                          "participants or sessions yet, e.g. reference_data")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = import_reference(args.reference, args.out_sets, args.data_root, args.name)
    print(f"stimulus set: {out['set']} ({out['n_items']} test items; images not included)")
    print(f"sessions: {len(out['sessions'])} complete questionnaire sessions under {args.data_root}")
    print(f"analysis exclusions: {out['n_excluded']} replaced items; label issues: {out['n_label_issues']} images")
    print(f"Fig. 6 subset reproduced by the seeded draw (seed {FIG6_SEED}): {'yes' if out['fig6_reproduced'] else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
