"""Run a piece of work in a forked child that ends itself at its N-th write event, like SIGKILL.

A write event is a call of `os.replace`, `os.fsync` or `os.fdatasync`; the child leaves with
`os._exit` (no `finally`, no flush) just before the N-th one. Tests call it with N = 1, 2, ...
until the work finishes first, and resume or rebuild after each kill.
"""

from __future__ import annotations

import os
from collections.abc import Callable

KILLED = 137


def killed_at(at: int, work: Callable[[], object]) -> bool:
    """Run `work` in a child killed before its `at`-th write event; False when it finished first."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            n = [0]
            real = {name: getattr(os, name) for name in ("replace", "fsync", "fdatasync")}

            def tick() -> None:
                n[0] += 1
                if n[0] == at:
                    os._exit(KILLED)

            for name, fn in real.items():
                setattr(os, name, lambda *a, _fn=fn, **kw: (tick(), _fn(*a, **kw))[1])
            work()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, KILLED), f"child failed (exit {code}) at write event {at}"
    return code == KILLED
