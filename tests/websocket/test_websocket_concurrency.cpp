// 50 producers × 10⁴ samples into 5 streams while 20 subscribers watch every stream: every sample
// is counted exactly once, the final statistics equal an offline computation, and every subscriber
// ends with the final state of every stream. Every (producer, i) pushes a distinct integer, and each
// stream's pipeline also reports its exact count, Σx and Σx², so a lost, doubled or misrouted sample
// changes a checked number.
#include "ws_test_client.hpp"

#include <streamstats/websocket/server.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using ws_test::json;
namespace ws = streamstats::websocket;

namespace {

constexpr int producers = 50;
constexpr int samples_per_producer = 10000;
constexpr int streams = 5;
constexpr int subscribers = 20;

// Sample i of producer p: the distinct integer p·10⁴ + i − 250000 (|x| ≤ 250000), so that every
// partial Σx and Σx² of a stream (at most 2.1e15 < 2^53) is an exact integer in a double whatever
// the order of arrival: the offline sums must be met exactly.
double sample(int p, int i) { return static_cast<double>(p * samples_per_producer + i - 250000); }

std::string stream_of(int p) { return "s" + std::to_string(p % streams); }

// The default pipeline plus exact bookkeeping: the snapshot's "stats" gain n, sum and sum_sq.
class exact_sums_pipeline final : public ws::pipeline {
 public:
  bool push(double x, ws::alert_info& alert) noexcept override {
    add(x);
    return inner_.push(x, alert);
  }
  void push_batch(const double* x, std::size_t n, ws::alert_sink& alerts) noexcept override {
    for (std::size_t i = 0; i < n; ++i) {
      add(x[i]);
    }
    inner_.push_batch(x, n, alerts);
  }
  void write_stats(ws::stats_writer& out) const override {
    inner_.write_stats(out);
    out.field("n", n_);
    out.field("sum", sum_);
    out.field("sum_sq", sum_sq_);
  }

 private:
  void add(double x) noexcept {
    n_ += 1.0;
    sum_ += x;
    sum_sq_ += x * x;
  }
  ws::default_pipeline inner_;
  double n_ = 0.0;
  double sum_ = 0.0;
  double sum_sq_ = 0.0;
};

}  // namespace

TEST_CASE(
    "50 producers and 20 subscribers at once: every sample counted once, exact count, sum and sum of squares",
    "[websocket]") {
  ws::server_options o;
  o.snapshot_interval = 20ms;
  o.make_pipeline = [](std::string_view) { return std::make_unique<exact_sums_pipeline>(); };
  ws::server srv(o);
  srv.start();

  // Offline reference: exact integers in doubles (see sample()).
  std::array<double, streams> sum{};
  std::array<double, streams> sum_sq{};
  std::array<double, streams> lo{};
  std::array<double, streams> hi{};
  lo.fill(1e300);
  hi.fill(-1e300);
  for (int p = 0; p < producers; ++p) {
    const auto s = static_cast<std::size_t>(p % streams);
    for (int i = 0; i < samples_per_producer; ++i) {
      const double x = sample(p, i);
      sum[s] += x;
      sum_sq[s] += x * x;
      lo[s] = std::min(lo[s], x);
      hi[s] = std::max(hi[s], x);
    }
  }
  const auto per_stream = static_cast<double>(producers) / streams * samples_per_producer;

  ws_test::client_pool sub_pool;
  std::vector<ws_test::client> subs;
  subs.reserve(subscribers);
  for (int k = 0; k < subscribers; ++k) {
    subs.push_back(sub_pool.connect(srv.port()));
    REQUIRE(subs.back().is_open());
    subs.back().send_text(R"({"type":"subscribe","stream":"*"})");
    subs.back().next_of_type("subscribed");
  }

  // Producers on 5 client io threads; each sends its 10⁴ samples as 2000 single JSON pushes,
  // 80 JSON batches of 50 and 40 binary frames of 100, interleaved, the last push with an id.
  std::vector<std::unique_ptr<ws_test::client_pool>> pools;
  for (int k = 0; k < 5; ++k) {
    pools.push_back(std::make_unique<ws_test::client_pool>());
  }
  std::vector<ws_test::client> prods;
  prods.reserve(producers);
  for (int p = 0; p < producers; ++p) {
    prods.push_back(pools[static_cast<std::size_t>(p % 5)]->connect(srv.port()));
    REQUIRE(prods.back().is_open());
  }
  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      auto& c = prods[static_cast<std::size_t>(p)];
      const std::string name = stream_of(p);
      int i = 0;
      for (int round = 0; round < 40; ++round) {
        for (int k = 0; k < 50; ++k, ++i) {  // 50 single pushes
          c.send_json({{"stream", name}, {"value", sample(p, i)}});
        }
        for (int b = 0; b < 2; ++b) {  // 2 batches of 50
          std::vector<double> v;
          for (int k = 0; k < 50; ++k, ++i) {
            v.push_back(sample(p, i));
          }
          c.send_json({{"stream", name}, {"values", v}});
        }
        std::vector<double> v;  // 1 binary frame of 100
        for (int k = 0; k < 100; ++k, ++i) {
          v.push_back(sample(p, i));
        }
        c.send_binary(ws_test::binary_frame(name, v));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  // A round trip on each producer connection proves the server has processed all its messages
  // (one connection's messages are handled in order).
  for (int p = 0; p < producers; ++p) {
    auto& c = prods[static_cast<std::size_t>(p)];
    c.send_json({{"type", "list"}, {"id", p}});
    json j = c.next_of_type("streams", 30000ms);
    CHECK(j["id"] == p);
  }

  const auto st = srv.stats();
  CHECK(st.samples == static_cast<std::uint64_t>(producers) * samples_per_producer);
  CHECK(st.rejected == 0);
  CHECK(st.messages == static_cast<std::uint64_t>(producers) * (2000 + 80 + 40 + 1) +
                           static_cast<std::uint64_t>(subscribers));

  // Every subscriber ends with the final state of every stream (nobody starves).
  for (int k = 0; k < subscribers; ++k) {
    auto& c = subs[static_cast<std::size_t>(k)];
    std::map<std::string, json> final_seen;
    std::size_t snapshots = 0;
    while (final_seen.size() < streams) {
      json j = c.next_of_type("snapshot", 20000ms);
      ++snapshots;
      if (j["count"] == per_stream) {
        final_seen[j["stream"].get<std::string>()] = j;
      }
    }
    INFO("subscriber " << k << " read " << snapshots << " snapshots to reach the final state");
    for (int s = 0; s < streams; ++s) {
      const json& j = final_seen.at("s" + std::to_string(s));
      const auto si = static_cast<std::size_t>(s);
      INFO("stream s" << s);
      CHECK(j["stats"]["n"].get<double>() == per_stream);
      CHECK(j["stats"]["sum"].get<double>() == sum[si]);
      CHECK(j["stats"]["sum_sq"].get<double>() == sum_sq[si]);
      // The default pipeline's own statistics: the shifted Welford mean to 4e-14 of the data's scale
      // (2.5e5; a stream's mean can be near 0, where a relative bound means nothing), exact extrema.
      CHECK(j["stats"]["mean"].get<double>() == Approx(sum[si] / per_stream).margin(1e-8));
      CHECK(j["stats"]["min"] == lo[si]);
      CHECK(j["stats"]["max"] == hi[si]);
      CHECK(j["rejected"] == 0);
    }
  }
  srv.stop();
  srv.join();
}
