"""`python -m analysis.ddd`: the command line of `analysis.models.ddd` (kept at this name for users)."""

from analysis.models.ddd import main
from labutil.errors import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
