// streamstats benchmarks — server checkpoints (issue 11): save and load of one warmed-up
// default_pipeline (ns), and a checkpoint of 10^4 such streams split into its two halves: the
// serialisation on the thread that owns the pipelines (ms, and the longest slice when it is cut
// into slices of ≤ 2 ms as the server does) and the file write + fsync + rename + directory fsync
// on the writer thread (ms); bytes per stream; restore (read, check, load every pipeline).
// Goals: a 10^4-stream checkpoint ≤ 100 ms, ingest never paused > 5 ms.
//   build/bench/bench/streamstats_bench_checkpoint --benchmark_min_time=0.2
//   STREAMSTATS_BENCH_DIR=/var/tmp/x ...   (where the files go; default: the system's temporary
//   directory — on tmpfs fsync is free, so run it on the disk a server would use)
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <streamstats/websocket/checkpoint.hpp>
#include <streamstats/websocket/pipeline.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace ws = streamstats::websocket;
namespace fs = std::filesystem;

void warm(ws::pipeline& p, std::uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(100.0, 10.0);
  ws::alert_info a;
  for (int i = 0; i < n; ++i) {
    p.push(noise(rng) + (i % 1000 == 999 ? 500.0 : 0.0), a);
  }
}

struct fleet {
  std::vector<std::string> names;
  std::vector<std::unique_ptr<ws::default_pipeline>> pipes;
  explicit fleet(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      names.push_back("sensor." + std::to_string(i));
      pipes.push_back(std::make_unique<ws::default_pipeline>());
      warm(*pipes.back(), i, 1500);  // windows full, detector calibrated
    }
  }
};

const fleet& fleet_10k() {
  static const fleet f(10000);
  return f;
}

std::string bench_dir() {
  const char* env = std::getenv("STREAMSTATS_BENCH_DIR");
  std::string base = env != nullptr ? env : (fs::temp_directory_path() / "streamstats-bench-ckpt").string();
  fs::create_directories(base);
  return base;
}

void pipeline_save(benchmark::State& state) {
  ws::default_pipeline p;
  warm(p, 1, 10000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    p.save_state(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}

void pipeline_load(benchmark::State& state) {
  ws::default_pipeline p;
  warm(p, 1, 10000);
  std::string s;
  p.save_state(s);
  ws::default_pipeline target;
  for (auto _ : state) {
    target.load_state(s);
    benchmark::DoNotOptimize(target);
    benchmark::ClobberMemory();
  }
}

// Serialisation of every stream on the owning thread, cut into slices of at most ~2 ms (the clock
// read every 32 streams) as the server does between io events; "max_slice_ms" is the longest.
void checkpoint_serialize(benchmark::State& state) {
  const auto& f = fleet_10k();
  const auto budget = std::chrono::microseconds(2000);
  double max_slice = 0.0;
  std::size_t bytes = 0;
  std::size_t slices = 0;
  std::size_t over = 0;  // slices longer than 5 ms (wall clock: a preempted slice counts)
  for (auto _ : state) {
    ws::checkpoint_builder b;
    std::size_t i = 0;
    slices = 0;
    while (i < f.names.size()) {
      const auto t0 = std::chrono::steady_clock::now();
      auto t = t0;
      while (i < f.names.size() && t - t0 < budget) {
        const std::size_t begin = i;
        const std::size_t end = std::min(i + 32, f.names.size());
        for (; i < end; ++i) {
          b.add(f.names[i], ws::checkpoint_counters{1500, 0, 1.0, 1.7e9}, *f.pipes[i]);
        }
        if (begin == 0) {  // as checkpoint_runner: room for the rest at the average size so far
          const std::size_t per = b.size() / i;
          b.reserve(b.size() + (per + per / 8) * (f.names.size() - i) + 4096);
        }
        t = std::chrono::steady_clock::now();
      }
      const double ms = std::chrono::duration<double, std::milli>(t - t0).count();
      max_slice = std::max(max_slice, ms);
      over += ms > 5.0 ? 1 : 0;
      ++slices;
    }
    std::string out = b.take();
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes_per_stream"] = static_cast<double>(bytes) / static_cast<double>(f.names.size());
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["max_slice_ms"] = max_slice;
  state.counters["slices"] = static_cast<double>(slices);
  state.counters["slices_over_5ms"] = static_cast<double>(over);
}

std::string checkpoint_bytes() {
  const auto& f = fleet_10k();
  ws::checkpoint_builder b;
  for (std::size_t i = 0; i < f.names.size(); ++i) {
    b.add(f.names[i], ws::checkpoint_counters{1500, 0, 1.0, 1.7e9}, *f.pipes[i]);
  }
  return b.take();
}

// CRC + write of the temporary file + fsync + rename + fsync of the directory + pruning (the
// writer thread's part).
void checkpoint_write(benchmark::State& state) {
  const std::string bytes = checkpoint_bytes();
  ws::checkpoint_store store(bench_dir() + "/write");
  double write_ms = 0.0;
  double sync_ms = 0.0;
  std::size_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string copy = bytes;
    state.ResumeTiming();
    const auto r = store.write(std::move(copy));
    if (!r.ok) {
      state.SkipWithError(r.error.c_str());
      break;
    }
    write_ms += std::chrono::duration<double, std::milli>(r.write_time).count();
    sync_ms += std::chrono::duration<double, std::milli>(r.sync_time).count();
    ++n;
  }
  if (n > 0) {
    state.counters["write_ms"] = write_ms / static_cast<double>(n);
    state.counters["fsync_rename_ms"] = sync_ms / static_cast<double>(n);
  }
  state.counters["MB"] = static_cast<double>(bytes.size()) / 1e6;
}

// Start-up: read the newest generation, check it, load every stream into a fresh pipeline.
void checkpoint_restore(benchmark::State& state) {
  ws::checkpoint_store store(bench_dir() + "/restore");
  if (!store.write(checkpoint_bytes()).ok) {
    state.SkipWithError("cannot write the checkpoint");
    return;
  }
  for (auto _ : state) {
    ws::checkpoint_store reader(store.directory());
    auto l = reader.load();
    std::vector<std::unique_ptr<ws::pipeline>> pipes;
    pipes.reserve(l.data.streams.size());
    for (const auto& e : l.data.streams) {
      auto p = std::make_unique<ws::default_pipeline>();
      p->load_state(e.state);
      pipes.push_back(std::move(p));
    }
    benchmark::DoNotOptimize(pipes.data());
  }
}

}  // namespace

BENCHMARK(pipeline_save);
BENCHMARK(pipeline_load);
BENCHMARK(checkpoint_serialize)->Unit(benchmark::kMillisecond);
BENCHMARK(checkpoint_write)->Unit(benchmark::kMillisecond);
BENCHMARK(checkpoint_restore)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
