// redis_server_bench — streamstatsd's server with and without --redis (issue 14): samples/s of
// binary batches (1000 float64 per frame, one stream) from one WebSocket producer, until the
// stream's snapshot counts them all. With Redis that is the whole path of docs/scale-out.md on one
// node: append (ingest script) + the owner's XREAD/apply/store + the snapshot. Redis runs on a unix
// socket in a temporary directory (tests/redis/redis_server.hpp), no persistence.
//
//   redis_server_bench [frames]     (default 5000 frames = 5 M samples)
// SPDX-License-Identifier: MIT

#include "redis_server.hpp"
#include "ws_test_client.hpp"

#include <streamstats/websocket/redis/broker.hpp>
#include <streamstats/websocket/server.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace ws = streamstats::websocket;
using namespace std::chrono_literals;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

std::uint64_t count_of(ws_test::client& c, const std::string& stream) {
  c.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", 1}});
  for (;;) {
    const auto j = c.next_json(10s);
    if (j.value("type", "") == "snapshot") {
      return j.value("count", std::uint64_t(0));
    }
    if (j.value("type", "") == "error" && j.value("code", "") == "unknown_stream") {
      return 0;
    }
  }
}

// samples/s from the first frame sent to the snapshot that counts every sample.
double run(const std::string& redis_url, std::size_t frames, std::size_t per_frame) {
  ws::server_options o;
  o.port = 0;
  o.max_message_size = 1u << 20;
  if (!redis_url.empty()) {
    o.redis.url = redis_url;
    o.make_broker = ws::redis::factory();
  }
  ws::server srv(o);
  srv.start();
  ws_test::client_pool pool;
  auto c = pool.connect(srv.port());
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> xs(per_frame);
  for (double& x : xs) {
    x = noise(rng);
  }
  const std::string frame = ws_test::binary_frame("bench", xs);
  // The stream exists (and is owned) before the clock starts.
  c.send_json({{"stream", "bench"}, {"value", 0.0}, {"id", 0}});
  (void)c.next_of_type("ack");
  std::this_thread::sleep_for(redis_url.empty() ? 0ms : 300ms);
  const std::uint64_t total = frames * per_frame + 1;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < frames; ++i) {
    c.send_binary(frame);
    if (i % 256 == 255) {
      // Bounded in flight: a snapshot round trip every 256 frames.
      (void)count_of(c, "bench");
    }
  }
  const auto deadline = t0 + 120s;
  while (count_of(c, "bench") < total && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const auto st = srv.stats();
  srv.stop();
  srv.join();
  std::printf("| %s | %zu | %.3g | %.3f |\n",
              redis_url.empty() ? "in-memory (no --redis)" : "--redis, one node", per_frame,
              static_cast<double>(frames * per_frame) / s,
              cpu / (static_cast<double>(frames * per_frame) * 1e-6));
  if (st.samples < total) {
    std::fprintf(stderr, "redis_server_bench: only %llu of %llu samples accepted\n",
                 static_cast<unsigned long long>(st.samples), static_cast<unsigned long long>(total));
  }
  return static_cast<double>(frames * per_frame) / s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t frames = argc > 1 ? static_cast<std::size_t>(std::atol(argv[1])) : 5000;
  streamstats_test::redis_server redis;
  std::printf(
      "| path | batch (doubles) | samples/s | bench process CPU s / 10^6 samples (server + client) |\n");
  std::printf("|---|---:|---:|---:|\n");
  run("", frames, 1000);
  run("unix://" + redis.socket_path(), frames, 1000);
  return 0;
}
