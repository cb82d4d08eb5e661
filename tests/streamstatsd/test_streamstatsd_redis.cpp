// streamstatsd --redis with real processes (issue 14, docs/scale-out.md): one redis-server (unix
// socket, no persistence) and three streamstatsd nodes on 127.0.0.1.
//   - producers on nodes A and B push to the same stream; a subscriber on C receives every alert
//     (the alert indices a local pipeline finds in the same log order) and C's final snapshot has the
//     exact stats of that pipeline;
//   - kill -9 of the stream's owner during ingest from A and B: a survivor takes over and the final
//     count, mean, variance, min and max are those of every acknowledged sample (no loss, no
//     duplicate);
//     and a single-process pipeline fed the acknowledged batches in log order (the acks of numbered
//     pushes carry each batch's first sample index) has the owner's stored state, bit for bit;
//   - Redis killed: pushes get error "unavailable", /readyz says 503; Redis back: pushes are
//     acknowledged again; /metrics has the redis counters;
//   - Redis (AOF, appendfsync always) SIGKILLed and restarted during ingest under a numbered
//     producer that retries what was not acknowledged: every batch counted exactly once.
#include "daemon_process.hpp"
#include "redis_server.hpp"
#include "ws_test_client.hpp"

#include <streamstats/websocket/config.hpp>
#include <streamstats/websocket/pipeline_spec.hpp>

#include <catch2/catch.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
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

// The kill -9 test's: the default detector, whose daily stage learns the stream's pace and phase from
// each batch's time (issue 10), which the log carries with the batch (the push's "t").
const std::string timed_config_text = R"(
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

// The other tests': the daily stage off. It learns from each sample's time, and these tests' pushes
// carry none (each batch is logged with its arrival time at the ingesting node, which a replay in
// another process does not know).
const std::string config_text = timed_config_text + "detector_period = 0\n";

ws::pipeline_spec test_spec(const std::string& text = config_text) {
  const auto c = ws::parse_config(text);
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

// A field of a hash in Redis (a synchronous hiredis connection of its own), "" when absent.
std::string redis_hget(const std::string& socket, const std::string& key, const std::string& field) {
  redisContext* rc = redisConnectUnix(socket.c_str());
  REQUIRE(rc != nullptr);
  INFO("connecting to " << socket << ": " << rc->errstr);
  REQUIRE(rc->err == 0);
  auto* r = static_cast<redisReply*>(
      redisCommand(rc, "HGET %b %b", key.data(), key.size(), field.data(), field.size()));
  std::string out;
  if (r != nullptr && r->type == REDIS_REPLY_STRING) {
    out.assign(r->str, r->len);
  }
  freeReplyObject(r);
  redisFree(rc);
  return out;
}

// The in-process run the issue asks for: the same pipeline (built from the same config spec) fed
// the same batches in the same order, one push per batch as the owner applies one per log entry,
// with the batch's time t when the pushes carried one.
struct replay {
  explicit replay(const std::string& text = config_text) : pipe(test_spec(text)) {}
  ws::spec_pipeline pipe;
  std::uint64_t count = 0;
  double last = 0.0;
  std::size_t alerts = 0;
  void batch(const std::vector<double>& v, double t = std::numeric_limits<double>::quiet_NaN()) {
    struct counting final : ws::alert_sink {
      std::size_t n = 0;
      void on_alert(std::size_t, double, const ws::alert_info&) override { ++n; }
    } sink;
    if (v.size() == 1) {
      ws::alert_info ai;
      sink.n += std::isnan(t) ? pipe.push(v[0], ai) : pipe.push_at(v[0], t, ai);
    } else if (std::isnan(t)) {
      pipe.push_batch(v.data(), v.size(), sink);
    } else {
      pipe.push_batch_at(v.data(), v.size(), t, sink);
    }
    alerts += sink.n;
    count += v.size();
    last = v.back();
  }
  [[nodiscard]] json stats() const {
    std::string out;
    ws::json_writer w(out);
    w.begin_object();
    ws::stats_writer sw(w);
    pipe.write_stats(sw);
    w.end_object();
    return json::parse(out);
  }
  // The owner's stored state is the stream's counters (count, last, t: 24 bytes) then the
  // pipeline's save_state bytes (core.hpp, broker_host_impl::save); `t` is the last batch's time
  // (its "t", or its arrival time at the node that logged it), checked when given.
  void check_stored(const std::string& stored,
                    double last_t = std::numeric_limits<double>::quiet_NaN()) const {
    REQUIRE(stored.size() > 24);
    std::uint64_t n = 0;
    double l = 0.0;
    double t = 0.0;
    std::memcpy(&n, stored.data(), 8);  // little-endian, as the test machine
    std::memcpy(&l, stored.data() + 8, 8);
    std::memcpy(&t, stored.data() + 16, 8);
    CHECK(n == count);
    CHECK(std::memcmp(&l, &last, 8) == 0);
    if (!std::isnan(last_t)) {
      CHECK(t == last_t);
    }
    std::string mine;
    pipe.save_state(mine);
    CHECK(stored.size() - 24 == mine.size());
    CHECK(stored.compare(24, std::string::npos, mine) == 0);  // bit for bit
  }
};

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
    "samples - and a single-process run over the log order, with the pushes' times, has the same state "
    "bit for bit") {
  streamstats_test::redis_server redis;
  scratch s;
  // The default detector: its daily stage learns the pace and phase from the batches' times, which
  // the successor must replay as the first owner learnt them (the log carries each batch's "t").
  const auto cfg = s.write("c.toml", timed_config_text);
  const std::string url = "unix://" + redis.socket_path();
  ws_test::client_pool pool;

  // C first: it creates the stream and owns it (the first to take the lease), then A and B join.
  daemon_process owner_node({"--config", cfg, "--redis", url});
  auto c = pool.connect(owner_node.port());
  REQUIRE(c.is_open());
  // Connected to Redis first (else the push is answered "unavailable": a busy machine is slow).
  REQUIRE(wait_until([&] { return http_status(owner_node.port(), "/readyz") == 200; }, 10s));
  // Every push is numbered (producer id + seq), so that its ack says where the batch is in the log:
  // `first`, the index of its first sample. by_first is the log order, with each batch's "t".
  std::vector<double> acked;
  std::map<std::uint64_t, std::pair<std::vector<double>, double>> by_first;
  auto record = [&](const json& ack, const std::vector<double>& v, double t) {
    REQUIRE(ack["accepted"] == v.size());
    REQUIRE(ack.contains("first"));
    CHECK(by_first.emplace(ack["first"].get<std::uint64_t>(), std::make_pair(v, t)).second);
    acked.insert(acked.end(), v.begin(), v.end());
  };
  // Five-minute samples (288 a day) with a daily swing: batch i of A starts at t0 + 2i·50 samples,
  // B's 50 samples later (what the two log in the other order is scored without its time).
  const double t0 = 1.7e9;
  const double spacing = 300.0;
  c.send_json(
      {{"stream", "k"}, {"values", {1.5, -2.25}}, {"id", 0}, {"producer", "C"}, {"seq", 1}, {"t", t0}});
  record(c.next_of_type("ack"), {1.5, -2.25}, t0);
  REQUIRE(wait_until([&] { return metric(owner_node.port(), "streamstats_redis_owned_streams") == 1; }, 10s));
  auto nodes = start_nodes(cfg, url, 2);
  auto a = pool.connect(nodes[0]->port());
  auto b = pool.connect(nodes[1]->port());
  REQUIRE(a.is_open());
  REQUIRE(b.is_open());
  for (auto& n : nodes) {
    REQUIRE(wait_until([&] { return http_status(n->port(), "/readyz") == 200; }, 10s));
  }

  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(100.0, 30.0);
  const int batches = 300;
  const std::size_t per = 50;
  std::chrono::steady_clock::time_point killed{};
  std::thread watcher;
  double takeover_ms = -1;  // kill → a survivor holds the lease (its metrics say so)
  const double pi = std::acos(-1.0);
  auto batch_of = [&](double t) {
    std::vector<double> v(per);
    for (std::size_t j = 0; j < per; ++j) {
      v[j] = noise(rng) + 60.0 * std::sin(2 * pi * (t + static_cast<double>(j) * spacing) / 86400.0);
    }
    return v;
  };
  for (int i = 0; i < batches; ++i) {
    // A and B each have a batch in flight at the same time: their appends interleave in Redis.
    const double ta = t0 + static_cast<double>(2 * i + 1) * static_cast<double>(per) * spacing;
    const double tb = ta + static_cast<double>(per) * spacing;
    const std::vector<double> va = batch_of(ta);
    const std::vector<double> vb = batch_of(tb);
    a.send_json({{"stream", "k"}, {"values", va}, {"id", i}, {"producer", "A"}, {"seq", i + 1}, {"t", ta}});
    b.send_json({{"stream", "k"}, {"values", vb}, {"id", i}, {"producer", "B"}, {"seq", i + 1}, {"t", tb}});
    record(a.next_of_type("ack"), va, ta);  // whoever owns the stream
    record(b.next_of_type("ack"), vb, tb);
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

  // The single-process run: the acknowledged batches tile [0, total) in `first` order (the log
  // order: no hole, no overlap); fed in that order, each with its "t", to a pipeline built from the
  // same spec, they give the snapshot's stats (every field, bit for bit: JSON numbers round-trip) and
  // the state the owner stored in Redis, byte for byte — across the kill and the successor's load
  // and replay, daily stage included. The same batches without their times give another state: the
  // times are what this checks.
  replay one(timed_config_text);
  replay untimed(timed_config_text);
  std::uint64_t expect_first = 0;
  double last_t = 0.0;
  for (const auto& [first, batch] : by_first) {
    CHECK(first == expect_first);
    expect_first = first + batch.first.size();
    one.batch(batch.first, batch.second);
    untimed.batch(batch.first);
    last_t = batch.second;
  }
  CHECK(expect_first == acked.size());
  CHECK(snap["stats"] == one.stats());
  const std::string key = "ss:{k}:state";
  REQUIRE(wait_until(
      [&] { return redis_hget(redis.socket_path(), key, "next") == std::to_string(acked.size()); }, 10s));
  const std::string stored = redis_hget(redis.socket_path(), key, "state");
  one.check_stored(stored, last_t);
  std::string without_times;
  untimed.pipe.save_state(without_times);
  CHECK(stored.compare(24, std::string::npos, without_times) != 0);
  std::printf("kill -9 with the daily stage: %zu alerts in the replay with times, %zu without\n", one.alerts,
              untimed.alerts);
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

namespace {

// What a Redis restart under ingest left: the distinct batches, and what the node counted.
struct restart_run {
  std::vector<std::vector<double>> batches;  // the producer's batches, in its (seq) order
  std::size_t attempts = 0, unavailable = 0, out_of_order = 0, timeouts = 0, duplicates = 0;
  json snap;                 // the node's snapshot once it stopped changing
  std::string stored_state;  // the owner's stored state then
  bool all_acked = false;
};

// One node over a redis-server with AOF (appendfsync always). A producer pushes `total` batches
// with up to `window` in flight and retries what was not acknowledged (error, or no reply within
// 3 s) from the first such batch, in order — numbered (producer id + seq) or not. A quarter of the
// way in, Redis stalls (SIGSTOP) for longer than the node's command timeout (2 s): the node drops
// the connection and answers `unavailable`, and when Redis resumes (SIGCONT) it still executes the
// appends it had received — acknowledged to nobody, the lost replies a retry must not double. Then
// Redis is SIGKILLed and restarted 300 ms later on the same socket and directory (AOF replayed).
restart_run run_redis_restart(bool numbered) {
  streamstats_test::redis_server redis(/*persist=*/true);
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  daemon_process node({"--config", cfg, "--redis", "unix://" + redis.socket_path()});
  ws_test::client_pool pool;
  auto p = pool.connect(node.port());
  REQUIRE(p.is_open());
  REQUIRE(wait_until([&] { return http_status(node.port(), "/readyz") == 200; }, 10s));

  restart_run out;
  const std::size_t total = 300;
  const std::size_t window = 4;
  std::mt19937_64 rng(23);
  std::normal_distribution<double> noise(50.0, 5.0);
  std::uniform_int_distribution<std::size_t> size(1, 60);
  out.batches.resize(total);
  for (auto& b : out.batches) {
    b.resize(size(rng));
    for (double& x : b) {
      x = noise(rng);
    }
  }
  std::vector<bool> acked(total, false);
  std::set<std::size_t> pending;  // sent, no reply yet
  std::size_t next = 0;
  bool failed = false;
  std::atomic<bool> finished{false};
  std::atomic<int> chaos_steps{0};       // 1 stalled, 2 resumed, 3 killed, 4 restarted
  std::atomic<std::size_t> progress{0};  // batches sent for the first time
  std::thread chaos;
  struct joiner {  // also when a REQUIRE throws
    std::atomic<bool>& done;
    std::thread& t;
    joiner(const joiner&) = delete;
    joiner& operator=(const joiner&) = delete;
    ~joiner() {
      done = true;
      if (t.joinable()) {
        t.join();
      }
    }
  } join_chaos{finished, chaos};
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto first_unacked = [&] {
    return static_cast<std::size_t>(std::find(acked.begin(), acked.end(), false) - acked.begin());
  };
  while (first_unacked() < total && std::chrono::steady_clock::now() < deadline) {
    if (!chaos.joinable() && next >= total / 4) {
      chaos = std::thread([&] {
        redis.signal(SIGSTOP);
        chaos_steps = 1;
        std::this_thread::sleep_for(2500ms);
        redis.signal(SIGCONT);
        chaos_steps = 2;
        // The crash half-way through, while batches are in flight.
        const auto limit = std::chrono::steady_clock::now() + 20s;
        while (progress < total / 2 && std::chrono::steady_clock::now() < limit) {
          std::this_thread::sleep_for(1ms);
        }
        redis.stop(SIGKILL);
        chaos_steps = 3;
        std::this_thread::sleep_for(300ms);
        try {
          redis.start();  // the same socket and directory: the AOF is replayed
          chaos_steps = 4;
        } catch (const std::exception&) {
        }
        // The server dies with the thread that forked it (PR_SET_PDEATHSIG): stay until the end.
        const auto end = std::chrono::steady_clock::now() + 120s;
        while (!finished && std::chrono::steady_clock::now() < end) {
          std::this_thread::sleep_for(10ms);
        }
      });
    }
    if (failed && pending.empty()) {
      next = first_unacked();  // resend in order from the first batch not acknowledged
      failed = false;
      std::this_thread::sleep_for(20ms);  // a retrying producer backs off a little
    }
    while (!failed && pending.size() < window && next < total) {
      const std::size_t i = next++;
      if (acked[i]) {
        continue;
      }
      json m = {{"stream", "r"}, {"values", out.batches[i]}, {"id", i}};
      if (numbered) {
        m["producer"] = "restart-producer";
        m["seq"] = i + 1;
      }
      p.send_json(m);
      pending.insert(i);
      ++out.attempts;
      progress = std::max(progress.load(), i + 1);
    }
    const auto msg = p.next(3000ms);
    if (!msg) {  // no reply: treat what is in flight as lost (a late ack still counts)
      ++out.timeouts;
      pending.clear();
      failed = true;
      continue;
    }
    const json j = json::parse(*msg);
    const std::string type = j.value("type", "");
    if ((type != "ack" && type != "error") || !j.contains("id")) {
      continue;
    }
    const auto i = j["id"].get<std::size_t>();
    pending.erase(i);
    if (type == "ack") {
      acked[i] = true;
      out.duplicates += j.value("duplicate", false) ? 1U : 0U;
    } else {
      const std::string code = j["code"];
      CHECK((code == "unavailable" || code == "out_of_order"));
      out.unavailable += code == "unavailable" ? 1U : 0U;
      out.out_of_order += code == "out_of_order" ? 1U : 0U;
      failed = true;
    }
  }
  const auto chaos_deadline = std::chrono::steady_clock::now() + 30s;
  while (chaos_steps < 4 && std::chrono::steady_clock::now() < chaos_deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(chaos_steps == 4);
  INFO("redis.log: " << [&] {
    std::ifstream f(redis.dir() + "/redis.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }());
  CHECK(redis.can_connect());
  out.all_acked = first_unacked() == total;
  std::size_t expected = 0;
  for (const auto& b : out.batches) {
    expected += b.size();
  }
  // The owner applies the whole log; then its count stays put (a doubled batch would show here).
  std::uint64_t seen = 0;
  const auto settle = std::chrono::steady_clock::now() + 20s;
  int stable = 0;
  while (std::chrono::steady_clock::now() < settle && stable < 10) {
    out.snap = snapshot(p, "r");
    const auto c = out.snap.value("count", std::uint64_t(0));
    stable = (c >= expected && c == seen) ? stable + 1 : 0;
    seen = c;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(wait_until(
      [&] { return redis_hget(redis.socket_path(), "ss:{r}:state", "next") == std::to_string(seen); }, 10s));
  out.stored_state = redis_hget(redis.socket_path(), "ss:{r}:state", "state");
  node.signal(SIGTERM);
  CHECK(node.wait_exit() == 0);
  finished = true;
  if (chaos.joinable()) {
    chaos.join();
  }
  return out;
}

}  // namespace

TEST_CASE(
    "Redis restart during ingest: stalled past the command timeout, SIGKILLed, restarted (AOF) - a numbered "
    "producer that retries gets every batch counted exactly once") {
  const restart_run r = run_redis_restart(true);
  REQUIRE(r.all_acked);
  CHECK(r.unavailable + r.timeouts > 0);  // the producer did see the outages
  CHECK(r.duplicates > 0);                // and resent batches that were in (the stall's lost replies)
  // The reference: each batch once, in the producer's order (one producer whose numbers must follow
  // each other: the log order is the seq order).
  replay one;
  for (const auto& b : r.batches) {
    one.batch(b);
  }
  REQUIRE(r.snap["count"] == one.count);
  CHECK(r.snap["stats"] == one.stats());  // count, mean, variance, min, max: bit for bit
  one.check_stored(r.stored_state);
  std::printf(
      "Redis stall + restart (numbered producer): %zu batches, %zu sends, %zu unavailable, %zu out_of_order, "
      "%zu "
      "timeouts, %zu acknowledged as duplicates\n",
      r.batches.size(), r.attempts, r.unavailable, r.out_of_order, r.timeouts, r.duplicates);
}

// Not run by default (hidden): the same restart with a producer that retries without a producer
// id. A batch whose append reached the AOF but whose reply died with Redis is appended again, so
// the stream may count some samples twice; this prints how many.
TEST_CASE("Redis stall and restart with an unnumbered retrying producer (shows the doubled batches)",
          "[.][unnumbered]") {
  const restart_run r = run_redis_restart(false);
  std::size_t expected = 0;
  for (const auto& b : r.batches) {
    expected += b.size();
  }
  std::printf(
      "Redis stall + restart (unnumbered producer): %zu batches, %zu sends, %zu unavailable, %zu timeouts; "
      "the "
      "stream counts %llu samples for %zu distinct\n",
      r.batches.size(), r.attempts, r.unavailable, r.timeouts,
      static_cast<unsigned long long>(r.snap.value("count", std::uint64_t(0))), expected);
  CHECK(r.snap["count"] == expected);
}

TEST_CASE(
    "a Redis with a password and database 2: redis:// and unix:// URLs with credentials — a wrong "
    "password is logged and keeps /readyz at 503") {
  streamstats_test::redis_server redis(streamstats_test::redis_server_options{false, "s3cret:pass", true});
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  // The password holds a ':' — percent-encoded in the URL's user info, plain in a query parameter
  // (percent-decoded too).
  daemon_process a({"--config", cfg, "--redis",
                    "redis://:s3cret%3Apass@127.0.0.1:" + std::to_string(redis.port()) + "/2"});
  daemon_process b(
      {"--config", cfg, "--redis", "unix://" + redis.socket_path() + "?db=2&password=s3cret%3Apass"});
  daemon_process wrong({"--config", cfg, "--redis", "unix://" + redis.socket_path() + "?password=nope"});
  daemon_process none({"--config", cfg, "--redis", "unix://" + redis.socket_path()});
  REQUIRE(wait_until([&] { return http_status(a.port(), "/readyz") == 200; }, 10s));
  REQUIRE(wait_until([&] { return http_status(b.port(), "/readyz") == 200; }, 10s));

  // A pushes; B (the other URL form, same database) sees the stream and its state.
  ws_test::client_pool pool;
  auto pa = pool.connect(a.port());
  auto pb = pool.connect(b.port());
  REQUIRE(pa.is_open());
  REQUIRE(pb.is_open());
  pa.send_json({{"stream", "auth"}, {"values", {1.0, 2.0, 4.5}}, {"id", 1}});
  CHECK(pa.next_of_type("ack")["accepted"] == 3);
  const bool seen = wait_until([&] { return snapshot(pb, "auth").value("count", 0) == 3; }, 10s);
  INFO("A: " << a.err() << "\nB: " << b.err() << "\nB's snapshot: " << snapshot(pb, "auth").dump());
  REQUIRE(seen);
  CHECK(snapshot(pb, "auth")["stats"]["max"] == 4.5);

  // The keys are in database 2 (under the prefix "ss:db2", as Pub/Sub channels span databases),
  // none in database 0 — read with the password, from outside the server.
  auto dbsize = [&](int db) {
    redisContext* rc = redisConnectUnix(redis.socket_path().c_str());
    REQUIRE(rc != nullptr);
    REQUIRE(rc->err == 0);
    auto* r = static_cast<redisReply*>(redisCommand(rc, "AUTH %s", "s3cret:pass"));
    REQUIRE(r != nullptr);
    CHECK(r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = static_cast<redisReply*>(redisCommand(rc, "SELECT %d", db));
    freeReplyObject(r);
    r = static_cast<redisReply*>(redisCommand(rc, "EXISTS ss:db2:{auth}:meta"));
    REQUIRE(r != nullptr);
    const long long n = r->integer;
    freeReplyObject(r);
    redisFree(rc);
    return n;
  };
  CHECK(dbsize(2) == 1);
  CHECK(dbsize(0) == 0);

  // A wrong password and no password: never ready, and the log says why (Redis' own words).
  CHECK(http_status(wrong.port(), "/readyz") == 503);
  CHECK(http_status(none.port(), "/readyz") == 503);
  CHECK(wrong.wait_stderr("AUTH refused: WRONGPASS", 10s));
  CHECK(none.wait_stderr("refused: NOAUTH", 10s));
  CHECK(metric(wrong.port(), "streamstats_redis_connected") == 0);
  auto pw = pool.connect(wrong.port());
  REQUIRE(pw.is_open());
  pw.send_json({{"stream", "auth"}, {"value", 1.0}, {"id", 9}});
  CHECK(pw.next_of_type("error")["code"] == "unavailable");
  // Once per cause, not at every retry (the connections retry with backoff, up to every 2 s).
  std::this_thread::sleep_for(1500ms);
  const std::string log = wrong.err();
  std::size_t lines = 0;
  for (auto at = log.find("refused: WRONGPASS"); at != std::string::npos;
       at = log.find("refused: WRONGPASS", at + 1)) {
    ++lines;
  }
  CHECK(lines == 3);  // one per connection (main, owners', pubsub)
  for (daemon_process* n : {&a, &b, &wrong, &none}) {
    n->signal(SIGTERM);
    CHECK(n->wait_exit() == 0);
  }
}
