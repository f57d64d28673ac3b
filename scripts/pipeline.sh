#!/usr/bin/env bash
# From a study to a report: train the study (sweep), the dichotomous-data-difficulty analysis, both
# stimulus sets, N registered simulated observers, their 2AFC and questionnaire sessions through the
# PsychoPy programs (one Xvfb per observer, run side by side), and the HTML report.
# Every step skips or resumes what an earlier run finished, so after an interruption (Ctrl-C, a
# kill, a crash) the same command line simply carries on. Run `scripts/pipeline.sh --help`.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/pipeline.sh --study STUDY [--data-root DIR] [--out-dir DIR] [--observers N]
                           [--pairs N --practice-pairs N --per-difficulty N --practice N]
                           [--tolerance K] [--no-cleanlab] [--jobs J] [--sim-rt-scale S]

Runs the whole pipeline for one study, into folders named after the study (NAME = the study's name):
  OUT/runs/NAME                          decisions store        (python -m model_runs sweep)
  OUT/reports/NAME/ddd                   DDD figures and tables (python -m analysis.ddd)
  OUT/stimulus_sets/NAME-2afc            2AFC stimulus set      (python -m stimuli build-2afc)
  OUT/stimulus_sets/NAME-questionnaire   questionnaire set      (python -m stimuli build-questionnaire)
  OUT/lab_data/NAME, OUT/lab_private/NAME  registry and sessions of the simulated observers
  OUT/reports/NAME/report.html           the report             (python -m analysis.report)
  OUT/reports/NAME/pipeline-times.tsv    seconds per step of this run (step 2 runs beside steps 3-5,
                                         its log in OUT/reports/NAME/ddd.log)

options:
  --study STUDY        a shipped study name (python -m model_runs list studies) or a study .toml file
  --data-root DIR      root folder of the study's images (an ImageFolder, ImageNet) when the study
                       file does not say where they are, or to point elsewhere
  --out-dir DIR        where runs/, stimulus_sets/, lab_data/, lab_private/, reports/ go (default: .)
  --observers N        simulated observers to register and run (default: 4)
  --pairs N            2AFC test pairs (default: the stimuli command's default)
  --practice-pairs N   2AFC practice pairs
  --per-difficulty N   questionnaire test images per difficulty (trivial, in-between, impossible)
  --practice N         questionnaire practice images
  --tolerance K        models allowed to disagree with "trivial"/"impossible" (default: 1)
  --no-cleanlab        keep the images cleanlab flags as likely mislabelled (default: left out)
  --jobs J             observers run at the same time, each on its own Xvfb (default: min(N, 4))
  --sim-rt-scale S     simulated response, reading, fixation and feedback times x S (default: 0.02)
  -h, --help           show this help

Stimulus sets already built are kept (a set is written once); complete sessions are skipped and
incomplete ones resumed. Needs Xvfb (xvfb-run) for the sessions, or an X display (then one
observer at a time).
EOF
}

die() { echo "error: $*" >&2; exit 2; }

main() {
need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || die "$1 needs a value"; }
need_int() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 '$2': must be a whole number"; }

STUDY="" DATA_ROOT="" OUT="." N_OBSERVERS=4 TOLERANCE=1 CLEANLAB=(--cleanlab) JOBS="" RT_SCALE=0.02
SET_2AFC=() SET_Q=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --study) need_value "$@"; STUDY=$2; shift 2 ;;
    --data-root) need_value "$@"; DATA_ROOT=$2; shift 2 ;;
    --out-dir) need_value "$@"; OUT=$2; shift 2 ;;
    --observers) need_value "$@"; need_int "$1" "$2"; N_OBSERVERS=$2; shift 2 ;;
    --pairs|--practice-pairs) need_value "$@"; need_int "$1" "$2"; SET_2AFC+=("$1" "$2"); shift 2 ;;
    --per-difficulty|--practice) need_value "$@"; need_int "$1" "$2"; SET_Q+=("$1" "$2"); shift 2 ;;
    --tolerance) need_value "$@"; need_int "$1" "$2"; TOLERANCE=$2; shift 2 ;;
    --no-cleanlab) CLEANLAB=(); shift ;;
    --jobs) need_value "$@"; need_int "$1" "$2"; JOBS=$2; shift 2 ;;
    --sim-rt-scale) need_value "$@"; [[ "$2" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--sim-rt-scale '$2': must be a positive number"
                    RT_SCALE=$2; shift 2 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ -n "$STUDY" ] || die "--study is required (a shipped study name or a study .toml file; see --help)"
[ "$N_OBSERVERS" -ge 1 ] || die "--observers $N_OBSERVERS: must be 1 or more"
[ -z "$DATA_ROOT" ] || [ -d "$DATA_ROOT" ] || die "--data-root $DATA_ROOT: folder not found"
JOBS=${JOBS:-$(( N_OBSERVERS < 4 ? N_OBSERVERS : 4 ))}
[ "$JOBS" -ge 1 ] || die "--jobs $JOBS: must be 1 or more"
command -v python >/dev/null || die "python not found on PATH (activate the project's virtual environment)"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)  # the repository: experiment/headless.toml
export MPLBACKEND=Agg
# The study's name (checks the study file, one line on error); the folders are named after it.
NAME=$(python -c 'import sys
try:
    from labutil.errors import UserError
    from model_runs.study_files import load_study
except ImportError as exc:
    sys.exit(f"error: {sys.executable} cannot import the project ({exc}); activate its virtual environment")
try:
    print(load_study(sys.argv[1]).name)
except UserError as exc:
    sys.exit(f"error: {exc}")' "$STUDY") || exit 2

mkdir -p "$OUT" 2>/dev/null || die "--out-dir $OUT: cannot create the folder"
OUT=$(cd "$OUT" && pwd)
RUNS=$OUT/runs SETS=$OUT/stimulus_sets DATA=$OUT/lab_data/$NAME PRIVATE=$OUT/lab_private/$NAME
REPORTS=$OUT/reports/$NAME
mkdir -p "$REPORTS"
TIMES=$REPORTS/pipeline-times.tsv
printf 'step\tseconds\n' > "$TIMES"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms) t_step=$start current=""
seconds() { printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }
declare -A took=()
record() {  # seconds of step $1 into pipeline-times.tsv, the steps always in pipeline order
  local s; took[$1]=$2
  { printf 'step\tseconds\n'; for s in train ddd sets register sessions report; do
      [ -z "${took[$s]:-}" ] || printf '%s\t%s\n' "$s" "${took[$s]}"; done; } > "$TIMES"
}
step() {  # end the current step (its time into pipeline-times.tsv), start the next one
  local now; now=$(ms)
  [ -z "$current" ] || record "$current" "$(seconds $(( now - t_step )))"
  t_step=$now current=$1
  [ -z "$1" ] || printf '\n== %s\n' "$2"
}
xvfb_pids=() ddd_pid=""
cleanup() {  # the DDD analysis, Xvfb servers and observer jobs this script started, by their ids
  local p
  for p in $(jobs -p) "${xvfb_pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
root_opt=(); [ -z "$DATA_ROOT" ] || root_opt=(--data-root "$DATA_ROOT")

step train "1/6 train the study $NAME -> $RUNS/$NAME"
python -m model_runs sweep "$STUDY" --runs-dir "$RUNS" "${root_opt[@]}"
python -m model_runs status "$RUNS/$NAME"

step ddd "2/6 dichotomous data difficulty -> $REPORTS/ddd (beside steps 3-5; log $REPORTS/ddd.log)"
# --image-stats: statistics cached for the report's per-epoch curves; the report's tolerance, so that
# the report reuses these results (--ddd) instead of running the analysis again. It reads only the
# store, which is final now, and only the report needs its results: it runs in the background, at a
# lower priority, on the cores that the stimulus sets and the sessions leave idle.
ddd_start=$(ms)
nice -n 5 python -m analysis.ddd "$RUNS/$NAME" --out "$REPORTS/ddd" --image-stats --tolerance "$TOLERANCE" --no-progress \
  > "$REPORTS/ddd.log" 2>&1 &
ddd_pid=$!
current=""  # its time is recorded when it has ended (before the report)

step sets "3/6 stimulus sets -> $SETS/$NAME-2afc, $SETS/$NAME-questionnaire"
# --cleanlab leaves out the images that cleanlab flags as likely mislabelled, from the probabilities
# the models stored (set.json records them). The builds, checks and previews are the commands
# `python -m stimuli build-2afc ...`, `... verify ...`, `... preview ...`, run in one process
# (';' between them), in order, stopping at the first that fails, with its status.
stimuli_cmds=()
if [ ! -d "$SETS/$NAME-2afc" ]; then
  stimuli_cmds+=(build-2afc --study "$RUNS/$NAME" "${root_opt[@]}" --tolerance "$TOLERANCE" "${SET_2AFC[@]}"
    "${CLEANLAB[@]}" --seed 1 --name "$NAME-2afc" --sets-dir "$SETS" ";")
fi
if [ ! -d "$SETS/$NAME-questionnaire" ]; then
  stimuli_cmds+=(build-questionnaire --study "$RUNS/$NAME" "${root_opt[@]}" --tolerance "$TOLERANCE" "${SET_Q[@]}"
    "${CLEANLAB[@]}" --seed 1 --name "$NAME-questionnaire" --sets-dir "$SETS" ";")
fi
for s in "$NAME-2afc" "$NAME-questionnaire"; do
  stimuli_cmds+=(verify "$SETS/$s" ";" preview "$SETS/$s" --out "$REPORTS/$s-preview.png" ";")
done
python - "${stimuli_cmds[@]}" <<'PY'
import sys

from labutil.errors import run_cli
from stimuli.cli import main

cmd: list[str] = []
for arg in sys.argv[1:]:
    if arg != ";":
        cmd.append(arg)
        continue
    code = run_cli(main, cmd)
    sys.stdout.flush()
    if code:
        sys.exit(code)
    cmd = []
PY

step register "4/6 register $N_OBSERVERS simulated observers in $DATA (identities in $PRIVATE)"
# As `python -m participants register ...` and `python -m participants consent ...` would, in one
# process: registers the observers still missing, then records consent for every observer without
# a record (a run interrupted between the two).
python - "$DATA" "$PRIVATE" "$N_OBSERVERS" <<'PY'
import datetime as dt
import sys

from participants.registry import Registry

reg = Registry(sys.argv[1], sys.argv[2])
familiarity = ("naive", "knows_cnns", "works_on_cnns", "naive", "naive", "knows_cnns")
have = len(reg.participants()) if reg.root.is_dir() else 0
for i in range(have, int(sys.argv[3])):
    print(f"registered {reg.register(cnn_familiarity=familiarity[i % 6], age=22 + 3 * i, group='simulated')}")
consented = {c["participant_id"] for c in reg.private_records("consent.tsv")}
for pid in sorted(reg.participants()["participant_id"]):
    if pid not in consented:
        reg.record_consent(pid, dt.date.today(), "simulated-1")
        print(f"consent of {pid} recorded in {sys.argv[2]}")
PY

step sessions "5/6 simulated sessions: 2AFC (session 1) then questionnaire (session 2) of each observer, $JOBS at a time"
observers=(typical expert guesser left-biased)
# Xvfb is no lab screen: the headless configuration runs in a window, the virtual monitor has no
# psychopy.monitors calibration and no vsync (flips are paced to 60 Hz). Each is allowed explicitly
# and recorded in the sessions' sidecars (Deviations); consent was recorded at registration above.
# A lost key press is pressed again after 2 s; a session with no new screen for 60 s ends (saved)
# and is resumed by the next run (--resume-if-started), as are sessions a kill interrupted.
session_opts=(--data-root "$DATA" --private-root "$PRIVATE" --config "$HERE/experiment/headless.toml" --sim-rt-scale "$RT_SCALE"
  --sim-repress-after 2 --sim-timeout 60 --skip-if-complete --resume-if-started
  --allow-windowed --no-calibration --allow-frame-rate-mismatch)
LOGS=$REPORTS/session-logs
mkdir -p "$LOGS"
start_xvfb() {  # one Xvfb on a free display number, into $display (not in a subshell: its id is kept)
  local fifo; fifo=$(mktemp -u) && mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp 3>"$fifo" >/dev/null 2>&1 &
  xvfb_pids+=($!)
  display=""; read -r -t 20 display <"$fifo" || true
  rm -f "$fifo"
  [ -n "$display" ] || die "Xvfb did not start (xvfb installed? see make setup)"
}
observe() {  # both sessions of observer $1 on X display $2
  local i=$1 pid obs; pid=$(printf 'sub-%03d' "$i"); obs=${observers[$(( (i - 1) % 4 ))]}
  DISPLAY=$2 python -m experiment.two_afc --participant "$pid" --session 1 --stimuli "$SETS/$NAME-2afc" \
    --simulate "$obs" --seed "$i" "${session_opts[@]}" &&
  DISPLAY=$2 python -m experiment.questionnaire --participant "$pid" --session 2 --stimuli "$SETS/$NAME-questionnaire" \
    --simulate "$obs" --seed "$i" "${session_opts[@]}"
}
worker() {  # observers j+1, j+1+JOBS, ... one after another on display $2, each with its own log
  local j=$1 i log failed=0
  for ((i = j + 1; i <= N_OBSERVERS; i += JOBS)); do
    log=$LOGS/sub-$(printf %03d "$i").log
    echo "observer sub-$(printf %03d "$i") (${observers[$(( (i - 1) % 4 ))]}) on display $2, log $log"
    if ! observe "$i" "$2" > "$log" 2>&1; then
      failed=1; echo "error: sub-$(printf %03d "$i"): $(grep '^error:' "$log" | tail -1 | cut -c8-) (see $log)" >&2
    fi
  done
  return $failed
}
if command -v Xvfb >/dev/null; then
  workers=()
  for ((j = 0; j < JOBS && j < N_OBSERVERS; j++)); do
    start_xvfb
    worker "$j" ":$display" &
    workers+=($!)
  done
  failed=0
  for w in "${workers[@]}"; do wait "$w" || failed=1; done
elif [ -n "${DISPLAY:-}" ]; then  # one screen: one window at a time, or the keys would go astray
  failed=0 JOBS=1
  worker 0 "$DISPLAY" || failed=1
else
  die "no Xvfb and no X display: install xvfb (see make setup) to run the simulated sessions"
fi
for f in "$LOGS"/sub-*.log; do grep -hE "^(session complete|timing:)" "$f" | sed "s|^|$(basename "$f" .log): |" || true; done
[ "$failed" = 0 ] || { echo "error: a simulated session failed; run the same command again to resume it" >&2; exit 1; }
for p in "${xvfb_pids[@]}"; do kill "$p" 2>/dev/null || true; done
xvfb_pids=()

step report "6/6 report -> $REPORTS/report.html"
# step 2's results first: its log, its status, its time (this step's time includes any wait for it)
ddd_ok=0; wait "$ddd_pid" || ddd_ok=$?
ddd_pid=""
cat "$REPORTS/ddd.log"
[ "$ddd_ok" = 0 ] || { echo "error: the DDD analysis (step 2) failed (see $REPORTS/ddd.log); run the same command again" >&2; exit 1; }
record ddd "$(seconds $(( $(date -r "$REPORTS/ddd.log" +%s%N) / 1000000 - ddd_start )))"  # until its last line
stim_dirs=("$SETS/$NAME-2afc" "$SETS/$NAME-questionnaire")
python -m analysis.report --runs "$RUNS" --study "$NAME" --stimuli "${stim_dirs[@]}" --data-root "$DATA" \
  --out "$REPORTS" --include-simulated --tolerance "$TOLERANCE" --ddd "$REPORTS/ddd"  # step 2's results, if up to date
step "" ""
printf 'total\t%s\n' "$(seconds $(( $(ms) - start )))" >> "$TIMES"
printf '\n%s finished in %s s (per step: %s). Open the report: %s\n' "$NAME" "$(seconds $(( $(ms) - start )))" \
  "$TIMES" "$(realpath "$REPORTS/report.html")"
}

main "$@"
