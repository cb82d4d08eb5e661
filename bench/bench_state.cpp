// streamstats benchmarks — save_state / load_state (docs/state-format.md): ns per save and per load of
// a warmed-up anomaly_detector<double> (full 64-sample window, re-learn ring full), and the bytes of
// its state (counter "bytes"). Goal (issue 11): save + load ≤ 1 µs.
//   build/bench/bench/streamstats_bench_state --benchmark_min_time=0.2
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <streamstats/state.hpp>
#include <streamstats/streamstats.hpp>

#include <array>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace {

streamstats::anomaly_detector<double> warmed_detector() {
  streamstats::anomaly_detector<double> d;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(100.0, 10.0);
  for (int i = 0; i < 10000; ++i) {
    d.push(noise(rng) + (i % 1000 == 999 ? 500.0 : 0.0));
  }
  return d;
}

void save_buffer(benchmark::State& state) {
  const auto d = warmed_detector();
  std::array<char, 4096> buf{};
  std::size_t bytes = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d);
    const auto r = streamstats::save_state(d, buf.data(), buf.size());
    bytes = r.size;
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}

void load_buffer(benchmark::State& state) {
  const auto d = warmed_detector();
  std::array<char, 4096> buf{};
  const auto r = streamstats::save_state(d, buf.data(), buf.size());
  streamstats::anomaly_detector<double> target;
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf.data());
    const auto ec = streamstats::load_state(std::string_view(buf.data(), r.size), target);
    benchmark::DoNotOptimize(ec);
    benchmark::ClobberMemory();
  }
  state.counters["bytes"] = static_cast<double>(r.size);
}

void save_load_buffer(benchmark::State& state) {
  const auto d = warmed_detector();
  std::array<char, 4096> buf{};
  streamstats::anomaly_detector<double> target;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d);
    const auto r = streamstats::save_state(d, buf.data(), buf.size());
    const auto ec = streamstats::load_state(std::string_view(buf.data(), r.size), target);
    benchmark::DoNotOptimize(ec);
    benchmark::ClobberMemory();
  }
}

void save_string(benchmark::State& state) {
  const auto d = warmed_detector();
  for (auto _ : state) {
    benchmark::DoNotOptimize(d);
    std::string s = streamstats::save_state(d);
    benchmark::DoNotOptimize(s.data());
  }
}

void load_value(benchmark::State& state) {
  const std::string s = streamstats::save_state(warmed_detector());
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.data());
    auto d = streamstats::load_state<streamstats::anomaly_detector<double>>(s);
    benchmark::DoNotOptimize(d);
  }
}

// The checksum alone over a state's bytes: how much of a load is the CRC.
void crc_only(benchmark::State& state) {
  const std::string s = streamstats::save_state(warmed_detector());
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.data());
    auto c = streamstats::detail::crc32c(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(s.size()));
}

}  // namespace

BENCHMARK(save_buffer)->Name("state/anomaly_detector<double>/save (buffer)");
BENCHMARK(load_buffer)->Name("state/anomaly_detector<double>/load (buffer, noexcept)");
BENCHMARK(save_load_buffer)->Name("state/anomaly_detector<double>/save+load (buffer)");
BENCHMARK(save_string)->Name("state/anomaly_detector<double>/save_state -> std::string");
BENCHMARK(load_value)->Name("state/anomaly_detector<double>/load_state<A>(string)");
BENCHMARK(crc_only)->Name("state/crc32c/state bytes");

BENCHMARK_MAIN();
