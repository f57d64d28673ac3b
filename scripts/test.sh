#!/usr/bin/env bash
# Run the test suite; display tests need an X server, so the suite runs under Xvfb when one is available.
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# In CI the Slurm tests must really run: a missing Slurm fails them instead of skipping them.
if [ "${CI:-}" = "true" ]; then export TOI_REQUIRE_SLURM=1; fi
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" python -m pytest "$@"
fi
exec python -m pytest "$@"
