from experiment.web.cli import main
from labutil.errors import run_cli

raise SystemExit(run_cli(main))
