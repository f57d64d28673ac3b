"""Time the export's identity scan (`Registry.find_identity_leaks`) against a plain regex-per-needle
scan, measured in the same run on the same files.

    python -m benchmarks.participants_leak_scan [--participants 50] [--sessions 10]   (from the repo root)
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from participants.layout import SessionWriter, beh_path
from participants.registry import Registry


def _baseline(reg: Registry, root: Path) -> int:
    """One compiled whole-word regex search per needle and file, no substring pre-test."""
    needles = [re.compile(r"(?<![^\W_])" + re.escape(n.literal) + r"(?![^\W_])") for _, _, n in reg._needles()]
    hits = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = (str(path.relative_to(root)) + "\n" + path.read_bytes().decode("utf-8", "replace")).casefold()
        hits += any(rx.search(text) for rx in needles)
    return hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=50, help="registered identities (default: %(default)s)")
    ap.add_argument("--sessions", type=int, default=10, help="149-trial 2AFC sessions to scan (default: %(default)s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lab_data"
        reg = Registry(root, Path(tmp) / "lab_private")
        pids = [reg.register(cnn_familiarity="naive", name=f"Firstname{i} Surname{i}", email=f"p{i}@example.org")
                for i in range(args.participants)]
        for pid in pids[: args.sessions]:
            w = SessionWriter(beh_path(root, pid, 1, "2afc"), "2afc")
            w.start({})
            for t in range(1, 150):
                w.append({"trial": t, "phase": "test", "pair_id": t, "left_stim": f"s{t}a", "right_stim": f"s{t}b",
                          "impossible_side": "left", "response_side": "right", "chosen_stim": f"s{t}b",
                          "correct": False, "rt": 0.7, "onset": 2.0 * t})
        t0 = time.perf_counter()
        leaks = reg.find_identity_leaks(root)
        t1 = time.perf_counter()
        base_hits = _baseline(reg, root)
        t2 = time.perf_counter()
    assert len(leaks) == base_hits == 0
    print(f"identity scan, {args.participants} identities, {args.sessions} sessions x 149 trials:")
    print(f"  find_identity_leaks      {t1 - t0:8.3f} s")
    print(f"  baseline (regex/needle)  {t2 - t1:8.3f} s")
    print(f"  speed-up                 {(t2 - t1) / (t1 - t0):8.1f} x")


if __name__ == "__main__":
    main()
