// connections.hpp and http.hpp's routes without sockets: the admission table's limits (total and
// per address) and the slots it gives back, the pong budget, and what each HTTP path answers.
#include <streamstats/websocket/connections.hpp>
#include <streamstats/websocket/http.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace ws = streamstats::websocket;
using ws::detail::admission_table;
using verdict = admission_table::verdict;

TEST_CASE("handshakes are admitted up to max_connections, counting open and pending ones", "[connections]") {
  admission_table t;
  auto h1 = std::make_shared<int>(1);
  auto h2 = std::make_shared<int>(2);
  auto h3 = std::make_shared<int>(3);
  CHECK(t.admit(h1, "10.0.0.1", true, 0, 2, 0) == verdict::admitted);
  CHECK(t.admit(h2, "10.0.0.2", false, 0, 2, 0) == verdict::admitted);
  CHECK(t.pending() == 2);
  CHECK(t.admit(h3, "10.0.0.3", false, 0, 2, 0) == verdict::full);
  // h1 opens: one pending, one open (the caller now counts it).
  const auto adm = t.open(h1);
  CHECK(adm.authorized);
  CHECK(adm.address == "10.0.0.1");
  CHECK(t.pending() == 1);
  CHECK(t.admit(h3, "10.0.0.3", false, 1, 2, 0) == verdict::full);
  // h2 fails before opening: its slot and its address are freed.
  t.forget(h2);
  CHECK(t.pending() == 0);
  CHECK(t.from("10.0.0.2") == 0);
  CHECK(t.admit(h3, "10.0.0.3", false, 1, 2, 0) == verdict::admitted);
}

TEST_CASE("one address holds at most max_connections_per_address slots", "[connections]") {
  admission_table t;
  std::vector<std::shared_ptr<int>> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(std::make_shared<int>(i));
  }
  CHECK(t.admit(hs[0], "a", true, 0, 100, 2) == verdict::admitted);
  CHECK(t.admit(hs[1], "a", true, 0, 100, 2) == verdict::admitted);
  CHECK(t.admit(hs[2], "a", true, 0, 100, 2) == verdict::too_many_from_address);
  CHECK(t.admit(hs[2], "b", true, 0, 100, 2) == verdict::admitted);
  CHECK(t.from("a") == 2);
  (void)t.open(hs[0]);
  CHECK(t.from("a") == 2);  // open connections still count
  t.release("a");           // ... until they close
  CHECK(t.from("a") == 1);
  CHECK(t.admit(hs[3], "a", true, 1, 100, 2) == verdict::admitted);
  CHECK(t.admit(std::make_shared<int>(9), "c", true, 0, 100, 0) == verdict::admitted);  // 0 = no limit
}

TEST_CASE("pongs not yet written are held to their budget", "[connections]") {
  ws::detail::pong_budget<std::string> b;
  std::vector<std::shared_ptr<std::string>> held;
  const std::size_t each = ws::detail::pong_budget<std::string>::per_message + 100;
  std::size_t n = 0;
  while (b.fits(100)) {
    held.push_back(std::make_shared<std::string>(100, 'p'));
    b.queued(held.back(), 100);
    ++n;
    REQUIRE(n < 10000);
  }
  CHECK(n == ws::detail::pong_budget<std::string>::max_pending_bytes / each);
  CHECK(b.bytes() == n * each);
  held.erase(held.begin());  // the oldest was written: websocketpp let go of it
  CHECK(b.fits(100));
  CHECK(b.bytes() == (n - 1) * each);
}

TEST_CASE("HTTP paths: metrics, health, readiness, the WebSocket endpoint, static files", "[http]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("streamstats_http_" + std::to_string(::getpid()));
  fs::create_directories(root);
  std::ofstream(root / "index.html") << "<p>hi</p>";
  const std::string root_s = root.string();
  ws::detail::http_context ctx;
  ctx.document_root = &root_s;
  ctx.ready = true;
  int scraped = 0;
  ctx.metrics = [&] {
    ++scraped;
    return std::string("streamstats_streams 3\n");
  };
  auto r = ws::detail::route_http("/metrics", ctx);
  CHECK(r.status == 200);
  CHECK(r.body == "streamstats_streams 3\n");
  CHECK(std::string(r.content_type) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(scraped == 1);
  CHECK(ws::detail::route_http("/healthz", ctx).body == "ok\n");
  CHECK(ws::detail::route_http("/readyz", ctx).status == 200);
  ctx.ready = false;
  r = ws::detail::route_http("/readyz", ctx);
  CHECK(r.status == 503);
  CHECK(ws::detail::route_http("/healthz", ctx).status == 200);  // alive all the same
  r = ws::detail::route_http("/ws", ctx);
  CHECK(r.status == 426);
  REQUIRE(r.headers.size() == 1);
  CHECK(std::string(r.headers[0].first) == "Sec-WebSocket-Version");
  CHECK(std::string(r.headers[0].second) == "13");
  r = ws::detail::route_http("/", ctx);
  CHECK(r.status == 200);
  CHECK(r.body == "<p>hi</p>");
  CHECK(std::string(r.content_type) == "text/html; charset=utf-8");
  CHECK(ws::detail::route_http("/nope.txt", ctx).status == 404);
  CHECK(ws::detail::route_http("/../etc/passwd", ctx).status == 400);
  CHECK(scraped == 1);
  fs::remove_all(root);
}
