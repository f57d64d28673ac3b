"""The report's models section: a labelled headline table, the split at k = 0 and k = 1 with and
without label errors, and the sentence on the null for a per-image table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.report.cli import main as report_main
from labutil.errors import run_cli


def test_model_table_section(tmp_path: Path) -> None:
    table = tmp_path / "per_image.csv"
    # 4 models: counts 4 4 4 3 2 1 0 0 0 0, the last image a label error
    pd.DataFrame({"n_ok": [4, 4, 4, 3, 2, 1, 0, 0, 0, 0], "bad_label": [0] * 9 + [1]}).to_csv(table, index=False)
    code = run_cli(report_main, ["--model-table", str(table), "--model-table-correct-col", "n_ok",
                                 "--model-table-n-models", "4", "--model-table-label-col", "bad_label",
                                 "--stimuli", str(tmp_path / "none"), "--data-root", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "reports")])
    assert code == 0
    files = tmp_path / "reports" / "report_files" / "tables"
    headline = pd.read_csv(files / "models_headline.csv")
    assert "trivial images" in headline["quantity"].tolist()
    assert not headline["quantity"].str.contains(r"\.|_").any()
    assert headline.set_index("quantity").loc["trivial images", "value"] == "40.0 %"
    splits = pd.read_csv(files / "models_splits.csv").set_index(["tolerance", "label_issues"])
    # k = 0 without the label error: 3 of 9 trivial (4 right), 3 of 9 impossible (0 right)
    assert splits.loc[(0, "excluded"), ["trivial", "in-between", "impossible"]].tolist() == pytest.approx([3 / 9, 3 / 9, 3 / 9])
    assert splits.loc[(1, "included"), ["trivial", "in-between", "impossible"]].tolist() == pytest.approx([0.4, 0.1, 0.5])
    html = (tmp_path / "reports" / "report.html").read_text()
    assert "per-model decisions were not published" in html and "dispersion ratio" in html


def test_report_reuses_an_up_to_date_ddd_analysis(structured_study, tmp_path: Path, capsys) -> None:
    """With --ddd the report takes analysis.ddd's results when they are up to date: every table
    and figure as without it; after the store changed, the analysis runs afresh."""
    import os

    from analysis.models.ddd import main as ddd_main

    assert run_cli(ddd_main, [str(structured_study.path), "--out", str(tmp_path / "ddd"), "--no-progress"]) == 0

    def report(out: str, *extra: str) -> tuple[Path, str]:
        code = run_cli(report_main, ["--runs", str(structured_study.path.parent), "--study", structured_study.path.name,
                                     "--stimuli", str(tmp_path / "none"), "--data-root", str(tmp_path / "none"),
                                     "--out", str(tmp_path / out), "--n-boot", "100", *extra])
        assert code == 0
        return tmp_path / out / "report_files", (tmp_path / out / "report.html").read_text()

    plain, _ = report("plain")
    reused, html = report("reused", "--ddd", str(tmp_path / "ddd"))
    assert "reused from" in html
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.suffix in (".csv", ".png"))
    assert files and files == sorted(p.relative_to(reused) for p in reused.rglob("*") if p.suffix in (".csv", ".png"))
    for rel in files:
        assert (plain / rel).read_bytes() == (reused / rel).read_bytes(), rel
    run_json = next(structured_study.path.rglob("run.json"))
    st = run_json.stat()
    os.utime(run_json, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed, html = report("changed", "--ddd", str(tmp_path / "ddd"))
    assert "reused from" not in html
    assert not list(changed.rglob("*.pkl")) and not list(plain.rglob("*.pkl"))  # the report's own analysis leaves none
    capsys.readouterr()
    code = run_cli(report_main, ["--runs", str(structured_study.path.parent), "--out", str(tmp_path / "bad"),
                                 "--ddd", str(tmp_path / "no-such-folder")])
    assert code == 2 and capsys.readouterr().err.strip().startswith("error: --ddd")
    assert not (tmp_path / "bad").exists()
