"""pid_alive: a killed but not yet reaped child (a zombie) has no live writer behind it."""

from __future__ import annotations

import os
import time

from labutil.io import pid_alive


def test_a_zombie_counts_as_gone_and_a_live_child_as_alive() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)  # wait for the parent's word, then exit
        os._exit(0)
    os.close(r)
    try:
        assert pid_alive(pid) and pid_alive(os.getpid())
        os.write(w, b"x")
        for _ in range(200):  # until the child has exited (a zombie: not reaped yet)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert not pid_alive(pid)
    finally:
        os.close(w)
        os.waitpid(pid, 0)
