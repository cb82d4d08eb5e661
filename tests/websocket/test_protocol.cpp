// The wire protocol: request_parser (JSON and binary frames), the sample admission rule
// (check_samples, max_sample_magnitude), json_writer, and what the default pipeline writes, without
// a server; then issue 9's inputs through a real server on 127.0.0.1.
// The invariant behind most cases: every byte the server writes is JSON that simdjson parses.
#include "ws_test_client.hpp"

#include <streamstats/moments.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>
#include <streamstats/websocket/server.hpp>

#include <simdjson.h>
#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ws = streamstats::websocket;
using ws::error_code;

namespace {

constexpr double B = ws::max_sample_magnitude;

struct parsed {
  bool ok = false;
  ws::request req;
  ws::request_error err;
  std::vector<double> values;
};

parsed parse_text(ws::request_parser& p, const std::string& text) {
  parsed r;
  r.ok = p.parse(text, r.req, r.err);
  r.values = p.values();
  return r;
}

std::string binary_frame(std::string_view name, const std::vector<double>& xs) {
  std::string f;
  f.push_back(static_cast<char>(ws::binary_protocol_version));
  f.push_back(static_cast<char>(name.size()));
  f.append(name);
  for (double x : xs) {
    char b[8];
    std::memcpy(b, &x, 8);  // the test machine is little-endian, as the frame
    f.append(b, 8);
  }
  return f;
}

// The text of a double as the shortest round trip (what a client's JSON writer sends).
std::string text_of(double x) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

// Parses `json` with simdjson (a copy: simdjson wants padding) or fails the test.
simdjson::dom::element must_parse(simdjson::dom::parser& p, const std::string& json) {
  INFO("JSON written: " << json);
  simdjson::dom::element e;
  const auto err = p.parse(json).get(e);
  INFO("simdjson: " << simdjson::error_message(err));
  REQUIRE(err == simdjson::SUCCESS);
  return e;
}

double number_of(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      return static_cast<double>(int64_t(e));
    case simdjson::dom::element_type::UINT64:
      return static_cast<double>(uint64_t(e));
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

// The error reply as the server writes it (server::reject).
std::string error_reply(const ws::request_error& err, std::string_view id) {
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  w.member_string("type", "error");
  w.member_string("code", ws::to_string(err.code));
  w.member_string("message", err.message);
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
  return out;
}

std::string stats_json(const ws::pipeline& p) {
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  ws::stats_writer sw(w);
  p.write_stats(sw);
  w.end_object();
  return out;
}

}  // namespace

// ---- §1: finite inputs that overflow -----------------------------------------------------------

TEST_CASE("samples beyond max_sample_magnitude are refused with out_of_range, JSON and binary alike") {
  ws::request_parser p;
  // The issue's input: finite, and it used to make mean and stddev null for good.
  auto r = parse_text(p, R"({"stream":"s","values":[1.7e308,1.7e308],"id":4})");
  CHECK_FALSE(r.ok);
  CHECK(r.err.code == error_code::out_of_range);
  CHECK(r.req.has_stream);  // counted on the stream
  CHECK(r.req.stream == "s");
  CHECK(r.req.id == "4");
  CHECK(r.values.empty());  // the whole batch is refused

  const double above = std::nextafter(B, std::numeric_limits<double>::infinity());
  for (double x : {B, -B}) {
    r = parse_text(p, R"({"stream":"s","value":)" + text_of(x) + "}");
    CHECK(r.ok);
    CHECK(r.req.value == x);
  }
  for (double x : {above, -above, 1.7e308, -std::numeric_limits<double>::max()}) {
    INFO(text_of(x));
    r = parse_text(p, R"({"stream":"s","values":[1,)" + text_of(x) + "]}");
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == error_code::out_of_range);
  }

  ws::request req;
  ws::request_error err;
  CHECK(p.parse_binary(binary_frame("s", {1.0, B, -B}), req, err));
  CHECK(p.values() == std::vector<double>{1.0, B, -B});
  const std::string frame = binary_frame("s", {1.0, above});
  CHECK_FALSE(p.parse_binary(frame, req, err));
  CHECK(err.code == error_code::out_of_range);
  CHECK(req.stream == "s");
  CHECK(p.values().empty());
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    CHECK_FALSE(p.parse_binary(binary_frame("s", {1.0, bad}), req, err));
    CHECK(err.code == error_code::non_finite);
  }

  // The rule every path shares (server::push from C++ calls it too).
  const double xs[] = {0.0, -B, B};
  CHECK(ws::check_samples(xs, 3, std::nan(""), err));  // NaN t = "no t"
  CHECK_FALSE(ws::check_samples(xs, 3, std::numeric_limits<double>::infinity(), err));
  CHECK(err.code == error_code::non_finite);
  CHECK(to_string(error_code::out_of_range) == "out_of_range");
}

TEST_CASE("finite is not enough: [1.7e308, -1.7e308] poisons the default pipeline (why the bound exists)") {
  ws::default_pipeline pipe;
  ws::alert_info a;
  pipe.push(1.7e308, a);
  pipe.push(-1.7e308, a);
  pipe.push(0.0, a);
  simdjson::dom::parser jp;
  const auto stats = must_parse(jp, stats_json(pipe));
  CHECK(stats["stddev"].is_null());  // M2 overflowed: this is what out_of_range keeps out
}

TEST_CASE("every statistic of the default pipeline stays finite and exact at ±max_sample_magnitude") {
  // Alternating +B, −B: the largest deviations the bound allows, around a shift (the first sample)
  // at one extreme. Closed forms for n even: mean 0, stddev B·sqrt(n/(n−1)), min −B, max B, the SMA
  // of the last 20 is 0; the detector's baseline (the 64 samples before the last) has mean 0 and
  // stddev B·sqrt(64/63), so the last sample (−B) has z = −sqrt(63/64); after learning it, the
  // window is again 32 × (±B): band = ∓4.5·B·sqrt(64/63).
  const std::size_t n = 10000;
  ws::default_pipeline pipe;
  ws::alert_info a;
  long double ema = 0;  // pandas adjust=False: seeded with the first sample, alpha = 2/(span+1)
  const long double alpha = 2.0L / 21.0L;
  std::size_t alerts = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = (i % 2 == 0) ? B : -B;
    alerts += pipe.push(x, a) ? 1U : 0U;
    ema = (i == 0) ? x : alpha * x + (1 - alpha) * ema;
  }
  CHECK(alerts == 0);
  simdjson::dom::parser jp;
  const std::string json = stats_json(pipe);
  INFO(json);
  const auto s = must_parse(jp, json);
  for (const char* f : {"mean", "stddev", "min", "max", "sma", "ema", "z", "score", "band_lo", "band_hi"}) {
    INFO(f);
    CHECK(std::isfinite(number_of(s[f])));
  }
  const double tol = 1e-12 * B;
  CHECK(std::fabs(number_of(s["mean"])) <= tol);
  CHECK(number_of(s["stddev"]) == Approx(B * std::sqrt(double(n) / double(n - 1))).epsilon(1e-12));
  CHECK(number_of(s["min"]) == -B);
  CHECK(number_of(s["max"]) == B);
  CHECK(std::fabs(number_of(s["sma"])) <= tol);
  CHECK(number_of(s["ema"]) == Approx(static_cast<double>(ema)).epsilon(1e-12));
  const double z = -std::sqrt(63.0 / 64.0);
  CHECK(number_of(s["z"]) == Approx(z).epsilon(1e-12));
  const double score = number_of(s["score"]);
  CHECK(score >= 0.0);
  CHECK(score <= 1.0);
  CHECK(score == Approx(streamstats::zscore_anomaly_score(z, streamstats::zscore_side::both)).epsilon(1e-9));
  const double half = 4.5 * B * std::sqrt(64.0 / 63.0);
  CHECK(number_of(s["band_lo"]) == Approx(-half).epsilon(1e-12));
  CHECK(number_of(s["band_hi"]) == Approx(half).epsilon(1e-12));

  // And through the batch path (JSON batches and binary frames arrive there).
  ws::default_pipeline batch;
  std::vector<double> xs(n);
  for (std::size_t i = 0; i < n; ++i) {
    xs[i] = (i % 2 == 0) ? B : -B;
  }
  struct counting_sink final : ws::alert_sink {
    void on_alert(std::size_t, double, const ws::alert_info&) override { ++count; }
    std::size_t count = 0;
  } sink;
  batch.push_batch(xs.data(), xs.size(), sink);
  CHECK(sink.count == 0);
  const auto sb = must_parse(jp, stats_json(batch));
  for (const char* f : {"mean", "stddev", "min", "max", "sma", "ema", "z", "score", "band_lo", "band_hi"}) {
    INFO(f);
    CHECK(std::isfinite(number_of(sb[f])));
  }
  CHECK(number_of(sb["stddev"]) == Approx(B * std::sqrt(double(n) / double(n - 1))).epsilon(1e-12));
}

TEST_CASE("at the bound, variance and moments stay finite for 2^63 samples (merged, Chan/Pébay)") {
  // Doubling by merge reaches counts no test can push: 2 samples (±B), merged with itself 62 times.
  streamstats::variance<double> v;
  streamstats::moments<double> m;
  v.push(B);
  v.push(-B);
  m.push(B);
  m.push(-B);
  for (int i = 0; i < 62; ++i) {
    const auto vc = v;
    v.merge(vc);
    const auto mc = m;
    m.merge(mc);
  }
  REQUIRE(v.count() == std::size_t(1) << 63U);
  CHECK(v.mean() == 0.0);
  CHECK(v.stddev() == Approx(B).epsilon(1e-12));  // sqrt(n/(n−1)) = 1 in double here
  CHECK(m.count() == std::size_t(1) << 63U);
  CHECK(m.kurtosis() == Approx(-2.0).epsilon(1e-9));  // two-point symmetric law: excess kurtosis −2
  CHECK(m.skewness() == Approx(0.0).margin(1e-9));
}

// ---- §2: invalid JSON written by the server ----------------------------------------------------

TEST_CASE("a duplicated protocol field is refused deterministically — the reply is valid JSON without NUL") {
  ws::request_parser p;
  simdjson::dom::parser jp;
  // The issue's input: the second "id" used to leave a dangling view of the first (a raw NUL).
  auto r = parse_text(p, R"({"id":"abc","id":[1],"type":"list"})");
  CHECK_FALSE(r.ok);
  CHECK(r.err.code == error_code::duplicate_field);
  CHECK(r.req.id.empty());  // ambiguous: not echoed
  std::string reply = error_reply(r.err, r.req.id);
  CHECK(reply.find('\0') == std::string::npos);
  must_parse(jp, reply);

  // Both orders, same answer (no first-wins / last-wins).
  for (const char* text : {R"({"stream":"a","stream":"b","value":1,"id":7})",
                           R"({"stream":"b","value":1,"stream":"a","id":7})"}) {
    r = parse_text(p, text);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == error_code::duplicate_field);
    CHECK_FALSE(r.req.has_stream);  // counted on neither stream
    CHECK(r.req.id == "7");
  }
  for (const char* text :
       {R"({"stream":"s","value":1,"value":2,"id":"x"})", R"({"stream":"s","values":[1],"values":[2]})",
        R"({"stream":"s","value":1,"t":1,"t":2})",
        R"({"type":"list","type":"push","stream":"s","value":1})"}) {
    INFO(text);
    r = parse_text(p, text);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == error_code::duplicate_field);
    CHECK(r.req.stream == "s");
    must_parse(jp, error_reply(r.err, r.req.id));
  }
  // Unknown fields may repeat: they are ignored.
  r = parse_text(p, R"({"stream":"s","value":1,"x":1,"x":2})");
  CHECK(r.ok);
}

TEST_CASE("control characters in ids and strings are escaped — the JSON reads back identical") {
  ws::request_parser p;
  simdjson::dom::parser jp;
  auto r = parse_text(p, R"({"type":"list","id":"a\u0000b\u001f\"\\\n\u007f\u00e9"})");
  REQUIRE(r.ok);
  const std::string id(r.req.id);
  CHECK(id.find('\0') == std::string::npos);
  const auto e = must_parse(jp, id);
  CHECK(std::string_view(e) == std::string_view("a\0b\x1f\"\\\n\x7f\xc3\xa9", 10));

  std::string all;
  for (int c = 0; c < 0x80; ++c) {
    all.push_back(static_cast<char>(c));
  }
  all += "\xe2\x82\xac";  // a multi-byte character, copied as is
  std::string out;
  ws::json_writer w(out);
  w.value_string(all);
  CHECK(std::string_view(must_parse(jp, out)) == all);
}

TEST_CASE("json_writer writes every finite double so that simdjson reads back the same bits") {
  // The issue's number: shortest form "25000000000000004000", an integer beyond 64 bits.
  std::vector<double> xs = {2.5000000000000004e19,
                            9223372036854775808.0,
                            18446744073709551616.0,
                            -9223372036854777856.0,
                            1e19,
                            1e18,
                            123456789012345678.0,
                            1.2345678901234568e22,
                            B,
                            -B,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::min(),
                            -0.0,
                            0.0,
                            0.1,
                            1.7e308};
  std::mt19937_64 rng(20261202);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t bits = rng();
    double d = 0;
    std::memcpy(&d, &bits, 8);
    if (std::isfinite(d)) {
      xs.push_back(d);
    }
    // Integers near and beyond 2^63 / 2^64, where the plain form has 19–20+ digits.
    xs.push_back(std::ldexp(static_cast<double>(bits >> 11U), 10 + static_cast<int>(bits % 60U)));
  }
  simdjson::dom::parser jp;
  std::size_t bad = 0;
  std::string first_bad;
  for (double x : xs) {
    std::string out;
    ws::json_writer w(out);
    w.value_number(x);
    simdjson::dom::element e;
    if (jp.parse(out).get(e) != simdjson::SUCCESS || number_of(e) != x ||
        std::signbit(number_of(e)) != std::signbit(x)) {
      if (bad++ == 0) {
        first_bad = out;
      }
    }
  }
  INFO("first failure: " << first_bad);
  CHECK(bad == 0);
}

TEST_CASE("a snapshot of a stream whose last sample is 25000000000000004096 parses with simdjson") {
  ws::request_parser p;
  auto r = parse_text(p, R"({"stream":"s","value":25000000000000004096})");
  REQUIRE(r.ok);
  CHECK(r.req.value == 25000000000000004096.0);
  ws::default_pipeline pipe;
  ws::alert_info a;
  pipe.push(r.req.value, a);
  pipe.push(r.req.value, a);
  // The snapshot as server::write_snapshot writes it.
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  w.member_string("type", "snapshot");
  w.member_string("stream", r.req.stream);
  w.member_uint("count", 2);
  w.member_number("last", r.req.value);
  w.key("stats");
  w.begin_object();
  ws::stats_writer sw(w);
  pipe.write_stats(sw);
  w.end_object();
  w.end_object();
  simdjson::dom::parser jp;
  const auto e = must_parse(jp, out);
  CHECK(number_of(e["last"]) == 25000000000000004096.0);
  CHECK(number_of(e["stats"]["mean"]) == 25000000000000004096.0);
  CHECK(number_of(e["stats"]["max"]) == 25000000000000004096.0);
}

// ---- §3: number handling -----------------------------------------------------------------------

TEST_CASE("a 20-digit integer and a tiny number without exponent, in one message, are accepted") {
  ws::request_parser p;
  const std::string tiny = "0." + std::string(400, '0') + "1";       // 1e-401: reads as 0
  const std::string subnormal = "0." + std::string(320, '0') + "5";  // 5e-321, a subnormal
  const std::string neg_tiny = "-0." + std::string(330, '0') + "7";  // −7e-331: reads as −0
  auto r = parse_text(p, R"({"stream":"s","values":[12345678901234567890123,)" + tiny + "," + subnormal +
                             "," + neg_tiny + ",-98765432109876543210,18446744073709551615]}");
  INFO(r.err.message);
  REQUIRE(r.ok);
  REQUIRE(r.values.size() == 6);
  CHECK(r.values[0] == 12345678901234567890123.0);
  CHECK(r.values[1] == 0.0);
  CHECK(r.values[2] == 5e-321);
  CHECK(r.values[3] == 0.0);
  CHECK(r.values[4] == -98765432109876543210.0);
  CHECK(r.values[5] == 18446744073709551615.0);

  // With an exponent as well, and alone.
  r = parse_text(p, R"({"stream":"s","values":[1e-400,25000000000000004096,1E-99999999999999999999]})");
  REQUIRE(r.ok);
  CHECK(r.values == std::vector<double>{0.0, 25000000000000004096.0, 0.0});
}

TEST_CASE("numbers beyond the double range: non_finite in value, values, t and id, never echoed as 0") {
  ws::request_parser p;
  simdjson::dom::parser jp;
  // The issue's input: "id":1e400 was echoed as 0.
  auto r = parse_text(p, R"({"id":1e400,"type":"list"})");
  CHECK_FALSE(r.ok);
  CHECK(r.err.code == error_code::non_finite);
  CHECK(r.req.id.empty());
  must_parse(jp, error_reply(r.err, r.req.id));

  for (const std::string& text : std::vector<std::string>{
           R"({"stream":"s","value":1e400,"id":3})", R"({"stream":"s","values":[1,-1e400],"id":3})",
           R"({"stream":"s","value":1,"t":1e999,"id":3})",
           std::string(R"({"id":3,"stream":"s","value":-1)") + std::string(400, '0') + "}"}) {
    INFO(text);
    r = parse_text(p, text);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == error_code::non_finite);
    CHECK(r.req.id == "3");
    CHECK(r.req.stream == "s");
  }
  // An out-of-range number in a field the protocol ignores does not refuse the message.
  r = parse_text(p, R"({"type":"list","x":1e400,"id":2})");
  CHECK(r.ok);
  CHECK(r.req.id == "2");
  // A null the client wrote is a wrong type, also next to an overflow elsewhere in a list.
  r = parse_text(p, R"({"stream":"s","value":null})");
  CHECK_FALSE(r.ok);
  CHECK(r.err.code == error_code::wrong_type);
  // Bad syntax stays malformed_json.
  for (const char* text : {R"({"stream":"s","value":01})", R"({"stream":"s","value":1.})",
                           R"({"stream":"s","value":-})", R"({"stream":"s","value":1e400,"v":1.e5})"}) {
    INFO(text);
    r = parse_text(p, text);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == error_code::malformed_json);
  }
}

TEST_CASE("number ids are echoed as numbers that simdjson reads: 64-bit integers exactly") {
  ws::request_parser p;
  simdjson::dom::parser jp;
  struct {
    const char* id;
    const char* echoed;
  } cases[] = {{"18446744073709551615", "18446744073709551615"},
               {"-9223372036854775808", "-9223372036854775808"},
               {"25000000000000004096", "2.5000000000000004e+19"},
               {"1.0", "1"},
               {"-0.5e-3", "-5e-04"}};
  for (const auto& c : cases) {
    INFO(c.id);
    // In a message with another out-of-64-bit integer too, so the slow path reads it.
    for (const std::string extra : {"", R"(,"x":123456789012345678901234567890)"}) {
      const auto r = parse_text(p, std::string(R"({"type":"list","id":)") + c.id + extra + "}");
      REQUIRE(r.ok);
      CHECK(r.req.id == c.echoed);
      must_parse(jp, error_reply({error_code::unknown_stream, "x"}, r.req.id));
    }
  }
}

TEST_CASE("binary frames: each malformed part has its code — the stream is named once known") {
  ws::request_parser p;
  ws::request req;
  ws::request_error err;
  CHECK_FALSE(p.parse_binary("", req, err));
  CHECK(err.code == error_code::empty_frame);
  CHECK_FALSE(p.parse_binary(std::string("\x02\x01s") + std::string(8, '\0'), req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  CHECK_FALSE(p.parse_binary(std::string("\x01\x00", 2) + std::string(8, '\0'), req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  CHECK_FALSE(p.parse_binary("\x01\x09short", req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  CHECK_FALSE(p.parse_binary(std::string("\x01\x01\xff") + std::string(8, '\0'), req, err));
  CHECK(err.code == error_code::invalid_stream_name);
  CHECK_FALSE(req.has_stream);
  const std::string short_payload = std::string("\x01\x01s") + std::string(7, '\0');  // req.stream views it
  CHECK_FALSE(p.parse_binary(short_payload, req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  CHECK(req.stream == "s");
  CHECK_FALSE(p.parse_binary("\x01\x01s", req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  const std::string frame = binary_frame("cpu", {0.25, -3.0});
  REQUIRE(p.parse_binary(frame, req, err));
  CHECK(req.stream == "cpu");
  CHECK_FALSE(req.single);
  CHECK_FALSE(req.has_t);
  CHECK(p.values() == std::vector<double>{0.25, -3.0});
}

TEST_CASE("producer and seq: optional on a push, both or neither, each value checked") {
  ws::request_parser p;
  auto r = parse_text(p, R"({"stream":"s","value":1,"producer":"feeder-7","seq":1})");
  REQUIRE(r.ok);
  CHECK(r.req.origin.producer == "feeder-7");
  CHECK(r.req.origin.seq == 1);
  // 2^53 - 1 is the largest seq (exact in JavaScript numbers and in Redis' Lua).
  r = parse_text(p, R"({"stream":"s","value":1,"producer":"p","seq":9007199254740991})");
  REQUIRE(r.ok);
  CHECK(r.req.origin.seq == 9007199254740991ULL);
  r = parse_text(p, R"({"stream":"s","value":1})");
  REQUIRE(r.ok);
  CHECK(r.req.origin.seq == 0);
  CHECK(r.req.origin.producer.empty());
  const std::string long_id(65, 'a');
  const std::string max_id(64, 'a');
  REQUIRE(parse_text(p, R"({"stream":"s","value":1,"seq":1,"producer":")" + max_id + "\"}").ok);
  struct bad_case {
    std::string text;
    error_code code;
  };
  const std::vector<bad_case> bad = {
      {R"({"stream":"s","value":1,"seq":1})", error_code::missing_field},
      {R"({"stream":"s","value":1,"producer":"p"})", error_code::missing_field},
      {R"({"stream":"s","value":1,"producer":7,"seq":1})", error_code::wrong_type},
      {R"({"stream":"s","value":1,"producer":"p","seq":"1"})", error_code::wrong_type},
      {R"({"stream":"s","value":1,"producer":"p","seq":1.5})", error_code::wrong_type},
      {R"({"stream":"s","value":1,"producer":"p","seq":0})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"p","seq":-3})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"p","seq":9007199254740992})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"p","seq":18446744073709551615})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"","seq":1})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"a b","seq":1})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"é","seq":1})", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"seq":1,"producer":")" + long_id + "\"}", error_code::invalid_producer},
      {R"({"stream":"s","value":1,"producer":"p","seq":1,"seq":2})", error_code::duplicate_field},
      {R"({"stream":"s","value":1,"producer":"p","producer":"q","seq":1})", error_code::duplicate_field},
  };
  for (const auto& c : bad) {
    INFO(c.text);
    r = parse_text(p, c.text);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == c.code);
    CHECK(r.req.has_stream);  // counted on the stream
  }
  CHECK(to_string(error_code::invalid_producer) == "invalid_producer");
  CHECK(to_string(error_code::out_of_order) == "out_of_order");
}

TEST_CASE("binary frames with a producer header (0x81): decoded, and each malformed part has its code") {
  auto frame = [](std::string_view name, std::string_view producer, std::uint64_t seq, std::size_t samples) {
    std::string f;
    f.push_back(static_cast<char>(0x81));
    f.push_back(static_cast<char>(name.size()));
    f.append(name);
    f.push_back(static_cast<char>(producer.size()));
    f.append(producer);
    for (int b = 0; b < 8; ++b) {
      f.push_back(static_cast<char>((seq >> (8 * b)) & 0xffu));
    }
    for (std::size_t i = 0; i < samples; ++i) {
      const double x = 1.0 + static_cast<double>(i);
      char b[8];
      std::memcpy(b, &x, 8);
      f.append(b, 8);
    }
    return f;
  };
  ws::request_parser p;
  ws::request req;
  ws::request_error err;
  const std::string good = frame("cpu", "node-1/conn-2", 77, 3);  // req's views point into it
  REQUIRE(p.parse_binary(good, req, err));
  CHECK(req.stream == "cpu");
  CHECK(req.origin.producer == "node-1/conn-2");
  CHECK(req.origin.seq == 77);
  CHECK(p.values() == std::vector<double>{1.0, 2.0, 3.0});
  // The old format still decodes, without an origin.
  REQUIRE(p.parse_binary(binary_frame("cpu", {0.5}), req, err));
  CHECK(req.origin.seq == 0);
  CHECK(req.origin.producer.empty());
  // Bad producer header values.
  CHECK_FALSE(p.parse_binary(frame("cpu", "", 1, 1), req, err));
  CHECK(err.code == error_code::invalid_producer);
  CHECK_FALSE(p.parse_binary(frame("cpu", "a b", 1, 1), req, err));
  CHECK(err.code == error_code::invalid_producer);
  CHECK_FALSE(p.parse_binary(frame("cpu", std::string(65, 'x'), 1, 1), req, err));
  CHECK(err.code == error_code::invalid_producer);
  CHECK_FALSE(p.parse_binary(frame("cpu", "p", 0, 1), req, err));
  CHECK(err.code == error_code::invalid_producer);
  const std::string too_far = frame("cpu", "p", std::uint64_t{1} << 53, 1);
  CHECK_FALSE(p.parse_binary(too_far, req, err));
  CHECK(err.code == error_code::invalid_producer);
  CHECK(req.stream == "cpu");
  // Cut short: in the header, or no samples after it; other flags are not a version.
  const std::string whole = frame("cpu", "p", 5, 1);
  for (std::size_t cut = 5; cut < whole.size(); ++cut) {  // 2 + 3 (name) = 5 bytes before P
    INFO(cut);
    CHECK_FALSE(p.parse_binary(whole.substr(0, cut), req, err));
    CHECK(err.code == error_code::bad_binary_frame);
  }
  std::string other = whole;
  other[0] = static_cast<char>(0x41);
  CHECK_FALSE(p.parse_binary(other, req, err));
  CHECK(err.code == error_code::bad_binary_frame);
  other[0] = static_cast<char>(0x82);
  CHECK_FALSE(p.parse_binary(other, req, err));
  CHECK(err.code == error_code::bad_binary_frame);
}

// ---- through the server ------------------------------------------------------------------------

TEST_CASE("issue 9's inputs through a server: codes, counts, and every frame received parses with simdjson") {
  using namespace std::chrono_literals;
  ws::server_options o;
  o.snapshot_interval = 20ms;
  ws::server srv(o);
  srv.start();
  ws_test::client_pool pool;
  ws_test::client c = pool.connect(srv.port());
  REQUIRE(c.is_open());
  simdjson::dom::parser jp;
  // The next frame, raw: no NUL, parses with simdjson; returned as "type/code".
  auto next = [&]() {
    const auto m = c.next();
    REQUIRE(m.has_value());
    CHECK(m->find('\0') == std::string::npos);
    const auto e = must_parse(jp, *m);
    std::string_view code;
    if (e["code"].get(code) != simdjson::SUCCESS) {
      code = {};  // not an error reply
    }
    return std::string(std::string_view(e["type"])) + "/" + std::string(code);
  };
  auto reply = [&](const std::string& text) {
    INFO("request: " << text);
    c.send_text(text);
    return next();
  };
  CHECK(reply(R"({"id":"abc","id":[1],"type":"list"})") == "error/duplicate_field");
  CHECK(reply(R"({"stream":"s","value":25000000000000004096,"id":2})") == "ack/");
  CHECK(reply(R"({"stream":"s","values":[1.7e308,1.7e308],"id":1})") == "error/out_of_range");
  CHECK(reply(R"({"stream":"s","values":[98765432109876543210,0.)" + std::string(400, '0') +
              R"(1],"id":3})") == "ack/");
  CHECK(reply(R"({"id":1e400,"type":"list"})") == "error/non_finite");
  CHECK(reply(R"({"type":"list","id":25000000000000004096})") == "streams/");
  c.send_binary(binary_frame("s", {1.0, 1.7e308}));
  CHECK(next() == "error/out_of_range");
  srv.push("s", 1.7e308);  // from C++: refused by the same rule, counted on the stream
  srv.push("s", -1e60);    // at the bound: accepted

  // The snapshot: every statistic finite after the refused 1.7e308 (JSON, binary and C++).
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    c.send_text(R"({"type":"snapshot","stream":"s","id":5})");
    const auto m = c.next();
    REQUIRE(m.has_value());
    const auto e = must_parse(jp, *m);
    if (number_of(e["count"]) < 4) {  // server::push is posted: wait for it
      std::this_thread::sleep_for(5ms);
      continue;
    }
    CHECK(number_of(e["count"]) == 4);     // 25000000000000004096, 98765432109876543210, 0, −1e60
    CHECK(number_of(e["rejected"]) == 3);  // the 1.7e308 pair, the binary frame, server::push
    CHECK(number_of(e["last"]) == -1e60);
    for (const char* f : {"mean", "stddev", "min", "max", "sma", "ema", "band_lo", "band_hi"}) {
      INFO(f);
      CHECK(std::isfinite(number_of(e["stats"][f])));
    }
    seen = true;
  }
  CHECK(seen);
  // Issue 9's big integer as "last" in the snapshot a subscriber gets.
  srv.push("s", 25000000000000004096.0);
  c.send_text(R"({"type":"subscribe","stream":"s"})");
  CHECK(std::string_view(must_parse(jp, *c.next())["type"]) == "subscribed");
  for (int i = 0; i < 200; ++i) {
    const auto snap = c.next();
    REQUIRE(snap.has_value());
    const auto e = must_parse(jp, *snap);
    if (number_of(e["count"]) == 5) {
      CHECK(number_of(e["last"]) == 25000000000000004096.0);
      break;
    }
  }
  srv.stop();
  srv.join();
}
