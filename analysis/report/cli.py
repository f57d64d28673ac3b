"""Command line of `python -m analysis.report`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from analysis.report.build import build_report
from analysis.report.context import ReportConfig
from labutil.bounds import MAX_N_BOOT, check_range
from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import ArgumentParser, UserError, run_cli
from labutil.paths import check_output_dir
from labutil.validate import SAFE_NAME, non_negative_int, positive_int


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m analysis.report",
        description="Build one self-contained HTML report (figures embedded; figures also as PNG and SVG, every "
                    "table as CSV) from a decisions store, stimulus sets and session data. Sections: models and DDD, "
                    "the 2AFC experiment, the questionnaire, and the comparison with the paper. Missing parts are "
                    "reported as missing; the rest still runs.")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder of decisions stores (default: %(default)s)")
    p.add_argument("--study", default=None,
                   help="study name under --runs, or a study folder (default: the only study under --runs)")
    p.add_argument("--no-models", action="store_true",
                   help="leave out the models section (e.g. for the imported reference data, which has no decisions store)")
    p.add_argument("--model-table", type=Path, default=None, metavar="CSV",
                   help="per-image table of how many models were correct (e.g. ../shared/reference/"
                        "imagenet_val_sota11_per_image.csv), analysed instead of a decisions store: the split and "
                        "histogram only")
    p.add_argument("--model-table-correct-col", default="sota_n_correct",
                   help="--model-table column with the models-correct count (default: %(default)s)")
    p.add_argument("--model-table-n-models", type=positive_int, default=11,
                   help="number of models behind --model-table (default: %(default)s)")
    p.add_argument("--model-table-label-col", default="label_error_mturk",
                   help="--model-table column marking label errors (0/1), drawn as red bars; '' for none (default: %(default)s)")
    p.add_argument("--stimuli", type=Path, nargs="+", default=[Path("stimulus_sets")], metavar="PATH",
                   help="stimulus sets: folders of sets and/or set folders; the sessions' sets are looked up "
                        "here by name (default: stimulus_sets)")
    p.add_argument("--data-root", type=Path, default=Path("lab_data"),
                   help="lab data root with the sessions (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("reports"),
                   help="output folder: gets NAME.html and NAME_files/ (default: %(default)s)")
    p.add_argument("--name", default="report",
                   help="file name of the report: NAME.html plus NAME_files/ with figures and tables, both replaced "
                        "when the new report is complete (default: %(default)s)")
    p.add_argument("--set-2afc", default=None,
                   help="analyse the 2AFC sessions of this stimulus set (default: the set most sessions used)")
    p.add_argument("--set-questionnaire", default=None,
                   help="analyse the questionnaire sessions of this set (default: the set most sessions used)")
    p.add_argument("--tolerance", type=non_negative_int, default=DEFAULT_TOLERANCE,
                   help="models allowed to disagree when splitting images into trivial / impossible (default: %(default)s)")
    p.add_argument("--base", default="base", help="base condition for the models' error consistency (default: %(default)s)")
    p.add_argument("--ddd", type=Path, default=None, metavar="DIR",
                   help="an output folder of `python -m analysis.ddd` on the same study: its results are reused when "
                        "they were computed from the store in its present state, with the same options and code "
                        "(otherwise the analysis runs afresh)")
    p.add_argument("--include-incomplete", action="store_true",
                   help="also analyse incomplete and aborted sessions (default: left out and listed)")
    p.add_argument("--include-pilot", action="store_true",
                   help="also analyse pilot sessions (run with --pilot; default: left out and listed)")
    p.add_argument("--include-simulated", action="store_true",
                   help="also analyse sessions of simulated observers (run with --simulate, e.g. by the demo; "
                        "default: left out and listed)")
    p.add_argument("--leave-out-reshown", action="store_true",
                   help="leave out trials shown more than once (after a cancelled quit or a resume; listed in the "
                        "methods section either way)")
    p.add_argument("--balance-seed", type=non_negative_int, default=1312,
                   help="seed of the draw that balances the questionnaire's difficulty subsets; 1312 reproduces "
                        "the paper's Fig. 6 subset (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the bootstrap intervals (default: %(default)s)")
    p.add_argument("--n-boot", type=positive_int, default=2000, help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--two-sided", action="store_true",
                   help="per-observer binomial tests of 2AFC accuracy two-sided (default: one-sided, above chance)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not SAFE_NAME.fullmatch(args.name):
        raise UserError(f"--name '{args.name}': use letters, digits, '.', '_' or '-' (it names files)")
    if args.n_boot < 100:
        raise UserError(f"--n-boot {args.n_boot}: use at least 100 resamples")
    check_range("--n-boot", args.n_boot, 100, MAX_N_BOOT)
    check_output_dir(args.out, "--out")
    if args.ddd is not None and not args.ddd.is_dir():
        raise UserError(f"--ddd {args.ddd}: folder not found (an output folder of python -m analysis.ddd)")
    cfg = ReportConfig(runs=args.runs, study=args.study, no_models=args.no_models, model_table=args.model_table,
                       model_table_correct_col=args.model_table_correct_col, model_table_n_models=args.model_table_n_models,
                       model_table_label_col=args.model_table_label_col or None,
                       stimuli=args.stimuli, data_root=args.data_root,
                       out=args.out, name=args.name, set_2afc=args.set_2afc, set_questionnaire=args.set_questionnaire,
                       tolerance=args.tolerance, base=args.base, include_incomplete=args.include_incomplete,
                       include_pilot=args.include_pilot, include_simulated=args.include_simulated,
                       leave_out_reshown=args.leave_out_reshown,
                       ddd=args.ddd, balance_seed=args.balance_seed, seed=args.seed, n_boot=args.n_boot,
                       binomial_alternative="two-sided" if args.two_sided else "greater")
    started = time.perf_counter()
    path = build_report(cfg)
    print(f"report: {path} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
