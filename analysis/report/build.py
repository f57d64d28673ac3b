"""`python -m analysis.report`: one self-contained HTML report of a study's models and humans.

Sections: models and DDD (`analysis.models.ddd.analyse_study` on the decisions store), the 2AFC
experiment (`analysis.humans.two_afc`), the questionnaire (`analysis.humans.questionnaire`, on all images and on
the paper's Fig. 6 selection), and the comparison with the paper (`analysis.report.paper`). Whatever is
missing (no study, no sessions, no stimulus set) is said in its section; the rest still runs.

Writes `<out>/<name>.html` (figures embedded) and `<out>/<name>_files/` (`figures/*.png|svg`,
`tables/*.csv`, `models/` from analysis.ddd). Everything is built in a temporary folder beside them
and moved into place at the end, so a failed run leaves an earlier report as it was. Only pseudonymous participant ids (sub-XXX) appear; the restricted
identity folder is never read.
"""


from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

from analysis.report import html as H
from analysis.warning_notes import notes_of_warnings
from labutil.errors import UserError
from labutil.io import fsync_dir, make_temp_dir, raise_if_disk_full, remove_leftovers, replace_folder
from analysis.report.context import Context, ReportConfig, places, find_study
from analysis.report.section_methods import methods_section
from analysis.report.section_conditions import section_conditions
from analysis.report.section_dynamics import section_dynamics
from analysis.report.section_models import section_models
from analysis.report.section_paper import section_paper
from analysis.report.section_questionnaire import section_questionnaire
from analysis.report.section_simulations import section_simulations
from analysis.report.section_superclasses import section_superclasses
from analysis.report.section_two_afc import section_2afc


def check_inputs(cfg: ReportConfig) -> None:
    """Fail early, before any output, on a user error in the inputs: an ambiguous study or a
    malformed session file (one line naming the file and row)."""
    from analysis.humans.sessions import read_sessions

    if cfg.model_table is not None:
        from analysis.models.ddd import read_count_table

        read_count_table(cfg.model_table, cfg.model_table_correct_col, cfg.model_table_n_models, cfg.model_table_label_col)
    elif not cfg.no_models and (path := find_study(cfg.runs, cfg.study)) is not None:
        from model_runs.store import open_study

        study = open_study(path)  # every record read once: a damaged store fails here, before any output
        _ = study.definition, study.images
        for model_id in study.model_ids():
            study.run_info(model_id)
    read_sessions(cfg.data_root)


def build_report(cfg: ReportConfig) -> Path:
    """Run every section and write the report; returns the path of the HTML file."""
    from labutil.progress import progress

    started = time.perf_counter()
    check_inputs(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out, legacy=lambda p: p.is_dir() and p.name.startswith(f".{cfg.name}."))  # killed reports' folders
    tmp = make_temp_dir(out / cfg.name)
    try:
        ctx = Context(cfg, tmp / f"{cfg.name}_files")
        ctx.work.mkdir()
        builders = [("models and DDD", section_models), ("conditions", section_conditions), ("learning dynamics", section_dynamics),
                    ("superclasses", section_superclasses), ("simulations", section_simulations),
                    ("2AFC experiment", section_2afc),
                    ("questionnaire", section_questionnaire), ("comparison with the paper", section_paper)]
        sections = []
        from analysis.plotting import figures_in_background

        with figures_in_background(), progress(builders, desc="report", unit="section") as bar:  # every figure written at its end
            for title, build in bar:
                bar.set_postfix_str(title)
                with notes_of_warnings() as notes:  # library warnings: sentences in the section, not raw output
                    section = build(ctx)
                for note in notes:
                    section.add(H.paragraph(note, "note"))
                ctx.tell(*(f"{title}: {note}" for note in notes))
                sections.append(section)
        sections.append(methods_section(ctx, started))
        done = [t for (t, _), s in zip(builders[:-1], sections) if s.available]
        missing = [t for (t, _), s in zip(builders[:-1], sections) if not s.available]
        subtitle = (f"Built {dt.date.today().isoformat()} from {cfg.runs}, {places(cfg.stimuli)} and {cfg.data_root}. "
                    f"Sections with data: {', '.join(done) or 'none'}."
                    + (f" Missing: {', '.join(missing)}." if missing else ""))
        html = tmp / f"{cfg.name}.html"
        html.write_text(H.page("Trivial or impossible: lab report", subtitle, sections), encoding="utf-8")
        _move_into_place(tmp, out, cfg.name)
        for line in ctx.messages:
            print(line)
    except (OSError, UserError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise_if_disk_full(exc, out / f"{cfg.name}.html")  # the old report stays as it was
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / f"{cfg.name}.html"


def _move_into_place(tmp: Path, out: Path, name: str) -> None:
    """Swap the finished `<name>_files` folder with the old one in one atomic step (so there is
    always a whole `<name>_files`), then replace the self-contained `<name>.html` (one rename);
    the previous report's files are removed with the temporary folder afterwards."""
    replace_folder(tmp / f"{name}_files", out / f"{name}_files", aside=tmp / "previous_files")
    os.replace(tmp / f"{name}.html", out / f"{name}.html")
    fsync_dir(out)
