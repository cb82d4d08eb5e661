// streamstats benchmarks — shared data and harness.
// SPDX-License-Identifier: MIT
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace streamstats_bench {

// 64K doubles (512 KiB: fits in L2 of current x86 cores) and 16M doubles (128 MiB: streams from DRAM).
inline constexpr std::size_t in_cache_n = std::size_t{1} << 16;
inline constexpr std::size_t out_of_cache_n = std::size_t{1} << 24;

// A "sensor" signal: normal(100, 10), fixed seed, so every run and every library sees the same bytes.
inline const std::vector<double>& samples(std::size_t n) {
  static std::map<std::size_t, std::vector<double>> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    std::vector<double> xs(n);
    std::mt19937_64 rng(20261122);
    std::normal_distribution<double> dist(100.0, 10.0);
    for (auto& x : xs) {
      x = dist(rng);
    }
    it = cache.emplace(n, std::move(xs)).first;
  }
  return it->second;
}

// The weight of sample i in the weighted benchmarks: 1, 1.25, ..., 2.75, repeating (cheap, known to
// every library, never zero).
inline double bench_weight(std::size_t i) { return 1.0 + 0.25 * static_cast<double>(i & 7U); }

// Every benchmark feeds all n samples into a fresh accumulator per iteration and returns a result
// that depends on all of them (so nothing is optimised away). Its name is group/variant/impl, and
// Google Benchmark appends /n; tools/bench_report.py parses exactly that shape.
using kernel = std::function<double(const double*, std::size_t)>;

inline void run_kernel(benchmark::State& state, const kernel& k) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& xs = samples(n);
  for (auto _ : state) {
    double r = k(xs.data(), xs.size());
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.counters["per_sample"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Registers group/variant/impl for both sizes. The kernel is wrapped in std::function, but it is
// called once per pass over n samples, so its indirection costs nothing per sample.
template <class F>
void add(const std::string& group, const std::string& variant, const std::string& impl, F f) {
  const std::string name = group + "/" + variant + "/" + impl;
  kernel k(std::move(f));
  benchmark::RegisterBenchmark(name.c_str(), [k](benchmark::State& s) { run_kernel(s, k); })
      ->Arg(static_cast<std::int64_t>(in_cache_n))
      ->Arg(static_cast<std::int64_t>(out_of_cache_n))
      ->Unit(benchmark::kMicrosecond);
}

// Registration hooks, one per translation unit, called from main().
void register_core();
void register_peer();
void register_alternatives();  // bench_alternatives.cpp: the designs measured for issue 16
void register_eigen();         // only when streamstats::eigen exists (STREAMSTATS_BENCH_EIGEN)

}  // namespace streamstats_bench
