"""Fixtures shared by all test folders.

`slurm_cluster`: a real single-node Slurm (munged, slurmctld, slurmd) started once per test
session in a temporary folder by tests/slurm_cluster.py and torn down at the end, even on failure.
Tests that use it are marked `slurm`; they are skipped, naming the missing programs, where Slurm
and MUNGE are not installed (apt-get install slurmctld slurmd slurm-client munge), unless
TOI_REQUIRE_SLURM=1 is set, which turns the skip into a failure (for CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

try:
    import slurm_cluster as _slurm  # tests/ is on sys.path (rootdir-relative conftest)
except ImportError:  # tests/ became a package
    from tests import slurm_cluster as _slurm


@pytest.fixture(scope="session")
def _slurm_session() -> Iterator[_slurm.SlurmCluster]:
    """One cluster for the whole test session (it starts in about a second)."""
    missing = _slurm.missing_programs()
    if missing:
        message = f"Slurm test cluster needs {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)"
        if os.environ.get("TOI_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with _slurm.slurm_cluster() as cluster:
        yield cluster


@pytest.fixture
def slurm_cluster(_slurm_session: _slurm.SlurmCluster) -> Iterator[_slurm.SlurmCluster]:
    """A running single-node Slurm; clients reach it with `cluster.env` (sets SLURM_CONF).
    Jobs a test leaves behind are cancelled after it, so the next test finds the node free."""
    yield _slurm_session
    _slurm_session.cancel_all()
