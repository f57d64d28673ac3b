"""Entry point: `python -m participants VERB ...`."""

from labutil.errors import run_cli
from participants.cli import main

raise SystemExit(run_cli(main))
