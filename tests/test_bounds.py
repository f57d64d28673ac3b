"""Every size a user can give is bounded: a runaway value is one line naming the bound, exit 2,
at once (before anything is read or allocated) and with no file written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labutil.errors import run_cli


def _stimuli(*args: str) -> int:
    from stimuli.cli import main

    return run_cli(main, list(args))


def _model_runs(*args: str) -> int:
    from model_runs.cli import main

    return run_cli(main, list(args))


def _report(*args: str) -> int:
    from analysis.report.cli import main

    return run_cli(main, list(args))


def _ddd(*args: str) -> int:
    from analysis.models.ddd import main

    return run_cli(main, list(args))


TABLE = "image_id,n_correct,label,class_name\na.png,11,0,c0\n"
STUDY = """name = "big"
preset = "digits"
[dataset]
name = "digits"
[[conditions]]
name = "base"
repeat = 100000000
"""


@pytest.mark.parametrize("call, args, expected", [
    (_stimuli, ["build-2afc", "--table", "{t}", "--n-models", "11", "--display-size", "100000"],
     "--display-size 100000: must be between 0 and 4096 px"),
    (_stimuli, ["build-2afc", "--table", "{t}", "--n-models", "11", "--pairs", "100000000"],
     "--pairs 100000000: must be between 0 and 10000"),
    (_stimuli, ["build-2afc", "--table", "{t}", "--n-models", "11", "--pairs", "6000", "--practice-pairs", "6000"],
     "24000 images asked for: a set holds at most 20000"),
    (_stimuli, ["build-questionnaire", "--table", "{t}", "--n-models", "11", "--per-difficulty", "10000"],
     "--per-difficulty 10000: must be between 0 and 6666"),
    (_stimuli, ["build-2afc", "--table", "{t}", "--n-models", "11", "--resize", "1000000", "--crop", "224"],
     "--resize 1000000: must be between 1 and 8192 px"),
    (_stimuli, ["preview", "{d}/set", "--thumb", "100000"], "--thumb 100000: must be between 16 and 1024 px"),
    (_report, ["--n-boot", "1000000000", "--out", "{d}/reports"], "--n-boot 1000000000: must be between 100 and 100000"),
    (_ddd, ["{d}/runs/s", "--n-boot", "1000000000", "--out", "{d}/ddd"], "--n-boot 1000000000: must be between 1 and 100000"),
    (_model_runs, ["sweep", "{s}", "--workers", "100000", "--runs-dir", "{d}/runs"], "--workers 100000: must be between 1 and 256"),
    (_model_runs, ["train", "{s}", "--loader-workers", "1000", "--runs-dir", "{d}/runs"],
     "--loader-workers 1000: must be between 0 and 64"),
    (_model_runs, ["train", "{s}", "--threads", "100000", "--runs-dir", "{d}/runs"], "--threads 100000: must be between 0 and 1024"),
    (_model_runs, ["train", "{big}", "--runs-dir", "{d}/runs"], "repeat = 100000000: must be between 1 and 10000"),
])
def test_a_runaway_size_is_one_line_naming_the_bound(call, args, expected, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text(TABLE)
    (tmp_path / "big.toml").write_text(STUDY)
    small = tmp_path / "small.toml"
    small.write_text(STUDY.replace("repeat = 100000000", "repeat = 2"))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = [a.format(t=tmp_path / "t.csv", d=tmp_path, s=small, big=tmp_path / "big.toml") for a in args]
    t0 = time.perf_counter()
    assert call(*argv) == 2
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert elapsed < 5, elapsed
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
