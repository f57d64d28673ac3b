"""Run `python -m MODULE ARGV` programs as forked children of one warm Python process.

A test corpus that starts hundreds of short command-line runs spends most of its time importing
numpy, pandas and pyarrow again for each one. This server imports those third-party libraries once
(never a module of the project, so every run executes the project's code as it is on disk), then
forks one child per request. The child is a separate process, as with `subprocess.run`: its own
working directory, environment, user id, stdout/stderr files, and exit status; it runs the module
with `runpy` as `python -m` does, prints an uncaught exception's traceback and exits 1 like the
interpreter, and runs atexit handlers before it exits.

Protocol: one JSON request per line on stdin {module, argv, cwd, env, uid, stdout, stderr};
one JSON reply per line on stdout {returncode}.
"""

from __future__ import annotations

import json
import os
import sys

PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "PIL.Image", "tomllib", "argparse", "matplotlib")


def _child(req: dict) -> int:
    import atexit
    import runpy
    import traceback

    import signal

    os.setsid()
    signal.alarm(int(req.get("timeout", 120)))  # a hung run dies of SIGALRM (exit -14)
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.dup2(f, fd)
        os.close(f)
    if req.get("uid") is not None:
        os.setgroups([])
        os.setgid(req["uid"])
        os.setuid(req["uid"])
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.stdin = open(os.devnull)
    sys.path[0] = req["cwd"]
    sys.argv = [req["module"], *req["argv"]]
    code = 0
    try:
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - as the interpreter: print the traceback, exit 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def serve() -> None:
    for name in PRELOAD:
        __import__(name)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(req)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        sys.stdout.write(json.dumps({"returncode": code}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
