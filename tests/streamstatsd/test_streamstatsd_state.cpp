// streamstatsd's checkpoints with real processes (issue 11): SIGTERM and restart give identical
// snapshots, and the restarted server continues exactly as one that never stopped (a second
// streamstatsd fed the same samples without interruption is the reference, alerts included);
// kill -9 during ingest and restart give exactly the state of the last checkpoint on disk (recomputed
// here from the samples sent); a truncated or corrupted newest checkpoint is reported, set aside,
// and the previous generation restored; a checkpoint of another pipeline configuration is refused
// stream by stream; /readyz and /metrics; with io_threads = 2, checkpoints hold both threads'
// streams and restore exactly with 2 or 1 threads.
#include "daemon_process.hpp"
#include "ws_test_client.hpp"

#include <streamstats/websocket/checkpoint.hpp>
#include <streamstats/websocket/config.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using streamstatsd_test::daemon_process;
using streamstatsd_test::scratch;
using ws_test::json;
namespace ws = streamstats::websocket;
namespace fs = std::filesystem;

namespace {

const char* const config_text = R"(
[server]
port = 0
snapshot_interval_ms = 20
shutdown_timeout_ms = 1000

[[pipeline]]
match = "cpu.*"
stats = ["count", "mean", "stddev", "variance", "min", "max"]
sma = 16
rolling_variance = 32
rolling_extrema = 24
ema_span = 10
quantiles = [0.5, 0.99]
detector = true
detector_threshold = 3.5
detector_warmup = 20
)";

// The samples of "cpu.a": noise, small spikes early on, from sample 395 a level shift that lasts
// into the second phase (so that a stop at 400 falls inside a detector episode), and two spikes
// larger than anything before (at 520 and 640: rarer than alert_p, so they alert).
std::vector<double> series(std::size_t n) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(50.0, 2.0);
  std::vector<double> xs(n);
  for (std::size_t i = 0; i < n; ++i) {
    xs[i] = noise(rng) + (i < 300 && i % 61 == 60 ? 15.0 : 0.0) + (i >= 395 && i < 430 ? 30.0 : 0.0) +
            (i == 520 ? 40.0 : 0.0) + (i == 640 ? 60.0 : 0.0);
  }
  return xs;
}

// Batch sizes 1 … 13, the same sequence for every server fed with them.
std::vector<std::size_t> batches(std::size_t n) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::size_t> size(1, 13);
  std::vector<std::size_t> out;
  for (std::size_t done = 0; done < n;) {
    out.push_back(std::min(size(rng), n - done));
    done += out.back();
  }
  return out;
}

// Pushes the batches of `batches` that start in [from, to), each with its own "t", waiting for every
// ack. Returns where the last one ended.
std::size_t push_range(ws_test::client& c, const std::string& stream, const std::vector<double>& xs,
                       std::size_t from, std::size_t to) {
  // The batch boundaries are walked from 0, so that every server cuts the series identically.
  std::size_t at = 0;
  for (const std::size_t b : batches(xs.size())) {
    if (at >= to) {
      break;
    }
    if (at >= from) {
      const std::vector<double> v(xs.begin() + static_cast<std::ptrdiff_t>(at),
                                  xs.begin() + static_cast<std::ptrdiff_t>(at + b));
      c.send_json({{"stream", stream}, {"values", v}, {"t", 1.7e9 + static_cast<double>(at)}, {"id", 1}});
      const json ack = c.next_of_type("ack");
      REQUIRE(ack["accepted"] == b);
    }
    at += b;
  }
  return at;
}

json snapshot(ws_test::client& c, const std::string& stream) {
  c.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", 2}});
  json s = c.next_of_type("snapshot");
  s.erase("id");
  return s;
}

// The alerts a subscriber received, up to the reply to a snapshot request sent now (the server
// queues every alert before it reads that request).
std::vector<json> drain_alerts(ws_test::client& sub, const std::string& stream) {
  sub.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", 99}});
  std::vector<json> alerts;
  for (;;) {
    const json m = sub.next_json();
    if (m.value("type", "") == "alert") {
      alerts.push_back(m);
    }
    if (m.value("type", "") == "snapshot" && m.contains("id")) {
      return alerts;
    }
  }
}

std::string http_body(std::uint16_t port, const std::string& path) {
  const std::string r = ws_test::http_get(port, path);
  const auto at = r.find("\r\n\r\n");
  return at == std::string::npos ? r : r.substr(at + 4);
}

// The "stats" object a spec_pipeline of `spec` writes after `xs` was pushed in batches of `b`.
json expected_stats(const ws::pipeline_spec& spec, const std::vector<double>& xs, std::size_t n,
                    std::size_t b) {
  ws::spec_pipeline p(spec);
  struct none final : ws::alert_sink {
    void on_alert(std::size_t, double, const ws::alert_info&) override {}
  } sink;
  for (std::size_t i = 0; i < n; i += b) {
    const std::size_t k = std::min(b, n - i);
    if (k == 1) {
      ws::alert_info a;
      p.push(xs[i], a);
    } else {
      p.push_batch(xs.data() + i, k, sink);
    }
  }
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  ws::stats_writer sw(w);
  p.write_stats(sw);
  w.end_object();
  return json::parse(out);
}

}  // namespace

TEST_CASE("SIGTERM and restart give identical snapshots - and the server continues as if never stopped") {
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  const std::string dir = (s.dir / "state").string();
  fs::create_directories(dir);
  const auto xs = series(700);
  const auto ys = series(300);  // "net.b" (the fallback: default_pipeline_spec)

  daemon_process ref({"--config", cfg});  // the reference: no state, never stopped
  ws_test::client_pool pool;
  auto rc = pool.connect(ref.port());
  auto rsub = pool.connect(ref.port());
  REQUIRE(rc.is_open());
  rsub.send_json({{"type", "subscribe"}, {"stream", "*"}});
  (void)rsub.next_of_type("subscribed");

  json before_a;
  json before_b;
  {
    daemon_process a({"--config", cfg, "--state-dir", dir, "--checkpoint-interval", "0"});
    auto c = pool.connect(a.port());
    REQUIRE(c.is_open());
    push_range(c, "cpu.a", xs, 0, 400);
    push_range(c, "net.b", ys, 0, 150);
    push_range(rc, "cpu.a", xs, 0, 400);
    push_range(rc, "net.b", ys, 0, 150);
    before_a = snapshot(c, "cpu.a");
    before_b = snapshot(c, "net.b");
    // The stop falls inside an alert episode of the level shift (z of the last sample is large).
    REQUIRE(before_a["stats"]["z"].is_number());
    CHECK(std::abs(before_a["stats"]["z"].get<double>()) > 3.5);
    CHECK(before_a == snapshot(rc, "cpu.a"));
    a.signal(SIGTERM);
    REQUIRE(a.wait_exit() == 0);
    CHECK(a.err().find("checkpoint at stop: 2 stream(s)") != std::string::npos);
  }
  (void)drain_alerts(rsub, "cpu.a");  // phase 1's alerts on the reference

  daemon_process b({"--config", cfg, "--state-dir", dir});
  const std::uint16_t port = b.port();
  REQUIRE(b.wait_stderr("restored 2 stream(s)"));
  auto c = pool.connect(port);
  auto sub = pool.connect(port);
  REQUIRE(c.is_open());
  // Identical snapshots: count, rejected, last, t and every statistic (mean, stddev, min, max,
  // SMA, EMA, rolling, quantiles, detector z, score and band).
  CHECK(snapshot(c, "cpu.a") == before_a);
  CHECK(snapshot(c, "net.b") == before_b);
  CHECK_THAT(http_body(port, "/readyz"), Catch::Matchers::StartsWith("ready"));

  // Continued: the same samples to the restarted server and to the reference give the same
  // snapshots and the same alerts (the detector resumes mid-episode: no second alert for it).
  sub.send_json({{"type", "subscribe"}, {"stream", "*"}});
  (void)sub.next_of_type("subscribed");
  push_range(c, "cpu.a", xs, 400, 700);
  push_range(c, "net.b", ys, 150, 300);
  push_range(rc, "cpu.a", xs, 400, 700);
  push_range(rc, "net.b", ys, 150, 300);
  CHECK(snapshot(c, "cpu.a") == snapshot(rc, "cpu.a"));
  CHECK(snapshot(c, "net.b") == snapshot(rc, "net.b"));
  const auto alerts = drain_alerts(sub, "cpu.a");
  const auto ref_alerts = drain_alerts(rsub, "cpu.a");
  CHECK(alerts == ref_alerts);
  CHECK(!alerts.empty());  // the spikes of phase 2 alerted
  b.signal(SIGTERM);
  CHECK(b.wait_exit() == 0);
}

TEST_CASE("kill -9 during ingest and restart give exactly the last checkpoint's state") {
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  const std::string dir = (s.dir / "state").string();
  fs::create_directories(dir);
  const ws::pipeline_spec spec = ws::parse_config(config_text, "c.toml").pipelines.at(0);
  const std::size_t batch = 8;
  const auto xs = series(8 * 3000);

  std::size_t sent = 0;
  {
    daemon_process a({"--config", cfg, "--state-dir", dir, "--checkpoint-interval", "40ms"});
    ws_test::client_pool pool;
    auto c = pool.connect(a.port());
    REQUIRE(c.is_open());
    ws::checkpoint_store store(dir);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    // Acknowledged pushes until a few generations are on disk (bounded in count and time).
    while (sent + batch <= xs.size() && store.generations().size() < 2 &&
           std::chrono::steady_clock::now() < deadline) {
      const std::vector<double> v(xs.begin() + static_cast<std::ptrdiff_t>(sent),
                                  xs.begin() + static_cast<std::ptrdiff_t>(sent + batch));
      c.send_json({{"stream", "cpu.k"}, {"values", v}, {"id", 1}});
      REQUIRE(c.next_of_type("ack")["accepted"] == batch);
      sent += batch;
    }
    REQUIRE(store.generations().size() >= 2);
    // Then a burst without waiting, and the kill while it is being ingested.
    for (int k = 0; k < 200 && sent + batch <= xs.size(); ++k) {
      const std::vector<double> v(xs.begin() + static_cast<std::ptrdiff_t>(sent),
                                  xs.begin() + static_cast<std::ptrdiff_t>(sent + batch));
      c.send_json({{"stream", "cpu.k"}, {"values", v}});
      sent += batch;
    }
    a.signal(SIGKILL);
    CHECK(a.wait_exit() == 128 + SIGKILL);
  }

  // What the last checkpoint on disk holds (read here with the library)…
  ws::checkpoint_store store(dir);
  const auto last = store.load();
  REQUIRE(last.found);
  CHECK(last.problems.empty());
  REQUIRE(last.data.streams.size() == 1);
  const std::uint64_t count = last.data.streams[0].counters.count;
  CHECK(count > 0);
  CHECK(count <= sent);
  CHECK(count % batch == 0);  // a checkpoint never splits a batch
  // …is exactly what the restarted server has, and equals the statistics of the first `count`
  // samples recomputed here.
  daemon_process b({"--config", cfg, "--state-dir", dir});
  ws_test::client_pool pool;
  auto c = pool.connect(b.port());
  REQUIRE(c.is_open());
  REQUIRE(b.wait_stderr("restored 1 stream(s) from " + last.path));
  CHECK(b.err().find("damaged") == std::string::npos);
  const json snap = snapshot(c, "cpu.k");
  CHECK(snap["count"] == count);
  CHECK(snap["last"] == xs[count - 1]);
  CHECK(snap["stats"] == expected_stats(spec, xs, static_cast<std::size_t>(count), batch));
  b.signal(SIGTERM);
  CHECK(b.wait_exit() == 0);
}

TEST_CASE("a truncated or corrupted newest checkpoint is reported and the previous generation restored") {
  for (const bool truncate : {true, false}) {
    INFO((truncate ? "truncated" : "one byte flipped"));
    scratch s;
    const auto cfg = s.write("c.toml", config_text);
    const std::string dir = (s.dir / "state").string();
    fs::create_directories(dir);
    const auto xs = series(300);
    ws_test::client_pool pool;
    json first;
    for (int run = 0; run < 2; ++run) {  // two stops: generations 1 (100 samples) and 2 (250)
      daemon_process a({"--config", cfg, "--state-dir", dir, "--checkpoint-interval", "0"});
      auto c = pool.connect(a.port());
      REQUIRE(c.is_open());
      push_range(c, "cpu.a", xs, run == 0 ? 0 : 100, run == 0 ? 100 : 250);
      if (run == 0) {
        first = snapshot(c, "cpu.a");
      }
      a.signal(SIGTERM);
      REQUIRE(a.wait_exit() == 0);
    }
    ws::checkpoint_store store(dir);
    REQUIRE(store.generations() == std::vector<std::uint64_t>{2, 1});
    const std::string newest = store.path_of(2);
    {
      std::string bytes;
      {
        std::ifstream in(newest, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      if (truncate) {
        bytes.resize(bytes.size() - 100);
      } else {
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x04);
      }
      std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes;
    }
    daemon_process b({"--config", cfg, "--state-dir", dir});
    const std::uint16_t port = b.port();
    REQUIRE(b.wait_stderr("restored 1 stream(s)"));
    const std::string err = b.err();
    CHECK(err.find(newest + ": " + (truncate ? "truncated" : "corrupted")) != std::string::npos);
    CHECK(err.find("using the previous generation " + store.path_of(1)) != std::string::npos);
    CHECK(fs::exists(newest + ".damaged"));
    auto c = pool.connect(port);
    REQUIRE(c.is_open());
    CHECK(snapshot(c, "cpu.a") == first);  // generation 1: the first 100 samples
    CHECK_THAT(http_body(port, "/readyz"), Catch::Matchers::StartsWith("ready"));
    b.signal(SIGTERM);
    CHECK(b.wait_exit() == 0);
  }
}

TEST_CASE("a checkpoint of another pipeline configuration is refused stream by stream - the server starts") {
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  std::string other_text = config_text;
  other_text.replace(other_text.find("sma = 16"), 8, "sma = 17");
  const auto other = s.write("o.toml", other_text);
  const std::string dir = (s.dir / "state").string();
  fs::create_directories(dir);
  const auto xs = series(120);
  ws_test::client_pool pool;
  std::size_t net_count = 0;
  {
    daemon_process a({"--config", cfg, "--state-dir", dir});
    auto c = pool.connect(a.port());
    REQUIRE(c.is_open());
    push_range(c, "cpu.a", xs, 0, 120);
    net_count = push_range(c, "net.b", xs, 0, 50);
    a.signal(SIGTERM);
    REQUIRE(a.wait_exit() == 0);
  }
  daemon_process b({"--config", other, "--state-dir", dir});
  const std::uint16_t port = b.port();
  REQUIRE(b.wait_stderr("restored 1 stream(s)"));
  const std::string err = b.err();
  CHECK(err.find("stream \"cpu.a\" not restored") != std::string::npos);
  CHECK(err.find("another configuration") != std::string::npos);
  CHECK(err.find("sma=16") != std::string::npos);
  CHECK(err.find("sma=17") != std::string::npos);
  auto c = pool.connect(port);
  REQUIRE(c.is_open());
  CHECK(snapshot(c, "net.b")["count"] == net_count);  // its pipeline did not change
  c.send_json({{"type", "snapshot"}, {"stream", "cpu.a"}, {"id", 3}});
  CHECK(c.next_of_type("error")["code"] == "unknown_stream");
  b.signal(SIGTERM);
  CHECK(b.wait_exit() == 0);
}

TEST_CASE("periodic checkpoints show in /metrics - a missing state directory is refused at start") {
  scratch s;
  const auto cfg = s.write("c.toml", config_text);
  const std::string dir = (s.dir / "state").string();
  fs::create_directories(dir);
  {
    daemon_process a({"--config", cfg, "--state-dir", dir, "--checkpoint-interval", "30ms"});
    const std::uint16_t port = a.port();
    ws_test::client_pool pool;
    auto c = pool.connect(port);
    REQUIRE(c.is_open());
    push_range(c, "cpu.a", series(200), 0, 200);
    ws::checkpoint_store store(dir);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string m;
    while (std::chrono::steady_clock::now() < deadline) {
      m = http_body(port, "/metrics");
      if (m.find("streamstats_checkpoints_written_total 0") == std::string::npos &&
          m.find("streamstats_checkpoints_written_total") != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    CHECK(m.find("streamstats_checkpoints_failed_total 0\n") != std::string::npos);
    CHECK(m.find("# TYPE streamstats_checkpoint_last_duration_seconds gauge") != std::string::npos);
    CHECK(m.find("streamstats_checkpoints_written_total 0\n") == std::string::npos);
    CHECK(m.find("streamstats_checkpoint_last_bytes ") != std::string::npos);
    a.signal(SIGTERM);
    CHECK(a.wait_exit() == 0);
    CHECK(store.generations().size() == 2);  // the older generations were pruned
  }
  daemon_process missing({"--config", cfg, "--state-dir", (s.dir / "nope").string()});
  CHECK(missing.wait_exit() == 1);
  CHECK(missing.err().find("state.dir") != std::string::npos);
}

TEST_CASE(
    "io_threads = 2: checkpoints hold the streams of both threads - restarts with 2 and 1 threads "
    "restore them exactly") {
  scratch s;
  std::string threaded = config_text;
  const auto at = threaded.find("port = 0\n");
  REQUIRE(at != std::string::npos);
  threaded.insert(at + 9, "io_threads = 2\n");
  const auto cfg2 = s.write("c2.toml", threaded);
  const auto cfg1 = s.write("c1.toml", config_text);
  const std::string dir = (s.dir / "state").string();
  fs::create_directories(dir);
  // 8 streams: the server gives each to the thread its name hashes to (std::hash modulo 2); the
  // test needs both threads to own some.
  std::vector<std::string> names;
  std::set<std::size_t> owners;
  for (int k = 0; k < 8; ++k) {
    names.push_back("cpu.s" + std::to_string(k));
    owners.insert(std::hash<std::string_view>{}(names.back()) % 2);
  }
  REQUIRE(owners.size() == 2);
  const auto xs = series(300);

  std::map<std::string, json> before;
  {
    daemon_process a({"--config", cfg2, "--state-dir", dir, "--checkpoint-interval", "40ms"});
    const std::uint16_t port = a.port();
    ws_test::client_pool pool;
    auto c = pool.connect(port);
    REQUIRE(c.is_open());
    for (std::size_t k = 0; k < names.size(); ++k) {
      push_range(c, names[k], xs, 0, 100 + 20 * k);
    }
    for (const std::string& n : names) {
      before[n] = snapshot(c, n);
    }
    // A periodic checkpoint, serialised by both threads, holds every stream with all its samples
    // (waited for, bounded).
    ws::checkpoint_store store(dir);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    bool complete = false;
    while (!complete && std::chrono::steady_clock::now() < deadline) {
      const auto r = store.load();
      if (r.found && r.data.streams.size() == names.size()) {
        complete = true;
        for (const auto& e : r.data.streams) {
          complete = complete && before.count(std::string(e.name)) == 1 &&
                     before.at(std::string(e.name))["count"] == e.counters.count;
        }
      }
      if (!complete) {
        std::this_thread::sleep_for(20ms);
      }
    }
    CHECK(complete);
    // /metrics sums both threads: every stream with its samples.
    const std::string m = http_body(port, "/metrics");
    CHECK(m.find("streamstats_streams 8\n") != std::string::npos);
    INFO("the server's stderr: " << a.err());  // why a checkpoint failed, when one did
    CHECK(m.find("streamstats_checkpoints_failed_total 0\n") != std::string::npos);
    for (const std::string& n : names) {
      INFO(n);
      CHECK(m.find("streamstats_stream_samples_total{stream=\"" + n + "\"} " +
                   std::to_string(before[n]["count"].get<std::uint64_t>()) + "\n") != std::string::npos);
    }
    a.signal(SIGTERM);
    REQUIRE(a.wait_exit() == 0);
    CHECK(a.err().find("checkpoint at stop: 8 stream(s)") != std::string::npos);
  }
  // Restored with 2 threads, then (from that one's stop checkpoint) with 1: identical snapshots.
  for (const std::string& cfg : {cfg2, cfg1}) {
    INFO(cfg);
    daemon_process b({"--config", cfg, "--state-dir", dir, "--checkpoint-interval", "0"});
    const std::uint16_t port = b.port();
    REQUIRE(b.wait_stderr("restored 8 stream(s)"));
    ws_test::client_pool pool;
    auto c = pool.connect(port);
    REQUIRE(c.is_open());
    for (const std::string& n : names) {
      INFO(n);
      CHECK(snapshot(c, n) == before[n]);
    }
    b.signal(SIGTERM);
    CHECK(b.wait_exit() == 0);
  }
}
