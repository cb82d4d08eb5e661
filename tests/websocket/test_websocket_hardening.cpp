// What a hostile client found in the WebSocket server (issue 9 §2), one regression test per finding.
// Where the symptom is memory, CPU or other clients' service, the server runs in a child process
// (raw::server_process) and the test reads its VmRSS / CPU time from /proc. Every loop is bounded
// in count and time; everything is on 127.0.0.x.
#include "raw_socket.hpp"

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/server.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace ws = streamstats::websocket;

namespace {

struct running_server {
  explicit running_server(ws::server_options o) : s(std::move(o)) { s.start(); }
  ~running_server() {
    s.stop();
    s.join();
  }
  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;
  ws::server s;
};

ws::server_options fast_options() {
  ws::server_options o;
  o.snapshot_interval = 20ms;
  return o;
}

// Opens a WebSocket over raw TCP; the status of the server's answer.
int open_ws(raw::tcp& t, const std::string& request) {
  t.send(request);
  return raw::status_of(t.read_until("\r\n\r\n"));
}

// The next text frame parsed as JSON (control frames skipped); throws when none comes.
json next_json(raw::tcp& t) {
  for (int i = 0; i < 1000; ++i) {
    auto [op, payload] = t.read_frame();
    if (op < 0) {
      throw std::runtime_error("connection ended while waiting for a message");
    }
    if (op == 1) {
      return json::parse(payload);
    }
  }
  throw std::runtime_error("no text frame");
}

// A push with an id, and its ack: the round trip, ms.
double round_trip_ms(raw::tcp& t, int i) {
  const auto t0 = std::chrono::steady_clock::now();
  t.send(raw::frame(1, R"({"stream":"rt","value":1,"id":)" + std::to_string(i) + "}"));
  for (;;) {
    json j = next_json(t);
    if (j.value("type", "") == "ack" && j["id"] == i) {
      break;
    }
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Writes list requests as fast as the server takes them, never reading the replies, until `done`
// (at most 2 000 000 requests or 10 s).
void flood_connection(std::uint16_t port, std::atomic<bool>& started, std::atomic<bool>& done) {
  raw::tcp f(port, nullptr, 4096, 10000ms);
  if (open_ws(f, raw::handshake("13")) != 101) {
    return;
  }
  std::string batch;
  for (int i = 0; i < 1000; ++i) {
    batch += raw::frame(1, R"({"type":"list"})");
  }
  const auto end = std::chrono::steady_clock::now() + 10s;
  for (int i = 0; i < 2000 && !done && std::chrono::steady_clock::now() < end && f.send(batch); ++i) {
    started = true;
  }
}

}  // namespace

// ---- Hixie-76 and other versions ---------------------------------------------------------------

TEST_CASE("every WebSocket version but 13 is refused with HTTP 426 naming version 13",
          "[websocket][hardening]") {
  running_server srv(fast_options());
  const std::uint16_t port = srv.s.port();
  auto refused = [&](const std::string& request) {
    raw::tcp t(port);
    t.send(request);
    const std::string head = t.read_until("\r\n\r\n");
    CHECK(raw::status_of(head) == 426);
    CHECK(head.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
  };
  refused(raw::hixie76_handshake(true));   // hixie-76, complete: was 101 (the unbounded processor)
  refused(raw::hixie76_handshake(false));  // hixie-76 without the key bytes: was 500
  refused(raw::handshake(""));             // no version at all
  for (const char* v : {"0", "7", "8", "12", "14", "abc"}) {
    refused(raw::handshake(v));
  }
  raw::tcp ok(port);
  CHECK(open_ws(ok, raw::handshake("13")) == 101);
  CHECK(srv.s.stats().connections <= 1);
}

TEST_CASE("a hixie-76 client cannot make the server buffer an unbounded message", "[websocket][hardening]") {
  ws::server_options o;
  o.max_message_size = 1 << 20;
  raw::server_process srv(o);
  const long before = srv.rss_kib();
  raw::tcp t(srv.port(), nullptr, 0, 2000ms);
  t.send(raw::hixie76_handshake(true));
  const int status = raw::status_of(t.read_until("\r\n\r\n"));
  CHECK(status == 426);
  // A hixie-76 text message is 0x00, UTF-8, 0xFF: this one never ends. Up to 48 MiB, in 1 MiB
  // writes, until the server stops taking them.
  std::string chunk(1 << 20, 'a');
  t.send(std::string(1, '\0'));
  std::size_t sent = 0;
  for (int i = 0; i < 48 && t.send(chunk); ++i) {
    sent += chunk.size();
  }
  std::this_thread::sleep_for(200ms);
  const long after = srv.rss_kib();
  INFO("server RSS before " << before << " KiB, after " << after << " KiB, sent " << sent << " bytes");
  CHECK(after - before < 8 * 1024);
  CHECK(srv.alive());
}

// ---- control frames ------------------------------------------------------------------------------

TEST_CASE("pings from a client that never reads cost bounded memory, then the connection is closed",
          "[websocket][hardening]") {
  ws::server_options o;
  raw::server_process srv(o);
  const long before = srv.rss_kib();
  // A 4 KiB receive buffer that is never read: the pongs pile up on the server's side.
  raw::tcp t(srv.port(), nullptr, 4096, 2000ms);
  REQUIRE(open_ws(t, raw::handshake("13")) == 101);
  // 2 x 200 000 pings (125-byte, then empty ones: these cost the most per byte sent), written in
  // batches of 1000 until the server stops reading them.
  std::string batch125;
  std::string batch0;
  for (int i = 0; i < 1000; ++i) {
    batch125 += raw::frame(9, std::string(125, 'p'));
    batch0 += raw::frame(9, "");
  }
  int batches = 0;
  bool gone = false;
  for (const std::string* b : {&batch125, &batch0}) {
    for (int i = 0; i < 200 && !gone; ++i, ++batches) {
      gone = !t.send(*b);
    }
  }
  std::this_thread::sleep_for(300ms);
  const long after = srv.rss_kib();
  INFO("server RSS before " << before << " KiB, after " << after << " KiB, " << batches
                            << " batches of 1000 pings sent");
  // Unbounded, 400 000 queued pongs cost ~100 MB (~60 MB for the 125-byte ones alone). Under
  // AddressSanitizer freed memory sits in its quarantine (+18 MB seen once): a looser bound there,
  // still far below the unbounded case.
#if defined(__SANITIZE_ADDRESS__)
  CHECK(after - before < 48 * 1024);
#else
  CHECK(after - before < 16 * 1024);
#endif
  // The connection was ended: either the writes failed, or a close frame 1008 waits after the pongs.
  const int code = gone ? -1 : t.read_close_code(5000ms);
  CHECK((gone || code == 1008 || code == -1));
  CHECK(srv.alive());
  // Others are served.
  raw::tcp other(srv.port());
  REQUIRE(open_ws(other, raw::handshake("13")) == 101);
  CHECK(round_trip_ms(other, 1) < 5000.0);
}

TEST_CASE("a client that reads its pongs is answered, ping for ping", "[websocket][hardening]") {
  running_server srv(fast_options());
  raw::tcp t(srv.s.port());
  REQUIRE(open_ws(t, raw::handshake("13")) == 101);
  for (int i = 0; i < 50; ++i) {
    const std::string payload = "ping " + std::to_string(i);
    t.send(raw::frame(9, payload));
    auto [op, got] = t.read_frame();
    REQUIRE(op == 10);
    CHECK(got == payload);
  }
}

// ---- list amplification --------------------------------------------------------------------------

TEST_CASE("a list names at most max_list_streams streams and says how many there are",
          "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.max_list_streams = 10;
  running_server srv(o);
  for (int i = 0; i < 25; ++i) {
    srv.s.push("s" + std::to_string(100 + i), 1.0);
  }
  raw::tcp t(srv.s.port());
  REQUIRE(open_ws(t, raw::handshake("13")) == 101);
  json j;
  for (int attempt = 0; attempt < 100; ++attempt) {
    t.send(raw::frame(1, R"({"type":"list","id":1})"));
    j = next_json(t);
    if (j.value("total", 0) == 25) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  CHECK(j["total"] == 25);
  CHECK(j["truncated"] == true);
  REQUIRE(j["streams"].size() == 10);
  CHECK(j["streams"][0]["name"] == "s100");  // name order
  CHECK(j["streams"][9]["name"] == "s109");
}

TEST_CASE("a client flooding list requests does not starve another client's round trip",
          "[websocket][hardening]") {
  ws::server_options o;  // defaults: the query budget is on
  raw::server_process srv(o);
  {
    raw::tcp producer(srv.port());
    REQUIRE(open_ws(producer, raw::handshake("13")) == 101);
    std::string all;
    for (int i = 0; i < 1023; ++i) {  // and "rt", the round trip's: the default max_streams
      char name[32];
      std::snprintf(name, sizeof name, "stream-with-a-longish-name-%04d", i);
      all += raw::frame(1, std::string(R"({"stream":")") + name + R"(","value":1})");
    }
    all += raw::frame(1, R"({"stream":"rt","value":1})");
    producer.send(all);
    producer.send(raw::frame(1, R"({"type":"list","id":"done"})"));
    json j = next_json(producer);
    REQUIRE(j["total"] == 1024);
  }
  raw::tcp other(srv.port());
  REQUIRE(open_ws(other, raw::handshake("13")) == 101);
  std::vector<double> quiet;
  for (int i = 0; i < 20; ++i) {
    quiet.push_back(round_trip_ms(other, i));
  }

  // The flood: list requests (15 bytes each on the wire) written as fast as the server takes them,
  // never reading the replies, until the round trips below are measured (at most 2 000 000
  // requests or 10 s).
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::thread flood([&] {
    try {
      flood_connection(srv.port(), started, done);
    } catch (const std::exception&) {
    }
    done = true;
  });
  while (!started && !done) {
    std::this_thread::sleep_for(1ms);
  }
  std::this_thread::sleep_for(50ms);
  std::vector<double> busy;
  const auto until = std::chrono::steady_clock::now() + 10s;
  try {
    for (int i = 100; i < 150 && !done && std::chrono::steady_clock::now() < until; ++i) {
      busy.push_back(round_trip_ms(other, i));
    }
  } catch (const std::exception&) {
    busy.push_back(3000.0);  // no answer within the socket's 3 s timeout: starved
  }
  done = true;
  flood.join();
  std::sort(quiet.begin(), quiet.end());
  std::sort(busy.begin(), busy.end());
  REQUIRE(!busy.empty());
  const double median = busy[busy.size() / 2];
  INFO("round trip, quiet: median " << quiet[quiet.size() / 2] << " ms; during the flood: median " << median
                                    << " ms, max " << busy.back() << " ms over " << busy.size());
  // Unbudgeted, every 16 KiB the server reads from the flood is ~1000 lists of 1024 streams: the
  // other client waits ~0.5 s per read. Budgeted, they are answered rate_limited in microseconds.
  CHECK(median < 50.0);
  CHECK(busy.back() < 500.0);
}

TEST_CASE("the query budget refuses list requests past it with rate_limited, and refills",
          "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.query_budget_per_second = 20;  // a list of 10 streams costs 10: two per second
  running_server srv(o);
  for (int i = 0; i < 10; ++i) {
    srv.s.push("q" + std::to_string(i), 1.0);
  }
  raw::tcp t(srv.s.port());
  REQUIRE(open_ws(t, raw::handshake("13")) == 101);
  std::this_thread::sleep_for(100ms);
  int lists = 0;
  int limited = 0;
  for (int i = 0; i < 10; ++i) {
    t.send(raw::frame(1, R"({"type":"list"})"));
    json j = next_json(t);
    lists += j["type"] == "streams" ? 1 : 0;
    limited += j.value("code", "") == "rate_limited" ? 1 : 0;
  }
  CHECK(lists == 2);
  CHECK(limited == 8);
  // Pushes never draw on it.
  t.send(raw::frame(1, R"({"stream":"q0","value":2,"id":"p"})"));
  CHECK(next_json(t)["type"] == "ack");
  std::this_thread::sleep_for(600ms);
  t.send(raw::frame(1, R"({"type":"list"})"));
  CHECK(next_json(t)["type"] == "streams");
}

// ---- connection slots ----------------------------------------------------------------------------

TEST_CASE("one address cannot hold every connection slot", "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.max_connections = 20;
  o.max_connections_per_address = 5;
  running_server srv(o);
  std::vector<raw::tcp> mine;
  for (int i = 0; i < 5; ++i) {
    mine.emplace_back(srv.s.port());
    REQUIRE(open_ws(mine.back(), raw::handshake("13")) == 101);
  }
  raw::tcp sixth(srv.s.port());
  CHECK(open_ws(sixth, raw::handshake("13")) == 429);
  // Another address (127.0.0.2 is loopback too) still gets in.
  raw::tcp elsewhere(srv.s.port(), "127.0.0.2");
  CHECK(open_ws(elsewhere, raw::handshake("13")) == 101);
  // A slot freed is a slot again.
  mine.pop_back();
  std::this_thread::sleep_for(200ms);
  raw::tcp again(srv.s.port());
  CHECK(open_ws(again, raw::handshake("13")) == 101);
}

TEST_CASE("a connection that neither pushes nor subscribes is closed after idle_timeout",
          "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.idle_timeout = 300ms;
  running_server srv(o);
  raw::tcp idle(srv.s.port());
  raw::tcp listing(srv.s.port());  // list is not activity: it holds a slot for nothing
  raw::tcp subscriber(srv.s.port());
  raw::tcp producer(srv.s.port());
  for (raw::tcp* t : {&idle, &listing, &subscriber, &producer}) {
    REQUIRE(open_ws(*t, raw::handshake("13")) == 101);
  }
  producer.send(raw::frame(1, R"({"stream":"x","value":1,"id":1})"));
  CHECK(next_json(producer)["type"] == "ack");
  subscriber.send(raw::frame(1, R"({"type":"subscribe","stream":"x"})"));
  CHECK(next_json(subscriber)["type"] == "subscribed");
  listing.send(raw::frame(1, R"({"type":"list"})"));
  CHECK(next_json(listing)["type"] == "streams");

  const auto t0 = std::chrono::steady_clock::now();
  CHECK(idle.read_close_code(3000ms) == 1008);
  CHECK(listing.read_close_code(3000ms) == 1008);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(waited < 2.0);
  std::this_thread::sleep_for(300ms);
  producer.send(raw::frame(1, R"({"stream":"x","value":2,"id":2})"));
  CHECK(next_json(producer)["type"] == "ack");
  subscriber.send(raw::frame(1, R"({"type":"snapshot","stream":"x","id":"s"})"));
  for (int i = 0; i < 100; ++i) {
    json j = next_json(subscriber);
    if (j.value("id", "") == "s") {
      CHECK(j["count"] == 2);
      break;
    }
  }
}

// ---- descriptors -----------------------------------------------------------------------------------

// Not under the sanitizers: with every descriptor taken, their runtime cannot open the pipe it
// probes memory with, and UBSan's vptr check then reports (and, with no recovery, aborts on) a
// false "invalid vptr" inside std::error_code. The dev and clang builds run it.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("out of descriptors, the accept loop backs off instead of spinning", "[websocket][hardening]") {
  ws::server_options o;
  o.max_connections_per_address = 0;
  o.idle_timeout = 0ms;
  raw::server_process srv(o, 48);  // prlimit --nofile=48 for the server only
  // Connections (with their handshakes already sent) until the server has no descriptor left: the
  // later ones wait in the listen backlog, where the server sees them and cannot accept them.
  std::vector<raw::tcp> held;
  for (int i = 0; i < 80; ++i) {
    held.emplace_back(srv.port(), nullptr, 0, 200ms);
    held.back().send(raw::handshake("13"));
  }
  std::this_thread::sleep_for(300ms);
  const double cpu0 = srv.cpu_seconds();
  std::this_thread::sleep_for(1500ms);
  const double cpu = srv.cpu_seconds() - cpu0;
  INFO("server CPU while out of descriptors: " << cpu << " s in 1.5 s");
  CHECK(cpu < 0.15);  // spinning, it was 0.4-1.5 s (depending on the load of the machine)
  // Descriptors back: the waiting connections are accepted (within the back-off's 1 s ceiling).
  int answered_before = 0;
  for (std::size_t i = 0; i < held.size(); ++i) {
    held[i].set_timeout(50ms);
    if (raw::status_of(held[i].read_until("\r\n\r\n")) == 101) {
      ++answered_before;
    }
  }
  REQUIRE(answered_before > 30);
  REQUIRE(answered_before < 75);
  // The connections are in the order the server accepted them: close 30 of the answered ones,
  // then the next 5 in the backlog get their answer.
  held.erase(held.begin(), held.begin() + 30);
  int answered = 0;
  const auto first_waiting = static_cast<std::size_t>(answered_before - 30);
  for (std::size_t i = first_waiting; i < first_waiting + 5; ++i) {
    held[i].set_timeout(3000ms);
    if (raw::status_of(held[i].read_until("\r\n\r\n")) == 101) {
      ++answered;
    }
  }
  CHECK(answered == 5);
  CHECK(srv.alive());
}
#endif

// ---- static files ------------------------------------------------------------------------------------

TEST_CASE("static files are regular files under the root only", "[websocket][hardening]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("streamstats-web-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "empty-dir");
  fs::create_directories(root / "with-index");
  std::ofstream(root / "index.html") << "<p>home</p>";
  std::ofstream(root / "a.txt") << "hello";
  std::ofstream(root / "with-index" / "index.html") << "<p>sub</p>";
  fs::create_directory_symlink("/etc", root / "etc");
  fs::create_symlink("/etc/passwd", root / "passwd");
  fs::create_symlink(root / "a.txt", root / "alias.txt");  // a link that stays inside: served
  REQUIRE(::mkfifo((root / "fifo").c_str(), 0600) == 0);

  ws::server_options o = fast_options();
  o.document_root = root.string();
  running_server srv(o);
  const std::uint16_t port = srv.s.port();
  auto status = [&](const std::string& path) { return raw::status_of(raw::http_get(port, path, 3000ms)); };
  CHECK(status("/") == 200);
  CHECK(raw::http_get(port, "/a.txt").find("hello") != std::string::npos);
  CHECK(raw::http_get(port, "/alias.txt").find("hello") != std::string::npos);
  CHECK(status("/with-index/") == 200);
  CHECK(status("/with-index") == 200);
  CHECK(status("/etc/passwd") == 404);  // was 200 with /etc/passwd
  CHECK(status("/passwd") == 404);
  CHECK(status("/empty-dir") == 404);  // was 200 with an empty body
  CHECK(status("/empty-dir/") == 404);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(status("/fifo") == 404);  // was: no answer, and every later request hung behind it
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(status("/a.txt") == 200);
  CHECK(status("/missing") == 404);
  CHECK(status("/../etc/passwd") == 400);
  fs::remove_all(root);
}

// ---- access ------------------------------------------------------------------------------------------

TEST_CASE("anonymous clients cannot raise a stream's rejected counter on a server with a token",
          "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.producer_token = "tok";
  running_server srv(o);
  raw::tcp producer(srv.s.port());
  REQUIRE(open_ws(producer, raw::handshake("13", "Authorization: Bearer tok\r\n")) == 101);
  producer.send(raw::frame(1, R"({"stream":"t","value":1,"id":1})"));
  REQUIRE(next_json(producer)["type"] == "ack");
  raw::tcp anon(srv.s.port());
  REQUIRE(open_ws(anon, raw::handshake("13")) == 101);
  for (const char* bad : {R"({"stream":"t","value":1})", R"({"stream":"t","value":"x"})",
                          R"({"stream":"t","values":[]})", R"({"stream":"t"})"}) {
    anon.send(raw::frame(1, bad));
    CHECK(next_json(anon)["type"] == "error");
  }
  anon.send(raw::frame(2, std::string("\x01\x01t", 3) + std::string(8, '\0')));
  CHECK(next_json(anon)["code"] == "unauthorized");
  producer.send(raw::frame(1, R"({"type":"snapshot","stream":"t","id":"s"})"));
  json s = next_json(producer);
  CHECK(s["rejected"] == 0);
  // The producer's own mistakes still count.
  producer.send(raw::frame(1, R"({"stream":"t","value":"x"})"));
  CHECK(next_json(producer)["type"] == "error");
  producer.send(raw::frame(1, R"({"type":"snapshot","stream":"t","id":"s"})"));
  CHECK(next_json(producer)["rejected"] == 1);
}

TEST_CASE("the bearer scheme is case-insensitive and the token must match exactly",
          "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.producer_token = "s3cr3t";
  running_server srv(o);
  auto may_push = [&](const std::string& authorization) {
    raw::tcp t(srv.s.port());
    REQUIRE(open_ws(t, raw::handshake("13", "Authorization: " + authorization + "\r\n")) == 101);
    t.send(raw::frame(1, R"({"stream":"b","value":1,"id":1})"));
    return next_json(t)["type"] == "ack";
  };
  CHECK(may_push("Bearer s3cr3t"));
  CHECK(may_push("bearer s3cr3t"));  // was refused
  CHECK(may_push("BEARER   s3cr3t"));
  CHECK_FALSE(may_push("Bearers3cr3t"));
  CHECK_FALSE(may_push("Basic s3cr3t"));
  CHECK_FALSE(may_push("Bearer s3cr3"));
  CHECK_FALSE(may_push("Bearer s3cr3tt"));
  CHECK_FALSE(may_push("Bearer S3CR3T"));
  CHECK_FALSE(may_push("Bearer "));
}

TEST_CASE("same_secret compares every byte of the secret whatever the input", "[websocket][hardening]") {
  using ws::detail::same_secret;
  CHECK(same_secret("abc", "abc"));
  CHECK_FALSE(same_secret("abd", "abc"));
  CHECK_FALSE(same_secret("ab", "abc"));      // a prefix
  CHECK_FALSE(same_secret("abcd", "abc"));    // a longer input
  CHECK_FALSE(same_secret("abcabc", "abc"));  // the secret repeated
  CHECK_FALSE(same_secret("", "abc"));
  CHECK_FALSE(same_secret("a", ""));
  CHECK(same_secret("", ""));
}

TEST_CASE("same_origin admits the server's own page and refuses other web pages", "[websocket][hardening]") {
  ws::server_options o = fast_options();
  o.same_origin = true;
  o.allowed_origins = {"http://trusted.example"};
  running_server srv(o);
  const std::string host = "127.0.0.1:" + std::to_string(srv.s.port());
  auto status = [&](const std::string& origin) {
    raw::tcp t(srv.s.port());
    const std::string extra = origin.empty() ? "" : "Origin: " + origin + "\r\n";
    return open_ws(t, raw::handshake("13", extra, "/ws", host));
  };
  CHECK(status("http://" + host) == 101);
  CHECK(status("http://evil.example") == 403);
  CHECK(status("http://127.0.0.1:1") == 403);
  CHECK(status("https://" + host) == 403);
  CHECK(status("http://trusted.example") == 101);
  CHECK(status("") == 101);  // not a browser

  ws::access_policy p({}, true, "");
  CHECK(p.origin_allowed("http://LocalHost:8080", "localhost:8080"));
  CHECK_FALSE(p.origin_allowed("http://localhost:8080.evil", "localhost:8080"));
  CHECK_FALSE(p.origin_allowed("null", "localhost:8080"));
  ws::access_policy open_policy;
  CHECK(open_policy.origin_allowed("http://anywhere", "localhost:8080"));
}

// ---- RFC 6455 details -------------------------------------------------------------------------------

TEST_CASE("a payload length that breaks RFC 6455's encoding rules closes with 1002",
          "[websocket][hardening]") {
  running_server srv(fast_options());
  auto close_code = [&](const std::string& frame) {
    raw::tcp t(srv.s.port());
    REQUIRE(open_ws(t, raw::handshake("13")) == 101);
    t.send(frame);
    return t.read_close_code(3000ms);
  };
  const std::string msg = R"({"type":"list"})";
  CHECK(close_code(raw::frame(1, msg, raw::length_form::as_16_bit)) == 1002);  // was 1011
  CHECK(close_code(raw::frame(1, msg, raw::length_form::as_64_bit)) == 1002);  // was 1011
  CHECK(close_code(raw::frame(1, "", raw::length_form::as_64_bit, 0x8000000000000010ULL)) ==
        1002);  // was 1009
  // A large (but legal) length over max_message_size is still 1009.
  CHECK(close_code(raw::frame(1, "", raw::length_form::as_64_bit, 1ULL << 40U)) == 1009);
}
