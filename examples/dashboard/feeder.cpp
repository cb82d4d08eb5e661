// feeder — pushes the dashboard's synthetic streams (synthetic_feed.hpp) into any streamstats
// server as a WebSocket producer: the demo runs it against streamstatsd.
//
//   feeder [--url ws://127.0.0.1:8080/ws] [--rate N] [--day SECONDS] [--seed N] [--anomaly-at N]
//          [--duration SECONDS] [--token TOKEN]
//
// Every 20 ms it sends one JSON batch per stream, {"stream":…,"values":[…],"t":…}, timestamped
// with the first sample's time, so the server sees the samples at --rate per stream. It waits up
// to 10 s for the server to accept the connection, and exits when the server closes it.
// SPDX-License-Identifier: MIT

#include "synthetic_feed.hpp"

#include <streamstats/websocket/json_writer.hpp>

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct client_config : websocketpp::config::asio_client {
  using type = client_config;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};
using client_type = websocketpp::client<client_config>;

struct options {
  std::string url = "ws://127.0.0.1:8080/ws";
  demo::feed_options feed;
  double duration = 0.0;  // 0 = until the server closes or Ctrl-C
  std::string token;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(
      stderr,
      "feeder: %s\n"
      "usage: feeder [--url ws://127.0.0.1:8080/ws] [--rate SAMPLES_PER_S (100)] [--day SECONDS (60)]\n"
      "              [--seed N] [--anomaly-at SAMPLE] [--duration SECONDS] [--token TOKEN]\n",
      why.c_str());
  std::exit(2);
}

double number(const char* s, const std::string& flag, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= lo && v <= hi)) {
    usage("bad value for " + flag + ": '" + s + "'");
  }
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage("pushes the demo's synthetic streams into a streamstats server");
    }
    if (i + 1 >= argc) {
      usage("missing value after " + a);
    }
    const char* v = argv[++i];
    if (a == "--url") {
      o.url = v;
    } else if (a == "--rate") {
      o.feed.rate = number(v, a, 1, 100000);
    } else if (a == "--day") {
      o.feed.day = number(v, a, 1, 1e9);
    } else if (a == "--seed") {
      o.feed.seed = static_cast<std::uint64_t>(number(v, a, 0, 1e15));
    } else if (a == "--anomaly-at") {
      o.feed.anomaly_at = static_cast<long long>(number(v, a, 0, 1e15));
    } else if (a == "--duration") {
      o.duration = number(v, a, 0, 1e9);
    } else if (a == "--token") {
      o.token = v;
    } else {
      usage("unknown option " + a);
    }
  }
  return o;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  client_type client;
  client.init_asio();
  client.start_perpetual();
  std::thread io([&] { client.run(); });

  std::atomic<int> state{0};  // 0 connecting, 1 open, 2 failed or closed
  websocketpp::connection_hdl hdl;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (state.load() != 1 && std::chrono::steady_clock::now() < deadline) {
    state.store(0);
    std::error_code ec;
    auto con = client.get_connection(o.url, ec);
    if (ec) {
      usage("bad --url '" + o.url + "': " + ec.message());
    }
    if (!o.token.empty()) {
      con->append_header("Authorization", "Bearer " + o.token);
    }
    con->set_open_handler([&](websocketpp::connection_hdl) { state.store(1); });
    con->set_fail_handler([&](websocketpp::connection_hdl) { state.store(2); });
    con->set_close_handler([&](websocketpp::connection_hdl) { state.store(2); });
    hdl = con;
    client.connect(con);
    while (state.load() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (state.load() != 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server may be starting
    }
  }
  int rc = 0;
  if (state.load() != 1) {
    std::fprintf(stderr, "feeder: cannot connect to %s\n", o.url.c_str());
    rc = 1;
  } else {
    std::fprintf(stderr, "feeder: pushing 4 synthetic streams at %.0f samples/s each to %s\n", o.feed.rate,
                 o.url.c_str());
    demo::feed f(o.feed);
    std::vector<double> batch;
    std::string msg;
    const auto tick = std::chrono::milliseconds(20);
    const auto start = std::chrono::steady_clock::now();
    const double start_unix = unix_now();
    auto next = start;
    while (state.load() == 1) {
      next += tick;
      std::this_thread::sleep_until(next);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (o.duration > 0 && elapsed >= o.duration) {
        break;
      }
      for (std::size_t k = 0; k < f.streams().size(); ++k) {
        const std::size_t n = f.due(k, elapsed);
        if (n == 0) {
          continue;
        }
        const double t0 = f.time_of_next(k, start_unix);
        f.next(k, n, batch);
        msg.clear();
        streamstats::websocket::json_writer w(msg);
        w.begin_object();
        w.member_string("stream", f.streams()[k].name);
        w.key("values");
        w.begin_array();
        for (const double x : batch) {
          w.value_number(x);
        }
        w.end_array();
        w.member_number("t", t0);
        w.end_object();
        std::error_code ec;
        client.send(hdl, msg, websocketpp::frame::opcode::text, ec);
        if (ec) {
          state.store(2);
          break;
        }
      }
    }
    std::error_code ec;
    client.close(hdl, websocketpp::close::status::normal, "feeder done", ec);
  }
  client.stop_perpetual();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  client.stop();
  io.join();
  return rc;
}
