// ws_json_bench — the two JSON libraries Debian packages well (simdjson 3.0, nlohmann::json 3.11),
// measured on the adapter's own workload, plus the cost per sample of the default pipeline.
// Timed loops in one process (no sockets), median of 5 repetitions; heap allocations per message
// counted by replacing the global operator new.
//
//   ws_json_bench
//
// Workload: the three client messages that dominate a server's input:
//   single   {"stream":"cpu","value":0.7312,"t":1732240000.25}
//   batch    {"stream":"cpu","values":[100 numbers]}
//   control  {"type":"subscribe","stream":"cpu","id":17}
// Each library does the same work: parse and validate the whole document, extract stream / value(s)
// / t / type / id with type checks, and copy the numbers out (what request_parser does).
// SPDX-License-Identifier: MIT

#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

namespace ws = streamstats::websocket;

struct result {
  double ns = 0;
  double allocs = 0;
};

template <class F>
result measure(F&& f, int iterations) {
  std::vector<double> times;
  double allocs = 0;
  f();  // warm-up (buffers grow here)
  for (int rep = 0; rep < 5; ++rep) {
    const std::size_t a0 = g_allocations.load();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) {
      f();
    }
    const auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / iterations);
    allocs = static_cast<double>(g_allocations.load() - a0) / iterations;
  }
  std::sort(times.begin(), times.end());
  return {times[2], allocs};
}

volatile double g_sink = 0;

// nlohmann::json doing request_parser's job.
bool nlohmann_parse(const std::string& text, std::vector<double>& values) {
  using json = nlohmann::json;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return false;
  }
  double sum = 0;
  if (auto it = j.find("type"); it != j.end() && !it->is_string()) {
    return false;
  }
  if (auto it = j.find("stream"); it == j.end() || !it->is_string()) {
    return false;
  } else {
    sum += static_cast<double>(it->get_ref<const std::string&>().size());
  }
  if (auto it = j.find("id"); it != j.end() && !it->is_string() && !it->is_number()) {
    return false;
  }
  if (auto it = j.find("t"); it != j.end()) {
    if (!it->is_number()) {
      return false;
    }
    sum += it->get<double>();
  }
  if (auto it = j.find("value"); it != j.end()) {
    if (!it->is_number()) {
      return false;
    }
    sum += it->get<double>();
  }
  if (auto it = j.find("values"); it != j.end()) {
    if (!it->is_array()) {
      return false;
    }
    values.clear();
    for (const auto& v : *it) {
      if (!v.is_number()) {
        return false;
      }
      values.push_back(v.get<double>());
    }
  }
  g_sink = sum;
  return true;
}

}  // namespace

int main() {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(10.0, 2.0);
  const std::string single = R"({"stream":"cpu","value":0.7312,"t":1732240000.25})";
  std::string batch = R"({"stream":"cpu","values":[)";
  for (int i = 0; i < 100; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6f", i == 0 ? "" : ",", normal(rng));
    batch += buf;
  }
  batch += "]}";
  const std::string control = R"({"type":"subscribe","stream":"cpu","id":17})";

  std::printf("| message | simdjson DOM (request_parser) | nlohmann::json | nlohmann / simdjson |\n");
  std::printf("|---|---:|---:|---:|\n");
  ws::request_parser parser;
  std::vector<double> values;
  for (const auto& [name, text, iters] :
       {std::tuple<const char*, const std::string*, int>{"single", &single, 400000},
        {"batch of 100", &batch, 40000},
        {"control", &control, 400000}}) {
    const result s = measure(
        [&] {
          ws::request req;
          ws::request_error err;
          if (!parser.parse(*text, req, err)) {
            std::abort();
          }
          g_sink = req.value + static_cast<double>(parser.values().size());
        },
        iters);
    const result n = measure(
        [&] {
          if (!nlohmann_parse(*text, values)) {
            std::abort();
          }
        },
        iters);
    std::printf("| %s (%zu B) | %.0f ns, %.1f allocations | %.0f ns, %.1f allocations | %.1fx |\n", name,
                text->size(), s.ns, s.allocs, n.ns, n.allocs, n.ns / s.ns);
  }

  // The default pipeline per sample: one push() per sample (JSON single pushes) and push_batch()
  // over 1024 samples (a binary frame), with and without the detector.
  std::vector<double> xs(1 << 16);
  for (double& x : xs) {
    x = normal(rng);
  }
  struct null_sink final : ws::alert_sink {
    std::size_t n = 0;
    void on_alert(std::size_t, double, const ws::alert_info&) override { ++n; }
  };
  std::printf("\n| default pipeline, per sample | push() | push_batch(1024) |\n|---|---:|---:|\n");
  for (const bool detect : {true, false}) {
    ws::default_pipeline_options o;
    o.detect = detect;
    ws::default_pipeline p1(o);
    ws::default_pipeline p2(o);
    null_sink sink;
    std::size_t k = 0;
    const result one = measure(
        [&] {
          ws::alert_info a;
          g_sink = p1.push(xs[k++ & (xs.size() - 1)], a) ? 1.0 : 0.0;
        },
        2000000);
    std::size_t b = 0;
    const result blk = measure(
        [&] {
          p2.push_batch(xs.data() + (b & 63) * 1024, 1024, sink);
          ++b;
        },
        2000);
    std::printf("| %s | %.1f ns | %.1f ns |\n", detect ? "with anomaly_detector" : "detect = false", one.ns,
                blk.ns / 1024.0);
  }
  return 0;
}
