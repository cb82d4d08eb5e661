// A streamstats::websocket server for tests written in other languages (tests/websocket/*.py,
// tests/browser): prints "port <n>" on stdout once it listens, stops on SIGINT/SIGTERM or when its
// stdin is closed (so a test harness that dies never leaves it behind).
//   ws_test_server [--port N] [--token T] [--interval-ms N] [--max-streams N] [--max-message-size N]
//                  [--max-connections N] [--origin O]... [--docroot DIR]
#include <streamstats/websocket/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace {

int run(int argc, char** argv) {
  streamstats::websocket::server_options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--port") {
      o.port = static_cast<std::uint16_t>(std::stoul(v));
    } else if (k == "--token") {
      o.producer_token = v;
    } else if (k == "--interval-ms") {
      o.snapshot_interval = std::chrono::milliseconds(std::stol(v));
    } else if (k == "--max-streams") {
      o.max_streams = std::stoul(v);
    } else if (k == "--max-connections") {
      o.max_connections = std::stoul(v);
    } else if (k == "--max-message-size") {
      o.max_message_size = std::stoul(v);
    } else if (k == "--origin") {
      o.allowed_origins.push_back(v);
    } else if (k == "--docroot") {
      o.document_root = v;
    } else {
      std::cerr << "ws_test_server: unknown option " << k << "\n";
      return 2;
    }
  }
  streamstats::websocket::server s(o);
  s.stop_on_signals();
  s.start();
  std::printf("port %u\n", static_cast<unsigned>(s.port()));
  std::fflush(stdout);
  // Stop when stdin reaches EOF (the parent closed the pipe or exited).
  std::thread watcher([&s] {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    s.stop();
  });
  watcher.detach();
  s.join();
  const auto st = s.stats();
  std::printf("stopped: messages %llu samples %llu rejected %llu dropped %llu\n",
              static_cast<unsigned long long>(st.messages), static_cast<unsigned long long>(st.samples),
              static_cast<unsigned long long>(st.rejected), static_cast<unsigned long long>(st.dropped));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ws_test_server: " << e.what() << "\n";
    return 1;
  }
}
