"""Server state in a real PostgreSQL server that the test starts (Debian's postgresql package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from experiment.web.app import create_app
from experiment_fixtures import make_2afc_set
from participants.layout import read_session
from web_helpers import free_port, make_study, two_afc_body, write_config

INITDB = shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb"
PG_CTL = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (Path(INITDB).exists() and Path(PG_CTL).exists()),
                                                   reason="needs PostgreSQL's initdb and pg_ctl")]


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses root: run the server's commands as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(_as_postgres([INITDB, "-D", str(data), "-A", "trust", "-U", user]), check=True,
                   capture_output=True)
    subprocess.run(_as_postgres([PG_CTL, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                 f"-p {port} -k {sock} -c listen_addresses=''", "start"]), check=True,
                   capture_output=True)
    try:
        yield f"postgresql://{user}@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run(_as_postgres([PG_CTL, "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_session_with_state_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    make_2afc_set(tmp_path / "set", n_practice=1, n_test=4)
    cfg = write_config(tmp_path / "web.toml")
    study = make_study(tmp_path, tmp_path / "set", cfg, database=postgres_url)
    client = TestClient(create_app(study))
    plan = client.post("/api/start", json={"ids": {"PROLIFIC_PID": "pgperson1"}, "consent": True}).json()
    h = {"Authorization": f"Bearer {plan['token']}"}
    for i in range(3):
        assert client.post("/api/trial", json=two_afc_body(plan, i), headers=h).status_code == 200
    (a,) = study.store.all()
    assert (a.participant_id, a.session, a.trials_done, a.status) == ("sub-001", 1, 3, "running")
    study.store.close()
    # a restarted server on the same database knows the token and continues
    again = make_study(tmp_path, tmp_path / "set", cfg, database=postgres_url)
    client = TestClient(create_app(again))
    assert client.post("/api/trial", json=two_afc_body(plan, 2), headers=h).json()["duplicate"] is True
    for i in range(3, 5):
        assert client.post("/api/trial", json=two_afc_body(plan, i), headers=h).status_code == 200
    assert client.post("/api/finish", json={}, headers=h).json()["complete"] is True
    (a,) = again.store.all()
    assert (a.trials_done, a.status) == (5, "complete")
    (tsv,) = (tmp_path / "lab_data").rglob("*_beh.tsv")
    assert list(read_session(tsv).trials["trial"]) == [t["trial"] for t in plan["trials"]]
    again.store.close()


def test_unreachable_postgresql_is_one_line_error(tmp_path: Path) -> None:
    from experiment.web.state import StateStore
    from labutil.errors import UserError

    with pytest.raises(UserError, match="cannot connect to PostgreSQL"):
        StateStore(f"postgresql://nobody@/x?host={tmp_path}&port={free_port()}")
