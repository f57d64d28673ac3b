"""scripts/mutation.py: every core module has its tests, and the copy's config names only that module."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_runner():
    spec = importlib.util.spec_from_file_location("mutation_runner", REPO / "scripts" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_core_module_of_the_root_config_has_existing_tests() -> None:
    runner = load_runner()
    root = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert set(root["only_mutate"]) == set(runner.MODULE_TESTS)
    for module, tests in runner.MODULE_TESTS.items():
        assert (REPO / module).is_file(), module
        assert tests and all((REPO / t).exists() for t in tests), (module, tests)


def test_the_copy_config_mutates_one_module_against_its_tests(tmp_path: Path) -> None:
    runner = load_runner()
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    runner.write_config(tmp_path, "analysis/stats.py", ["tests/analysis/test_stats.py"])
    config = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert config["tool"]["mutmut"]["only_mutate"] == ["analysis/stats.py"]
    assert config["tool"]["mutmut"]["pytest_add_cli_args_test_selection"] == ["tests/analysis/test_stats.py"]
    assert "not subprocess" in " ".join(config["tool"]["mutmut"]["pytest_add_cli_args"])
    # everything else of the project's configuration is kept
    original = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["project"] == original["project"]
    assert config["tool"]["pytest"] == original["tool"]["pytest"]


def test_an_unknown_module_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    runner = load_runner()
    assert runner.main(["analysis/nope.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: not a core module: analysis/nope.py") and err.count("\n") == 1


def test_scores_of_runs_one_after_another_are_all_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = load_runner()
    monkeypatch.setattr(runner, "WORK", tmp_path / ".mutation")
    runner.record_summary("analysis/stats.py", {"total": 3, "killed": 2})
    runner.record_summary("labutil/io.py", {"total": 5, "killed": 5})
    import json
    summary = json.loads((tmp_path / ".mutation" / "summary.json").read_text())
    assert summary == {"analysis/stats.py": {"total": 3, "killed": 2}, "labutil/io.py": {"total": 5, "killed": 5}}
