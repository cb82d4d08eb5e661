#!/bin/bash
# Runs a streamstats detector configuration over a NAB root with bench/nab_run and scores it with
# the NAB scorer that root ships (score.sh, e.g. the team's ../shared/nab-dev).
# Usage: tools/nab.sh [NAB_ROOT] [nab_run options...]
#   NAB_ROOT   default ../shared/nab-dev (relative to the repository root)
#   options    passed to nab_run, e.g. --name sscore --output alerts --detector zscore --set window=200
#              (--name defaults to "streamstats"; it must not contain '_')
# Env: NAB_RUN  the nab_run binary (default: the first of build/{bench,release,dev}/bench/nab_run)
#      NAB_OUT  where result files go (default: a temporary directory, removed afterwards)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$repo/../shared/nab-dev}
[ $# -gt 0 ] && shift
[ -f "$root/score.sh" ] || { echo "nab.sh: $root has no score.sh (not a NAB root with its scorer)" >&2; exit 2; }
run=${NAB_RUN:-}
if [ -z "$run" ]; then
  for b in bench release dev; do
    [ -x "$repo/build/$b/bench/nab_run" ] && { run=$repo/build/$b/bench/nab_run; break; }
  done
fi
[ -n "$run" ] || { echo "nab.sh: no nab_run (cmake --build --preset bench --target nab_run, or set NAB_RUN)" >&2; exit 2; }
name=streamstats
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --name ] && name=${args[$((i + 1))]}
done
out=${NAB_OUT:-}
if [ -z "$out" ]; then out=$(mktemp -d /tmp/nabrun.XXXXXX); trap 'rm -rf "$out"' EXIT; fi
if ! printf '%s\n' "${args[@]+"${args[@]}"}" | grep -qx -- --name; then args+=(--name "$name"); fi
"$run" --root "$root" --out "$out" "${args[@]}"
bash "$root/score.sh" "$out/$name"
