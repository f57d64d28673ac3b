#!/usr/bin/env bash
# The whole pipeline on the embedded digits data: scripts/pipeline.sh on the demo study (train it,
# analyse it, build both stimulus sets, register simulated observers, run them through both PsychoPy
# programs under Xvfb, write the report), then the original study's published questionnaire data.
# Every step skips or resumes what an earlier run finished, so the demo can be re-run after any
# interruption; `make clean-demo` removes its outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# The original study's published questionnaire data: its own sets, data and report, independent of
# the demo study's, so it runs beside the pipeline at a lower priority, on the cores the pipeline
# leaves idle (the simulated sessions wait for their observers' response times); waited for below.
REFERENCE=${REFERENCE:-../shared/reference}
ref_pid=""
stop_reference() {  # the reference part this script started, by its ids
  [ -z "$ref_pid" ] || kill "$ref_pid" 2>/dev/null || true
}
trap stop_reference EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -d "$REFERENCE" ]; then
  mkdir -p reports
  (
    child=""
    trap '[ -z "$child" ] || kill "$child" 2>/dev/null; exit 143' TERM
    # reference_data/.imported marks a finished import; an import a kill interrupted is removed and
    # done again (the import refuses a data root that already holds sessions).
    if [ ! -f reference_data/.imported ]; then
      rm -rf reference_data
      MPLBACKEND=Agg nice -n 10 python -m analysis.reference import --reference "$REFERENCE" --out-sets reference_data/stimulus_sets \
        --data-root reference_data/lab_data & child=$!
      wait "$child"
      touch reference_data/.imported
    fi
    MPLBACKEND=Agg nice -n 10 python -m analysis.report --model-table "$REFERENCE/imagenet_val_sota11_per_image.csv" \
      --stimuli reference_data/stimulus_sets --data-root reference_data/lab_data --out reports/reference & child=$!
    wait "$child"
  ) > reports/reference.log 2>&1 &
  ref_pid=$!
fi

# The demo keeps 32 of 44 impossible images after --cleanlab (pipeline.sh's default), enough for
# 24 in the 2AFC set and 18 in the questionnaire.
bash scripts/pipeline.sh --study demo --out-dir . --observers "${N_OBSERVERS:-4}" \
  --pairs 20 --practice-pairs 4 --per-difficulty 15 --practice 3

printf '\n== and the original study'"'"'s published questionnaire data -> reports/reference (log reports/reference.log)\n'
if [ -n "$ref_pid" ]; then
  ref_ok=0; wait "$ref_pid" || ref_ok=$?
  ref_pid=""
  cat reports/reference.log
  [ "$ref_ok" = 0 ] || { echo "error: the reference report failed (see reports/reference.log); run make demo again" >&2; exit 1; }
else
  echo "skipped: no reference data at ${REFERENCE}"
fi

printf '\nDemo finished in %ss. Open the report: %s\n' "$(( $(date +%s) - start ))" "$(realpath reports/demo/report.html)"
