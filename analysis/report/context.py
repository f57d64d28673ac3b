"""The report's configuration, the context its sections fill, and how it finds its inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.report import html as H
from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import UserError

SECTIONS = ("models", "2afc", "questionnaire", "paper")


@dataclass
class ReportConfig:
    """Where the inputs are, where the report goes, and the analysis choices (all recorded)."""

    runs: Path = Path("runs")
    study: str | None = None
    no_models: bool = False
    model_table: Path | None = None  # per-image models-correct table instead of a decisions store
    model_table_correct_col: str = "sota_n_correct"
    model_table_n_models: int = 11
    model_table_label_col: str | None = "label_error_mturk"
    stimuli: list[Path] = field(default_factory=lambda: [Path("stimulus_sets")])
    data_root: Path = Path("lab_data")
    out: Path = Path("reports")
    name: str = "report"
    set_2afc: str | None = None
    set_questionnaire: str | None = None
    tolerance: int = DEFAULT_TOLERANCE
    base: str = "base"
    include_incomplete: bool = False
    include_pilot: bool = False
    include_simulated: bool = False
    leave_out_reshown: bool = False
    balance_seed: int = 1312
    seed: int = 0
    n_boot: int = 2000
    ddd: Path | None = None  # an analysis.ddd output folder whose results are reused when up to date
    binomial_alternative: str = "greater"  # per-observer 2AFC binomial tests: "greater" or "two-sided"


@dataclass
class Context:
    """What the sections produce: figures and tables written, headline numbers, provenance."""

    cfg: ReportConfig
    work: Path  # the `<name>_files` folder being built
    numbers: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[tuple[str, Any]] = field(default_factory=list)
    exclusions: list[pd.DataFrame] = field(default_factory=list)
    reference_data: bool = False
    messages: list[str] = field(default_factory=list)  # what the terminal is told: what was left out, and why

    def tell(self, *lines: str) -> None:
        """Lines for the terminal once the report is written (each also appears in the HTML where it belongs)."""
        self.messages.extend(line for line in lines if line not in self.messages)

    @property
    def fig_dir(self) -> Path:
        return self.work / "figures"

    def save_table(self, name: str, df: pd.DataFrame) -> str:
        """Write a table as CSV under tables/; returns its path relative to the HTML file."""
        path = self.work / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, lineterminator="\n")
        self.tables[name] = path
        return f"{self.work.name}/tables/{name}.csv"

    def figure_html(self, fig: dict[str, Any]) -> str:
        self.figures.append(fig)
        return H.figure(fig["png"], fig["caption"], fig["name"], fig.get("svg"))



def find_study(runs: Path, study: str | None) -> Path | None:
    """The study folder: `study` (a name under runs/ or a path), or the only study in runs/."""
    if study is not None:
        for cand in (Path(study), Path(runs) / study):
            if (cand / "study.toml").is_file():
                return cand
        raise UserError(f"--study {study}: no study.toml in {study} or {Path(runs) / study}")
    if not Path(runs).is_dir():
        return None
    found = sorted(p for p in Path(runs).iterdir() if (p / "study.toml").is_file())
    if len(found) > 1:
        raise UserError(f"{runs} holds several studies ({', '.join(p.name for p in found)}); choose one with --study")
    return found[0] if found else None


def open_set(stimuli: list[Path], name: str | None, checksum: str | None = None) -> Any:
    """The stimulus set of that name: one of the given set folders, or inside a given folder of
    sets; None if absent. A set whose tables differ from those the sessions recorded (`checksum`)
    is refused: the sessions' answers would be matched to the wrong images."""
    from stimuli.sets import read_set

    if not name:
        return None
    for path in stimuli:
        for cand in (Path(path), Path(path) / name):
            if cand.name == name and (cand / "set.json").is_file():
                sset = read_set(cand)
                if checksum is not None and sset.tables_sha256 != checksum:
                    raise UserError(f"{cand}: not the version of set '{name}' the sessions ran on (its tables' checksum "
                                    "differs from the sessions' records); give the set they used with --stimuli")
                return sset
    return None


def places(stimuli: list[Path]) -> str:
    return ", ".join(str(p) for p in stimuli)
