// Uses streamstats::redis through the installed package: a URL is parsed, and a connection to a
// Redis that is not there (hiredis' async connect on the io_context) answers a command with no
// reply instead of waiting. Exits non-zero otherwise.
#include <streamstats/websocket/redis.hpp>

#include <chrono>
#include <cstdio>

int main() {
  namespace rd = streamstats::websocket::redis;
  const auto parsed = rd::parse_url("redis://127.0.0.1:6390");
  if (parsed.host != "127.0.0.1" || parsed.port != 6390) {
    std::puts("redis: parse_url gave the wrong host or port");
    return 1;
  }
  asio::io_context io;
  rd::connection_options o;
  o.unix_path = "/nonexistent/streamstats-consumer/redis.sock";
  o.connect_timeout = std::chrono::milliseconds(200);
  rd::connection c(io, o);
  c.start();
  int answers = 0;
  bool no_reply = false;
  c.command({"PING"}, [&](const redisReply* r) {
    ++answers;
    no_reply = r == nullptr;
  });
  io.run_for(std::chrono::milliseconds(300));
  c.stop();
  if (answers != 1 || !no_reply || c.ready()) {
    std::printf("redis: %d answers, no_reply %d, ready %d\n", answers, no_reply ? 1 : 0, c.ready() ? 1 : 0);
    return 1;
  }
  std::puts("redis consumer ok");
  return 0;
}
