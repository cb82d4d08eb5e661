// The real streamstatsd binary over 127.0.0.1 (ephemeral ports, every wait bounded): exit codes of
// --check-config, flags over the file, refusal of what this build does not serve, a live start
// with a pipeline spec per glob checked field by field against values recomputed here, SIGHUP
// reload under a live connection, SIGTERM graceful stop.
#include "daemon_process.hpp"
#include "ws_test_client.hpp"

#include <streamstats/websocket/config.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using ws_test::json;
namespace ws = streamstats::websocket;
namespace fs = std::filesystem;

namespace {

using streamstatsd_test::daemon_process;
using streamstatsd_test::scratch;

std::vector<std::string> keys(const json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) {
    k.push_back(it.key());
  }
  std::sort(k.begin(), k.end());
  return k;
}

// Pushes `xs` to `stream` as one JSON batch and waits for the ack.
void push(ws_test::client& c, const std::string& stream, const std::vector<double>& xs) {
  c.send_json({{"stream", stream}, {"values", xs}, {"id", 1}});
  const json ack = c.next_of_type("ack");
  REQUIRE(ack["accepted"] == xs.size());
}

json snapshot(ws_test::client& c, const std::string& stream) {
  c.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", 2}});
  return c.next_of_type("snapshot");
}

const char* const two_globs = R"(
[server]
port = 0
snapshot_interval_ms = 20
shutdown_timeout_ms = 1000

[[pipeline]]
match = "sensor.*"
stats = ["count", "mean", "variance"]
sma = 4
quantiles = [0.5]

[[pipeline]]
match = "*"
stats = ["min", "max"]
rolling_extrema = 3
ema_span = 3
)";

}  // namespace

TEST_CASE(
    "check-config exits 0 with the effective config on a valid file and 1 naming key and line otherwise") {
  {
    daemon_process d({"--check-config", "--config", STREAMSTATSD_EXAMPLE_CONFIG});
    REQUIRE(d.wait_exit() == 0);
    // What is printed is a config that reads back to the file's values.
    const ws::daemon_config printed = ws::parse_config(d.out(), "stdout");
    CHECK(ws::to_toml(printed) == ws::to_toml(ws::load_config(STREAMSTATSD_EXAMPLE_CONFIG)));
    CHECK(d.err().find("configuration is valid") != std::string::npos);
  }
  scratch s;
  const auto bad = s.write("bad.toml", "[server]\nport = 8080\n\nmax_streams = -4\nprot = 1\n");
  daemon_process d({"--check-config", "--config", bad});
  REQUIRE(d.wait_exit() == 1);
  CHECK(d.err().find("bad.toml:4:15: server.max_streams: -4 is out of range") != std::string::npos);
  CHECK(d.err().find("bad.toml:5:1: server.prot: unknown key") != std::string::npos);
  CHECK(d.out().empty());
  daemon_process missing({"--check-config", "--config", (s.dir / "none.toml").string()});
  CHECK(missing.wait_exit() == 1);
}

TEST_CASE("flags override the file - bad flags exit 2 - bad values 1") {
  scratch s;
  const auto f = s.write("f.toml", "[server]\nbind = \"127.0.0.1\"\nport = 1234\nmax_streams = 77\n");
  daemon_process d({"--config", f, "--check-config", "--port", "4321", "--bind", "::1"});
  REQUIRE(d.wait_exit() == 0);
  const ws::daemon_config c = ws::parse_config(d.out(), "stdout");
  CHECK(c.server.port == 4321);
  CHECK(c.server.bind == "::1");
  CHECK(c.server.max_streams == 77);

  daemon_process unknown({"--prot", "1"});
  CHECK(unknown.wait_exit() == 2);
  CHECK(unknown.err().find("unknown option '--prot'") != std::string::npos);
  daemon_process port({"--check-config", "--port", "65536"});
  CHECK(port.wait_exit() == 2);
  daemon_process bind({"--check-config", "--bind", "localhost"});
  CHECK(bind.wait_exit() == 1);
  CHECK(bind.err().find("server.bind") != std::string::npos);
  daemon_process help({"--help"});
  CHECK(help.wait_exit() == 0);
  CHECK(help.out().find("--check-config") != std::string::npos);
  daemon_process version({"--version"});
  CHECK(version.wait_exit() == 0);
  CHECK(version.out().rfind("streamstatsd ", 0) == 0);
}

TEST_CASE(
    "TLS - state-dir and Redis flags are validated - and a bad certificate or a build without Redis refuses "
    "to start") {
  scratch s;
  const auto pem = s.write("c.pem", "-----BEGIN CERTIFICATE-----\n");
  {
    daemon_process d({"--check-config", "--tls-cert", (s.dir / "none.pem").string(), "--tls-key", pem});
    CHECK(d.wait_exit() == 1);
    CHECK(d.err().find("tls.cert: cannot read") != std::string::npos);
  }
  {
    daemon_process d({"--check-config", "--state-dir", (s.dir / "none").string()});
    CHECK(d.wait_exit() == 1);
    CHECK(d.err().find("state.dir") != std::string::npos);
  }
  {
    daemon_process d({"--check-config", "--redis", "localhost:6379"});
    CHECK(d.wait_exit() == 1);
    CHECK(d.err().find("redis.url") != std::string::npos);
  }
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  {
    // This build serves TLS: the files' content is checked too (OpenSSL), and named.
    daemon_process d({"--check-config", "--tls-cert", pem, "--tls-key", pem});
    CHECK(d.wait_exit() == 1);
    CHECK(d.err().find("tls.cert:") != std::string::npos);
    CHECK(d.err().find("no usable PEM certificate") != std::string::npos);
    daemon_process start({"--port", "0", "--tls-cert", pem, "--tls-key", pem});
    CHECK(start.wait_exit() == 1);
    CHECK(start.out().find("listening") == std::string::npos);
  }
  {
    // Valid values: --check-config passes and says the build cannot start with them yet.
    daemon_process d(
        {"--check-config", "--state-dir", s.dir.string(), "--redis", "redis://127.0.0.1:6379/0"});
    CHECK(d.wait_exit() == 0);
#if defined(STREAMSTATSD_HAS_REDIS)
    CHECK(d.err().find("cannot start with") == std::string::npos);
#else
    CHECK(d.err().find("cannot start with Redis") != std::string::npos);
#endif
  }
  // (--state-dir is served since issue 11, TLS since issue 13: tls_jwt_e2e.py.)
  std::vector<std::vector<std::string>> refused;
#else
  {
    // Valid values: --check-config passes and says the build cannot start with them yet.
    daemon_process d({"--check-config", "--tls-cert", pem, "--tls-key", pem, "--state-dir", s.dir.string(),
                      "--redis", "redis://127.0.0.1:6379/0"});
    CHECK(d.wait_exit() == 0);
    CHECK(d.err().find("cannot start with TLS") != std::string::npos);
  }
  // (--state-dir is served since issue 11: tests/streamstatsd/test_streamstatsd_state.cpp.)
  std::vector<std::vector<std::string>> refused{{"--tls-cert", pem, "--tls-key", pem}};
#endif
#if !defined(STREAMSTATSD_HAS_REDIS)
  refused.push_back({"--redis", "redis://127.0.0.1:6379"});
#endif
  // (--redis is served since issue 14 in builds with hiredis: test_streamstatsd_redis.cpp.)
  for (const std::vector<std::string>& flags : refused) {
    std::vector<std::string> args{"--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    daemon_process d(args);
    CHECK(d.wait_exit() == 3);
    CHECK(d.err().find("not supported by this build yet; refusing to start") != std::string::npos);
    CHECK(d.out().find("listening") == std::string::npos);
  }
}

TEST_CASE("a live start: each glob's pipeline gives exactly its fields - with the right values") {
  scratch s;
  const auto f = s.write("two.toml", two_globs);
  daemon_process d({"--config", f});
  const std::uint16_t port = d.port();
  ws_test::client_pool pool;
  auto c = pool.connect(port);
  REQUIRE(c.is_open());

  const std::vector<double> xs = {3.0, -1.0, 4.0, 1.5, -5.0, 9.0, 2.6};
  push(c, "sensor.a", xs);
  push(c, "other", xs);

  // sensor.*: count, mean, variance (n − 1), sma over the last 4, p50 (P² over 7 samples).
  const json a = snapshot(c, "sensor.a")["stats"];
  CHECK(keys(a) == std::vector<std::string>{"count", "mean", "p50", "sma", "variance"});
  const double n = static_cast<double>(xs.size());
  const double mean = std::accumulate(xs.begin(), xs.end(), 0.0) / n;
  double ss = 0.0;
  for (double x : xs) {
    ss += (x - mean) * (x - mean);
  }
  CHECK(a["count"] == xs.size());
  CHECK(a["mean"].get<double>() == Approx(mean).epsilon(1e-14));
  CHECK(a["variance"].get<double>() == Approx(ss / (n - 1)).epsilon(1e-13));
  CHECK(a["sma"].get<double>() == Approx((1.5 - 5.0 + 9.0 + 2.6) / 4).epsilon(1e-14));
  // P² is an estimate after the fifth sample: it must lie between the sample's order statistics
  // around the median (sorted: −5, −1, 1.5, 2.6, 3, 4, 9 → median 2.6).
  CHECK(a["p50"].get<double>() >= 1.5);
  CHECK(a["p50"].get<double>() <= 3.0);

  // everything else: min, max, the last-3 window extrema, ema(span 3).
  const json o = snapshot(c, "other")["stats"];
  CHECK(keys(o) == std::vector<std::string>{"ema", "max", "min", "rolling_max", "rolling_min"});
  CHECK(o["min"] == -5.0);
  CHECK(o["max"] == 9.0);
  CHECK(o["rolling_min"] == -5.0);  // last 3: −5, 9, 2.6
  CHECK(o["rolling_max"] == 9.0);
  double y = xs[0];  // pandas ewm(span=3, adjust=False): alpha = 2/(3 + 1)
  for (std::size_t i = 1; i < xs.size(); ++i) {
    y = 0.5 * y + 0.5 * xs[i];
  }
  CHECK(o["ema"].get<double>() == Approx(y).epsilon(1e-14));

  d.signal(SIGTERM);
  CHECK(d.wait_exit() == 0);
}

TEST_CASE("SIGHUP reloads the pipelines for new streams without dropping a live connection") {
  scratch s;
  const auto f = s.write("reload.toml", two_globs);
  daemon_process d({"--config", f});
  const std::uint16_t port = d.port();
  ws_test::client_pool pool;
  auto sub = pool.connect(port);
  REQUIRE(sub.is_open());
  auto prod = pool.connect(port);
  push(prod, "before", {1.0, 2.0});
  sub.send_json({{"type", "subscribe"}, {"stream", "before"}});
  REQUIRE(sub.next_of_type("subscribed")["stream"] == "before");

  // An invalid file on SIGHUP: an error, the old config stays, nothing is dropped.
  s.write("reload.toml", "[server]\nport = 0\nmax_streams = 0\n");
  std::size_t mark = d.err().size();
  d.signal(SIGHUP);
  REQUIRE(d.wait_stderr("still running the previous one", 10s, mark));
  CHECK(d.err().find("reload.toml:3:15: server.max_streams", mark) != std::string::npos);

  // A valid new file: "*" now computes only the mean, browsers from one origin only; the port
  // change needs a restart.
  s.write("reload.toml",
          "[server]\nport = 1\nallowed_origins = [\"http://ok.example\"]\n"
          "[[pipeline]]\nmatch = \"*\"\nstats = [\"mean\"]\n");
  mark = d.err().size();
  d.signal(SIGHUP);
  REQUIRE(d.wait_stderr("configuration reloaded", 10s, mark));
  CHECK(d.err().find("server.port changed", mark) != std::string::npos);

  push(prod, "after", {1.0, 2.0, 6.0});
  const json after = snapshot(prod, "after")["stats"];
  CHECK(keys(after) == std::vector<std::string>{"mean"});
  CHECK(after["mean"] == 3.0);
  // The stream created before keeps its pipeline.
  CHECK(keys(snapshot(prod, "before")["stats"]) ==
        std::vector<std::string>{"ema", "max", "min", "rolling_max", "rolling_min"});
  // Both connections survived the reloads: the subscriber still gets the stream's snapshots.
  CHECK(sub.is_open());
  CHECK(prod.is_open());
  push(prod, "before", {50.0});
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  double max = 0.0;
  while (max != 50.0 && std::chrono::steady_clock::now() < deadline) {
    max = sub.next_of_type("snapshot")["stats"]["max"].get<double>();
  }
  CHECK(max == 50.0);
  // Still listening on the first port (the new port = 1 was not applied), and the new origin
  // allow-list applies to new handshakes.
  auto late = pool.connect(port);
  CHECK(late.is_open());
  auto evil = pool.connect(port, "/ws", {{"Origin", "http://evil.example"}});
  CHECK_FALSE(evil.is_open());
  CHECK(evil.http_status() == 403);
  auto ok = pool.connect(port, "/ws", {{"Origin", "http://ok.example"}});
  CHECK(ok.is_open());

  d.signal(SIGTERM);
  CHECK(d.wait_exit() == 0);
}

TEST_CASE("SIGTERM stops gracefully: final snapshot - close 1001 - exit 0") {
  scratch s;
  const auto f = s.write("stop.toml", two_globs);
  daemon_process d({"--config", f});
  const std::uint16_t port = d.port();
  ws_test::client_pool pool;
  auto c = pool.connect(port);
  push(c, "sensor.z", {2.0, 4.0});
  c.send_json({{"type", "subscribe"}, {"stream", "sensor.z"}});
  REQUIRE(c.next_of_type("subscribed")["stream"] == "sensor.z");
  (void)c.next_of_type("snapshot");
  d.signal(SIGTERM);
  // The final snapshot arrives before the close.
  CHECK(c.next_of_type("snapshot", 5s)["stats"]["mean"] == 3.0);
  CHECK(c.wait_closed(5s) == 1001);
  CHECK(d.wait_exit(10s) == 0);
  CHECK(d.err().find("stopped: 2 samples") != std::string::npos);
}

#ifdef STREAMSTATSD_FEEDER_EXE
TEST_CASE("the demo: the feeder's synthetic streams get the example config's pipelines by glob") {
  daemon_process d(
      {"--config", STREAMSTATSD_EXAMPLE_CONFIG, "--port", "0", "--document-root", STREAMSTATSD_WEB_DIR});
  const std::uint16_t port = d.port();
  {
    // The feeder is a separate producer process: it connects over WebSocket like any client.
    const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
    const pid_t feeder = ::fork();
    REQUIRE(feeder >= 0);
    if (feeder == 0) {
      ::execl(STREAMSTATSD_FEEDER_EXE, STREAMSTATSD_FEEDER_EXE, "--url", url.c_str(), "--duration", "1",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int st = 0;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (::waitpid(feeder, &st, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  ws_test::client_pool pool;
  auto c = pool.connect(port);
  c.send_json({{"type", "list"}});
  const json list = c.next_of_type("streams");
  std::vector<std::string> names;
  for (const auto& s : list["streams"]) {
    names.push_back(s["name"]);
    CHECK(s["count"].get<std::uint64_t>() > 50);  // about 100 per second per stream
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"cpu", "latency_ms", "requests_per_s", "temperature"});
  // latency_ms matches "latency_*" (quantiles, windows, one-sided detector); cpu falls to "*".
  CHECK(keys(snapshot(c, "latency_ms")["stats"]) ==
        std::vector<std::string>{"band_hi", "band_lo", "count", "ema", "max", "mean", "min", "p50", "p99",
                                 "p99.9", "rolling_max", "rolling_mean", "rolling_min", "rolling_stddev",
                                 "rolling_variance", "score", "sma", "stddev", "z"});
  CHECK(keys(snapshot(c, "cpu")["stats"]) == std::vector<std::string>{"band_hi", "band_lo", "ema", "max",
                                                                      "mean", "min", "score", "sma", "stddev",
                                                                      "z"});
  // The page is served on the same port.
  CHECK(ws_test::http_get(port, "/").find("<!doctype html>") != std::string::npos);
  d.signal(SIGTERM);
  CHECK(d.wait_exit() == 0);
}
#endif
