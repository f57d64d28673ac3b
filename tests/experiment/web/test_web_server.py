"""`python -m experiment.web serve`: the startup line, graceful shutdown and one-line refusals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import experiment.web.app as web_app
from experiment.web.cli import main
from experiment_fixtures import make_2afc_set, tree_bytes
from labutil.errors import run_cli
from web_helpers import REPO, serve, two_afc_body, write_config


def test_serves_over_http_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    make_2afc_set(tmp_path / "set", n_practice=1, n_test=2)
    server = serve(tmp_path / "set", tmp_path, write_config(tmp_path / "web.toml"))
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert "jspsych" in c.get("/").text
            plan = c.post("/api/start", json={"ids": {"PROLIFIC_PID": "abc"}, "consent": True}).json()
            r = c.post("/api/trial", json=two_afc_body(plan, 0), headers={"Authorization": f"Bearer {plan['token']}"})
            assert r.json()["next"] == 1
    finally:
        rc = server.stop(signal.SIGTERM)
    out = server.proc.stdout.read()
    assert rc == 0 and "experiment.web: stopped" in out and "Traceback" not in out


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_refusals_are_one_line_and_write_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    make_2afc_set(tmp_path / "set", n_practice=1, n_test=2)
    data = tmp_path / "lab_data"
    base = ["serve", "--data-root", str(data), "--private-root", str(tmp_path / "lab_private"), "--port", "0"]
    _error_line(capsys, [*base, "--stimuli", str(tmp_path)])  # a folder that is not a set
    _error_line(capsys, [*base, "--stimuli", str(tmp_path / "missing")])
    bad = tmp_path / "bad.toml"
    bad.write_text("[two_afc]\nleft_key = 'F1'\n")
    assert "left_key" in _error_line(capsys, [*base, "--stimuli", str(tmp_path / "set"), "--config", str(bad)])
    bad.write_text("[screen]\nfullscren = true\n")
    assert "fullscren" in _error_line(capsys, [*base, "--stimuli", str(tmp_path / "set"), "--config", str(bad)])
    assert "--database" in _error_line(capsys, [*base, "--stimuli", str(tmp_path / "set"), "--database", "mysql://x"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [*base[:-1], str(port), "--stimuli", str(tmp_path / "set")]
        assert "cannot listen" in _error_line(capsys, argv)
    monkeypatch.setattr(web_app, "VENDOR", tmp_path / "no-vendor")
    assert "jsPsych bundle missing" in _error_line(capsys, [*base, "--stimuli", str(tmp_path / "set")])
    assert not data.exists() or tree_bytes(data) == {}
    assert not (tmp_path / "lab_private").exists()


def test_usage_error_is_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "experiment.web", "serve"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--stimuli" in r.stderr


def test_concurrent_participants_and_tabs_store_every_row_once(tmp_path: Path) -> None:
    import threading

    from participants.layout import find_sessions, read_session

    make_2afc_set(tmp_path / "set", n_practice=1, n_test=5, size=16)
    server = serve(tmp_path / "set", tmp_path, write_config(tmp_path / "web.toml"))
    errors: list[str] = []

    def observer(pid: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            plan = c.post("/api/start", json={"ids": {"PROLIFIC_PID": pid}, "consent": True}).json()
            h = {"Authorization": f"Bearer {plan['token']}"}

            def tab() -> None:  # two tabs of the same browser post the same trials at once
                for i in range(plan["n_trials"]):
                    r = c.post("/api/trial", json=two_afc_body(plan, i), headers=h)
                    if r.status_code != 200:
                        errors.append(f"{pid} {i} {r.status_code}")

            tabs = [threading.Thread(target=tab) for _ in range(2)]
            for t in tabs:
                t.start()
            for t in tabs:
                t.join()
            if c.post("/api/finish", json={}, headers=h).status_code != 200:
                errors.append(f"{pid} finish")

    try:
        threads = [threading.Thread(target=observer, args=(f"obs{k}",)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.stop()
    assert errors == []
    sessions = [read_session(p) for p in find_sessions(tmp_path / "lab_data", "2afc")]
    assert len(sessions) == 10 and len({s.participant_id for s in sessions}) == 10
    for s in sessions:
        assert s.complete and list(s.trials["trial"]) == s.meta["TrialOrder"]


def test_listening_socket_sets_tcp_nodelay() -> None:
    """Accepted connections inherit TCP_NODELAY: without it every JSON reply waited ~40 ms for a delayed ACK."""
    from experiment.web.cli import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_private_folder_open_to_others_is_refused_at_start(tmp_path: Path, capsys) -> None:
    import os

    make_2afc_set(tmp_path / "set", n_practice=1, n_test=2)
    private = tmp_path / "lab_private"
    private.mkdir(mode=0o755)
    os.chmod(private, 0o755)
    argv = ["serve", "--stimuli", str(tmp_path / "set"), "--data-root", str(tmp_path / "lab_data"),
            "--private-root", str(private), "--port", "0"]
    assert "chmod 700" in _error_line(capsys, argv)


def test_a_broken_session_file_is_a_5xx_with_a_logged_line(tmp_path: Path, capsys) -> None:
    from starlette.testclient import TestClient

    from experiment.web.app import create_app
    from web_helpers import make_study

    make_2afc_set(tmp_path / "set", n_practice=1, n_test=2)
    study = make_study(tmp_path, tmp_path / "set", write_config(tmp_path / "web.toml"))
    client = TestClient(create_app(study))
    plan = client.post("/api/start", json={"ids": {"PROLIFIC_PID": "abc"}, "consent": True}).json()
    (side,) = (tmp_path / "lab_data").rglob("*_beh.json")
    side.write_text("{not json")
    r = client.post("/api/start", json={"ids": {"PROLIFIC_PID": "abc"}, "token": plan["token"]})
    assert r.status_code == 500 and str(tmp_path) not in r.text
    assert "not valid JSON" in capsys.readouterr().err
