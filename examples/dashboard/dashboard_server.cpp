// dashboard_server — the live demo: a streamstats::websocket server fed by a built-in synthetic
// feed, serving the dashboard page (web/) over HTTP on the same port.
//
//   dashboard_server [--port 8080] [--bind 127.0.0.1] [--duration SECONDS] [--rate N] [--day SECONDS]
//                    [--seed N] [--anomaly-at N] [--web DIR] [--token TOKEN] [--allow-origin ORIGIN]...
//
// Open http://127.0.0.1:8080/ in a browser. Other producers may push into the same server (see
// docs/protocol.md); their streams appear on the page next to the synthetic ones.
//
// The feed: four streams at --rate samples/s each (default 100), made of a mean-reverting random
// walk (Ornstein–Uhlenbeck, so the level wanders but stays plausible), a daily-like seasonality
// compressed to --day seconds, and injected anomalies — isolated spikes at random sample indices
// (seeded, so a run is reproducible), a level shift on "temperature", and, with --anomaly-at N, one
// large spike on "cpu" at sample N (the browser test's deterministic anomaly).
//
// Every stream gets the adapter's default pipeline: count, mean, stddev, min, max, SMA(20), EMA
// (span 20) and anomaly_detector<double> (z-score against the last 64 samples, |z| > 4.5), whose
// envelope is the band the page draws; its daily-cycle stage learns the period from the push times,
// with the cycle set to the feed's compressed day (--day).
// SPDX-License-Identifier: MIT

#include "synthetic_feed.hpp"

#include <streamstats/websocket/server.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifndef STREAMSTATS_DASHBOARD_WEB_DIR
#define STREAMSTATS_DASHBOARD_WEB_DIR "web"
#endif

namespace {

struct options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;
  double duration = 0.0;  // 0 = until Ctrl-C
  double rate = 100.0;    // samples per second per stream
  double day = 60.0;      // period of the seasonality, seconds
  std::uint64_t seed = 1;
  long long anomaly_at = -1;  // sample index of the deterministic "cpu" spike, -1 = none
  std::string web = STREAMSTATS_DASHBOARD_WEB_DIR;
  std::string token;
  std::size_t max_message_size = 0;  // 0 = the adapter's default (1 MiB)
  // Web pages other than the one this server serves that may open its WebSocket (exact Origin
  // values); by default only its own page may (same origin), so a page on another site cannot
  // connect from a visitor's browser and push into the demo.
  std::vector<std::string> allow_origins;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "dashboard_server: %s\n"
      "usage: dashboard_server [--port N (8080; 0 = any free port)] [--bind ADDR (127.0.0.1)]\n"
      "                        [--duration SECONDS] [--rate SAMPLES_PER_S (100)] [--day SECONDS (60)]\n"
      "                        [--seed N] [--anomaly-at SAMPLE] [--web DIR] [--token TOKEN]\n"
      "                        [--max-message-size BYTES (1 MiB)] [--allow-origin ORIGIN]...\n",
      why);
  std::exit(2);
}

double parse_number(const char* s, const char* flag, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= lo && v <= hi)) {
    usage((std::string("bad value for ") + flag + ": '" + s + "'").c_str());
  }
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage("a streamstats WebSocket server with a synthetic feed and a live dashboard");
    }
    if (i + 1 >= argc) {
      usage(("missing value after " + a).c_str());
    }
    const char* v = argv[++i];
    if (a == "--port") {
      o.port = static_cast<std::uint16_t>(parse_number(v, "--port", 0, 65535));
    } else if (a == "--bind") {
      o.bind = v;
    } else if (a == "--duration") {
      o.duration = parse_number(v, "--duration", 0, 1e9);
    } else if (a == "--rate") {
      o.rate = parse_number(v, "--rate", 1, 100000);
    } else if (a == "--day") {
      o.day = parse_number(v, "--day", 1, 1e9);
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_number(v, "--seed", 0, 1e15));
    } else if (a == "--anomaly-at") {
      o.anomaly_at = static_cast<long long>(parse_number(v, "--anomaly-at", 0, 1e15));
    } else if (a == "--web") {
      o.web = v;
    } else if (a == "--token") {
      o.token = v;
    } else if (a == "--allow-origin") {
      o.allow_origins.emplace_back(v);
    } else if (a == "--max-message-size") {
      o.max_message_size = static_cast<std::size_t>(parse_number(v, "--max-message-size", 64, 1 << 30));
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  while (o.web.size() > 1 && o.web.back() == '/') {
    o.web.pop_back();
  }
  return o;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);

  streamstats::websocket::server_options so;
  so.address = o.bind;
  so.port = o.port;
  so.document_root = o.web;
  so.producer_token = o.token;
  so.same_origin = true;
  so.allowed_origins = o.allow_origins;
  if (o.max_message_size != 0) {
    so.max_message_size = o.max_message_size;
  }
  // The default pipeline with its automatic daily cycle, the feed's "day" being --day seconds: the
  // detector learns the period in samples from the push times (docs: detector_period = "auto").
  streamstats::websocket::default_pipeline_options po;
  po.seasonal.cycle = o.day;
  so.make_pipeline = streamstats::websocket::default_pipeline_factory(po);

  try {
    streamstats::websocket::server server(so);
    server.stop_on_signals({SIGINT, SIGTERM});
    server.listen();
    // First line on stdout, flushed: scripts and tests read the port from it.
    std::printf("listening on http://%s:%u/\n", o.bind.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    std::fprintf(stderr, "dashboard_server: 4 synthetic streams at %.0f samples/s each, page from %s%s\n",
                 o.rate, o.web.c_str(), o.duration > 0 ? "" : " (Ctrl-C to stop)");

    std::atomic<bool> running{true};
    // The feed runs on its own thread and hands samples to the server through server::push (posted
    // to the io thread). It pushes one batch per stream every 20 ms, timestamped with the first
    // sample's time, so the server sees the same samples at the same rate as one-by-one pushes.
    std::thread producer([&] {
      demo::feed f(demo::feed_options{o.rate, o.day, o.seed, o.anomaly_at});
      std::vector<double> batch;
      const auto tick = std::chrono::milliseconds(20);
      const auto start = std::chrono::steady_clock::now();
      const double start_unix = unix_now();
      auto next = start;
      while (running.load(std::memory_order_relaxed)) {
        next += tick;
        std::this_thread::sleep_until(next);
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (o.duration > 0 && elapsed >= o.duration) {
          server.stop();
          break;
        }
        for (std::size_t k = 0; k < f.streams().size(); ++k) {
          const std::size_t n = f.due(k, elapsed);
          if (n == 0) {
            continue;
          }
          const double t0 = f.time_of_next(k, start_unix);
          f.next(k, n, batch);
          server.push(f.streams()[k].name, batch, t0);
        }
      }
    });

    server.run();  // returns after stop(): Ctrl-C, SIGTERM, or the end of --duration
    running.store(false, std::memory_order_relaxed);
    producer.join();
    const auto st = server.stats();
    std::fprintf(stderr, "dashboard_server: stopped; %llu samples, %llu alerts sent, %llu rejected\n",
                 static_cast<unsigned long long>(st.samples), static_cast<unsigned long long>(st.alerts_sent),
                 static_cast<unsigned long long>(st.rejected));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dashboard_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
