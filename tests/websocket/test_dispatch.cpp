// dispatch.hpp without a server: each kind of message reaches the one handler call it asks for,
// token buckets, and the replies' wire form (parsed back with nlohmann::json).
#include <streamstats/websocket/dispatch.hpp>
#include <streamstats/websocket/registry.hpp>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ws = streamstats::websocket;
using json = nlohmann::json;
using ws::error_code;

namespace {

struct recorder {
  std::vector<std::string> calls;
  std::string stream;
  std::vector<double> values;
  double t = 0.0;
  std::string id;
  std::string producer;
  std::uint64_t seq = 0;
  error_code code = error_code::unknown_stream;
  ws::request_type type = ws::request_type::push;

  void invalid(const ws::request& req, const ws::request_error& err) {
    calls.emplace_back("invalid");
    code = err.code;
    id = std::string(req.id);
  }
  void push(std::string_view s, const double* v, std::size_t n, double when, std::string_view i,
            const ws::producer_seq& origin) {
    calls.emplace_back("push");
    producer = std::string(origin.producer);
    seq = origin.seq;
    stream = std::string(s);
    values.assign(v, v + n);
    t = when;
    id = std::string(i);
  }
  void list(const ws::request& req) { record("list", req); }
  void subscribe_all(const ws::request& req) { record("subscribe_all", req); }
  void unsubscribe_all(const ws::request& req) { record("unsubscribe_all", req); }
  void on_stream(const ws::request& req) { record("on_stream", req); }
  void record(const char* what, const ws::request& req) {
    calls.emplace_back(what);
    stream = std::string(req.stream);
    id = std::string(req.id);
    type = req.type;
  }
};

recorder text(std::string_view payload) {
  ws::request_parser p;
  recorder r;
  ws::dispatch_text(p, payload, r);
  return r;
}

}  // namespace

TEST_CASE("pushes reach push() with their samples, time and id", "[dispatch]") {
  auto r = text(R"({"stream":"cpu","value":0.73,"id":7})");
  REQUIRE(r.calls == std::vector<std::string>{"push"});
  CHECK(r.stream == "cpu");
  CHECK(r.values == std::vector<double>{0.73});
  CHECK(std::isnan(r.t));
  CHECK(r.id == "7");
  r = text(R"({"type":"push","stream":"m","values":[1,2.5,-3],"t":1700000000.5})");
  REQUIRE(r.calls == std::vector<std::string>{"push"});
  CHECK(r.values == std::vector<double>{1.0, 2.5, -3.0});
  CHECK(r.t == 1700000000.5);
  CHECK(r.id.empty());
}

TEST_CASE("queries and subscriptions reach their own call — \"*\" is special except for snapshot",
          "[dispatch]") {
  CHECK(text(R"({"type":"list","id":"l"})").calls == std::vector<std::string>{"list"});
  auto r = text(R"({"type":"subscribe","stream":"*"})");
  CHECK(r.calls == std::vector<std::string>{"subscribe_all"});
  r = text(R"({"type":"unsubscribe","stream":"*","id":1})");
  CHECK(r.calls == std::vector<std::string>{"unsubscribe_all"});
  CHECK(r.id == "1");
  r = text(R"({"type":"subscribe","stream":"cpu"})");
  CHECK(r.calls == std::vector<std::string>{"on_stream"});
  CHECK(r.type == ws::request_type::subscribe);
  CHECK(r.stream == "cpu");
  r = text(R"({"type":"unsubscribe","stream":"cpu"})");
  CHECK(r.type == ws::request_type::unsubscribe);
  r = text(R"({"type":"snapshot","stream":"*"})");
  CHECK(r.calls == std::vector<std::string>{"on_stream"});
  CHECK(r.type == ws::request_type::snapshot);
  CHECK(r.stream == "*");
}

TEST_CASE("a message that does not decode reaches invalid() with its error code", "[dispatch]") {
  auto r = text("{not json");
  CHECK(r.calls == std::vector<std::string>{"invalid"});
  CHECK(r.code == error_code::malformed_json);
  r = text(R"({"stream":"cpu","value":1e999,"id":"n"})");
  CHECK(r.calls == std::vector<std::string>{"invalid"});
  CHECK(r.code == error_code::non_finite);
  CHECK(r.id == "\"n\"");
}

TEST_CASE("binary frames reach push() with every float64", "[dispatch]") {
  std::string f;
  f.push_back(static_cast<char>(ws::binary_protocol_version));
  f.push_back(3);
  f += "bin";
  for (const double x : {1.5, -2.0, 1e10}) {
    char b[8];
    std::memcpy(b, &x, 8);  // little-endian, as the frame (x86)
    f.append(b, 8);
  }
  ws::request_parser p;
  recorder r;
  ws::dispatch_binary(p, f, r);
  REQUIRE(r.calls == std::vector<std::string>{"push"});
  CHECK(r.stream == "bin");
  CHECK(r.values == std::vector<double>{1.5, -2.0, 1e10});
  recorder bad;
  ws::dispatch_binary(p, f.substr(0, f.size() - 3), bad);  // a partial sample
  CHECK(bad.calls == std::vector<std::string>{"invalid"});
}

TEST_CASE("a push's producer id and sequence number reach push(), JSON and binary", "[dispatch]") {
  auto r = text(R"({"stream":"cpu","values":[1,2],"producer":"feeder-7","seq":42})");
  REQUIRE(r.calls == std::vector<std::string>{"push"});
  CHECK(r.producer == "feeder-7");
  CHECK(r.seq == 42);
  r = text(R"({"stream":"cpu","value":1})");
  CHECK(r.producer.empty());
  CHECK(r.seq == 0);
  // 0x81: a producer header (P, id, seq as uint64 LE) between the name and the samples.
  std::string f;
  f.push_back(static_cast<char>(0x81));
  f.push_back(3);
  f += "bin";
  f.push_back(2);
  f += "p1";
  const std::uint64_t seq = 0x0102030405ULL;
  for (int b = 0; b < 8; ++b) {
    f.push_back(static_cast<char>((seq >> (8 * b)) & 0xffu));
  }
  const double x = 2.5;
  char bytes[8];
  std::memcpy(bytes, &x, 8);
  f.append(bytes, 8);
  ws::request_parser p;
  recorder b;
  ws::dispatch_binary(p, f, b);
  REQUIRE(b.calls == std::vector<std::string>{"push"});
  CHECK(b.stream == "bin");
  CHECK(b.producer == "p1");
  CHECK(b.seq == 0x0102030405ULL);
  CHECK(b.values == std::vector<double>{2.5});
}

TEST_CASE("the ack of a numbered push carries seq, first and duplicate", "[dispatch]") {
  std::string out;
  ws::write_ack(out, "cpu", ws::push_ack{3, 9, true, 120, false}, "\"a\"");
  CHECK(json::parse(out) ==
        json{{"type", "ack"}, {"stream", "cpu"}, {"accepted", 3}, {"seq", 9}, {"first", 120}, {"id", "a"}});
  out.clear();
  ws::write_ack(out, "cpu", ws::push_ack{0, 8, false, 0, true}, "");
  CHECK(json::parse(out) ==
        json{{"type", "ack"}, {"stream", "cpu"}, {"accepted", 0}, {"seq", 8}, {"duplicate", true}});
}

TEST_CASE("a token bucket allows a burst of one second's worth, then its rate", "[dispatch]") {
  using clock = ws::token_bucket::clock;
  const auto t0 = clock::time_point{} + std::chrono::hours(1);
  ws::token_bucket b;
  b.reset(3.0, t0);
  CHECK(b.take(3.0, 1.0, 1.0, t0));
  CHECK(b.take(3.0, 1.0, 1.0, t0));
  CHECK(b.take(3.0, 1.0, 1.0, t0));
  CHECK_FALSE(b.take(3.0, 1.0, 1.0, t0));
  // 1/3 s later: one token back (3 per second).
  const auto t1 = t0 + std::chrono::milliseconds(334);
  CHECK(b.take(3.0, 1.0, 1.0, t1));
  CHECK_FALSE(b.take(3.0, 1.0, 1.0, t1));
  // A cost above the burst is allowed on a full bucket and leaves it in debt.
  const auto t2 = t1 + std::chrono::seconds(10);
  CHECK(b.take(3.0, 3.0, 9.0, t2));
  CHECK_FALSE(b.take(3.0, 1.0, 1.0, t2 + std::chrono::seconds(2)));  // -6 + 6 = 0 < 1
  CHECK(b.take(3.0, 1.0, 1.0, t2 + std::chrono::milliseconds(2400)));
}

TEST_CASE("the replies are the JSON of docs/protocol.md", "[dispatch]") {
  std::string out;
  ws::write_error(out, error_code::too_many_streams, "limit \"reached\"", "5");
  json e = json::parse(out);
  CHECK(e["type"] == "error");
  CHECK(e["code"] == "too_many_streams");
  CHECK(e["message"] == "limit \"reached\"");
  CHECK(e["id"] == 5);
  out.clear();
  ws::write_error(out, error_code::rate_limited, "slow down", {});
  CHECK_FALSE(json::parse(out).contains("id"));
  out.clear();
  ws::write_ack(out, "cpu", 3, "\"a\"");
  e = json::parse(out);
  CHECK(e == json{{"type", "ack"}, {"stream", "cpu"}, {"accepted", 3}, {"id", "a"}});
  out.clear();
  ws::request req;
  req.type = ws::request_type::unsubscribe;
  req.stream = "*";
  ws::write_subscription_ack(out, req);
  CHECK(json::parse(out) == json{{"type", "unsubscribed"}, {"stream", "*"}});
}

TEST_CASE("the list reply names streams in order up to its cap, with totals", "[dispatch]") {
  struct topic {
    std::vector<int> subscribers;
  };
  ws::stream_registry<topic> r;
  for (const char* n : {"c", "a", "b"}) {
    r.find_or_create(n, {});
  }
  auto* a = r.find("a");
  const double x = 1.0;
  r.push(*a, &x, 1, 0.0, [](std::uint64_t, double, const ws::alert_info&) {});
  ws::stream_registry<topic>::count_rejected(*a);
  a->topic.subscribers = {1, 2};
  std::string out;
  ws::list_totals t;
  t.max_listed = 2;
  t.rejected = 9;
  t.dropped = 4;
  t.dropped_total = 6;
  ws::write_list(out, r, t, "\"q\"");
  const json m = json::parse(out);
  CHECK(m["type"] == "streams");
  REQUIRE(m["streams"].size() == 2);
  CHECK(m["streams"][0] == json{{"name", "a"}, {"count", 1}, {"rejected", 1}, {"subscribers", 2}});
  CHECK(m["streams"][1]["name"] == "b");
  CHECK(m["total"] == 3);
  CHECK(m["truncated"] == true);
  CHECK(m["rejected"] == 9);
  CHECK(m["dropped"] == 4);
  CHECK(m["dropped_total"] == 6);
  CHECK(m["id"] == "q");
  out.clear();
  t.max_listed = 3;
  ws::write_list(out, r, t, {});
  CHECK_FALSE(json::parse(out).contains("truncated"));
}
