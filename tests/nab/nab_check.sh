#!/bin/bash
# The README's NAB table at the level it is printed: runs nab_run over the team's NAB development
# split with NAB's own scorer (tools/nab.sh) and checks the bold rows — the default detector fed with
# timestamps, score() and alerts — within 0.5 of their printed figures, and that the naive
# alternative (quiet = 0: an excursion's repeats ranked by p like any sample) scores below them.
# Usage: nab_check.sh NAB_RUN NAB_ROOT. Exit 77 (skipped) when NAB_ROOT has no scorer: the split is
# kept outside the repository (../shared/nab-dev) and a fresh clone does not have it.
set -euo pipefail
run=${1:?usage: nab_check.sh NAB_RUN NAB_ROOT}
root=${2:?usage: nab_check.sh NAB_RUN NAB_ROOT}
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -f "$root/score.sh" ]; then
  echo "nab_check: no NAB root with its scorer at $root: skipped"
  exit 77
fi
fail=0
# near NAME GOT WANT: |GOT - WANT| <= 0.5
near() {
  if awk -v g="$2" -v w="$3" 'BEGIN { d = g - w; exit !(d <= 0.5 && d >= -0.5) }'; then
    echo "ok   $1 = $2 (printed $3)"
  else
    echo "FAIL $1 = $2, printed $3 (tolerance 0.5)"
    fail=1
  fi
}
# profile OUTPUT NAME: the figure of profile NAME in a tools/nab.sh output
profile() { awk -v p="$2" '$1 == p { print $2 }' <<<"$1"; }
score=$(NAB_RUN=$run bash "$repo/tools/nab.sh" "$root" --detector default --output score)
alerts=$(NAB_RUN=$run bash "$repo/tools/nab.sh" "$root" --detector default --output alerts)
naive=$(NAB_RUN=$run bash "$repo/tools/nab.sh" "$root" --detector default --output score --set quiet=0)
near "score() standard" "$(profile "$score" standard)" 56.36
near "score() reward_low_FP_rate" "$(profile "$score" reward_low_FP_rate)" 37.84
near "score() reward_low_FN_rate" "$(profile "$score" reward_low_FN_rate)" 64.92
near "alerts standard" "$(profile "$alerts" standard)" 57.88
near "alerts reward_low_FP_rate" "$(profile "$alerts" reward_low_FP_rate)" 41.78
# The naive alternative is printed too (49.02 / 34.43): it must stay there, well below.
near "quiet = 0 score() standard" "$(profile "$naive" standard)" 49.02
near "quiet = 0 score() reward_low_FP_rate" "$(profile "$naive" reward_low_FP_rate)" 34.43
if awk -v a="$(profile "$score" standard)" -v b="$(profile "$naive" standard)" 'BEGIN { exit !(a > b + 3) }'; then
  echo "ok   ranking repeats below first reports gains more than 3 points"
else
  echo "FAIL ranking repeats below first reports gains 3 points or less"
  fail=1
fi
exit $fail
