"""`python -m model_runs`: list, train, evaluate, sweep, resume, status."""

import os
import sys

from labutil.errors import run_cli
from model_runs.cli import main

if __name__ == "__main__":
    try:
        code = run_cli(main)
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    raise SystemExit(code)
