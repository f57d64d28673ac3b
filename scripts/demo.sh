#!/usr/bin/env bash
# The whole pipeline on the embedded digits data: scripts/pipeline.sh on the demo study (train it,
# analyse it, build both stimulus sets, register simulated observers, run them through both PsychoPy
# programs under Xvfb, write the report), then the original study's published questionnaire data.
# Every step skips or resumes what an earlier run finished, so the demo can be re-run after any
# interruption; `make clean-demo` removes its outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# The demo keeps 32 of 44 impossible images after --cleanlab (pipeline.sh's default), enough for
# 24 in the 2AFC set and 18 in the questionnaire.
bash scripts/pipeline.sh --study demo --out-dir . --observers "${N_OBSERVERS:-4}" \
  --pairs 20 --practice-pairs 4 --per-difficulty 15 --practice 3

printf '\n== and the original study'"'"'s published questionnaire data -> reports/reference\n'
REFERENCE=${REFERENCE:-../shared/reference}
if [ -d "$REFERENCE" ]; then
  if [ ! -d reference_data/lab_data ]; then
    MPLBACKEND=Agg python -m analysis.reference import --reference "$REFERENCE" --out-sets reference_data/stimulus_sets \
      --data-root reference_data/lab_data
  fi
  MPLBACKEND=Agg python -m analysis.report --model-table "$REFERENCE/imagenet_val_sota11_per_image.csv" \
    --stimuli reference_data/stimulus_sets --data-root reference_data/lab_data --out reports/reference
else
  echo "skipped: no reference data at ${REFERENCE}"
fi

printf '\nDemo finished in %ss. Open the report: %s\n' "$(( $(date +%s) - start ))" "$(realpath reports/demo/report.html)"
