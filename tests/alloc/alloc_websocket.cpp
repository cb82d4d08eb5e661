// The adapter's per-message path allocates nothing once warmed up: a JSON text frame decoded by
// request_parser (protocol.hpp, simdjson's reused buffers) and its samples pushed into the default
// pipeline (push() for a single value, push_batch() for a batch), as the server does per message.
#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <cstddef>
#include <cstdio>
#include <string>

using streamstats_test::allocations_during;
namespace ws = streamstats::websocket;

namespace {

struct counting_sink final : ws::alert_sink {
  std::size_t alerts = 0;
  void on_alert(std::size_t /*offset*/, double /*x*/, const ws::alert_info& /*alert*/) override { ++alerts; }
};

// Decodes `text` and feeds its samples to `p`, as the server's message handler does.
std::size_t handle(ws::request_parser& parser, ws::pipeline& p, counting_sink& sink,
                   const std::string& text) {
  ws::request req;
  ws::request_error err;
  if (!parser.parse(text, req, err) || req.type != ws::request_type::push) {
    return 0;
  }
  if (req.single) {
    ws::alert_info a;
    if (p.push(req.value, a)) {
      ++sink.alerts;
    }
    return 1;
  }
  p.push_batch(parser.values().data(), parser.values().size(), sink);
  return parser.values().size();
}

}  // namespace

TEST_CASE("one parsed message through the default pipeline allocates nothing after warm-up",
          "[alloc][websocket]") {
  // A single value with a time, a batch of 100, and a spike that raises an alert.
  const std::string single = R"({"stream":"cpu","value":0.7312,"t":1732240000.25,"id":17})";
  std::string batch = R"({"stream":"cpu","values":[)";
  for (int i = 0; i < 100; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6f", i == 0 ? "" : ",", 0.5 + 0.001 * (i % 7));
    batch += buf;
  }
  batch += "]}";
  const std::string spike = R"({"stream":"cpu","value":1e6})";

  ws::request_parser parser;
  ws::default_pipeline pipe;
  counting_sink sink;
  // Warm-up: the parser's buffers grow to the largest message once.
  REQUIRE(handle(parser, pipe, sink, batch) + handle(parser, pipe, sink, single) == 101);
  std::size_t accepted = 0;
  const std::size_t n = allocations_during([&] {
    for (int i = 0; i < 10000; ++i) {
      accepted += handle(parser, pipe, sink, i % 10 == 0 ? batch : single);
      if (i % 1000 == 999) {
        accepted += handle(parser, pipe, sink, spike);
      }
    }
  });
  CHECK(accepted == 1000 * 100 + 9000 + 10);
  CHECK(sink.alerts > 0);
  CHECK(n == 0);
}
