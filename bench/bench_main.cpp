// streamstats benchmarks — entry point: registers every benchmark, then runs Google Benchmark.
// SPDX-License-Identifier: MIT
#include "bench_common.hpp"

int main(int argc, char** argv) {
  streamstats_bench::register_core();
  streamstats_bench::register_peer();
  streamstats_bench::register_alternatives();
#if defined(STREAMSTATS_BENCH_EIGEN)
  streamstats_bench::register_eigen();
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
