// streamstatsd --redis with real processes (issue 14, docs/scale-out.md): one redis-server (unix
// socket, no persistence) and three streamstatsd nodes on 127.0.0.1.
//   - producers on nodes A and B push to the same stream; a subscriber on C receives every alert
//     (the alert indices a local pipeline finds in the same log order) and C's final snapshot has the
//     exact stats of that pipeline;
//   - kill -9 of the stream's owner during ingest from A and B: a survivor takes over and the final
//     count, mean, variance, min and max are those of every acknowledged sample (no loss, no
//     duplicate);
//   - Redis killed: pushes get error "unavailable", /readyz says 503; Redis back: pushes are
//     acknowledged again; /metrics has the redis counters.
#include "daemon_process.hpp"
#include "redis_server.hpp"
#include "ws_test_client.hpp"

#include <streamstats/websocket/config.hpp>
#include <streamstats/websocket/pipeline_spec.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using streamstatsd_test::daemon_process;
using streamstatsd_test::scratch;
using ws_test::json;
namespace ws = streamstats::websocket;

namespace {

const char* const config_text = R"(
[server]
port = 0
snapshot_interval_ms = 20
shutdown_timeout_ms = 1000

[redis]
lease_ttl_ms = 600

[[pipeline]]
match = "*"
stats = ["count", "mean", "variance", "min", "max"]
detector = true
detector_threshold = 3.5
detector_warmup = 20
)";

ws::pipeline_spec test_spec() {
  const auto c = ws::parse_config(config_text);
  REQUIRE(c.pipelines.size() == 1);
  return c.pipelines[0];
}

std::string http_body(std::uint16_t port, const std::string& path) {
  const std::string r = ws_test::http_get(port, path);
  const auto at = r.find("\r\n\r\n");
  return at == std::string::npos ? r : r.substr(at + 4);
}

int http_status(std::uint16_t port, const std::string& path) {
  const std::string r = ws_test::http_get(port, path);
  return r.size() > 12 ? std::atoi(r.c_str() + 9) : 0;
}

// A metric's value from /metrics (-1 when absent).
double metric(std::uint16_t port, const std::string& name) {
  const std::string body = http_body(port, "/metrics");
  const auto at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1.0 : std::atof(body.c_str() + at + name.size() + 2);
}

// The reply to a snapshot request; the alerts that arrive before it go to `alerts`.
json snapshot(ws_test::client& c, const std::string& stream, std::vector<json>* alerts = nullptr) {
  c.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", 2}});
  for (;;) {
    json m = c.next_json();
    if (alerts != nullptr && m.value("type", "") == "alert") {
      alerts->push_back(m);
    }
    if (m.value("type", "") == "snapshot" && m.contains("id")) {
      m.erase("id");
      return m;
    }
    if (m.value("type", "") == "error") {
      return m;
    }
  }
}

// Polls `c`'s snapshot of `stream` until its count is `count` (bounded).
json wait_count(ws_test::client& c, const std::string& stream, std::uint64_t count,
                std::vector<json>* alerts = nullptr, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  json s;
  for (;;) {
    s = snapshot(c, stream, alerts);
    if (s.value("count", std::uint64_t(0)) == count || std::chrono::steady_clock::now() > deadline) {
      return s;
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::vector<std::unique_ptr<daemon_process>> start_nodes(const std::string& cfg, const std::string& url,
                                                         int n) {
  std::vector<std::unique_ptr<daemon_process>> nodes;
  for (int i = 0; i < n; ++i) {
    nodes.push_back(
        std::make_unique<daemon_process>(std::vector<std::string>{"--config", cfg, "--redis", url}));
  }
  return nodes;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST_CASE("three nodes: producers on A and B - every alert and the exact stats at a subscriber on C") {
  streamstats_test::redis_server redis;
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  const std::string url = "unix://" + redis.socket_path();
  auto nodes = start_nodes(cfg, url, 3);
  ws_test::client_pool pool;
  auto a = pool.connect(nodes[0]->port());
  auto b = pool.connect(nodes[1]->port());
  auto c = pool.connect(nodes[2]->port());
  REQUIRE(a.is_open());
  REQUIRE(b.is_open());
  REQUIRE(c.is_open());
  for (auto& n : nodes) {
    REQUIRE(wait_until([&] { return http_status(n->port(), "/readyz") == 200; }, 10s));
  }
  c.send_json({{"type", "subscribe"}, {"stream", "*"}});
  (void)c.next_of_type("subscribed");

  // The series: noise with rare spikes (alerts); batches alternate between A and B, each
  // acknowledged before the next, so the log order is the order sent.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(10.0, 1.0);
  std::uniform_int_distribution<std::size_t> size(1, 40);
  const std::size_t total = 3000;
  std::vector<double> xs(total);
  for (std::size_t i = 0; i < total; ++i) {
    xs[i] = noise(rng) + (i % 97 == 96 ? 25.0 : 0.0);
  }
  ws::spec_pipeline ref(test_spec());
  struct collect final : ws::alert_sink {
    std::set<std::uint64_t> at;
    std::uint64_t base = 0;
    void on_alert(std::size_t offset, double, const ws::alert_info&) override { at.insert(base + offset); }
  } expected;
  std::size_t done = 0;
  int k = 0;
  while (done < total) {
    const std::size_t n = std::min(size(rng), total - done);
    const std::vector<double> v(xs.begin() + static_cast<std::ptrdiff_t>(done),
                                xs.begin() + static_cast<std::ptrdiff_t>(done + n));
    auto& producer = (k++ % 2 == 0) ? a : b;
    producer.send_json({{"stream", "shared"}, {"values", v}, {"id", k}});
    const json ack = producer.next_of_type("ack");
    REQUIRE(ack["accepted"] == n);
    expected.base = done;
    if (n == 1) {
      ws::alert_info ai;
      if (ref.push(v[0], ai)) {
        expected.at.insert(done);
      }
    } else {
      ref.push_batch(v.data(), n, expected);
    }
    done += n;
  }
  // Last, a binary batch from B (no ack in the protocol; the snapshot below proves it was applied).
  {
    const std::vector<double> v = {9.5, 10.5, 11.0, 8.75};
    b.send_binary(ws_test::binary_frame("shared", v));
    expected.base = done;
    ref.push_batch(v.data(), v.size(), expected);
  }
  const std::size_t total_all = total + 4;
  REQUIRE(expected.at.size() >= 10);

  // C's snapshot reaches the total and has the reference pipeline's stats, bit for bit (the owner
  // applied the same batches in the same order; C loaded its published state).
  std::vector<json> alerts;
  const json snap = wait_count(c, "shared", total_all, &alerts);
  REQUIRE(snap["count"] == total_all);
  std::string out;
  {
    ws::json_writer w(out);
    w.begin_object();
    ws::stats_writer sw(w);
    ref.write_stats(sw);
    w.end_object();
  }
  CHECK(snap["stats"] == json::parse(out));

  // Every alert, once, at C (the subscriber of "*").
  std::set<std::uint64_t> got;
  for (const json& j : alerts) {
    CHECK(j["stream"] == "shared");
    CHECK(got.insert(j["index"].get<std::uint64_t>()).second);  // never twice
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.size() < expected.at.size() && std::chrono::steady_clock::now() < deadline) {
    const auto m = c.next(200ms);
    if (!m) {
      continue;
    }
    const json j = json::parse(*m);
    if (j.value("type", "") == "alert") {
      CHECK(j["stream"] == "shared");
      CHECK(got.insert(j["index"].get<std::uint64_t>()).second);  // never twice
    }
  }
  CHECK(got == expected.at);

  // Every node counts; exactly one owns the stream.
  double owned = 0;
  double appended = 0;
  for (auto& n : nodes) {
    CHECK(metric(n->port(), "streamstats_redis_connected") == 1);
    owned += metric(n->port(), "streamstats_redis_owned_streams");
    appended += metric(n->port(), "streamstats_redis_appended_samples_total");
  }
  CHECK(owned == 1);
  CHECK(appended == static_cast<double>(total_all));
  for (auto& n : nodes) {
    n->signal(SIGTERM);
    CHECK(n->wait_exit() == 0);
  }
}

TEST_CASE(
    "kill -9 of the owner during ingest: exact count - mean - variance - min - max of the acknowledged "
    "samples") {
  streamstats_test::redis_server redis;
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  const std::string url = "unix://" + redis.socket_path();
  ws_test::client_pool pool;

  // C first: it creates the stream and owns it (the first to take the lease), then A and B join.
  daemon_process owner_node({"--config", cfg, "--redis", url});
  auto c = pool.connect(owner_node.port());
  REQUIRE(c.is_open());
  std::vector<double> acked;
  c.send_json({{"stream", "k"}, {"values", {1.5, -2.25}}, {"id", 0}});
  REQUIRE(c.next_of_type("ack")["accepted"] == 2);
  acked.insert(acked.end(), {1.5, -2.25});
  REQUIRE(wait_until([&] { return metric(owner_node.port(), "streamstats_redis_owned_streams") == 1; }, 10s));
  auto nodes = start_nodes(cfg, url, 2);
  auto a = pool.connect(nodes[0]->port());
  auto b = pool.connect(nodes[1]->port());
  REQUIRE(a.is_open());
  REQUIRE(b.is_open());

  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(100.0, 30.0);
  const int batches = 300;
  const std::size_t per = 50;
  std::chrono::steady_clock::time_point killed{};
  std::thread watcher;
  double takeover_ms = -1;  // kill → a survivor holds the lease (its metrics say so)
  for (int i = 0; i < batches; ++i) {
    // A and B each have a batch in flight at the same time: their appends interleave in Redis.
    std::vector<double> va(per);
    std::vector<double> vb(per);
    for (double& x : va) {
      x = noise(rng);
    }
    for (double& x : vb) {
      x = noise(rng);
    }
    a.send_json({{"stream", "k"}, {"values", va}, {"id", i}});
    b.send_json({{"stream", "k"}, {"values", vb}, {"id", i}});
    REQUIRE(a.next_of_type("ack")["accepted"] == per);  // whoever owns the stream
    acked.insert(acked.end(), va.begin(), va.end());
    REQUIRE(b.next_of_type("ack")["accepted"] == per);
    acked.insert(acked.end(), vb.begin(), vb.end());
    if (i == batches / 3) {
      owner_node.signal(SIGKILL);
      killed = std::chrono::steady_clock::now();
      watcher = std::thread([&] {
        const std::uint16_t pa = nodes[0]->port();
        const std::uint16_t pb = nodes[1]->port();
        if (wait_until(
                [&] {
                  return metric(pa, "streamstats_redis_lease_gains_total") +
                             metric(pb, "streamstats_redis_lease_gains_total") >=
                         1;
                },
                10s)) {
          takeover_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count();
        }
      });
    }
  }
  watcher.join();
  REQUIRE(owner_node.wait_exit() == 128 + SIGKILL);
  CHECK(takeover_ms >= 0);

  // A successor applies everything: its snapshot reaches the total.
  const json snap = wait_count(a, "k", acked.size());
  const double failover_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count();
  REQUIRE(snap["count"] == acked.size());
  CHECK(wait_count(b, "k", acked.size())["count"] == acked.size());
  double owned = 0;
  for (auto& n : nodes) {
    owned += metric(n->port(), "streamstats_redis_owned_streams");
  }
  CHECK(owned == 1);
  std::printf(
      "kill -9 of the owner (lease 600 ms): a survivor owns the stream %.0f ms after the kill; %zu samples "
      "acknowledged, all applied %.0f ms after the kill\n",
      takeover_ms, acked.size(), failover_ms);

  // Exact reference: count, min, max exactly; mean and variance (population, as the pipeline's
  // "variance") from a two-pass long double computation.
  long double sum = 0;
  double lo = acked[0];
  double hi = acked[0];
  for (const double x : acked) {
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const long double mean = sum / static_cast<long double>(acked.size());
  long double ss = 0;
  for (const double x : acked) {
    ss += (x - mean) * (x - mean);
  }
  const json& st = snap["stats"];
  CHECK(st["count"].get<double>() == static_cast<double>(acked.size()));
  CHECK(st["min"].get<double>() == lo);
  CHECK(st["max"].get<double>() == hi);
  CHECK(st["mean"].get<double>() == Approx(static_cast<double>(mean)).epsilon(1e-12));
  const double var_pop = static_cast<double>(ss / static_cast<long double>(acked.size()));
  const double var_smp = static_cast<double>(ss / static_cast<long double>(acked.size() - 1));
  const double v = st["variance"].get<double>();
  CHECK((v == Approx(var_pop).epsilon(1e-12) || v == Approx(var_smp).epsilon(1e-12)));
  for (auto& n : nodes) {
    n->signal(SIGTERM);
    CHECK(n->wait_exit() == 0);
  }
}

TEST_CASE("Redis down: pushes answered unavailable and /readyz 503 - Redis back: acknowledged again") {
  streamstats_test::redis_server redis;
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  daemon_process node({"--config", cfg, "--redis", "unix://" + redis.socket_path()});
  ws_test::client_pool pool;
  auto p = pool.connect(node.port());
  REQUIRE(p.is_open());
  REQUIRE(wait_until([&] { return http_status(node.port(), "/readyz") == 200; }, 10s));
  p.send_json({{"stream", "d"}, {"value", 1.0}, {"id", 1}});
  CHECK(p.next_of_type("ack")["accepted"] == 1);

  redis.stop(SIGKILL);
  REQUIRE(wait_until([&] { return http_status(node.port(), "/readyz") == 503; }, 10s));
  p.send_json({{"stream", "d"}, {"value", 2.0}, {"id", 2}});
  const json err = p.next_of_type("error");
  CHECK(err["code"] == "unavailable");
  CHECK(err["id"] == 2);
  CHECK(metric(node.port(), "streamstats_redis_unavailable_total") >= 1);
  CHECK(metric(node.port(), "streamstats_redis_connected") == 0);

  redis.start();  // empty (no persistence): a new epoch
  REQUIRE(wait_until([&] { return http_status(node.port(), "/readyz") == 200; }, 15s));
  p.send_json({{"stream", "d"}, {"value", 3.0}, {"id", 3}});
  CHECK(p.next_of_type("ack")["accepted"] == 1);
  node.signal(SIGTERM);
  CHECK(node.wait_exit() == 0);
}
