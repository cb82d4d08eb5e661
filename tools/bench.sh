#!/usr/bin/env bash
# The README's benchmark command: installs what the benchmarks need, builds the `bench` preset
# (Release, -O2), runs streamstats against Boost.Accumulators and the hand-written limits, and writes
# bench/results.md (ratios, memory, accuracy on offset data). Run it on a quiet machine.
#   bash tools/bench.sh                 # 5 repetitions, medians, plus the -march=native column
#   BENCH_REPETITIONS=9 BENCH_MIN_TIME=0.5 bash tools/bench.sh
#   BENCH_NATIVE=0 bash tools/bench.sh  # skip the -march=native column
#   BENCH_FILTER='^variance/' bash tools/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

reps="${BENCH_REPETITIONS:-5}"
min_time="${BENCH_MIN_TIME:-0.1}"
native="${BENCH_NATIVE:-1}"
filter="${BENCH_FILTER:-.}"
build="${BENCH_BUILD_DIR:-build/bench}"

bash tools/install-deps.sh bench

echo "=== streamstats: configure and build the bench preset in $build ==="
cmake --preset bench -B "$build" >/dev/null
targets=(streamstats_bench streamstats_bench_report)
if [ "$native" = 1 ]; then targets+=(streamstats_bench_native); fi
cmake --build "$build" --target "${targets[@]}"

out="$build/results"
mkdir -p "$out"
# Repetitions are interleaved at random across benchmarks, so that a burst of load from another
# process hits the peer and streamstats alike instead of skewing one side of a ratio.
run() {
  "$1" --benchmark_filter="$2" --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
    --benchmark_enable_random_interleaving=true \
    --benchmark_report_aggregates_only=true --benchmark_display_aggregates_only=true \
    --benchmark_out="$3" --benchmark_out_format=json
}

echo "=== streamstats: running streamstats_bench ($reps repetitions; medians are reported) ==="
run "$build/bench/streamstats_bench" "$filter" "$out/bench.json"
native_args=()
if [ "$native" = 1 ]; then
  echo "=== streamstats: running streamstats_bench_native (-march=native, in-cache sizes only) ==="
  run "$build/bench/streamstats_bench_native" "(${filter}).*/65536\$" "$out/native.json"
  native_args=(--native "$out/native.json")
fi
"$build/bench/streamstats_bench_report" >"$out/report.md"
"$build/bench/streamstats_bench" --benchmark_list_tests=true --benchmark_filter="$filter" >"$out/order.txt"

cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
compiler="$("${cxx:-c++}" --version | head -n 1)"
/usr/bin/python3 bench/make_results.py --json "$out/bench.json" "${native_args[@]}" --extra "$out/report.md" --order "$out/order.txt" \
  --compiler "$compiler" --flags=-O2 --repetitions "$reps" --notes bench/alternatives.md --out bench/results.md
echo "=== streamstats: wrote bench/results.md ==="
