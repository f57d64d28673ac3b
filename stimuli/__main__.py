"""`python -m stimuli`: see stimuli.cli."""

from labutil.errors import run_cli
from stimuli.cli import main

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
