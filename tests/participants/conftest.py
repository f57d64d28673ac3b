"""Fixtures for the participants tests: a temporary HOME and working directory, fresh roots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME and the working directory point into the test's own temporary folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "lab_data"


@pytest.fixture
def private_root(tmp_path: Path) -> Path:
    return tmp_path / "lab_private"


@pytest.fixture
def snapshot(tmp_path: Path) -> Callable[[], dict[str, bytes | str]]:
    """Every file and folder under the test's folder, with its bytes (files) and mode."""

    def take() -> dict[str, bytes | str]:
        out: dict[str, bytes | str] = {}
        for p in sorted(tmp_path.rglob("*")):
            rel = str(p.relative_to(tmp_path))
            out[rel] = p.read_bytes() if p.is_file() else "dir"
            out[rel + ":mode"] = oct(p.stat().st_mode)
        return out

    return take
