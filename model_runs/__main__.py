"""`python -m model_runs`: list, train, evaluate, sweep, resume, status."""

from labutil.errors import run_cli
from model_runs.cli import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
