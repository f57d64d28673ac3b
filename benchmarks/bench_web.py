"""Load on the online experiment: many participants posting trials at once over loopback HTTP.

    python benchmarks/bench_web.py [--participants 50] [--pairs 30] [--think 0.02] [--time-limit 120]

Builds a synthetic 2AFC set in a temporary folder, starts the real server (`python -m
experiment.web serve`, uvicorn, SQLite state) and lets N simulated participants (threads, one HTTP
client each) start a session, post every trial in order (each post also retried once, which the
server must acknowledge as a duplicate without writing) and finish. Prints the time per trial post
at the median and p99, against a baseline measured in the same run: one participant alone on the
same server (no contention). Then checks the data: every session complete, every trial row exactly
once, in the recorded order. Exits 1 if a check fails or the run exceeds --time-limit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "experiment" / "web"))
sys.path.insert(0, str(REPO / "tests" / "experiment"))


def participant(url: str, pid: str, think: float, out: list[float], errors: list[str]) -> None:
    """One simulated observer: start, every trial (plus one retry of each), finish; post times into `out`."""
    import socket

    import httpx

    from web_helpers import two_afc_body

    # TCP_NODELAY as browsers set it; without it the client's separate header and body writes wait
    # for the server's delayed ACK (~40 ms per request on Linux), which is not the server's time.
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(base_url=url, timeout=30, transport=transport) as c:
        plan = c.post("/api/start", json={"ids": {"PROLIFIC_PID": pid}, "consent": True}).json()
        h = {"Authorization": f"Bearer {plan['token']}"}
        for i in range(plan["n_trials"]):
            time.sleep(think)
            body = two_afc_body(plan, i, "left" if (i * 5 + len(pid)) % 3 else "right")
            t0 = time.perf_counter()
            r = c.post("/api/trial", json=body, headers=h)
            out.append(time.perf_counter() - t0)
            if r.status_code != 200 or not r.json()["stored"]:
                errors.append(f"{pid} trial {i}: {r.status_code} {r.text[:80]}")
            retry = c.post("/api/trial", json=body, headers=h)
            if retry.status_code != 200 or not retry.json()["duplicate"]:
                errors.append(f"{pid} retry {i}: {retry.status_code}")
        r = c.post("/api/finish", json={}, headers=h)
        if r.status_code != 200:
            errors.append(f"{pid} finish: {r.status_code}")


def load(url: str, n: int, think: float, prefix: str) -> tuple[list[float], list[str], float]:
    times: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=participant, args=(url, f"{prefix}{k:04d}", think, times, errors))
               for k in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors, time.perf_counter() - t0


def in_process(tmp: Path, n_trials: int) -> list[float]:
    """Second baseline: the same trial posts straight into OnlineStudy.trial (no HTTP, no server)."""
    from web_helpers import make_study, two_afc_body

    study = make_study(tmp / "inproc", tmp / "set", tmp / "web.toml")
    plan = study.start({"ids": {"PROLIFIC_PID": "inproc"}, "consent": True})
    times = []
    for i in range(n_trials):
        t0 = time.perf_counter()
        study.trial(plan["token"], two_afc_body(plan, i))
        times.append(time.perf_counter() - t0)
    study.store.close()
    return times


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def check_data(data_root: Path, expected_sessions: int) -> list[str]:
    from participants.layout import find_sessions, read_session

    problems = []
    paths = find_sessions(data_root, "2afc")
    if len(paths) != expected_sessions:
        problems.append(f"{len(paths)} sessions, expected {expected_sessions}")
    for p in paths:
        s = read_session(p)
        trials = list(s.trials["trial"])
        if not s.complete or trials != [int(t) for t in s.meta["TrialOrder"]]:
            problems.append(f"{p.name}: complete={s.complete}, {len(trials)} rows, in order={trials == s.meta['TrialOrder']}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=30, help="test trials per session (plus 2 practice)")
    ap.add_argument("--think", type=float, default=0.02, help="seconds between a participant's trials")
    ap.add_argument("--time-limit", type=float, default=120)
    args = ap.parse_args()

    from experiment_fixtures import make_2afc_set
    from web_helpers import serve, write_config

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    make_2afc_set(tmp / "set", n_practice=2, n_test=args.pairs, size=32)
    cfg = write_config(tmp / "web.toml", "[limits]\nrequests_per_minute = 100000\nstarts_per_minute = 100000\n")
    server = serve(tmp / "set", tmp, cfg)
    t_start = time.perf_counter()
    try:
        base, base_err, _ = load(server.url, 1, args.think, "solo")
        times, errors, wall = load(server.url, args.participants, args.think, "load")
    finally:
        server.stop()
    total = time.perf_counter() - t_start
    (tmp / "inproc").mkdir()
    direct = in_process(tmp, args.pairs + 2)
    problems = base_err + errors + check_data(tmp / "lab_data", args.participants + 1)
    med, p99, bmed, bp99 = (pct(times, 0.5), pct(times, 0.99), pct(base, 0.5), pct(base, 0.99))
    print(f"{args.participants} participants x {args.pairs + 2} trials = {len(times)} trial posts in {wall:.1f} s "
          f"({len(times) / wall:.0f} posts/s, each also retried once)")
    print(f"time per trial post (append + fsync + state update): median {med * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms, mean {statistics.mean(times) * 1000:.1f} ms")
    print(f"baseline, one participant alone: median {bmed * 1000:.1f} ms, p99 {bp99 * 1000:.1f} ms")
    print(f"baseline, in process without HTTP (OnlineStudy.trial): median {pct(direct, 0.5) * 1000:.1f} ms, "
          f"p99 {pct(direct, 0.99) * 1000:.1f} ms")
    print(f"ratio loaded/alone: median {med / bmed:.2f}x, p99 {p99 / bp99:.2f}x; alone/in-process median "
          f"{bmed / pct(direct, 0.5):.2f}x (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"data check: {'all sessions complete, every row once, in order' if not problems else problems[:5]}")
    if total > args.time_limit:
        print(f"run took {total:.0f} s, over the --time-limit of {args.time_limit:.0f} s")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
