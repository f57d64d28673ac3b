"""`python -m stimuli`: build-2afc, build-questionnaire, verify and preview stimulus sets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import ArgumentParser, UserError
from labutil.paths import check_output_dir, check_output_file, child
from labutil.validate import non_negative_int, positive_int

DEFAULT_SETS_DIR = "stimulus_sets"
DEFAULT_REPORTS_DIR = "reports"

EPILOG = """\
examples:
  python -m stimuli build-2afc --study runs/demo --tolerance 1 --pairs 20 --practice-pairs 4 --seed 1 --name demo-2afc
  python -m stimuli build-2afc --table ../shared/reference/imagenet_val_sota11_per_image.csv \\
      --n-correct-column sota_n_correct --n-models 11 --path-column filepath --label-column class_index \\
      --class-column wnid --label-error-column label_error_mturk --image-root /data/imagenet --seed 1
  python -m stimuli verify stimulus_sets/demo-2afc
  python -m stimuli preview stimulus_sets/demo-2afc --out reports/demo-2afc.png
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m stimuli",
        description="Choose trivial / in-between / impossible images by model difficulty and write frozen, "
        "verifiable stimulus sets (set.json, stimuli.tsv, trials.tsv, images/*.png; see docs/formats.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p2 = sub.add_parser(
        "build-2afc",
        help="build a 2AFC set: pairs of one trivial and one impossible image",
        description="Build a 2AFC set: N test pairs plus practice pairs, each one trivial and one impossible image, "
        "every image used once, the impossible image on the left in exactly half of the test pairs "
        "(odd N: the extra one left or right by a seeded fair draw), pairs in random order.",
    )
    p2.add_argument("--pairs", type=positive_int, default=None,
                    help="number of test pairs (default: 149 as the paper, or as many as the candidates allow; the build "
                    "prints how many images of each difficulty there are and what it chose)")
    p2.add_argument("--practice-pairs", type=non_negative_int, default=None,
                    help="number of practice pairs shown first (default: 6, or one per 10 available pairs when the "
                    "candidates cannot give the paper's set)")
    _add_build_options(p2, "2afc")

    pq = sub.add_parser(
        "build-questionnaire",
        help="build a questionnaire set: equal numbers of trivial, in-between and impossible images",
        description="Build a questionnaire set: equal numbers of trivial, in-between and impossible test images "
        "plus practice images (split evenly over the difficulties, remainder by seeded draw), each phase shuffled.",
    )
    pq.add_argument("--per-difficulty", type=positive_int, default=None,
                    help="test images per difficulty (default: 100 as the paper, or as many as the scarcest difficulty "
                    "allows; the build prints how many of each there are and what it chose)")
    pq.add_argument("--practice", type=non_negative_int, default=None,
                    help="number of practice images shown first (default: 6, or 3 per 10 images of the scarcest "
                    "difficulty when the candidates cannot give the paper's set)")
    _add_build_options(pq, "questionnaire")

    pv = sub.add_parser(
        "verify",
        help="check a set's files against their checksums and its tables against each other",
        description="Check every image against its SHA-256, the trial table against the stimuli table and, for "
        "sets built here, the design (difficulties, no repeats, balanced sides). Prints OK and exits 0, "
        "or lists each problem naming its file and exits 1; a path that is not a set exits 2.",
    )
    pv.add_argument("set", metavar="SET", help="stimulus set folder, e.g. stimulus_sets/demo-2afc")

    pp = sub.add_parser(
        "preview",
        help="write a contact sheet PNG of a set (pairs or images framed by difficulty)",
        description="Write a contact sheet of a verified set as PNG: for 2AFC each trial's pair side by side as shown, "
        "for a questionnaire one block per difficulty; frames green = trivial, orange = in-between, red = impossible, "
        "with models correct and class name under each image.",
    )
    pp.add_argument("set", metavar="SET", help="stimulus set folder")
    pp.add_argument("--out", help="output PNG (default: <reports-dir>/stimuli/<set name>-preview.png)")
    pp.add_argument("--reports-dir", default=DEFAULT_REPORTS_DIR, help="folder for the default --out (default: reports)")
    pp.add_argument("--thumb", type=positive_int, default=160, help="size of each image on the sheet in px (default: 160)")
    pp.add_argument("--columns", type=positive_int, help="trials (2AFC, default 5) or images (questionnaire, default 10) per row")
    pp.add_argument("--phase", choices=("all", "test", "practice"), default="all", help="which trials to show (default: all)")
    return parser


def _add_build_options(p: argparse.ArgumentParser, kind: str) -> None:
    src = p.add_argument_group("source of difficulty (one of --study or --table)")
    which = src.add_mutually_exclusive_group(required=True)
    which.add_argument("--study", metavar="DIR", help="decisions store folder, e.g. runs/demo")
    which.add_argument("--table", metavar="CSV", help="per-image table (CSV, or TSV by extension .tsv)")
    src.add_argument("--epoch", help="study: epoch whose decisions count (default: each model's final epoch)")
    src.add_argument("--models", help="study: comma-separated model ids (default: all complete models)")
    src.add_argument("--data-root", help="study: root folder of a file dataset (ImageNet, ImageFolder) when the images are no "
                     "longer where the study was trained from (default: the root recorded in the store, checked against its file list)")
    src.add_argument("--n-correct-column", help="table: column with how many models were correct (default: n_correct)")
    src.add_argument("--n-models", type=positive_int, help="table: number of models behind the counts (or --n-models-column)")
    src.add_argument("--n-models-column", help="table: column with the number of models per image")
    src.add_argument("--path-column", help="table: column with the image file path, relative to --image-root (default: image_id)")
    src.add_argument("--id-column", help="table: column with the image id recorded in the set (default: the path column)")
    src.add_argument("--label-column", help="table: column with the integer class label (default: label)")
    src.add_argument("--class-column", help="table: column with the class name, matched by --exclude-classes (default: class_name)")
    src.add_argument("--image-root", help="table: folder the image paths are relative to (default: the table's folder)")
    src.add_argument("--resize", type=positive_int, help="table: shorter side before the centre crop, as at evaluation (default: 256)")
    src.add_argument("--crop", type=positive_int, help="table: centre crop size, as at evaluation (default: 224)")

    sel = p.add_argument_group("selection")
    sel.add_argument("-k", "--tolerance", type=non_negative_int, default=DEFAULT_TOLERANCE,
                     help=f"trivial: n_correct >= n_models - k; impossible: n_correct <= k (default: {DEFAULT_TOLERANCE}, "
                     "as in analysis.ddd and the report: the paper's 'all models but one'; 0 = all / none)")
    sel.add_argument("--exclude-classes", default="default", metavar="FILE|none",
                     help="file of class names to exclude, one per line (default: the shipped list of ImageNet classes "
                     "whose images commonly show people, stimuli/data/imagenet_person_classes.txt; 'none' for no class exclusion)")
    sel.add_argument("--label-errors", action="append", default=[], metavar="FILE",
                     help="exclude the image ids listed in FILE, one per line (repeatable)")
    sel.add_argument("--label-error-column", action="append", default=[], metavar="COLUMN",
                     help="table: exclude images where COLUMN is 1/true (repeatable), e.g. label_error_mturk")
    sel.add_argument("--cleanlab", action="store_true",
                     help="study: exclude images cleanlab marks as likely mislabelled (from stored probabilities)")
    sel.add_argument("--class-balance", action="store_true",
                     help="spread each difficulty's images evenly over classes (counts differ by at most one)")
    sel.add_argument("--seed", type=non_negative_int, default=0, help="seed of every random choice, recorded in set.json (default: 0)")

    out = p.add_argument_group("output")
    out.add_argument("--display-size", type=non_negative_int, default=224,
                     help="longer side of the shown image in px; smaller images (digits) are enlarged with nearest "
                     "neighbour, 0 keeps the evaluated size (default: 224)")
    out.add_argument("--name", help=f"set name (default: {kind}-<study or table name>-seed<seed>)")
    out.add_argument("--sets-dir", default=DEFAULT_SETS_DIR, help="folder holding stimulus sets (default: stimulus_sets)")
    out.add_argument("--force", action="store_true", help="write into an existing, empty folder (never over a set)")


# --------------------------------------------------------------------------------------------


def _source(args: argparse.Namespace):  # noqa: ANN202
    from stimuli.sources import TableColumns, from_study, from_table

    table_only = ["n_correct_column", "n_models", "n_models_column", "path_column", "id_column", "label_column",
                  "class_column", "image_root", "resize", "crop", "label_error_column"]
    study_only = ["epoch", "models", "data_root", "cleanlab"]
    if args.study:
        _refuse(args, table_only, "--table")
        epoch = "final" if args.epoch in (None, "final") else _int_option(args.epoch, "--epoch")
        models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        return from_study(args.study, epoch=epoch, models=models, data_root=args.data_root)
    _refuse(args, study_only, "--study")
    cols = TableColumns(
        correct=args.n_correct_column or "n_correct",
        path=args.path_column or "image_id",
        label=args.label_column or "label",
        class_name=args.class_column or "class_name",
        image_id=args.id_column,
        n_models=args.n_models_column,
    )
    return from_table(args.table, cols, args.n_models, args.image_root, args.resize or 256, args.crop or 224)


def _refuse(args: argparse.Namespace, names: list[str], needs: str) -> None:
    for name in names:
        if getattr(args, name) not in (None, False, []):
            raise UserError(f"--{name.replace('_', '-')} only applies with {needs}")


def _int_option(value: str, option: str) -> int:
    from labutil.validate import Invalid, parse_int

    try:
        return parse_int(value, lo=0)
    except Invalid as exc:
        raise UserError(f"{option}: {exc}; or 'final'") from None


def _exclusions(args: argparse.Namespace, source) -> list:  # noqa: ANN001
    from stimuli import exclusions as ex

    out = []
    if args.exclude_classes.lower() != "none":
        path = ex.DEFAULT_CLASS_FILE if args.exclude_classes == "default" else Path(args.exclude_classes)
        out.append(ex.excluded_classes(source, path))
    for path in args.label_errors:
        out.append(ex.label_errors_from_file(source, path))
    for column in args.label_error_column:
        out.append(ex.label_errors_from_column(source, column))
    if args.cleanlab:
        out.append(ex.label_errors_from_cleanlab(source))
    return out


def _out_path(args: argparse.Namespace, kind: str) -> Path:
    if args.name:
        name = args.name
    else:
        origin = Path(args.study).resolve().name if args.study else Path(args.table).stem
        name = f"{kind}-{origin}-seed{args.seed}"
    check_output_dir(args.sets_dir, "--sets-dir")
    return child(args.sets_dir, name, "--name")


def _cmd_build(args: argparse.Namespace) -> int:
    from stimuli.build import build_2afc, build_questionnaire, check_counts, check_output

    kind = "2afc" if args.command == "build-2afc" else "questionnaire"
    out = _out_path(args, kind)
    check_output(out, args.force)  # before reading anything: an existing set is refused at once
    counts = (dict(pairs=args.pairs, practice_pairs=args.practice_pairs) if kind == "2afc"
              else dict(per_difficulty=args.per_difficulty, practice=args.practice))
    given = {k: v for k, v in counts.items() if v is not None}
    check_counts(seed=args.seed, display_size=args.display_size, **given)  # sizes: before any allocation
    source = _source(args)
    exclusions = _exclusions(args, source)
    common = dict(tolerance=args.tolerance, exclusions=exclusions, seed=args.seed, class_balance=args.class_balance,
                  display_size=args.display_size, force=args.force)
    if kind == "2afc":
        sset = build_2afc(source, out, n_test=args.pairs, n_practice=args.practice_pairs, **common)
    else:
        sset = build_questionnaire(source, out, n_per_difficulty=args.per_difficulty, n_practice=args.practice, **common)
    for rec in sset.meta["provenance"]["exclusions"]:
        if rec.get("n_unmatched"):
            print(f"warning: {rec['file']}: {rec['n_unmatched']} of {rec['n_listed']} listed ids are not in the source",
                  file=sys.stderr)
    from stimuli.sizes import built_lines

    for line in built_lines(sset.meta):
        print(line)
    test = sset.test_trials()
    print(f"wrote {sset.path}: {kind}, {len(test)} test + {len(sset.trials) - len(test)} practice trials, "
          f"{len(sset.stimuli)} images, seed {args.seed}")
    print(f"  check it:   python -m stimuli verify {sset.path}")
    print(f"  look at it: python -m stimuli preview {sset.path}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from stimuli.checks import check_set
    from stimuli.sets import SET_FILE, leftovers_beside, read_set

    path = Path(args.set)
    if not (path / SET_FILE).is_file():
        raise UserError(f"{path}: not a stimulus set (no {SET_FILE})")
    for stray in leftovers_beside(path):
        print(f"stray: {stray}: temporary files of a killed build (not part of any set; the next build "
              "removes it)", file=sys.stderr)
    problems = check_set(str(path))
    if problems:
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        print(f"FAILED: {path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        return 1
    sset = read_set(path)
    print(f"OK: {path}: {sset.kind}, {len(sset.stimuli)} images, {len(sset.trials)} trials; checksums and tables agree")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from stimuli.preview import write_preview
    from stimuli.sets import open_verified_set

    from labutil.bounds import MAX_PREVIEW_COLUMNS, MAX_THUMB, check_range

    if args.thumb < 16:
        raise UserError("--thumb must be at least 16 px")
    check_range("--thumb", args.thumb, 16, MAX_THUMB, "px")
    if args.columns is not None:
        check_range("--columns", args.columns, 1, MAX_PREVIEW_COLUMNS)
    sset = open_verified_set(args.set)
    out = Path(args.out) if args.out else Path(args.reports_dir) / "stimuli" / f"{sset.name}-preview.png"
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the preview is a PNG file; name it *.png")
    check_output_file(out, "--out" if args.out else "preview (--reports-dir)")
    write_preview(sset, out, thumb=args.thumb, columns=args.columns, phase=args.phase)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("build-2afc", "build-questionnaire"):
        return _cmd_build(args)
    if args.command == "verify":
        return _cmd_verify(args)
    return _cmd_preview(args)
